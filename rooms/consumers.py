"""The room socket, `/ws/rooms/<m>/<room>/?since=<seq>` (../shared/ARCHITECTURE.md, "Room
WebSocket"; every frame's JSON Schema is in rooms/protocol.py, rendered at /docs/realtime/).

liveshop/ws.py's `TenantConsumer` applies the socket rules (64 KiB, merchant → 4404, Origin
→ 4403, session cookie or `auth` frame → 4401). This consumer joins the room's hub in this
process (rooms/realtime: `hello`, then one shared `batch` frame per tick), keeps presence,
and turns client frames into service calls:

- `chat.send`: signed in → `moderation.write_refusal` → `moderation.chat_filter` → per-user
  rate limits (burst and sustained) → append `chat.message {user, text, nonce}` to the room's stream;
- `like {count}`: signed in → counted (never stored one by one);
- `gift.send`: signed in → `write_refusal` → `rooms.economy.gift_send` (which publishes);
- staff frames (`pin`, `unpin`, `moderate`, `flash_sale.start`) → `rooms.staff.handle`.

Every frame the server sends to this socket, its own (`auth.ok`, `error`) and the hub's
shared ones, goes through one bounded `FrameQueue`, so they keep their order and a socket
that does not read is closed with 4408 instead of growing memory. Going over the frame rate
repeatedly closes with 4429.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils.translation import gettext as _

from assistant.services import achat_observed
from liveshop.errors import DomainError
from liveshop.tenancy.scope import tenant_scope
from liveshop.ws import Close, FrameError, TenantConsumer

from . import economy, moderation, selling, staff
from .events import room_key
from .models import Room
from .protocol import client_frame_problem
from .realtime.connection import FrameQueue
from .realtime.engine import RealtimeEngine, get_engine
from .realtime.presence import viewer_key
from .realtime.stream import dumps

log = logging.getLogger("liveshop.rooms.socket")

DEVICE_COOKIE = "ls_device"
CLOSE_INTERNAL = 1011


def refusal(exc: Exception) -> tuple[str, str]:
    """(code, message) of the `error` frame for a service's refusal."""
    if isinstance(exc, DomainError):
        return str(exc.code), str(exc.message)
    if isinstance(exc, ValidationError):
        return "invalid", "; ".join(str(m) for m in exc.messages)[:300]
    if isinstance(exc, PermissionDenied):
        return "forbidden", str(exc) or _("You may not do this.")
    if isinstance(exc, Http404):
        return "not_found", str(exc) or _("Not found.")
    raise exc


REFUSALS = (DomainError, ValidationError, PermissionDenied, Http404)


