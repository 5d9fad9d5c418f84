"""Broadcast writes for the web side: start rendering a live room to HLS, and stop.

Call them where a room goes live and ends (rooms.services.room_go_live / room_end), in the
same transaction: the row is the worker's instruction, so a rolled-back go-live renders
nothing. `record` is the merchant's choice for this show; its segments are then kept for the
replay page."""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from liveshop.errors import Conflict, DomainError
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.scope import tenant_scope
from media.access import host_identity
from rooms.models import Room, RoomStatus

from .config import hls_settings
from .models import Broadcast, BroadcastStatus


def hls_enabled() -> bool:
    return hls_settings().enabled


def _open_broadcast(*, merchant: Merchant, room: Room) -> Broadcast | None:
    return (
        Broadcast.objects.filter(merchant=merchant, room=room)
        .exclude(status=BroadcastStatus.ENDED)
        .first()
    )


def broadcast_start(*, merchant: Merchant, room: Room, record: bool = False) -> Broadcast:
    """Render this live room to HLS (and record it when `record`). Idempotent: a room that is
    already being rendered keeps its broadcast (and its record choice)."""
    if not hls_enabled():
        raise DomainError(_("HLS is not enabled on this platform."), code="hls_disabled")
    if room.merchant_id != merchant.id:
        raise DomainError(_("No such room."), code="not_found", status=404)
    with tenant_scope(merchant.id):
        room = Room.objects.select_for_update().get(pk=room.pk, merchant=merchant)
        if room.status != RoomStatus.LIVE:
            raise Conflict(_("Only a live room can be broadcast."), code="room_not_live")
        existing = _open_broadcast(merchant=merchant, room=room)
        if existing is not None:
            return existing
        epoch = f"{timezone.now():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
        try:
            with transaction.atomic():
                return Broadcast.objects.create(
                    merchant=merchant,
                    room=room,
                    epoch=epoch,
                    record=bool(record),
                    host_identity=host_identity(room),
                )
        except IntegrityError:
            # Another request started it meanwhile (one open broadcast per room).
            existing = _open_broadcast(merchant=merchant, room=room)
            if existing is None:
                raise
            return existing


def broadcast_stop(*, merchant: Merchant, room: Room) -> Broadcast | None:
    """The show ended: the worker finishes the files (EXT-X-ENDLIST; the recording) and marks
    the broadcast ended. None when nothing was being rendered."""
    with tenant_scope(merchant.id):
        broadcast = _open_broadcast(merchant=merchant, room=room)
        if broadcast is None:
            return None
        if broadcast.status == BroadcastStatus.ACTIVE:
            Broadcast.objects.filter(pk=broadcast.pk, status=BroadcastStatus.ACTIVE).update(
                status=BroadcastStatus.STOPPING
            )
            broadcast.refresh_from_db()
        return broadcast
