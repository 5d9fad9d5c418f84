"""The room socket (rooms/consumers.py) through the real ASGI application: every client
frame, bad input, Origin and auth rules, staff frames and the outsider."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from liveshop.accounts.services import token_issue
from liveshop.asgi import application
from liveshop.tenancy.scope import tenant_scope
from rooms import consumers, staff
from rooms.models import Restriction, RoomEvent, RoomStatus
from rooms.protocol import EVENTS, SERVER_FRAMES
from rooms.realtime import engine as engine_module
from rooms.realtime.config import RealtimeConfig
from rooms.realtime.engine import RealtimeEngine
from rooms.realtime.persist import MemoryEventSink
from rooms.realtime.presence import MemoryWatchSink
from rooms.sinks import DatabaseEventSink, DatabaseWatchSink
from tests.factories import RoomFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

FAST = RealtimeConfig(
    tick_s=0.02,
    stats_interval_s=0.05,
    hub_idle_s=0.05,
    tail_block_s=0.5,
    persist_interval_s=0.05,
    presence_heartbeat_s=0.05,
    presence_ttl_s=2.0,
)


def _build(config: RealtimeConfig, *, database: bool) -> RealtimeEngine:
    return RealtimeEngine.build(
        config,
        sink=DatabaseEventSink() if database else MemoryEventSink(),
        watch_sink=DatabaseWatchSink() if database else MemoryWatchSink(),
        redis_url=settings.REDIS_URL,
        prefix=f"{settings.LIVESHOP_REDIS_PREFIX}:t{uuid.uuid4().hex[:8]}",
    )


@pytest_asyncio.fixture
async def engine(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RealtimeEngine]:
    """A fresh engine per test (its own Redis namespace in the Postgres pass), installed as
    this process' engine, with the database sinks as in production (the embedded pass runs
    SQLite from a file, so its background writes wait for the test's instead of failing)."""
    eng = _build(FAST, database=True)
    monkeypatch.setattr(engine_module, "_engine", eng)
    yield eng
    await eng.aclose()


@pytest_asyncio.fixture
async def db_engine(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RealtimeEngine]:
    """The engine with the database sinks; it persists only when the test flushes."""
    eng = _build(
        FAST.with_(persist_interval_s=600, presence_heartbeat_s=300, presence_ttl_s=600),
        database=True,
    )
    monkeypatch.setattr(engine_module, "_engine", eng)
    yield eng
    await eng.aclose()


@pytest.fixture(autouse=True)
def _fresh_writes(settings: Any) -> None:
    settings.LIVESHOP_ROOM_WRITE_CHECK_S = 0.0  # mutes apply at once in tests


@pytest.fixture
def room(merchant: Any, host: Any) -> Any:
    return RoomFactory.create(merchant=merchant, host=host, slug="show", status=RoomStatus.LIVE)


def path(room: Any, since: int | None = None, m: str | None = None) -> str:
    query = f"?since={since}" if since is not None else ""
    return f"/ws/rooms/{m or room.merchant.slug}/{room.slug}/{query}"


async def open_socket(
    url: str, *, origin: str | None = None, cookie: str | None = None
) -> WebsocketCommunicator:
    headers = []
    if origin:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    comm = WebsocketCommunicator(application, url, headers=headers)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return comm


async def session_cookie(user: Any) -> str:
    def login() -> str:
        client = Client()
        client.force_login(user)
        return (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )

    return await database_sync_to_async(login)()


async def token_for(user: Any) -> str:
    _token, raw = await database_sync_to_async(token_issue)(user=user)
    return str(raw)


async def receive(comm: WebsocketCommunicator, timeout: float = 5) -> dict[str, Any]:
    return json.loads(await comm.receive_from(timeout=timeout))


async def closed_with(comm: WebsocketCommunicator, timeout: float = 5) -> int:
    while True:
        message = await comm.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            return int(message["code"])


async def hello_of(comm: WebsocketCommunicator) -> dict[str, Any]:
    frame = await receive(comm)
    assert frame["type"] == "hello", frame
    return frame


