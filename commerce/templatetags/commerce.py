"""Template helpers for money and bilingual catalog texts."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import translation

from ..models import OrderStatus
from ..money import money_format

register = template.Library()


@register.filter
def money(amount: int | None, currency: str) -> str:
    return money_format(amount, currency)


@register.filter
def tr(obj: Any, field: str) -> str:
    """`{{ product|tr:"name" }}`: the Chinese text when the page is in Chinese and one exists."""
    if translation.get_language() == "zh-hans":
        value = getattr(obj, f"{field}_zh", "")
        if value:
            return str(value)
    return str(getattr(obj, field, ""))


@register.filter
def variant_label(variant: Any) -> str:
    if translation.get_language() == "zh-hans":
        return str(variant.label_zh)
    return str(variant.label)


_BADGES = {
    "paid": "badge-ok",
    "fulfilled": "badge-ok",
    "succeeded": "badge-ok",
    "pending_payment": "badge-warn",
    "pending": "badge-warn",
    "draft": "badge-info",
    "refunded": "badge-info",
    "failed": "badge-bad",
    "expired": "",
    "cancelled": "",
    "live": "badge-live",
    "scheduled": "badge-info",
}


@register.filter
def status_badge(status: str) -> str:
    """The badge class for an order, payment or room status."""
    return _BADGES.get(str(status), "")


@register.filter
def order_status(value: str) -> str:
    """An order status code (as stored on transitions) as people read it; unknown codes as
    they are."""
    try:
        return str(OrderStatus(value).label)
    except ValueError:
        return str(value)
