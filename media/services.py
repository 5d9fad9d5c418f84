"""Media writes: stream keys for WHIP ingest, and ending a room's video in the relay."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
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


def stream_key_revoke(*, actor: Actor, room: Room) -> list[str]:
    """Revoke the room's live stream key: encoders using it are refused from now on, and the
    stream it started is ended once this transaction commits. Returns the WHIP resources
    ended (empty when there was no live key or it was not streaming)."""
    actor.require(Perm.HOST_ROOMS)
    with actor_scope(actor):
        live = list(
            StreamKey.objects.select_for_update().filter(
                merchant=actor.merchant, room=room, revoked_at__isnull=True
            )
        )
        if not live:
            return []
        StreamKey.objects.filter(pk__in=[k.pk for k in live]).update(revoked_at=timezone.now())
        audit_record(actor=actor, action="stream_key.revoked", obj=room)
        resources = [k.whip_resource for k in live if k.whip_resource]
        if resources:
            transaction.on_commit(lambda: async_to_sync(whip_end)(room=room, resources=resources))
    return resources


def stream_key_started(*, key: StreamKey, resource: str) -> None:
    """Remember the WHIP resource a key started, so that revoking the key can end it."""
    with tenant_scope(key.merchant_id):
        StreamKey.objects.filter(pk=key.pk, merchant_id=key.merchant_id).update(
            whip_resource=resource
        )


async def whip_end(*, room: Room, resources: list[str]) -> None:
    """End WHIP streams of `room` (best effort: one already gone is fine). Uses its own
    short-lived relay connection, so it works from any thread or event loop."""
    from .relay.protocol import RelayError
    from .relay.registry import RelayPool, directory_from_settings

    session = room_session_key(room)
    pool = RelayPool(directory_from_settings(), secret=settings.LIVESHOP_MEDIA_RELAY_SECRET)
    try:
        client = await pool.client_for(session)
        for resource in resources:
            await asyncio.wait_for(
                client.leave(session=session, peer=whip_peer(resource), reason="bye"), 10
            )
    except (RelayError, OSError, TimeoutError) as exc:
        log.warning("room %s: could not end WHIP streams %s: %s", room.pk, resources, exc)
    finally:
        await pool.close()


def whip_peer(resource: str) -> str:
    """The relay peer id of a WHIP resource."""
    return f"whip-{resource}"


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


def room_video_close(*, room: Room) -> None:
    """End every peer connection of the room's video once the current transaction commits
    (the show ended): viewers get `closed`, co-hosts and WHIP encoders are dropped. For
    rooms.services.room_end to call; safe when nothing is running."""
    transaction.on_commit(lambda: async_to_sync(_room_video_close)(room=room))


async def _room_video_close(*, room: Room) -> None:
    from .relay.protocol import RelayError
    from .relay.registry import RelayPool, directory_from_settings

    session = room_session_key(room)
    pool = RelayPool(directory_from_settings(), secret=settings.LIVESHOP_MEDIA_RELAY_SECRET)
    try:
        client = await pool.client_for(session)
        await asyncio.wait_for(client.close_session(session), 10)
    except (RelayError, OSError, TimeoutError) as exc:
        log.warning("room %s: could not close its video session: %s", room.pk, exc)
    finally:
        await pool.close()
