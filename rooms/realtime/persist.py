"""Durable copies of room events: an `EventSink` (the database, at integration) written in
bulk by an `EventPersister`, never one INSERT per event in the hot path.

The sink also answers `max_seq`, which is the floor a lost stream continues from
(`stream.SeqFloor`): `EventPersister.floor` first writes what this process still holds, so
the floor covers everything this process has appended.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from .stream import Event

log = logging.getLogger("liveshop.rooms.realtime")


class EventSink(Protocol):
    """Where stored events are kept for good (a Django model at integration)."""

    def persist(self, room: str, events: Sequence[Event]) -> None:
        """Store `events` (seq-ordered, one room) in one bulk write. Must be idempotent on
        (room, seq): a retry after a partial failure writes the same events again."""
        ...

    def max_seq(self, room: str) -> int:
        """The highest seq stored for `room`, 0 when none."""
        ...


class MemoryEventSink:
    """An `EventSink` in process memory, for tests and the benchmark. Thread-safe."""

    def __init__(self) -> None:
        self.events: dict[str, dict[int, Event]] = {}
        self.writes = 0  # bulk writes made: the persister must not write once per event
        self._lock = threading.Lock()

    def persist(self, room: str, events: Sequence[Event]) -> None:
        with self._lock:
            stored = self.events.setdefault(room, {})
            for event in events:
                stored.setdefault(event["seq"], event)
            self.writes += 1

    def max_seq(self, room: str) -> int:
        with self._lock:
            return max(self.events.get(room, {}), default=0)

    def seqs(self, room: str) -> list[int]:
        with self._lock:
            return sorted(self.events.get(room, {}))


class EventPersister:
    """Buffers appended events per room and writes them to the sink in bulk (`flush`, run
    every `persist_interval_s` by `run`). Thread-safe: the event loop and request threads add.
    While the sink fails, events are kept for the next flush, up to `max_pending` in all;
    beyond that the oldest are dropped and logged (the stream still holds them)."""

    def __init__(self, sink: EventSink, *, max_pending: int = 200_000) -> None:
        self.sink = sink
        self.max_pending = max_pending
        self.running = False
        self._pending: dict[str, list[Event]] = {}
        self._count = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time keeps each room's order

    def add(self, room: str, events: Sequence[Event]) -> None:
        if not events:
            return
        with self._lock:
            self._pending.setdefault(room, []).extend(events)
            self._count += len(events)
            if self._count > self.max_pending:
                self._drop_oldest(self._count - self.max_pending)

    def _drop_oldest(self, n: int) -> None:
        # Caller holds the lock. Drops from the rooms with the most pending.
        for room in sorted(self._pending, key=lambda r: -len(self._pending[r])):
            if n <= 0:
                break
            events = self._pending[room]
            cut = min(n, len(events))
            log.error(
                "room %s: event sink behind, dropping %d unpersisted events (seq %d-%d)",
                room,
                cut,
                events[0]["seq"],
                events[cut - 1]["seq"],
            )
            del events[:cut]
            self._count -= cut
            n -= cut
            if not events:
                del self._pending[room]

    def pending(self, room: str | None = None) -> int:
        with self._lock:
            if room is None:
                return self._count
            return len(self._pending.get(room, ()))

    def flush(self, room: str | None = None) -> int:
        """Write what is pending (for one room, or all) in one bulk write per room. Returns
        the number of events written; raises the sink's error after keeping the events."""
        written = 0
        with self._flush_lock:
            with self._lock:
                if room is None:
                    batches, self._pending = self._pending, {}
                else:
                    batches = {room: self._pending.pop(room)} if room in self._pending else {}
                self._count -= sum(len(b) for b in batches.values())
            failure: Exception | None = None
            for key, events in batches.items():
                if failure is None:
                    try:
                        self.sink.persist(key, events)
                        written += len(events)
                        continue
                    except Exception as exc:  # the database is down: keep them for later
                        failure = exc
                self._requeue(key, events)
            if failure is not None:
                raise failure
        return written

    def _requeue(self, room: str, events: list[Event]) -> None:
        with self._lock:
            self._pending[room] = events + self._pending.get(room, [])
            self._count += len(events)
            if self._count > self.max_pending:
                self._drop_oldest(self._count - self.max_pending)

    def floor(self, room: str) -> int:
        """`SeqFloor` for the streams: the highest seq stored durably or still held here."""
        try:
            self.flush(room)
        except Exception:
            log.exception("room %s: could not persist before re-seeding its stream", room)
        with self._lock:
            held = self._pending.get(room)
            held_max = held[-1]["seq"] if held else 0
        return max(self.sink.max_seq(room), held_max)

    async def run(self, interval: float) -> None:
        """Flush every `interval` seconds until cancelled, then once more."""
        self.running = True
        try:
            while True:
                await asyncio.sleep(interval)
                try:
                    await asyncio.to_thread(self.flush)
                except Exception:
                    log.exception("room events: bulk persist failed, will retry")
        finally:
            self.running = False
            try:
                await asyncio.shield(asyncio.to_thread(self.flush))
            except Exception:
                log.exception("room events: final persist failed")
