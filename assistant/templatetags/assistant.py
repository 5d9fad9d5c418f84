"""Partials other pages include.

{% load assistant %}
{% assistant_unanswered room %}          host console: questions left for the host
{% you_may_also_like products=ids room=room limit=4 %}   room page, order page, consults
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template

from liveshop.tenancy.permissions import Perm
from rooms import selectors as room_selectors

from .. import recommend, selectors

register = template.Library()


@register.inclusion_tag("assistant/_unanswered.html", takes_context=True)
def assistant_unanswered(context: template.Context, room: Any) -> dict[str, Any]:
    """Needs a dashboard page (request.actor) for the room's merchant."""
    request = context["request"]
    actor = request.actor
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "merchant": actor.merchant,
        "room": room,
        "unanswered": selectors.unanswered(merchant=actor.merchant, room=room),
        "reply_products": room_selectors.lineup_products(room=room),
        "can_reply": actor.can(Perm.HOST_ROOMS),
    }


@register.inclusion_tag("assistant/_recommendations.html", takes_context=True)
def you_may_also_like(
    context: template.Context,
    products: Iterable[Any] = (),
    room: Any = None,
    limit: int = 4,
    title: str = "",
) -> dict[str, Any]:
    """In-stock suggestions next to `products` (ids, products or order lines) and `room`, for storefront
    pages (the merchant comes from the page)."""
    request = context.get("request")
    merchant = context.get("merchant") or getattr(request, "merchant", None)
    if merchant is None:
        return {"suggestions": []}
    # Ids, products, or order lines (their product).
    seeds = [int(getattr(p, "product_id", None) or getattr(p, "pk", p)) for p in products or ()]
    return {
        "merchant": merchant,
        "title": title,
        "suggestions": recommend.recommend(merchant=merchant, seeds=seeds, room=room, limit=limit),
    }
