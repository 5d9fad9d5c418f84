"""Media writes: stream keys for WHIP ingest, and ending a room's video in the relay."""

from __future__ import annotations

import asyncio
import logging

from django.utils import timezone

from commerce.services.common import actor_scope
from liveshop.opaque import opaque_hash, opaque_new
from liveshop.tenancy.access import Actor
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.permissions import Perm
from liveshop.tenancy.scope import tenant_scope
from liveshop.tenancy.services import audit_record
from rooms.models import Room

from .access import room_session_key
from .models import StreamKey

log = logging.getLogger("liveshop.media")

STREAM_KEY_PREFIX = "lsw_"
MAX_KEY_LENGTH = 200


def stream_key_create(*, actor: Actor, room: Room) -> tuple[StreamKey, str]:
    """A new stream key for `room` → (row, raw key). The raw key is returned only here:
    show it once. Any live key of the room is revoked (a key leaked? make a new one)."""
    actor.require(Perm.HOST_ROOMS)
    with actor_scope(actor):
        now = timezone.now()
        StreamKey.objects.filter(
            merchant=actor.merchant, room=room, revoked_at__isnull=True
        ).update(revoked_at=now)
        raw = opaque_new(STREAM_KEY_PREFIX)
        key = StreamKey.objects.create(
            merchant=actor.merchant,
            room=room,
            prefix=raw[:12],
            key_hash=opaque_hash(raw),
            created_by=actor.user if getattr(actor.user, "pk", None) else None,
            created_at=now,
        )
        audit_record(
            actor=actor, action="stream_key.created", obj=room, data={"prefix": key.prefix}
        )
    return key, raw


def stream_key_revoke(*, actor: Actor, room: Room) -> int:
    """Revoke the room's live stream key (encoders using it are refused from now on; one
    already streaming keeps going until it stops). Returns how many were revoked."""
    actor.require(Perm.HOST_ROOMS)
    with actor_scope(actor):
        revoked = StreamKey.objects.filter(
            merchant=actor.merchant, room=room, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        if revoked:
            audit_record(actor=actor, action="stream_key.revoked", obj=room)
    return revoked


def stream_key_live(*, merchant: Merchant, room: Room) -> StreamKey | None:
    with tenant_scope(merchant.id):
        return StreamKey.objects.filter(
            merchant=merchant, room=room, revoked_at__isnull=True
        ).first()


def stream_key_check(*, merchant: Merchant, room: Room, raw: str) -> StreamKey | None:
    """The live key of `room` matching `raw`, or None. Only this room's keys match: a key
    of another room or merchant is as wrong as a made-up one."""
    if not raw.startswith(STREAM_KEY_PREFIX) or len(raw) > MAX_KEY_LENGTH:
        return None
    with tenant_scope(merchant.id):
        key = StreamKey.objects.filter(
            merchant=merchant, room=room, key_hash=opaque_hash(raw), revoked_at__isnull=True
        ).first()
        if key is not None:
            StreamKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
        return key


async def room_video_close(*, room: Room) -> None:
    """End every peer connection of the room's video (the show ended): viewers get
    `closed` and co-hosts are dropped. Safe to call when nothing is running."""
    from .relay.protocol import RelayError
    from .relay.registry import relay_pool

    session = room_session_key(room)
    try:
        client = await relay_pool().client_for(session)
        await asyncio.wait_for(client.close_session(session), 10)
    except (RelayError, OSError, TimeoutError) as exc:
        log.warning("room %s: could not close its video session: %s", room.pk, exc)
