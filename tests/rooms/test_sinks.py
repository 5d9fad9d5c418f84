"""The database side of the realtime engine (rooms/sinks.py): events stored in bulk and
idempotently, seq continuing from the database after a stream loss, watch sessions and
like totals."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from django.conf import settings

from liveshop.tenancy.scope import tenant_scope
from rooms.events import room_key
from rooms.models import RoomEvent, RoomLikes, WatchSession
from rooms.realtime.config import RealtimeConfig
from rooms.realtime.engine import RealtimeEngine
from rooms.realtime.presence import WatchRecord
from rooms.sinks import DatabaseEventSink, DatabaseWatchSink
from tests.factories import RoomFactory

pytestmark = pytest.mark.django_db(transaction=True)

FAST = RealtimeConfig(persist_interval_s=0.02, presence_heartbeat_s=0.05, presence_ttl_s=2.0)


@pytest.fixture
def room(merchant: Any) -> Any:
    return RoomFactory.create(merchant=merchant, slug="show")


def chat(i: int) -> dict[str, Any]:
    return {"type": "chat.message", "user": {"id": 1, "name": "a"}, "text": f"t{i}"}


def stored(room: Any) -> list[tuple[int, str, str]]:
    with tenant_scope(room.merchant_id):
        return [
            (e.seq, e.type, e.data.get("text", ""))
            for e in RoomEvent.objects.filter(room=room).order_by("seq")
        ]


def test_persist_is_bulk_and_idempotent(room, django_assert_max_num_queries):
    sink = DatabaseEventSink()
    events = [dict(chat(i), seq=i, ts=1_800_000_000_000 + i) for i in range(1, 101)]
    with django_assert_max_num_queries(10):  # scopes, merchant lookup, one INSERT: not 100
        sink.persist(room_key(room), events)
    sink.persist(room_key(room), events[50:])  # a retry writes the same events again
    rows = stored(room)
    assert [r[0] for r in rows] == list(range(1, 101))
    assert sink.max_seq(room_key(room)) == 100
    with tenant_scope(room.merchant_id):
        assert RoomEvent.objects.get(room=room, seq=7).ts == 1_800_000_000_007


def test_max_seq_is_per_room_and_zero_when_empty(room, merchant):
    other = RoomFactory.create(merchant=merchant, slug="other")
    sink = DatabaseEventSink()
    sink.persist(room_key(room), [dict(chat(1), seq=1, ts=1)])
    assert sink.max_seq(room_key(other)) == 0
    assert sink.max_seq("not-a-room") == 0


def test_events_of_each_room_are_stored_under_its_merchant(room, other_merchant):
    foreign = RoomFactory.create(merchant=other_merchant, slug="show")
    sink = DatabaseEventSink()
    sink.persist(room_key(foreign), [dict(chat(1), seq=1, ts=1)])
    with tenant_scope(other_merchant.id):
        assert RoomEvent.objects.get(room=foreign).merchant_id == other_merchant.id
    assert stored(room) == []


def _engine() -> RealtimeEngine:
    return RealtimeEngine.build(
        FAST,
        sink=DatabaseEventSink(),
        watch_sink=DatabaseWatchSink(),
        redis_url=settings.REDIS_URL,
        prefix=f"{settings.LIVESHOP_REDIS_PREFIX}:s{uuid.uuid4().hex[:8]}",
    )


def _lose(engine: RealtimeEngine) -> None:
    """The stream store loses everything (Redis flushed: only this engine's keys)."""
    from rooms.realtime.stream import InProcessRoomStream, RedisRoomStream

    if isinstance(engine.stream, InProcessRoomStream):
        engine.stream.clear()
        return
    assert isinstance(engine.stream, RedisRoomStream)
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{engine.stream._prefix}:*", count=1000))  # type: ignore[attr-defined]
    if keys:
        client.delete(*keys)
    client.close()


def test_seq_continues_from_the_database_after_a_loss(room):
    async def scenario() -> list[int]:
        first = _engine()
        first.start()
        key = room_key(room)
        before = await first.writer.publish(key, [chat(i) for i in range(5)])
        await first.aclose()  # persists what it holds
        _lose(first)
        # A fresh process (its memory is gone too) on the emptied store:
        second = _engine()
        second.start()
        after = await second.writer.publish(key, [chat(9)])
        await second.aclose()
        _lose(second)
        return [e["seq"] for e in before + after]

    assert asyncio.run(scenario()) == [1, 2, 3, 4, 5, 6]
    assert [r[0] for r in stored(room)] == [1, 2, 3, 4, 5, 6]


def test_watch_sessions_from_presence(room, shopper):
    sink = DatabaseWatchSink()
    key = room_key(room)
    sink.record(
        [
            WatchRecord("start", key, f"u:{shopper.pk}", 1_800_000_000.0),
            WatchRecord("start", key, "d:phone-1", 1_800_000_010.0),
            WatchRecord("stop", key, f"u:{shopper.pk}", 1_800_000_060.0, 60.0),
        ]
    )
    with tenant_scope(room.merchant_id):
        sessions = {s.viewer: s for s in WatchSession.objects.filter(room=room)}
    mine = sessions[f"u:{shopper.pk}"]
    assert mine.user_id == shopper.pk and mine.seconds == 60.0
    assert mine.ended_at is not None and mine.seen_at == mine.ended_at
    assert sessions["d:phone-1"].ended_at is None and sessions["d:phone-1"].user_id is None


def test_engine_records_watch_time_and_likes(room, shopper):
    async def scenario() -> None:
        engine = _engine()
        engine.start()
        key = room_key(room)
        await engine.presence.connect(key, f"u:{shopper.pk}")
        engine.likes.add(key, 5)
        engine.likes.add(key, 2)
        await asyncio.sleep(0.2)
        await engine.presence.disconnect(key, f"u:{shopper.pk}")
        await engine.aclose()
        _lose(engine)

    asyncio.run(scenario())
    with tenant_scope(room.merchant_id):
        session = WatchSession.objects.get(room=room)
        assert session.user_id == shopper.pk and session.ended_at is not None
        assert RoomLikes.objects.get(room=room).total == 7
