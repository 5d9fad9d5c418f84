"""What an agent sees of the shopper's room: the product pinned there (the live-selling pin)
and the shopper's own recent chat from the stored room events, removed messages left out."""

from __future__ import annotations

from typing import Any

import pytest

from consults import room_context
from liveshop.tenancy.access import Actor
from liveshop.tenancy.scope import tenant_scope
from rooms import selling
from rooms.models import RoomEvent, RoomProduct, RoomStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def chat(room: Any, seq: int, user: Any, text: str, **extra: Any) -> RoomEvent:
    data = {
        "seq": seq,
        "type": "chat.message",
        "ts": 1_800_000_000_000 + seq,
        "user": {"id": user.pk, "name": user.display_name},
        "text": text,
        **extra,
    }
    return RoomEvent.objects.create(
        merchant=room.merchant, room=room, seq=seq, type="chat.message", ts=data["ts"], data=data
    )


def test_pinned_product_follows_the_hosts_pin(merchant, host, room, product):
    with tenant_scope(merchant.id):
        assert room_context.pinned_product_id(room) is None
        room.status = RoomStatus.LIVE
        room.save(update_fields=["status"])
        RoomProduct.objects.get_or_create(merchant=merchant, room=room, product=product)
    selling.pin_product(
        actor=Actor(merchant=merchant, user=host, role="host"), room=room, product_id=product.pk
    )
    with tenant_scope(merchant.id):
        assert room_context.pinned_product_id(room) == product.pk
    assert room_context.pinned_product_id(None) is None


def test_recent_chat_is_the_shoppers_own_newest_lines_oldest_first(merchant, room, shopper):
    other = UserFactory.create()
    with tenant_scope(merchant.id):
        for seq in range(1, 9):
            chat(room, seq, shopper if seq % 2 else other, f"line {seq}")
        chat(room, 9, shopper, "deleted by a moderator", removed=True)
        lines = room_context.recent_chat(room, shopper.pk, limit=3)
    assert [line["text"] for line in lines] == ["line 3", "line 5", "line 7"]
    assert lines[0]["at"].year >= 2027
    assert room_context.recent_chat(None, shopper.pk) == []