async def until(
    comm: WebsocketCommunicator, pred: Callable[[dict[str, Any]], bool], timeout: float = 5
) -> dict[str, Any]:
    """The first frame (or batch event) matching `pred`; batch events are matched one by one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await receive(comm, max(deadline - loop.time(), 0.01))
        if pred(frame):
            return frame
        if frame["type"] == "batch":
            for event in frame["events"]:
                if pred(event):
                    return event


async def joined(
    room: Any, user: Any = None, *, via: str = "cookie", since: int | None = None
) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """A socket in `room` as `user` (session cookie or token `auth` frame), after hello."""
    cookie = await session_cookie(user) if user is not None and via == "cookie" else None
    comm = await open_socket(path(room, since), cookie=cookie)
    hello = await hello_of(comm)
    if user is not None and via == "token":
        await comm.send_json_to({"type": "auth", "token": await token_for(user)})
        # A batch (stats) may go out before the answer to `auth`.
        ok = await until(comm, lambda f: f.get("type") in ("auth.ok", "error"))
        assert ok["type"] == "auth.ok", ok
    return comm, hello


# --- connecting -----------------------------------------------------------------------------


async def test_hello_first_with_room_state(engine, room, host):
    comm, hello = await joined(room)
    SERVER_FRAMES["hello"]  # documented
    assert hello["seq"] == 0 and hello["gap"] is False and hello["recent"] == []
    info = hello["room"]
    assert info["slug"] == "show" and info["status"] == "live"
    assert info["host"] == {"id": host.pk, "name": host.display_name}
    assert info["gifts"] == [] or isinstance(info["gifts"], list)
    assert "pinned" in info
    await comm.disconnect()


async def test_unknown_room_closes_4404(engine, room):
    comm = await open_socket(f"/ws/rooms/{room.merchant.slug}/nope/")
    assert await closed_with(comm) == 4404


async def test_unknown_merchant_closes_4404(engine, room):
    comm = await open_socket(path(room, m="nobody"))
    assert await closed_with(comm) == 4404


async def test_other_merchants_room_is_unknown(engine, room, other_merchant):
    comm = await open_socket(path(room, m=other_merchant.slug))
    assert await closed_with(comm) == 4404


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8000", "https://acme.example"])
async def test_allowed_origins(engine, room, origin):
    comm = await open_socket(path(room), origin=origin)
    await hello_of(comm)
    await comm.disconnect()


async def test_foreign_origin_closes_4403(engine, room, other_merchant):
    comm = await open_socket(path(room), origin="https://evil.example")
    assert (await receive(comm))["code"] == "origin_refused"
    assert await closed_with(comm) == 4403


async def test_bad_token_closes_4401(engine, room):
    comm, _ = await joined(room)
    await comm.send_json_to({"type": "auth", "token": "nope"})
    assert (await receive(comm))["code"] == "auth_failed"
    assert await closed_with(comm) == 4401


async def test_auth_must_be_the_first_frame(engine, room, shopper):
    comm, _ = await joined(room)
    await comm.send_json_to({"type": "like", "count": 1})
    await receive(comm)  # auth_required
    await comm.send_json_to({"type": "auth", "token": await token_for(shopper)})
    assert (await receive(comm))["code"] == "auth_failed"
    assert await closed_with(comm) == 4401


async def test_token_auth_then_chat(engine, room, shopper):
    comm, _ = await joined(room, shopper, via="token")
    await comm.send_json_to({"type": "chat.send", "text": "hi there", "nonce": "n1"})
    event = await until(comm, lambda e: e.get("type") == "chat.message")
    assert event["user"] == {"id": shopper.pk, "name": shopper.display_name}
    assert event["text"] == "hi there" and event["nonce"] == "n1" and event["seq"] == 1
    await comm.disconnect()


# --- chat -----------------------------------------------------------------------------------


async def test_chat_reaches_every_viewer_once_in_order(engine, room, shopper):
    sender, _ = await joined(room, shopper)
    viewer, _ = await joined(room)
    for i in range(5):
        await sender.send_json_to({"type": "chat.send", "text": f"m{i}", "nonce": f"n{i}"})
    seen: list[dict[str, Any]] = []
    while len(seen) < 5:
        frame = await receive(viewer)
        assert frame["type"] == "batch"
        assert len(frame["events"]) + frame["folded"] == frame["to"] - frame["from"] + 1
        seen.extend(frame["events"])
    assert [e["text"] for e in seen] == [f"m{i}" for i in range(5)]
    assert [e["seq"] for e in seen] == [1, 2, 3, 4, 5]
    for event in seen:
        assert set(EVENTS["chat.message"]["required"]) <= set(event)
    await sender.disconnect()
    await viewer.disconnect()


async def test_anonymous_may_watch_not_write(engine, room):
    comm, _ = await joined(room)
    for frame in (
        {"type": "chat.send", "text": "hi", "nonce": "a"},
        {"type": "like", "count": 1},
        {"type": "gift.send", "gift": "rose", "nonce": "g"},
        {"type": "pin", "product": 1, "nonce": "p"},
    ):
        await comm.send_json_to(frame)
        error = await until(comm, lambda f: f.get("type") == "error")
        assert error["code"] in ("auth_required", "forbidden"), error
    await comm.disconnect()


async def test_chat_error_carries_the_nonce(engine, room, shopper):
    comm, _ = await joined(room, shopper)
    await comm.send_json_to({"type": "chat.send", "text": "", "nonce": "n-empty"})
    error = await until(comm, lambda f: f.get("type") == "error")
    assert error["code"] == "invalid" and error["nonce"] == "n-empty"
    await comm.disconnect()


async def test_muted_and_banned_users_cannot_write(engine, room, shopper, host):
    comm, _ = await joined(room, shopper)

    @database_sync_to_async
    def restrict(kind: str, room_wide: bool) -> None:
        with tenant_scope(room.merchant_id):
            Restriction.objects.all().delete()
            Restriction.objects.create(
                merchant=room.merchant,
                room=room if room_wide else None,
                user=shopper,
                kind=kind,
                created_by=host,
            )

    for kind, room_wide in (("mute", True), ("ban", False)):
        await restrict(kind, room_wide)
        await comm.send_json_to({"type": "chat.send", "text": "hello", "nonce": kind})
        error = await until(comm, lambda f: f.get("type") == "error")
        assert error["code"] == {"mute": "muted", "ban": "banned"}[kind]
        assert error["nonce"] == kind
    await comm.disconnect()


async def test_chat_filter_blocks_listed_words(engine, room, shopper):
    comm, _ = await joined(room, shopper)
    await comm.send_json_to({"type": "chat.send", "text": "加 微 信 123", "nonce": "x"})
    error = await until(comm, lambda f: f.get("type") == "error")
    assert error["code"] == "blocked"
    await comm.disconnect()


async def test_chat_rate_limited_per_user(engine, room, shopper, settings):
    settings.LIVESHOP_ROOM_CHAT_RATE = "2/min"
    first, _ = await joined(room, shopper)
    second, _ = await joined(room, shopper)  # another tab of the same user shares the budget
    await first.send_json_to({"type": "chat.send", "text": "one", "nonce": "1"})
    await second.send_json_to({"type": "chat.send", "text": "two", "nonce": "2"})
    await until(first, lambda e: e.get("nonce") == "2")
    await second.send_json_to({"type": "chat.send", "text": "three", "nonce": "3"})
    error = await until(second, lambda f: f.get("type") == "error")
    assert error["code"] == "rate_limited" and error["nonce"] == "3"
    await first.disconnect()
    await second.disconnect()


async def test_frame_flood_closes_4429(engine, room, settings):
    settings.LIVESHOP_ROOM_FRAME_RATE = "3/min"
    settings.LIVESHOP_ROOM_ABUSE_STRIKES = 3
    comm, _ = await joined(room)
    for _ in range(10):
        await comm.send_to(text_data='{"type":"like","count":1}')
    assert await closed_with(comm) == 4429


# --- likes ----------------------------------------------------------------------------------


async def test_likes_are_counted_in_stats(engine, room, shopper):
    comm, _ = await joined(room, shopper)
    await comm.send_json_to({"type": "like", "count": 7})
    await comm.send_json_to({"type": "like", "count": 3})
    frame = await until(
        comm, lambda f: f.get("type") == "batch" and f["stats"].get("likes") == 10, timeout=5
    )
    assert frame["stats"]["viewers"] == 1
    await comm.disconnect()


async def test_like_count_out_of_range(engine, room, shopper):
    comm, _ = await joined(room, shopper)
    await comm.send_json_to({"type": "like", "count": 51})
    assert (await until(comm, lambda f: f.get("type") == "error"))["code"] == "invalid"
    await comm.disconnect()


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"no": "type"}', "bad_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "chat.send", "nonce": "n"}', "invalid"),
        ('{"type": "chat.send", "text": "hi"}', "invalid"),
        ('{"type": "chat.send", "text": "hi", "nonce": "n", "extra": 1}', "invalid"),
        ('{"type": "like"}', "invalid"),
        ('{"type": "gift.send", "nonce": "g"}', "invalid"),
        ('{"type": "pin"}', "invalid"),
        ('{"type": "moderate", "action": "explode"}', "invalid"),
        ('{"type": "flash_sale.start", "product": 1}', "invalid"),
    ],
)
async def test_bad_frames_get_error_frames(engine, room, shopper, raw, code):
    comm, _ = await joined(room, shopper)
    await comm.send_to(text_data=raw)
    error = await until(comm, lambda f: f.get("type") == "error")
    assert error["code"] == code, error
    # The socket stays open and usable.
    await comm.send_json_to({"type": "chat.send", "text": "still here", "nonce": "ok"})
    await until(comm, lambda e: e.get("nonce") == "ok")
    await comm.disconnect()


async def test_long_chat_text_refused(engine, room, shopper):
    comm, _ = await joined(room, shopper)
    await comm.send_json_to({"type": "chat.send", "text": "x" * 301, "nonce": "long"})
    error = await until(comm, lambda f: f.get("type") == "error")
    assert error["code"] == "invalid" and error["nonce"] == "long"
    await comm.disconnect()


async def test_frame_over_64k_closes_1009(engine, room, shopper):
    comm, _ = await joined(room, shopper)
    await comm.send_to(text_data=json.dumps({"type": "chat.send", "text": "x" * 70_000}))
    assert await closed_with(comm) == 1009


async def test_binary_frames_refused(engine, room):
    comm, _ = await joined(room)
    await comm.send_to(bytes_data=b"\x00\x01")
    assert (await receive(comm))["code"] == "bad_frame"
    await comm.disconnect()


async def test_bad_since_gets_an_error_then_hello(engine, room):
    comm = await open_socket(f"/ws/rooms/{room.merchant.slug}/{room.slug}/?since=-3")
    first = await receive(comm)
    assert first["type"] == "error" and first["code"] == "invalid"
    await hello_of(comm)
    await comm.disconnect()


# --- resume ---------------------------------------------------------------------------------


async def test_since_replays_what_was_missed(engine, room, shopper):
    sender, _ = await joined(room, shopper)
    for i in range(3):
        await sender.send_json_to({"type": "chat.send", "text": f"a{i}", "nonce": f"a{i}"})
    await until(sender, lambda e: e.get("nonce") == "a2")
    comm, hello = await joined(room, since=1)
    assert hello["gap"] is False
    replayed: list[int] = []
    while len(replayed) < 2:
        frame = await receive(comm)
        assert frame["type"] == "batch"
        replayed.extend(e["seq"] for e in frame["events"])
    assert replayed == [2, 3]
    assert [e["text"] for e in hello["recent"]] == ["a0", "a1", "a2"][: len(hello["recent"])]
    await sender.disconnect()
    await comm.disconnect()


async def test_since_ahead_of_the_room_is_a_gap(engine, room):
    comm, hello = await joined(room, since=500)
    assert hello["gap"] is True and hello["seq"] == 0
    await comm.disconnect()


# --- gifts (rooms.economy) -----------------------------------------------------------------------


@pytest.fixture
def catalog(merchant: Any, settings: Any) -> None:
    from rooms.models import Gift

    settings.LIVESHOP_DEMO_COINS = 10
    with tenant_scope(merchant.id):
        Gift.objects.create(merchant=merchant, code="rose", name="Rose", coins=1, position=0)
        Gift.objects.create(merchant=merchant, code="rocket", name="Rocket", coins=40, position=1)


async def test_hello_carries_the_gift_catalog(engine, room, catalog):
    _comm, hello = await joined(room)
    assert [g["code"] for g in hello["room"]["gifts"]] == ["rose", "rocket"]
    assert {"code", "name", "coins"} <= set(hello["room"]["gifts"][0])
    await _comm.disconnect()


async def test_gift_reaches_every_viewer_once_with_its_nonce(engine, room, shopper, catalog):
    sender, _ = await joined(room, shopper, via="token")
    viewer, _ = await joined(room)
    await sender.send_json_to({"type": "gift.send", "gift": "rose", "count": 3, "nonce": "g1"})
    event = await until(viewer, lambda e: e.get("type") == "gift")
    assert event["user"] == {"id": shopper.pk, "name": shopper.display_name}
    assert event["gift"]["code"] == "rose" and event["count"] == 3 and event["nonce"] == "g1"
    assert set(EVENTS["gift"]["required"]) <= set(event)
    # The same nonce again: no second charge, no second event.
    await sender.send_json_to({"type": "gift.send", "gift": "rose", "count": 3, "nonce": "g1"})
    await sender.send_json_to({"type": "chat.send", "text": "after", "nonce": "c"})
    seen: list[dict[str, Any]] = []
    await until(viewer, lambda e: seen.append(e) or e.get("nonce") == "c")
    assert not [e for e in seen if e.get("type") == "gift"]
    await sender.disconnect()
    await viewer.disconnect()


@pytest.mark.parametrize(
    ("gift", "code"), [("rocket", "insufficient_coins"), ("nope", "unknown_gift")]
)
async def test_refused_gifts(engine, room, shopper, catalog, gift, code):
    comm, _ = await joined(room, shopper)
    await comm.send_json_to({"type": "gift.send", "gift": gift, "nonce": "g9"})
    error = await until(comm, lambda f: f.get("type") == "error")
    assert error["code"] == code and error["nonce"] == "g9"
    await comm.disconnect()


async def test_banned_user_cannot_send_gifts(engine, room, shopper, host):
    @database_sync_to_async
    def ban() -> None:
        with tenant_scope(room.merchant_id):
            Restriction.objects.create(
                merchant=room.merchant, user=shopper, kind="ban", created_by=host
            )

    await ban()
    comm, _ = await joined(room, shopper)
    await comm.send_json_to({"type": "gift.send", "gift": "rose", "nonce": "g2"})
    error = await until(comm, lambda f: f.get("type") == "error")
    assert error["code"] == "banned" and error["nonce"] == "g2"
    await comm.disconnect()


# --- staff frames -----------------------------------------------------------------------------

STAFF_FRAMES = [
    {"type": "pin", "product": 1, "nonce": "s"},
    {"type": "unpin", "nonce": "s"},
    {"type": "moderate", "action": "mute", "user": 1, "seconds": 60, "nonce": "s"},
    {
        "type": "flash_sale.start",
        "product": 1,
        "price": 100,
        "units": 5,
        "duration_s": 30,
        "nonce": "s",
    },
]


@pytest.mark.parametrize("frame", STAFF_FRAMES, ids=lambda f: f["type"])
@pytest.mark.parametrize("who", ["shopper", "outsider", "agent"])
async def test_staff_frames_refused_for_non_staff(
    engine, room, frame, who, shopper, outsider, agent, monkeypatch
):
    """Shoppers, other merchants' staff and staff without the permission (agents host no
    rooms and do not moderate) are refused, and the handler never runs."""
    user = {"shopper": shopper, "outsider": outsider, "agent": agent}[who]
    called: list[str] = []
    for name in staff.HANDLERS:
        monkeypatch.setitem(staff.HANDLERS, name, lambda **kw: called.append(kw["frame"]["type"]))
    comm, _ = await joined(room, user, via="token")
    await comm.send_json_to(frame)
    error = await until(comm, lambda f: f.get("type") == "error")
    assert error["code"] == "forbidden" and error["nonce"] == "s"
    assert called == []
    await comm.disconnect()


@pytest.mark.parametrize("frame", STAFF_FRAMES, ids=lambda f: f["type"])
async def test_staff_frames_reach_their_handler(engine, room, host, frame, monkeypatch):
    called: list[dict[str, Any]] = []

    def handler(**kw: Any) -> None:
        called.append(kw)

    monkeypatch.setitem(staff.HANDLERS, frame["type"], handler)
    comm, _ = await joined(room, host)
    await comm.send_json_to(frame)
    for _ in range(50):
        if called:
            break
        await asyncio.sleep(0.02)
    assert called and called[0]["room"].pk == room.pk and called[0]["user"].pk == host.pk
    assert called[0]["actor"].merchant.pk == room.merchant.pk
    await comm.disconnect()


# --- persistence ------------------------------------------------------------------------------


async def test_chat_is_stored_in_bulk(db_engine, room, shopper):
    engine = db_engine
    comm, _ = await joined(room, shopper)
    for i in range(4):
        await comm.send_json_to({"type": "chat.send", "text": f"s{i}", "nonce": f"s{i}"})
    await until(comm, lambda e: e.get("nonce") == "s3")
    await asyncio.to_thread(engine.persister.flush)

    @database_sync_to_async
    def stored() -> list[tuple[int, str, str]]:
        with tenant_scope(room.merchant_id):
            return [
                (e.seq, e.type, e.data["text"])
                for e in RoomEvent.objects.filter(room=room).order_by("seq")
            ]

    assert await stored() == [(i + 1, "chat.message", f"s{i}") for i in range(4)]
    await comm.disconnect()


async def test_the_rooms_assistant_answers_a_question_asked_in_chat(engine, room, shopper):
    from assistant.models import RoomAssistant
    from rooms.models import RoomProduct
    from tests.factories import ProductFactory

    @database_sync_to_async
    def assistant_on() -> int:
        product = ProductFactory.create(merchant=room.merchant, name="Silk Scarf", price=4500)
        with tenant_scope(room.merchant_id):
            RoomProduct.objects.create(merchant=room.merchant, room=room, product=product)
            RoomAssistant.objects.create(merchant=room.merchant, room=room, enabled=True)
        return int(product.pk)

    product_id = await assistant_on()
    viewer, _ = await joined(room)
    asker, _ = await joined(room, shopper)
    await asker.send_json_to(
        {"type": "chat.send", "text": "How much is the silk scarf?", "nonce": "q1"}
    )
    question = await until(viewer, lambda e: e.get("type") == "chat.message")
    answer = await until(viewer, lambda e: e.get("type") == "assistant.answer", timeout=15)
    assert answer["question_seq"] == question["seq"]
    assert "45" in answer["text"]
    assert product_id in [p["id"] for p in answer["products"]]
    await asker.disconnect()
    await viewer.disconnect()


# --- hello.recent and presence -------------------------------------------------------------------


async def test_hello_carries_recent_chat(engine, room, shopper):
    sender, _ = await joined(room, shopper)
    for i in range(3):
        await sender.send_json_to({"type": "chat.send", "text": f"r{i}", "nonce": f"r{i}"})
    await until(sender, lambda e: e.get("nonce") == "r2")
    late, hello = await joined(room)
    assert [e["text"] for e in hello["recent"]] == ["r0", "r1", "r2"]
    assert hello["seq"] == 3
    await sender.disconnect()
    await late.disconnect()


async def test_viewers_counted_once_per_user_and_device(engine, room, shopper):
    tabs = [(await joined(room, shopper))[0] for _ in range(2)]  # one person, two tabs
    phone = [
        await open_socket(path(room), cookie="ls_device=phone-123") for _ in range(2)
    ]  # one anonymous device, two sockets
    for comm in phone:
        await hello_of(comm)
    stranger, _ = await joined(room)  # no cookie: counted by connection
    frame = await until(
        stranger, lambda f: f.get("type") == "batch" and f["stats"]["viewers"] == 3, timeout=5
    )
    assert frame["stats"]["viewers"] == 3
    for comm in [*tabs, *phone, stranger]:
        await comm.disconnect()


async def test_batches_skip_the_session_middleware_send():
    """Batch frames go straight to the server's send; channels' session wrapper (which only
    matters for HTTP responses) is bypassed on the hot path."""
    from channels.sessions import InstanceSessionWrapper

    async def raw(message: dict[str, Any]) -> None:
        return None

    wrapper = InstanceSessionWrapper({"type": "websocket", "headers": [], "cookies": {}}, raw)
    consumer = consumers.RoomConsumer()
    consumer.base_send = wrapper.send
    assert consumer._hot_send() is raw
    consumer.base_send = raw
    assert consumer._hot_send() is raw
