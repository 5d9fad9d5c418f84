"""Who may publish to and watch a room's video, and the names the relay knows them by.

Session keys and publisher identities are always built here, server-side, from the merchant
and room resolved from the URL: nothing a client sends can address another merchant's room
or a consult. Call these inside `tenant_scope(room.merchant_id)`.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from liveshop.errors import DomainError
from liveshop.tenancy.models import Membership
from liveshop.tenancy.permissions import Perm, role_has
from rooms.models import Room, RoomStatus


class MediaRefused(DomainError):
    """Publishing or watching is not allowed; `code` says why (sent as the error frame's)."""

    status = 403
    code = "forbidden"


def room_session_key(room: Room) -> str:
    """The relay session of a room's video."""
    return f"room:{room.merchant_id}:{room.pk}"


def user_identity(user_id: int) -> str:
    """A publisher's identity in the relay (the same for the browser and WHIP, so either
    takes over the other's feeds: that is stream continuity)."""
    return f"user:{user_id}"


def host_identity(room: Room) -> str:
    return user_identity(room.host_id)


def _is_staff_with(room: Room, user: Any, perm: Perm) -> bool:
    role = (
        Membership.objects.filter(merchant_id=room.merchant_id, user_id=user.pk)
        .values_list("role", flat=True)
        .first()
    )
    return role is not None and role_has(role, perm)


def room_may_publish(*, room: Room, user: Any) -> bool:
    """Whether `user` may publish video in `room`: its host, while still staff who may host,
    or a co-host on stage (an accepted, unrevoked StageGrant: media/stage.py)."""
    if user is None or not user.is_authenticated:
        return False
    if room.host_id == user.pk:
        return _is_staff_with(room, user, Perm.HOST_ROOMS)
    return on_stage(room=room, user_id=user.pk)


def on_stage(*, room: Room, user_id: int) -> bool:
    """A co-host the host invited, who accepted, and whose grant is not revoked."""
    from .models import StageGrant

    return StageGrant.objects.filter(
        merchant_id=room.merchant_id,
        room=room,
        user_id=user_id,
        accepted_at__isnull=False,
        revoked_at__isnull=True,
    ).exists()


def room_publish_check(*, room: Room, user: Any) -> str:
    """The identity `user` publishes as in `room`, or MediaRefused."""
    if user is None:
        raise MediaRefused(_("Log in to publish."), code="auth_required")
    if not room_may_publish(room=room, user=user):
        raise MediaRefused(
            _("Only the room's host and its co-hosts on stage may publish here."),
            code="publish_forbidden",
        )
    if room.status == RoomStatus.ENDED:
        raise MediaRefused(_("This room has ended."), code="room_ended")
    return user_identity(user.pk)


def room_subscribe_check(*, room: Room, user: Any) -> None:
    """Anyone may watch a live room; a room that has not started is visible to its staff
    only (the host checking the picture); an ended room to nobody."""
    if room.status == RoomStatus.ENDED:
        raise MediaRefused(_("This room has ended."), code="room_ended")
    if room.status == RoomStatus.LIVE:
        return
    if user is not None and _is_staff_with(room, user, Perm.HOST_ROOMS):
        return
    raise MediaRefused(_("This room is not live yet."), code="room_not_live")
