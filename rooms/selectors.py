"""Room reads, always merchant-scoped; Http404 for missing and foreign rooms alike."""

from __future__ import annotations

from django.db.models import Case, Count, IntegerField, Prefetch, QuerySet, Value, When
from django.http import Http404

from commerce.models import Product
from liveshop.tenancy.models import Merchant

from .models import Room, RoomProduct, RoomStatus


def _lineup(merchant: Merchant) -> Prefetch:
    return Prefetch(
        "lineup",
        queryset=RoomProduct.objects.filter(merchant=merchant)
        .select_related("product")
        .order_by("position", "id"),
    )


def room_list(*, merchant: Merchant, status: str = "") -> QuerySet[Room]:
    rooms = Room.objects.filter(merchant=merchant).select_related("host")
    if status:
        rooms = rooms.filter(status=status)
    return rooms.prefetch_related(_lineup(merchant)).order_by("-id")


def room_get(*, merchant: Merchant, slug: str) -> Room:
    room = room_list(merchant=merchant).filter(slug=slug).first()
    if room is None:
        raise Http404("No such room.")
    return room


def storefront_rooms(*, merchant: Merchant) -> QuerySet[Room]:
    """What shoppers see: live rooms first, then upcoming ones by start time."""
    return (
        room_list(merchant=merchant)
        .filter(status__in=[RoomStatus.LIVE, RoomStatus.SCHEDULED])
        .annotate(
            live_first=Case(
                When(status=RoomStatus.LIVE, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("live_first", "scheduled_at", "id")
    )


def lineup_products(*, room: Room) -> list[Product]:
    return [entry.product for entry in room.lineup.all()]


def room_counts(*, merchant: Merchant) -> dict[str, int]:
    rows = dict(
        Room.objects.filter(merchant=merchant)
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {status: rows.get(status, 0) for status in RoomStatus.values}
