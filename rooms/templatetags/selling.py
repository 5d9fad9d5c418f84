"""`{% load selling %}{% room_selling_card room %}`: the room page's selling settings card
("someone just bought" switch, slow mode, moderators)."""

from __future__ import annotations

from typing import Any

from django import template

from liveshop.tenancy.permissions import Perm

from .. import moderation, selling

register = template.Library()


@register.inclusion_tag("dashboard/rooms/_selling.html", takes_context=True)
def room_selling_card(context: Any, room: Any) -> dict[str, Any]:
    from ..models import RoomSelling

    actor = getattr(context.get("request"), "actor", None)
    row = RoomSelling.objects.filter(merchant_id=room.merchant_id, room=room).first()
    return {
        "room": room,
        "merchant": context.get("merchant"),
        "csrf_token": context.get("csrf_token"),
        "can_manage": actor is not None and actor.can(Perm.MANAGE_ROOMS),
        "purchase_events": selling.purchase_events_on(room),
        "slow_mode_s": row.slow_mode_s if row is not None and row.slow_mode_s else 0,
        "moderators": moderation.room_moderators(room=room),
    }
