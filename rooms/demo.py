"""`seed_demo`'s rooms: the live room `launch` per merchant, hosted by host@<m>.test, with a
line-up from the demo catalog. Adds what is missing, changes nothing that exists."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from commerce.models import Product
from liveshop.tenancy.scope import tenant_scope

from .models import Room, RoomProduct, RoomStatus

LINEUP_SIZE = 6


def seed_rooms(seed: Any) -> None:
    for slug, merchant in seed.merchants.items():
        host = seed.staff.get(slug, {}).get("host")
        if host is None:
            continue
        with tenant_scope(merchant.id):
            room, created = Room.objects.get_or_create(
                merchant=merchant,
                slug="launch",
                defaults={
                    "title": f"{merchant.name} — launch live",
                    "description": "New arrivals, live. Ask the host anything.",
                    "status": RoomStatus.LIVE,
                    "host": host,
                    "started_at": timezone.now(),
                    "scheduled_at": timezone.now(),
                },
            )
            if created or not room.lineup.exists():
                products = Product.objects.filter(merchant=merchant, is_active=True).order_by("id")
                RoomProduct.objects.bulk_create(
                    [
                        RoomProduct(merchant=merchant, room=room, product=p, position=i)
                        for i, p in enumerate(products[:LINEUP_SIZE])
                    ]
                )
        if created:
            seed.log(f"room {slug}/launch: live, hosted by {host.email}")
