"""Co-hosts on stage (连麦): the host invites a staff member or a viewer to publish in the room.

A `StageGrant` row is the invite (accepted_at null), then the right to publish (accepted);
`revoked_at` ends it (the host revoked it, the guest declined or left). `access.room_may_publish`
reads it, so only a guest on stage gets through the media socket's publish check; revoking
also stops the guest's publisher in the relay at once (relay op `kick`, after commit), so
their tracks stop reaching viewers even if their browser keeps sending.

Up to STAGE_MAX people on stage including the host. Events to the room (rooms/protocol.py,
"stage" block): `stage.invited {user}`, `stage.updated {members}`, `stage.revoked {user}`.
Viewers get every on-stage track from the relay, which sends each viewer its own `offer`
when publishers come and go (media/README.md, renegotiation); a member's `identity` is the
`publisher` of their tracks in the media socket's `tracks` lists.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce.services.common import actor_scope
from liveshop.errors import Conflict, DomainError
from liveshop.tenancy.access import Actor
from liveshop.tenancy.permissions import Perm
from liveshop.tenancy.scope import tenant_scope
from liveshop.tenancy.services import audit_record
from rooms.events import publish
from rooms.models import Room, RoomStatus

from .access import room_session_key, user_identity
from .models import StageGrant

log = logging.getLogger("liveshop.media.stage")

STAGE_MAX = 4  # on stage at once, the host included
OPEN_INVITES_MAX = 6  # invites not yet answered, per room


def _public(user: Any) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name}


def _open(room: Room) -> Any:
    return StageGrant.objects.filter(
        merchant_id=room.merchant_id, room=room, revoked_at__isnull=True
    )


def stage_members(*, room: Room) -> list[dict[str, Any]]:
    """Who is on stage: the host first, then guests by acceptance. Call in the room's scope."""
    members = [
        {"user": _public(room.host), "identity": user_identity(room.host_id), "role": "host"}
    ]
    guests = _open(room).filter(accepted_at__isnull=False).select_related("user")
    for grant in guests.order_by("accepted_at", "id"):
        members.append(
            {"user": _public(grant.user), "identity": user_identity(grant.user_id), "role": "guest"}
        )
    return members


def stage_state(*, room: Room, user: Any = None) -> dict[str, Any]:
    """The stage as the room page shows it, and `user`'s own invite or place on it."""
    mine = None
    if user is not None and getattr(user, "is_authenticated", False):
        grant = _open(room).filter(user_id=user.pk).first()
        if grant is not None:
            mine = {"status": "on_stage" if grant.accepted_at else "invited", "id": grant.pk}
    invited = [
        _public(g.user) for g in _open(room).filter(accepted_at__isnull=True).select_related("user")
    ]
    return {
        "members": stage_members(room=room),
        "invited": invited,
        "max": STAGE_MAX,
        "me": mine,
    }


def _updated(room: Room) -> None:
    publish(room, {"type": "stage.updated", "members": stage_members(room=room)})


def _locked_room(room: Room) -> Room:
    locked: Room = (
        Room.objects.select_for_update()
        .select_related("host")
        .get(pk=room.pk, merchant_id=room.merchant_id)
    )
    if locked.status == RoomStatus.ENDED:
        raise Conflict(_("This room has ended."), code="room_ended")
    return locked


def stage_invite(*, actor: Actor, room: Room, user_id: int) -> StageGrant:
    """The host (staff who may host rooms) invites a user on stage: a staff member or a
    viewer. Idempotent for a user already invited or on stage."""
    actor.require(Perm.HOST_ROOMS)
    with actor_scope(actor):
        room = _locked_room(room)
        if user_id == room.host_id:
            raise DomainError(_("The host is already on stage."), code="stage_host")
        guest = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if guest is None:
            raise DomainError(_("No such user."), code="not_found", status=404)
        existing = _open(room).filter(user_id=user_id).first()
        if existing is not None:
            return existing
        if _open(room).filter(accepted_at__isnull=True).count() >= OPEN_INVITES_MAX:
            raise Conflict(_("Too many invites are waiting for an answer."), code="stage_full")
        if _open(room).filter(accepted_at__isnull=False).count() >= STAGE_MAX - 1:
            raise Conflict(
                _("The stage is full (%(n)d with the host).") % {"n": STAGE_MAX},
                code="stage_full",
            )
        try:
            with transaction.atomic():
                grant = StageGrant.objects.create(
                    merchant=actor.merchant,
                    room=room,
                    user=guest,
                    granted_by=actor.user if getattr(actor.user, "pk", None) else None,
                )
        except IntegrityError as exc:  # invited twice at once
            raise Conflict(_("Already invited."), code="conflict") from exc
        audit_record(actor=actor, action="stage.invited", obj=room, data={"user": user_id})
        publish(room, {"type": "stage.invited", "user": _public(guest)})
    return grant


