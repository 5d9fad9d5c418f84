"""Account writes: registration and API tokens."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from liveshop.opaque import opaque_hash, opaque_new

from .models import AuthToken, User, normalize_email

TOKEN_PREFIX = "lst_"


def user_register(*, email: str, password: str, display_name: str, locale: str = "en") -> User:
    """Create a user. Raises ValidationError naming the field for a taken email or weak password."""
    email = normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise ValidationError({"email": [gettext("An account with this email already exists.")]})
    candidate = User(email=email, display_name=display_name)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    with transaction.atomic():
        return User.objects.create_user(
            email=email, password=password, display_name=display_name, locale=locale
        )


def token_issue(*, user: User, client: str = "") -> tuple[AuthToken, str]:
    """Issue a bearer token. Returns the row and the raw token, which is never stored."""
    raw = opaque_new(TOKEN_PREFIX)
    token = AuthToken.objects.create(
        user=user,
        key_hash=opaque_hash(raw),
        prefix=raw[:12],
        client=client[:200],
        expires_at=timezone.now() + settings.LIVESHOP_TOKEN_TTL,
    )
    return token, raw


def token_for_credentials(*, email: str, password: str, client: str = "") -> str | None:
    user = authenticate(username=normalize_email(email), password=password)
    if user is None or not user.is_active:
        return None
    return token_issue(user=user, client=client)[1]  # type: ignore[arg-type]


def token_revoke(*, token: AuthToken) -> None:
    AuthToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def tokens_purge_expired() -> int:
    """Delete tokens that expired or were revoked more than a day ago."""
    cutoff = timezone.now() - timedelta(days=1)
    deleted, _ = AuthToken.objects.filter(expires_at__lt=cutoff).delete()
    deleted_revoked, _ = AuthToken.objects.filter(revoked_at__lt=cutoff).delete()
    return deleted + deleted_revoked
