"""Which language a page, socket or email speaks.

Pages: LocaleMiddleware decides from the language cookie, then Accept-Language. On top:
- a logged-in user's own `locale` wins over Accept-Language (`UserLocaleMiddleware`), and
  logging in or signing up sets the cookie to it (`remember_language`), so the dashboard and
  shop speak the user's language right after login even in a browser set to another;
- choosing a language in the switcher (`set_language`) also saves it on the user, so emails
  follow the choice;
- an API client with a bearer token and no Accept-Language gets its user's locale
  (`activate_user_default`);
- on a merchant's pages, a visitor who expressed no preference we can serve (no cookie, not
  logged in, no supported Accept-Language) gets the merchant's `locale`
  (`activate_merchant_default`, called by `storefront_view`).
WebSockets: `language_for_scope` applies the same order to a socket's handshake.
Emails: rendered inside `translation.override(recipient_language(user, merchant))`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import trans_real
from django.views.i18n import set_language as django_set_language


def supported(code: str | None) -> str | None:
    """`code` as one of settings.LANGUAGES (zh-Hans, zh_hans, zh-hans → zh-hans), or None."""
    if not code or len(code) > 20:
        return None
    try:
        return translation.get_supported_language_variant(code.replace("_", "-").lower())
    except LookupError:
        return None


def _accept_language(header: str) -> str | None:
    for code, _quality in trans_real.parse_accept_lang_header(header or ""):
        if code == "*":
            continue
        found = supported(code)
        if found:
            return found
    return None


def _user_locale(user: Any) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return supported(getattr(user, "locale", None))


def recipient_language(user: Any = None, merchant: Any = None) -> str:
    """The language of a message to `user` (an accounts.User or None): theirs, else the
    merchant's, else the platform default."""
    return (
        supported(getattr(user, "locale", None))
        or supported(getattr(merchant, "locale", None))
        or settings.LANGUAGE_CODE
    )


def language_for_scope(scope: dict[str, Any]) -> str:
    """A WebSocket's language, in the order pages use: the session user's locale, the
    language cookie, Accept-Language, the platform default."""
    found = _user_locale(scope.get("user"))
    if found:
        return found
    cookies: dict[str, str] = scope.get("cookies") or {}
    found = supported(cookies.get(settings.LANGUAGE_COOKIE_NAME))
    if found:
        return found
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers") or []
    for key, value in headers:
        if key.lower() == b"accept-language":
            found = _accept_language(value.decode("latin-1"))
            if found:
                return found
    return str(settings.LANGUAGE_CODE)


class UserLocaleMiddleware:
    """After AuthenticationMiddleware (and LocaleMiddleware): a logged-in user's `locale`
    rules when the browser holds no language cookie (the cookie is their latest explicit
    choice, and is set to their locale at login)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)):
            found = _user_locale(getattr(request, "user", None))
            if found:
                translation.activate(found)
                request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


def activate_user_default(request: Any, user: Any) -> None:
    """A bearer-token client (authenticated after the middleware ran) that sends neither the
    language cookie nor Accept-Language gets answers in its user's locale."""
    if request.META.get("HTTP_ACCEPT_LANGUAGE") or request.COOKIES.get(
        settings.LANGUAGE_COOKIE_NAME
    ):
        return
    found = _user_locale(user)
    if found:
        translation.activate(found)
        request.LANGUAGE_CODE = translation.get_language()


def activate_merchant_default(request: HttpRequest, merchant: Any) -> None:
    """Serve the merchant's locale to a visitor with no preference we can honour."""
    if supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)):
        return
    if _user_locale(getattr(request, "user", None)):
        return
    if _accept_language(request.META.get("HTTP_ACCEPT_LANGUAGE", "")):
        return
    found = supported(getattr(merchant, "locale", None))
    if found:
        translation.activate(found)
        request.LANGUAGE_CODE = translation.get_language()


def remember_language(response: HttpResponse, code: str | None) -> HttpResponse:
    """Set the language cookie the way Django's set_language view does."""
    found = supported(code)
    if found:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            found,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,  # type: ignore[arg-type]
        )
    return response


def set_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language (POST `language`, `next`), and a logged-in user's choice is
    saved as their locale: emails and other devices follow it."""
    response = django_set_language(request)
    if request.method == "POST":
        found = supported(request.POST.get("language"))
        user = getattr(request, "user", None)
        if found and user is not None and user.is_authenticated and user.locale != found:
            user.locale = found
            user.save(update_fields=["locale"])
    return response