def _own_grant(room: Room, user: Any) -> StageGrant:
    grant = _open(room).select_for_update().filter(user_id=user.pk).first()
    if grant is None:
        raise DomainError(_("You have no invite to this stage."), code="not_found", status=404)
    return grant


def stage_accept(*, user: Any, room: Room) -> StageGrant:
    """The guest accepts: from now on they may publish in the room (as `user:<id>`)."""
    with tenant_scope(room.merchant_id, user_id=user.pk):
        room = _locked_room(room)
        grant = _own_grant(room, user)
        if grant.accepted_at is not None:
            return grant
        if _open(room).filter(accepted_at__isnull=False).count() >= STAGE_MAX - 1:
            raise Conflict(
                _("The stage is full (%(n)d with the host).") % {"n": STAGE_MAX},
                code="stage_full",
            )
        grant.accepted_at = timezone.now()
        grant.save(update_fields=["accepted_at"])
        _updated(room)
    return grant


def stage_leave(*, user: Any, room: Room) -> None:
    """The guest declines the invite or leaves the stage; their publisher stops."""
    with tenant_scope(room.merchant_id, user_id=user.pk):
        room = Room.objects.select_for_update().get(pk=room.pk, merchant_id=room.merchant_id)
        grant = _own_grant(room, user)
        _end(room, grant, reason="left")


def stage_revoke(*, actor: Actor, room: Room, user_id: int) -> None:
    """The host takes a guest off stage (or withdraws an invite). Their publisher is stopped
    in the relay once this commits: viewers stop receiving their tracks."""
    actor.require(Perm.HOST_ROOMS)
    with actor_scope(actor):
        room = Room.objects.select_for_update().get(pk=room.pk, merchant=actor.merchant)
        grant = _open(room).select_for_update().filter(user_id=user_id).first()
        if grant is None:
            raise DomainError(_("This user is not on stage."), code="not_found", status=404)
        _end(room, grant, reason="revoked")
        audit_record(actor=actor, action="stage.revoked", obj=room, data={"user": user_id})


def _end(room: Room, grant: StageGrant, *, reason: str) -> None:
    was_on_stage = grant.accepted_at is not None
    grant.revoked_at = timezone.now()
    grant.save(update_fields=["revoked_at"])
    publish(
        room,
        {"type": "stage.revoked", "user": _public(grant.user), "reason": reason},
    )
    if was_on_stage:
        _updated(room)
        identity = user_identity(grant.user_id)
        transaction.on_commit(lambda: async_to_sync(relay_kick)(room=room, identity=identity))


def stage_end_all(*, room: Room) -> None:
    """The show ended: every grant of the room ends (the relay session closes anyway)."""
    _open(room).update(revoked_at=timezone.now())


async def relay_kick(*, room: Room, identity: str) -> None:
    """Stop `identity` publishing in the room's relay session (best effort: not publishing
    is fine). Its own short-lived relay connection, so it works from any thread."""
    from .relay.protocol import RelayError
    from .relay.registry import RelayPool, directory_from_settings

    session = room_session_key(room)
    pool = RelayPool(directory_from_settings(), secret=settings.LIVESHOP_MEDIA_RELAY_SECRET)
    try:
        client = await pool.client_for(session)
        await asyncio.wait_for(client.kick(session, identity, reason="revoked"), 10)
    except (RelayError, OSError, TimeoutError) as exc:
        log.warning("room %s: could not stop %s in the relay: %s", room.pk, identity, exc)
    finally:
        await pool.close()
