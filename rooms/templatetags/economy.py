"""`{% load economy %}{% room_gift_totals room %}`: what a room received in gifts (the room's
dashboard page)."""

from __future__ import annotations

from typing import Any

from django import template

from .. import economy

register = template.Library()


@register.inclusion_tag("rooms/_gift_totals.html")
def room_gift_totals(room: Any) -> dict[str, Any]:
    from liveshop.tenancy.models import Merchant

    merchant = Merchant(id=room.merchant_id)
    return {"room": room, "totals": economy.gift_totals(merchant=merchant, room=room)}
