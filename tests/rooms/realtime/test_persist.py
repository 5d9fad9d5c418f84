"""The persister writes appended events to the sink in bulk, keeps them while the sink
fails, and gives the floor a lost stream continues from."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from rooms.realtime.persist import EventPersister, MemoryEventSink
from rooms.realtime.stream import Event, InProcessRoomStream
from rooms.realtime.writer import RoomWriter

from .conftest import FAST, run


def ev(seq: int) -> Event:
    return {"seq": seq, "type": "chat.message", "ts": 1, "text": str(seq)}


class FlakySink(MemoryEventSink):
    """A database that is down until `up` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False

    def persist(self, room: str, events: Sequence[Event]) -> None:
        if not self.up:
            raise ConnectionError("database unavailable")
        super().persist(room, events)


def test_flush_writes_each_room_in_one_bulk_write() -> None:
    sink = MemoryEventSink()
    p = EventPersister(sink)
    for seq in range(1, 101):
        p.add("a", [ev(seq)])
    p.add("b", [ev(1), ev(2)])
    assert p.flush() == 102
    assert sink.writes == 2
    assert sink.seqs("a") == list(range(1, 101)) and sink.max_seq("b") == 2
    assert p.flush() == 0 and sink.writes == 2


def test_events_are_kept_while_the_sink_fails() -> None:
    sink = FlakySink()
    p = EventPersister(sink)
    p.add("a", [ev(1), ev(2)])
    with pytest.raises(ConnectionError):
        p.flush()
    p.add("a", [ev(3)])
    assert p.pending("a") == 3
    assert p.floor("a") == 3  # the floor covers what is held here, not yet in the sink
    sink.up = True
    assert p.flush() == 3
    assert sink.seqs("a") == [1, 2, 3] and p.pending() == 0


def test_pending_is_bounded_and_drops_the_oldest() -> None:
    p = EventPersister(FlakySink(), max_pending=10)
    p.add("a", [ev(s) for s in range(1, 16)])
    assert p.pending() == 10
    p.sink.up = True  # type: ignore[attr-defined]
    p.flush()
    assert p.sink.seqs("a") == list(range(6, 16))  # type: ignore[attr-defined]


def test_publish_sync_without_a_running_persister_writes_at_once() -> None:
    async def scenario() -> None:
        sink = MemoryEventSink()
        persister = EventPersister(sink)
        writer = RoomWriter(InProcessRoomStream(persister, FAST), persister)
        stored = writer.publish_sync("r1", [{"type": "purchase", "product": 3}])
        assert stored[0]["seq"] == 1 and sink.seqs("r1") == [1]
        stored = await writer.publish("r1", [{"type": "purchase", "product": 4}])
        assert sink.seqs("r1") == [1] and persister.pending("r1") == 1  # the bulk flush's job

    run(scenario())


def test_a_restarted_process_continues_numbering_from_the_sink() -> None:
    async def scenario() -> None:
        sink = MemoryEventSink()
        p1 = EventPersister(sink)
        w1 = RoomWriter(InProcessRoomStream(p1, FAST), p1)
        await w1.publish("r1", [{"type": "gift", "gift": "rose", "count": 1}] * 7)
        p1.flush()
        p2 = EventPersister(sink)  # the process restarts: memory gone, database kept
        w2 = RoomWriter(InProcessRoomStream(p2, FAST), p2)
        stored = await w2.publish("r1", [{"type": "gift", "gift": "rose", "count": 1}])
        assert stored[0]["seq"] == 8

    run(scenario())
