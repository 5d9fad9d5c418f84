"""Gifts over the room socket with the economy in place: hello carries the catalog, a
gift.send is charged once and every viewer sees one `gift` event; a replayed nonce charges
and publishes nothing; refusals come back as error frames with the nonce."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async

from liveshop.tenancy.scope import tenant_scope
from rooms.models import Gift, RoomEvent, Wallet
from tests.rooms.test_consumer import engine, joined, receive, room, until  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def _economy(settings: Any, merchant: Any) -> None:
    settings.LIVESHOP_ROOM_WRITE_CHECK_S = 0.0
    settings.LIVESHOP_DEMO_COINS = 50
    with tenant_scope(merchant.id):
        Gift.objects.create(merchant=merchant, code="rose", name="Rose", coins=1, position=0)
        Gift.objects.create(
            merchant=merchant, code="rocket", name="Rocket", coins=40, animation="spin", position=1
        )


@database_sync_to_async
def balance_of(merchant: Any, user: Any) -> int:
    with tenant_scope(merchant.id):
        wallet = Wallet.objects.filter(merchant=merchant, user=user).first()
        return -1 if wallet is None else wallet.balance


async def test_hello_carries_the_catalog(engine, room):  # noqa: F811
    comm, hello = await joined(room)
    assert hello["room"]["gifts"] == [
        {"code": "rose", "name": "Rose", "coins": 1, "animation": "float"},
        {"code": "rocket", "name": "Rocket", "coins": 40, "animation": "spin"},
    ]
    await comm.disconnect()


async def test_a_gift_is_charged_once_and_seen_once(engine, room, merchant, shopper):  # noqa: F811
    viewer, _ = await joined(room)
    sender, _ = await joined(room, shopper)
    frame = {"type": "gift.send", "gift": "rocket", "nonce": "g-1"}
    await sender.send_json_to(frame)
    event = await until(viewer, lambda f: f.get("type") == "gift")
    assert event["user"] == {"id": shopper.pk, "name": shopper.display_name}
    assert event["gift"]["code"] == "rocket" and event["count"] == 1
    assert event["nonce"] == "g-1"
    assert await balance_of(merchant, shopper) == 10
    # The same nonce again: nothing charged, nothing published.
    await sender.send_json_to(frame)
    await sender.send_json_to({"type": "gift.send", "gift": "rose", "nonce": "g-2"})
    nxt = await until(viewer, lambda f: f.get("type") == "gift")
    assert nxt["nonce"] == "g-2"
    assert await balance_of(merchant, shopper) == 9
    await asyncio.sleep(0.2)

    @database_sync_to_async
    def stored() -> list[str]:
        with tenant_scope(merchant.id):
            return [e.data.get("nonce") for e in RoomEvent.objects.filter(type="gift")]

    for _ in range(50):
        if len(await stored()) >= 2:
            break
        await asyncio.sleep(0.05)
    assert sorted(await stored()) == ["g-1", "g-2"]
    await viewer.disconnect()
    await sender.disconnect()


async def test_refusals_are_error_frames(engine, room, merchant, shopper):  # noqa: F811
    comm, _ = await joined(room, shopper)
    await comm.send_json_to({"type": "gift.send", "gift": "rocket", "count": 2, "nonce": "p"})
    error = await until(comm, lambda f: f.get("type") == "error")
    assert (error["code"], error["nonce"]) == ("insufficient_coins", "p")
    await comm.send_json_to({"type": "gift.send", "gift": "tulip", "nonce": "u"})
    error = await until(comm, lambda f: f.get("type") == "error")
    assert (error["code"], error["nonce"]) == ("unknown_gift", "u")
    # Nothing charged (a refused first use does not even keep the new wallet).
    assert await balance_of(merchant, shopper) in (50, -1)
    await comm.disconnect()


async def test_anonymous_cannot_gift(engine, room):  # noqa: F811
    comm, _ = await joined(room)
    await comm.send_json_to({"type": "gift.send", "gift": "rose", "nonce": "a"})
    error = await until(comm, lambda f: f.get("type") == "error")
    assert error["nonce"] == "a" and error["code"] in ("auth_required", "unauthenticated")
    await comm.disconnect()
