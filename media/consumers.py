"""The room's video signalling socket, `/ws/media/<m>/<room>/`.

Same rules as the room socket (liveshop/ws.py: Origin, cookie or `auth` frame, close codes);
the relay forwarding is media/signalling.py. On connect the server sends
`{"type":"hello","room":{"status"},"host":"user:<id>","can_publish":bool,"ice_servers":[…]}`
(again after a token `auth`, since who may publish and the TURN credential changed). When
the host's media reaches the relay, a scheduled room goes live (rooms.services.room_go_live).
"""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext

from liveshop import ratelimit
from liveshop.errors import DomainError
from liveshop.tenancy.access import access_merchant
from liveshop.tenancy.scope import tenant_scope
from liveshop.ws import Close, FrameError, TenantConsumer
from rooms.models import Room, RoomStatus

from .access import (
    MediaRefused,
    host_identity,
    room_may_publish,
    room_publish_check,
    room_session_key,
    room_subscribe_check,
    user_identity,
)
from .ice import anonymous_key, ice_servers
from .signalling import MediaGrant, SignallingMixin

log = logging.getLogger("liveshop.media")

# Relay refusals of a viewer that mean "too many viewers here": answered `viewer_cap`.
CROWD_CODES = ("viewer_cap", "subscriber_limit", "relay_full")


class RoomMediaConsumer(SignallingMixin, TenantConsumer):
    room: Room

    async def on_open(self) -> None:
        room = await self._load_room(self.scope["url_route"]["kwargs"].get("room", ""))
        if room is None:
            await self.close(code=Close.NOT_FOUND)
            return
        self.room = room
        self._anonymous_key = anonymous_key()
        await self.send_hello()

    async def on_authenticated(self) -> None:
        await self.send_hello()

    async def on_frame(self, frame: dict[str, Any]) -> None:
        if not hasattr(self, "room"):
            return
        try:
            handled = await self.media_frame(frame)
        except FrameError as exc:
            if exc.code not in CROWD_CODES or frame.get("role") != "subscribe":
                raise
            # Past the room's WebRTC cap (or the relay is full): the player switches to HLS.
            await self.send_json(
                {
                    "type": "error",
                    "code": "viewer_cap",
                    "message": gettext("This show is crowded: switching to the HLS stream."),
                    "hls": await self._hls_url(),
                }
            )
            return
        if handled:
            return
        await super().on_frame(frame)

    async def send_hello(self) -> None:
        can_publish = await self._may_publish()
        user_key = str(self.user.pk) if self.user is not None else self._anonymous_key
        await self.send_json(
            {
                "type": "hello",
                "room": {"status": self.room.status},
                "host": host_identity(self.room),
                "you": user_identity(self.user.pk) if self.user is not None else None,
                "can_publish": can_publish,
                "ice_servers": ice_servers(user_key=user_key),
            }
        )

    # --- SignallingMixin ---

    async def media_grant(self, role: str) -> MediaGrant:
        # Beyond the per-socket budget: many sockets from one viewer must not fill a relay.
        who = f"user:{self.user.pk}" if self.user is not None else f"ip:{self.client_ip()}"
        if not await database_sync_to_async(ratelimit.hit)(
            ratelimit.rate_parse(settings.LIVESHOP_MEDIA_OFFER_RATE),
            "media-offer",
            str(self.merchant.pk),
            who,
        ):
            raise FrameError("rate_limited", gettext("Too many video connections; wait a minute."))
        try:
            room, identity, cap = await self._grant(role)
        except MediaRefused as exc:
            raise FrameError(exc.code, exc.message) from exc
        self.room = room
        return MediaGrant(
            session=room_session_key(room), profile="room", identity=identity, max_subscribers=cap
        )

    async def media_event(
        self, event: dict[str, Any], frame: dict[str, Any]
    ) -> dict[str, Any] | None:
        if (
            event.get("event") in ("publisher.joined", "publisher.back")
            and self.user is not None
            and event.get("identity") == user_identity(self.user.pk)
            and self.media is not None
            and "publish" in self.media.legs
        ):
            # Our own media reached the relay: that is when the show starts.
            await self._go_live()
        return frame

    # --- database ---

    @database_sync_to_async
    def _load_room(self, slug: str) -> Room | None:
        if not isinstance(slug, str) or len(slug) > 40:
            return None
        with tenant_scope(self.merchant.id):
            return Room.objects.filter(merchant=self.merchant, slug=slug).first()

    @database_sync_to_async
    def _may_publish(self) -> bool:
        with tenant_scope(self.merchant.id):
            return room_may_publish(room=self.room, user=self.user)

    @database_sync_to_async
    def _grant(self, role: str) -> tuple[Room, str | None, int | None]:
        # Read the room again: its status (and host) may have changed since connect.
        with tenant_scope(self.merchant.id):
            room = Room.objects.filter(merchant=self.merchant, pk=self.room.pk).first()
            if room is None:
                raise MediaRefused(gettext("This room no longer exists."), code="not_found")
            if role == "publish":
                return room, room_publish_check(room=room, user=self.user), None
            room_subscribe_check(room=room, user=self.user)
            # A logged-in viewer (say the host on a second device) is spared their own feeds.
            identity = user_identity(self.user.pk) if self.user is not None else None
            return room, identity, self._viewer_cap(room)

    def _viewer_cap(self, room: Room) -> int | None:
        """How many WebRTC viewers the room takes before new ones go to HLS: the merchant
        plan's `webrtc_viewers_per_room`, lowered by LIVESHOP_MEDIA_WEBRTC_VIEWER_CAP (the
        relay's measured capacity per room, 0 = none). Whoever may publish here (the host,
        co-hosts on stage) is never capped."""
        if self.user is not None and room_may_publish(room=room, user=self.user):
            return None
        caps = [self.merchant.plan.webrtc_viewers_per_room]
        relay_cap = int(getattr(settings, "LIVESHOP_MEDIA_WEBRTC_VIEWER_CAP", 0) or 0)
        if relay_cap > 0:
            caps.append(relay_cap)
        return min(caps)

    @database_sync_to_async
    def _hls_url(self) -> str | None:
        from .hls.selectors import hls_live_url

        with tenant_scope(self.merchant.id):
            room = Room.objects.filter(merchant=self.merchant, pk=self.room.pk).first()
            return None if room is None else hls_live_url(merchant=self.merchant, room=room)

    async def _go_live(self) -> None:
        try:
            went_live = await self._room_go_live()
        except (DomainError, PermissionDenied, Http404) as exc:
            code = getattr(exc, "code", "forbidden")
            message = getattr(exc, "message", str(exc))
            await self.send_error(str(code), str(message))
            return
        if went_live:
            log.info("room %s went live with its host's video", self.room.pk)

    @database_sync_to_async
    def _room_go_live(self) -> bool:
        # rooms.services owns the status change (plan limits, audit, and the room.state
        # event to viewers); this only decides when: the host's media has arrived.
        from rooms.services import room_go_live

        with tenant_scope(self.merchant.id):
            room = Room.objects.filter(merchant=self.merchant, pk=self.room.pk).first()
            if room is None or room.status != RoomStatus.SCHEDULED:
                return False
        actor = access_merchant(principal=self.user, slug=self.merchant.slug)
        self.room = room_go_live(actor=actor, room=room)
        return True
