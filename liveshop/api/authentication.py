"""`Authorization: Bearer <token>`: user tokens (`lst_…`) or merchant API keys (`lsk_…`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext
from rest_framework import authentication, exceptions

from liveshop.accounts.models import AuthToken
from liveshop.i18n import activate_user_default
from liveshop.opaque import opaque_hash
from liveshop.tenancy.models import ApiKey
from liveshop.tenancy.scope import rls_bypass

API_KEY_PREFIX = "lsk_"
MAX_TOKEN_LENGTH = 200
# Touch last_used_at at most this often, not on every request.
_TOUCH_EVERY = timedelta(minutes=1)


class ApiKeyPrincipal:
    """Stands in for `request.user` when a merchant API key authenticates. It is no person:
    it acts inside its own merchant only, and only within its scopes."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = id = None

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.display_name = f"API key {key.name}"

    def __str__(self) -> str:
        return self.display_name


def user_for_token(raw: str) -> AuthToken | None:
    if not raw.startswith("lst_") or len(raw) > MAX_TOKEN_LENGTH:
        return None
    token = AuthToken.objects.select_related("user").filter(key_hash=opaque_hash(raw)).first()
    if token is None or not token.is_live or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
        AuthToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def api_key_for(raw: str) -> ApiKey | None:
    if not raw.startswith(API_KEY_PREFIX) or len(raw) > MAX_TOKEN_LENGTH:
        return None
    # The key's merchant is unknown until the key is found.
    with rls_bypass("apikey-auth"):
        key = (
            ApiKey.objects.select_related("merchant", "merchant__plan")
            .filter(key_hash=opaque_hash(raw), revoked_at__isnull=True)
            .first()
        )
        if key is not None:
            now = timezone.now()
            if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
                ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


class BearerAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                gettext("Invalid Authorization header: use 'Bearer <token>'.")
            )
        try:
            raw = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(gettext("Invalid token.")) from exc
        if raw.startswith(API_KEY_PREFIX):
            key = api_key_for(raw)
            if key is None:
                raise exceptions.AuthenticationFailed(gettext("Invalid or revoked API key."))
            return ApiKeyPrincipal(key), key
        token = user_for_token(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(gettext("Invalid or expired token."))
        activate_user_default(request, token.user)
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return self.keyword


class SessionAuthentication(authentication.SessionAuthentication):
    """Pages call the API with their session cookie (CSRF enforced)."""
