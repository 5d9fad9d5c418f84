"""ICE servers for browsers and WHIP encoders: STUN and TURN from settings, with TURN
credentials minted per user and per connection (coturn's `use-auth-secret` REST scheme).

coturn checks such a credential without a database: the username is `<expiry>:<user>`
(expiry in Unix seconds) and the password is base64(HMAC-SHA1(secret, username)). The
secret lives only in settings and in coturn's `static-auth-secret`; pages only ever see a
credential that stops working at its expiry, never a static password.

    ice_servers(user_key="42")  # → [{"urls": [...stun...]}, {"urls": [...turn...],
                                #     "username": "1767225600:42", "credential": "…"}]
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from typing import Any

from django.conf import settings
from django.core.checks import Error, register

_USER_KEY = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")


def turn_credential(*, secret: str, user_key: str, expires_at: int) -> tuple[str, str]:
    """The coturn REST (`use-auth-secret`) username and credential for `user_key`, valid
    until `expires_at` (Unix seconds)."""
    if not secret:
        raise ValueError("a TURN secret is required")
    if not _USER_KEY.match(user_key):
        raise ValueError("user_key must be 1-64 characters [A-Za-z0-9_.@+-]")
    username = f"{int(expires_at)}:{user_key}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def anonymous_key() -> str:
    """A TURN user key for a viewer who is not logged in: random, so two anonymous
    viewers never share a credential (coturn can then quota and revoke them apart)."""
    return f"anon-{secrets.token_hex(6)}"


def ice_servers(*, user_key: str, now: float | None = None) -> list[dict[str, Any]]:
    """The RTCIceServer list for one user: STUN as configured, TURN with a fresh credential.

    `user_key` is the user's id (or `anonymous_key()`); it ends up in coturn's logs."""
    servers: list[dict[str, Any]] = []
    stun = list(settings.LIVESHOP_ICE_STUN_URLS)
    if stun:
        servers.append({"urls": stun})
    turn = list(settings.LIVESHOP_ICE_TURN_URLS)
    if turn:
        expires_at = int((now if now is not None else time.time()) + settings.LIVESHOP_ICE_TURN_TTL)
        username, credential = turn_credential(
            secret=settings.LIVESHOP_ICE_TURN_SECRET, user_key=user_key, expires_at=expires_at
        )
        servers.append({"urls": turn, "username": username, "credential": credential})
    return servers


def link_headers(servers: list[dict[str, Any]]) -> list[str]:
    """WHIP (RFC 9725 §4.6): one `Link: <url>; rel="ice-server"` value per ICE server URL,
    with the TURN username and credential as link parameters."""
    links = []
    for server in servers:
        urls = server["urls"] if isinstance(server["urls"], list) else [server["urls"]]
        for url in urls:
            link = f'<{url}>; rel="ice-server"'
            if "username" in server:
                link += (
                    f'; username="{server["username"]}"; credential="{server["credential"]}"'
                    '; credential-type="password"'
                )
            links.append(link)
    return links


_URL = re.compile(r"^(stun|stuns|turn|turns):[^\s<>\"]+$")


@register()
def check_ice_settings(app_configs: Any, **kwargs: Any) -> list[Error]:
    """TURN URLs need the shared secret (there is no static-password fallback), and every URL
    must be a STUN/TURN URI (they are sent to browsers and in WHIP Link headers)."""
    errors = []
    for name in ("LIVESHOP_ICE_STUN_URLS", "LIVESHOP_ICE_TURN_URLS"):
        for url in getattr(settings, name, []):
            if not isinstance(url, str) or not _URL.match(url):
                errors.append(Error(f"{name}: {url!r} is not a stun:/turn: URI", id="media.E001"))
    if settings.LIVESHOP_ICE_TURN_URLS and not settings.LIVESHOP_ICE_TURN_SECRET:
        errors.append(
            Error(
                "LIVESHOP_ICE_TURN_URLS is set but LIVESHOP_ICE_TURN_SECRET is empty",
                hint="Set the coturn static-auth-secret (use-auth-secret) in the environment.",
                id="media.E002",
            )
        )
    if settings.LIVESHOP_ICE_TURN_TTL < 60:
        errors.append(Error("LIVESHOP_ICE_TURN_TTL is under 60 seconds", id="media.E003"))
    return errors
