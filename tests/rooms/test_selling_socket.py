"""Staff frames on the room socket with the real selling and moderation services: pin,
unpin, flash_sale.start and every `moderate` action, for staff, room moderators, shoppers,
anonymous viewers and another merchant's staff, plus bad input, slow mode, mutes that
expire and a chat flooder."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.utils import timezone

from liveshop.tenancy.access import Actor
from liveshop.tenancy.scope import tenant_scope
from rooms import moderation
from rooms.models import Restriction, RoomEvent, RoomModerator, RoomProduct, RoomStatus
from tests.factories import RoomFactory, UserFactory
from tests.rooms.test_consumer import joined, receive, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def _fresh(settings: Any) -> None:
    settings.LIVESHOP_ROOM_WRITE_CHECK_S = 0.0
    cache.clear()
    moderation.chat_rules_forget()


@pytest.fixture
def room(merchant: Any, host: Any) -> Any:
    return RoomFactory.create(merchant=merchant, host=host, slug="show", status=RoomStatus.LIVE)


@pytest.fixture
def lineup(room: Any, product: Any) -> Any:
    with tenant_scope(room.merchant_id):
        RoomProduct.objects.create(merchant=room.merchant, room=room, product=product)
    return product


async def error_of(comm: Any) -> dict[str, Any]:
    return await until(comm, lambda f: f.get("type") == "error")


async def event_of(comm: Any, kind: str) -> dict[str, Any]:
    return await until(comm, lambda f: f.get("type") == kind)


async def chat(comm: Any, text: str, nonce: str) -> None:
    await comm.send_json_to({"type": "chat.send", "text": text, "nonce": nonce})


async def test_host_pins_and_viewers_see_the_card(engine, room, host, lineup):
    viewer, _ = await joined(room)
    comm, _ = await joined(room, host)
    await comm.send_json_to({"type": "pin", "product": lineup.pk, "nonce": "p"})
    pinned = await event_of(viewer, "product.pinned")
    assert pinned["product"]["id"] == lineup.pk and pinned["product"]["stock"] == 10
    late, hello = await joined(room)
    assert hello["room"]["pinned"]["id"] == lineup.pk
    await comm.send_json_to({"type": "unpin", "nonce": "u"})
    await event_of(viewer, "product.unpinned")
    for c in (viewer, comm, late):
        await c.disconnect()


async def test_flash_sale_start_from_the_socket(engine, room, host, lineup):
    comm, _ = await joined(room, host)
    await comm.send_json_to(
        {
            "type": "flash_sale.start",
            "product": lineup.pk,
            "price": 500,
            "units": 3,
            "duration_s": 30,
            "nonce": "f",
        }
    )
    started = await event_of(comm, "flash_sale.started")
    assert started["units"] == 3 and started["price"] == 500
    assert started["ends_at"] > time.time() * 1000 + 25_000
    await comm.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "pin", "product": 999999, "nonce": "b"}, "invalid"),  # not in the line-up
        ({"type": "pin", "nonce": "b"}, "invalid"),  # schema: product missing
        ({"type": "pin", "product": "1", "nonce": "b"}, "invalid"),
        (
            {"type": "flash_sale.start", "product": 1, "price": 1, "units": 1, "duration_s": 5},
            "invalid",
        ),
        (
            {
                "type": "flash_sale.start",
                "product": 999999,
                "price": 1,
                "units": 1,
                "duration_s": 20,
            },
            "invalid",
        ),
        ({"type": "moderate", "action": "explode", "nonce": "b"}, "invalid"),
        ({"type": "moderate", "action": "delete", "nonce": "b"}, "invalid"),  # seq missing
        ({"type": "moderate", "action": "mute", "nonce": "b"}, "invalid"),  # user missing
        ({"type": "moderate", "action": "mute", "user": 999999, "nonce": "b"}, "invalid"),
        ({"type": "moderate", "action": "slow_mode", "seconds": 5000, "nonce": "b"}, "invalid"),
    ],
)
async def test_bad_staff_frames_are_refused(engine, room, host, lineup, frame, code):
    comm, _ = await joined(room, host)
    await comm.send_json_to(frame)
    error = await error_of(comm)
    assert error["code"] == code, error
    await comm.disconnect()


@pytest.mark.parametrize("who", ["shopper", "outsider", "anonymous"])
async def test_the_real_handlers_refuse_non_staff(engine, room, lineup, who, shopper, outsider):
    user = {"shopper": shopper, "outsider": outsider, "anonymous": None}[who]
    comm, _ = await joined(room, user)
    frames = [
        {"type": "pin", "product": lineup.pk, "nonce": "x"},
        {"type": "unpin", "nonce": "x"},
        {"type": "moderate", "action": "slow_mode", "seconds": 30, "nonce": "x"},
        {
            "type": "flash_sale.start",
            "product": lineup.pk,
            "price": 1,
            "units": 1,
            "duration_s": 20,
            "nonce": "x",
        },
    ]
    for frame in frames:
        await comm.send_json_to(frame)
        error = await error_of(comm)
        assert error["code"] in ("forbidden", "auth_required"), error

    @database_sync_to_async
    def nothing_changed() -> bool:
        from rooms.models import FlashSale, RoomSelling

        with tenant_scope(room.merchant_id):
            return not FlashSale.objects.exists() and not RoomSelling.objects.exists()

    assert await nothing_changed()
    await comm.disconnect()


async def test_delete_hides_the_message_for_everyone_and_for_late_joiners(
    engine, room, host, shopper
):
    writer, _ = await joined(room, shopper)
    staff, _ = await joined(room, host)
    await chat(writer, "buy elsewhere", "bad")
    message = await until(staff, lambda e: e.get("nonce") == "bad")
    await staff.send_json_to(
        {"type": "moderate", "action": "delete", "seq": message["seq"], "nonce": "d"}
    )
    removed = await event_of(writer, "moderation.removed")
    assert removed["removed_seq"] == message["seq"]
    late, hello = await joined(room)
    assert message["seq"] not in [e["seq"] for e in hello["recent"]]

    @database_sync_to_async
    def stored() -> dict[str, Any]:
        with tenant_scope(room.merchant_id):
            return RoomEvent.objects.get(room=room, seq=message["seq"]).data

    for _ in range(50):
        data = await stored() if await _exists(room, message["seq"]) else {}
        if data.get("removed"):
            break
        await asyncio.sleep(0.05)
    assert data.get("removed") is True
    for c in (writer, staff, late):
        await c.disconnect()


@database_sync_to_async
def _exists(room: Any, seq: int) -> bool:
    with tenant_scope(room.merchant_id):
        return RoomEvent.objects.filter(room=room, seq=seq).exists()


async def test_mute_refuses_chat_until_it_expires(engine, room, host, shopper):
    writer, _ = await joined(room, shopper)
    staff, _ = await joined(room, host)
    await staff.send_json_to(
        {"type": "moderate", "action": "mute", "user": shopper.pk, "seconds": 60, "nonce": "m"}
    )
    muted = await event_of(writer, "moderation.muted")
    assert muted["user"]["id"] == shopper.pk and muted["until"] > time.time() * 1000
    await chat(writer, "hello", "h1")
    assert (await error_of(writer))["code"] == "muted"

    @database_sync_to_async
    def expire() -> None:
        with tenant_scope(room.merchant_id):
            Restriction.objects.update(until=timezone.now() - timedelta(seconds=1))

    await expire()
    await chat(writer, "hello again", "h2")
    assert (await until(writer, lambda e: e.get("nonce") == "h2"))["text"] == "hello again"
    await writer.disconnect()
    await staff.disconnect()


async def test_unmute_and_merchant_wide_ban(engine, room, host, shopper):
    writer, _ = await joined(room, shopper)
    staff, _ = await joined(room, host)
    await staff.send_json_to(
        {"type": "moderate", "action": "ban", "user": shopper.pk, "scope": "merchant", "nonce": "b"}
    )
    banned = await event_of(writer, "moderation.muted")
    assert banned["until"] is None
    await chat(writer, "hi", "h1")
    assert (await error_of(writer))["code"] == "banned"
    await staff.send_json_to(
        {"type": "moderate", "action": "unban", "user": shopper.pk, "scope": "merchant"}
    )
    lifted = await until(writer, lambda e: e.get("type") == "moderation.muted" and e.get("lifted"))
    assert lifted["until"] <= time.time() * 1000 + 1000
    await chat(writer, "back", "h2")
    await until(writer, lambda e: e.get("nonce") == "h2")
    await writer.disconnect()
    await staff.disconnect()


async def test_staff_cannot_be_muted(engine, room, host, owner):
    comm, _ = await joined(room, host)
    await comm.send_json_to({"type": "moderate", "action": "mute", "user": owner.pk, "nonce": "x"})
    assert (await error_of(comm))["code"] == "cannot_moderate_staff"
    await comm.disconnect()


async def test_room_moderators_moderate_their_room_only(engine, room, host, shopper, merchant):
    other_room = await database_sync_to_async(RoomFactory.create)(
        merchant=merchant, host=host, slug="other", status="live"
    )
    troll = await database_sync_to_async(UserFactory.create)()
    staff, _ = await joined(room, host)
    await staff.send_json_to({"type": "moderate", "action": "promote", "user": shopper.pk})

    @database_sync_to_async
    def promoted() -> bool:
        with tenant_scope(room.merchant_id):
            return RoomModerator.objects.filter(room=room, user=shopper).exists()

    for _ in range(50):
        if await promoted():
            break
        await asyncio.sleep(0.02)
    assert await promoted()
    mod, _ = await joined(room, shopper)
    await mod.send_json_to(
        {"type": "moderate", "action": "mute", "user": troll.pk, "seconds": 30, "nonce": "m"}
    )
    assert (await event_of(mod, "moderation.muted"))["user"]["id"] == troll.pk
    # Moderators do not ban, do not act merchant-wide and do not promote.
    for frame in (
        {"type": "moderate", "action": "ban", "user": troll.pk, "nonce": "n"},
        {"type": "moderate", "action": "mute", "user": troll.pk, "scope": "merchant", "nonce": "n"},
        {"type": "moderate", "action": "promote", "user": troll.pk, "nonce": "n"},
        {"type": "pin", "product": 1, "nonce": "n"},
    ):
        await mod.send_json_to(frame)
        assert (await error_of(mod))["code"] == "forbidden"
    elsewhere, _ = await joined(other_room, shopper)
    await elsewhere.send_json_to(
        {"type": "moderate", "action": "mute", "user": troll.pk, "seconds": 30, "nonce": "m"}
    )
    assert (await error_of(elsewhere))["code"] == "forbidden"
    # Demoted: no longer.
    await staff.send_json_to({"type": "moderate", "action": "demote", "user": shopper.pk})
    for _ in range(50):
        if not await promoted():
            break
        await asyncio.sleep(0.02)
    await mod.send_json_to({"type": "moderate", "action": "slow_mode", "seconds": 5, "nonce": "z"})
    assert (await error_of(mod))["code"] == "forbidden"
    for c in (staff, mod, elsewhere):
        await c.disconnect()


async def test_slow_mode_spaces_shoppers_not_staff(engine, room, host, shopper):
    staff, _ = await joined(room, host)
    writer, _ = await joined(room, shopper)
    await staff.send_json_to({"type": "moderate", "action": "slow_mode", "seconds": 30})
    await asyncio.sleep(0.1)
    moderation.chat_rules_forget()
    await chat(writer, "one", "s1")
    await until(writer, lambda e: e.get("nonce") == "s1")
    await chat(writer, "two", "s2")
    error = await error_of(writer)
    assert error["code"] == "slow_mode" and error["nonce"] == "s2"
    for i in range(3):
        await chat(staff, f"staff {i}", f"t{i}")
    await until(staff, lambda e: e.get("nonce") == "t2")
    await staff.disconnect()
    await writer.disconnect()


async def test_merchant_keywords_block_chat(engine, room, owner, merchant, shopper):
    await database_sync_to_async(moderation.moderation_settings_save)(
        actor=Actor(merchant=merchant, user=owner, role="owner"),
        keywords="竞品店\ncheaper",
        slow_mode_s=0,
    )
    writer, _ = await joined(room, shopper)
    for i, text in enumerate(["去 竞-品-店 买", "ｃｈｅａｐｅｒ there", "c h e a p e r"]):
        await chat(writer, text, f"k{i}")
        assert (await error_of(writer))["code"] == "blocked", text
    await chat(writer, "好看", "ok")
    await until(writer, lambda e: e.get("nonce") == "ok")
    await writer.disconnect()


async def test_a_flooder_is_throttled_within_a_second(engine, room, shopper):
    writer, _ = await joined(room, shopper)
    started = time.monotonic()
    refused_at = None
    for i in range(40):
        await chat(writer, f"spam {i}", f"f{i}")
        await asyncio.sleep(0.02)  # 50 messages a second
    while refused_at is None:
        frame = await receive(writer)
        if frame.get("type") == "error" and frame["code"] == "rate_limited":
            refused_at = int(frame["nonce"][1:])
    # Refused by the 7th message (6/s burst), i.e. well inside the first second.
    assert refused_at <= 7
    assert time.monotonic() - started < 5
    await writer.disconnect()