class RoomConsumer(TenantConsumer):
    # No channel layer: fan-out is the hub's, so a viewer costs no channel-layer receive
    # (one Redis BLPOP per socket) and a Redis outage does not kill every socket.
    channel_layer_alias = "rooms-use-the-hub-not-a-channel-layer"

    room: Room
    engine: RealtimeEngine
    frames: FrameQueue | None = None
    writer_task: asyncio.Task[None] | None = None
    viewer: str | None = None
    joined = False

    # --- connect / disconnect -------------------------------------------------------------

    async def on_open(self) -> None:
        room = await self._load_room(self.scope["url_route"]["kwargs"].get("room", ""))
        if room is None:
            await self.send_error("not_found", _("No such room."))
            await self.close(code=Close.NOT_FOUND)
            return
        self.room = room
        self.key = room_key(room)
        self.connection_id = uuid.uuid4().hex[:16]
        self.strikes = 0
        self._write_ok_until = 0.0
        self.engine = get_engine()
        self.engine.start()  # idempotent; under daphne (no lifespan) the first socket starts it
        self._ws_send = self._hot_send()
        self.frames = FrameQueue(
            self._send_text, self._close_socket, limit=self.engine.config.queue_frames
        )
        self.writer_task = asyncio.create_task(self.frames.run())
        since, problem = self._since()
        if problem:
            self._offer(self._error_frame("invalid", problem))
        info = await self._room_info()
        for attempt in range(2):
            try:
                await self.engine.registry.join(self.key, self.frames, since=since, room_info=info)
                break
            except ValueError as exc:
                self._offer(self._error_frame("invalid", str(exc)))
                self.frames.close(CLOSE_INTERNAL)
                return
            except Exception:
                # Once more: the first command after a Redis restart meets a dead pooled
                # connection (the read is harmless to repeat).
                if attempt == 0 and not self.frames.closed:
                    await asyncio.sleep(0.1)
                    continue
                log.exception("room %s: could not join its stream", self.key)
                self.frames.close(CLOSE_INTERNAL)
                return
        self.joined = True
        await self._presence_enter()

    async def disconnect(self, code: int) -> None:
        if self.frames is None:
            return
        if self.joined:
            self.engine.registry.leave(self.key, self.frames)
        self.frames.close(1000)
        if self.writer_task is not None:
            with contextlib.suppress(Exception):
                await self.writer_task
        await self._presence_leave()

    def _since(self) -> tuple[int | None, str]:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        values = query.get("since")
        if not values or values[-1] == "":
            return None, ""
        raw = values[-1]
        if not raw.isdigit() or len(raw) > 18:
            return None, _("since must be a non-negative integer seq.")
        return int(raw), ""

    async def _presence_enter(self) -> None:
        user_id = self.user.pk if self.user is not None else None
        device = self.scope.get("cookies", {}).get(DEVICE_COOKIE)
        self.viewer = viewer_key(user_id=user_id, device=device, connection=self.connection_id)
        try:
            await self.engine.presence.connect(self.key, self.viewer)
        except Exception:
            log.exception("room %s: presence unavailable", self.key)
            self.viewer = None

    async def _presence_leave(self) -> None:
        if self.viewer is None:
            return
        viewer, self.viewer = self.viewer, None
        with contextlib.suppress(Exception):
            await self.engine.presence.disconnect(self.key, viewer)

    async def on_authenticated(self) -> None:
        # The same person now counts once with their other devices and tabs.
        if self.joined:
            await self._presence_leave()
            await self._presence_enter()

    # --- sending: everything through the one bounded queue --------------------------------

    async def _send_text(self, text: str) -> None:
        await self._ws_send({"type": "websocket.send", "text": text})

    def _hot_send(self) -> Any:
        """The ASGI send for batch frames. Channels' session middleware wraps `send` to save
        the session on HTTP responses; a `websocket.send` never needs that, and its check
        costs a few µs per frame — per viewer, ten times a second."""
        inner = getattr(getattr(self.base_send, "__self__", None), "real_send", None)
        return inner if callable(inner) else self.base_send

    async def _close_socket(self, code: int) -> None:
        await AsyncWebsocketConsumer.close(self, code=code)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # After the frames already queued (an `error` goes out before its close code).
        if self.frames is not None and not self.frames.closed:
            self.frames.finish(int(code) if code and code is not True else 1000)
            return
        await super().close(code=code, reason=reason)

    def _offer(self, text: str) -> None:
        if self.frames is not None and not self.frames.offer(text):
            self.frames.close(Close.TOO_SLOW)

    async def send_json(self, data: dict[str, Any]) -> None:
        if self.frames is None:  # refused before the queue existed (4404, 4403)
            await super().send_json(data)
            return
        self._offer(dumps(data))

    @staticmethod
    def _error_frame(code: str, message: str, nonce: Any = None) -> str:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if isinstance(nonce, str | int) and len(str(nonce)) <= 64:
            frame["nonce"] = nonce
        return dumps(frame)

    # --- client frames --------------------------------------------------------------------

    async def on_frame(self, frame: dict[str, Any]) -> None:
        if not self.joined:
            return
        await self._frame_budget()
        problem = client_frame_problem(frame)
        if problem is not None:
            raise FrameError(*problem)
        kind = frame["type"]
        if kind == "chat.send":
            await self._chat(frame)
        elif kind == "like":
            self.require_user()
            self.engine.likes.add(self.key, frame["count"])
        elif kind == "gift.send":
            await self._gift(frame)
        elif kind in staff.STAFF_FRAMES:
            self.require_user()
            await self._call(self._staff_sync, frame)
        else:  # a type with a schema but no handler (auth arrives before on_frame)
            raise FrameError("unknown_type", _("Unknown frame type."))

    async def _frame_budget(self) -> None:
        # Per connection, per user (per IP before login) and per IP: rooms/moderation.py.
        if await moderation.frame_allowed(
            user_id=self.user.pk if self.user is not None else None,
            ip=self.client_ip(),
            connection=self.connection_id,
        ):
            return
        self.strikes += 1
        if self.strikes >= settings.LIVESHOP_ROOM_ABUSE_STRIKES and self.frames is not None:
            self.frames.finish(Close.ABUSE)
        raise FrameError("rate_limited", _("Too many frames; slow down."))

    async def _chat(self, frame: dict[str, Any]) -> None:
        user = self.require_user()
        text = await self._call(self._chat_check_sync, frame["text"])
        if not await moderation.chat_allowed(user_id=user.pk):
            raise FrameError("rate_limited", _("You are sending messages too fast."))
        event = {
            "type": "chat.message",
            "user": self.user_public(user),
            "text": text,
            "nonce": frame["nonce"],
        }
        try:
            stored = await self.engine.writer.publish(self.key, [event])
        except ValueError as exc:
            raise FrameError("invalid", str(exc)) from exc
        except Exception as exc:
            log.exception("room %s: chat append failed", self.key)
            raise FrameError("unavailable", _("Chat is unavailable; try again.")) from exc
        try:  # the room's assistant hears questions; the message is sent whatever it does
            await achat_observed(room=self.room, event=stored[0])
        except Exception:
            log.exception("room %s: the assistant could not look at a message", self.key)

    async def _gift(self, frame: dict[str, Any]) -> None:
        self.require_user()
        await self._call(self._gift_sync, frame)

    async def _call(self, func: Any, *args: Any) -> Any:
        try:
            return await database_sync_to_async(func)(*args)
        except REFUSALS as exc:
            raise FrameError(*refusal(exc)) from exc

    # --- database (worker thread) ---------------------------------------------------------

    @database_sync_to_async
    def _load_room(self, slug: str) -> Room | None:
        if not isinstance(slug, str) or len(slug) > 40:
            return None
        with tenant_scope(self.merchant.id):
            room = (
                Room.objects.select_related("host", "merchant")
                .filter(merchant=self.merchant, slug=slug)
                .first()
            )
        if room is not None:
            from .sinks import room_remember

            room_remember(room)
        return room

    @database_sync_to_async
    def _room_info(self) -> dict[str, Any]:
        """hello's `room`: its state, gift catalog and pinned product."""
        room = self.room
        info: dict[str, Any] = {
            "id": room.pk,
            "slug": room.slug,
            "title": room.title,
            "status": room.status,
            "host": {"id": room.host_id, "name": room.host.display_name},
            "gifts": [],
            "pinned": None,
        }
        with tenant_scope(self.merchant.id):
            info["gifts"] = list(economy.gift_catalog(self.merchant))
            info["pinned"] = selling.pinned_card(room)
        return info

    def _write_check(self) -> None:
        now = time.monotonic()
        if now < self._write_ok_until:
            return
        found = moderation.write_refusal(room=self.room, user=self.user)
        if found is not None:
            self._write_ok_until = 0.0
            raise DomainError(found[1], code=found[0])
        self._write_ok_until = now + settings.LIVESHOP_ROOM_WRITE_CHECK_S

    def _chat_check_sync(self, text: str) -> str:
        with tenant_scope(self.merchant.id):
            self._write_check()
            return moderation.chat_filter(room=self.room, text=text, user=self.user)

    def _gift_sync(self, frame: dict[str, Any]) -> Any:
        with tenant_scope(self.merchant.id):
            self._write_check()
            return economy.gift_send(
                merchant=self.merchant,
                room=self.room,
                user=self.user,
                gift_code=frame["gift"],
                count=frame.get("count", 1),
                nonce=frame["nonce"],
            )

    def _staff_sync(self, frame: dict[str, Any]) -> None:
        with tenant_scope(self.merchant.id):
            staff.handle(user=self.user, room=self.room, frame=frame)
