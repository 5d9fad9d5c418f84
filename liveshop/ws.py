"""The base of every LiveShop WebSocket (rooms, media signalling, consults).

It applies the contract's rules once: JSON text frames ≤ 64 KiB (else close 1009); the
merchant from the URL (unknown → 4404); Origin, when sent, must be the platform's own or one
of the merchant's allowed origins (else 4403); browsers authenticate by session cookie,
other clients with `{"type":"auth","token":…}` as their first frame (`auth.ok`, or an
`error` and close 4401); refused frames get `{"type":"error","code","message","nonce"?}`.
Subclasses implement `on_open()` and `on_frame(frame)`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import Http404
from django.utils import translation
from django.utils.translation import gettext

from liveshop.api.parsers import contains_nul
from liveshop.i18n import language_for_scope
from liveshop.tenancy.access import merchant_get
from liveshop.tenancy.models import Merchant

log = logging.getLogger("liveshop.ws")

MAX_FRAME = 64 * 1024


class Close:
    """Close codes of the contract."""

    AUTH_FAILED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    TOO_SLOW = 4408
    ABUSE = 4429
    TOO_BIG = 1009


class FrameError(Exception):
    """A refused client frame: answered with an `error` frame, the socket stays open."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def origin_allowed(origin: str | None, merchant: Merchant) -> bool:
    if origin is None:  # non-browser clients send none
        return True
    origin = origin.rstrip("/")
    return origin in settings.LIVESHOP_PLATFORM_ORIGINS or origin in (
        merchant.allowed_origins or []
    )


@database_sync_to_async
def _merchant(slug: str) -> Merchant | None:
    try:
        return merchant_get(slug)
    except Http404:
        return None


@database_sync_to_async
def _user_for_token(raw: str) -> Any:
    from liveshop.api.authentication import user_for_token

    token = user_for_token(raw)
    return token.user if token else None


class TenantConsumer(AsyncWebsocketConsumer):
    merchant: Merchant
    user: Any = None  # accounts.User once authenticated, else None (anonymous)
    accepts_token_auth = True
    language: str  # of this socket's messages; see liveshop/i18n.py

    def client_ip(self) -> str:
        """The peer's address as the server saw it (per-IP limits key on it)."""
        client = self.scope.get("client") or ("unknown", 0)
        return str(client[0])

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Every handler (connect, frames, group messages) speaks the socket's language.
        if not hasattr(self, "language"):
            self.language = language_for_scope(self.scope)
        with translation.override(self.language):
            await super().dispatch(message)

    # --- lifecycle ------------------------------------------------------------------------
    async def connect(self) -> None:
        await self.accept()
        self._first_frame = True
        kwargs = self.scope["url_route"]["kwargs"]
        merchant = await _merchant(kwargs.get("m", ""))
        if merchant is None:
            await self.close(code=Close.NOT_FOUND)
            return
        self.merchant = merchant
        if not origin_allowed(self.header("origin"), merchant):
            await self.send_error(
                "origin_refused", gettext("This origin may not connect to this merchant.")
            )
            await self.close(code=Close.FORBIDDEN)
            return
        session_user = self.scope.get("user")
        self.user = (
            session_user if session_user is not None and session_user.is_authenticated else None
        )
        await self.on_open()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not hasattr(self, "merchant"):
            return  # closing: connect() refused this socket
        if bytes_data is not None:
            await self.send_error("bad_frame", gettext("Send JSON text frames."))
            return
        if text_data is None:
            return
        if len(text_data) > MAX_FRAME:
            await self.close(code=Close.TOO_BIG)
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self.send_error("bad_json", gettext("Frames must be JSON."))
            return
        if contains_nul(frame):
            await self.send_error("bad_frame", gettext("Text may not contain NUL characters."))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send_error(
                "bad_frame", gettext('A frame is a JSON object with a string "type".')
            )
            return
        first, self._first_frame = self._first_frame, False
        if frame["type"] == "auth":
            await self._authenticate(frame, first)
            return
        try:
            await self.on_frame(frame)
        except FrameError as exc:
            await self.send_error(exc.code, exc.message, frame.get("nonce"))

    async def _authenticate(self, frame: dict[str, Any], first: bool) -> None:
        token = frame.get("token")
        if (
            not first
            or not self.accepts_token_auth
            or not isinstance(token, str)
            or len(token) > 512
        ):
            await self.send_error(
                "auth_failed", gettext("Send auth with a token as the first frame.")
            )
            await self.close(code=Close.AUTH_FAILED)
            return
        user = await self.authenticate_token(token)
        if user is None:
            await self.send_error("auth_failed", gettext("Invalid or expired token."))
            await self.close(code=Close.AUTH_FAILED)
            return
        self.user = user
        self.language = language_for_scope({**self.scope, "user": user})
        await self.send_json({"type": "auth.ok", "user": self.user_public(user)})
        await self.on_authenticated()

    # --- hooks for subclasses --------------------------------------------------------------
    async def authenticate_token(self, token: str) -> Any:
        return await _user_for_token(token)

    async def on_open(self) -> None:
        """The socket is accepted, the merchant resolved and Origin checked."""

    async def on_authenticated(self) -> None:
        """A token `auth` frame succeeded (session users are authenticated from the start)."""

    async def on_frame(self, frame: dict[str, Any]) -> None:
        raise FrameError(
            "unknown_type", gettext("Unknown frame type %(type)r.") % {"type": frame["type"]}
        )

    # --- helpers ---------------------------------------------------------------------------
    def header(self, name: str) -> str | None:
        wanted = name.encode().lower()
        for key, value in self.scope.get("headers", []):
            if key.lower() == wanted:
                return str(value.decode("latin-1"))
        return None

    @staticmethod
    def user_public(user: Any) -> dict[str, Any]:
        return {"id": user.pk, "name": user.display_name}

    def require_user(self) -> Any:
        if self.user is None:
            raise FrameError("auth_required", gettext("Log in to do this."))
        return self.user

    async def send_json(self, data: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(data, separators=(",", ":"), ensure_ascii=False))

    async def send_error(self, code: str, message: str, nonce: Any = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if isinstance(nonce, str | int) and len(str(nonce)) <= 64:
            frame["nonce"] = nonce
        await self.send_json(frame)
