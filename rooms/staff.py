"""Staff frames on the room socket: `pin`, `unpin`, `moderate`, `flash_sale.start`.

The consumer calls `handle` (sync, via database_sync_to_async) for these frame types. The
gate here is the engine's: only staff of the room's merchant with `Perm.HOST_ROOMS` (pin,
unpin, flash sales) or `Perm.MODERATE` (moderate) get past it, and for `moderate` also the
room's moderators (shoppers promoted for this one room; they get `actor=None` and a subset
of the actions, see `rooms.moderation.moderate`); shoppers, anonymous viewers and other
merchants' staff are refused. `HANDLERS` maps each frame type to the service that does the
work (`rooms.selling`, `rooms.moderation`). Errors raised here become `error` frames with the frame's nonce.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _

from liveshop.errors import DomainError
from liveshop.tenancy.access import Actor, access_merchant
from liveshop.tenancy.permissions import Perm

from .models import Room

Handler = Callable[..., None]
"""`handler(*, actor, user, room, frame)`: does the work (publishing its events)."""


def _pin(*, actor: Actor, user: Any, room: Room, frame: dict[str, Any]) -> None:
    from .selling import pin_product

    pin_product(actor=actor, room=room, product_id=frame.get("product"))


def _unpin(*, actor: Actor, user: Any, room: Room, frame: dict[str, Any]) -> None:
    from .selling import unpin_product

    unpin_product(actor=actor, room=room)


def _flash_sale_start(*, actor: Actor, user: Any, room: Room, frame: dict[str, Any]) -> None:
    from .selling import flash_sale_start

    flash_sale_start(
        actor=actor,
        room=room,
        product_id=frame.get("product"),
        variant_id=frame.get("variant"),
        price=frame.get("price"),
        units=frame.get("units"),
        duration_s=frame.get("duration_s"),
    )


def _moderate(*, actor: Actor | None, user: Any, room: Room, frame: dict[str, Any]) -> None:
    from .moderation import moderate

    moderate(actor=actor, user=user, room=room, frame=frame)


HANDLERS: dict[str, Handler] = {
    "pin": _pin,
    "unpin": _unpin,
    "moderate": _moderate,
    "flash_sale.start": _flash_sale_start,
}

REQUIRED_PERM: dict[str, Perm] = {
    "pin": Perm.HOST_ROOMS,
    "unpin": Perm.HOST_ROOMS,
    "moderate": Perm.MODERATE,
    "flash_sale.start": Perm.HOST_ROOMS,
}

STAFF_FRAMES = frozenset(HANDLERS)


def room_moderator(*, room: Room, user: Any) -> bool:
    """Whether `user` was made a moderator of `room` (a shopper promoted for one room)."""
    from .moderation import is_room_moderator

    return is_room_moderator(room=room, user=user)


def staff_actor(*, user: Any, room: Room, frame_type: str) -> Actor | None:
    """The actor for a staff frame, or PermissionDenied. Room moderators (not staff) may
    `moderate`; they get None as actor."""
    if user is None:
        raise PermissionDenied(_("Only the room's staff may do this."))
    try:
        actor = access_merchant(principal=user, slug=room.merchant.slug)
    except Http404:  # not of this merchant
        actor = None
    if actor is not None and actor.can(REQUIRED_PERM[frame_type]):
        return actor
    if frame_type == "moderate" and room_moderator(room=room, user=user):
        return None
    raise PermissionDenied(_("Only the room's staff may do this."))


def handle(*, user: Any, room: Room, frame: dict[str, Any]) -> None:
    """Run one validated staff frame for `user` in `room`: gate, then dispatch."""
    frame_type = frame["type"]
    if frame_type not in HANDLERS:
        raise DomainError(_("Unknown action."), code="unknown_type")
    actor = staff_actor(user=user, room=room, frame_type=frame_type)
    HANDLERS[frame_type](actor=actor, user=user, room=room, frame=frame)
