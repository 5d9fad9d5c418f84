"""Who is watching: viewer counts de-duplicated per viewer key, and watch-time sessions.

A viewer key names one person or device (`viewer_key`): two tabs of the same user count once.
Each process keeps its own connections per (room, viewer) and refreshes them in one write per
room every `presence_heartbeat_s` (`heartbeat`, run by the engine); the shared store keeps an
expiry per viewer (Redis: a sorted set `<prefix>:room:{<room>}:viewers` scored by expiry),
so a crashed process's viewers drop out after `presence_ttl_s`. Counting is
`ZCOUNT now +inf`. Process clocks must agree to within a few seconds (NTP).

Watch time: a viewer's first connection in a room in this process starts a session, the last
one closing stops it; start and stop records go to a `WatchSink` in bulk (`flush_records`).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from .stream import check_room

_VIEWER_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,100}$")


def check_viewer(viewer: str) -> str:
    if not isinstance(viewer, str) or not _VIEWER_RE.match(viewer):
        raise ValueError(f"viewer key must be 1-100 characters of [A-Za-z0-9_.:@-], got {viewer!r}")
    return viewer


def viewer_key(*, user_id: int | None = None, device: str | None = None, connection: str) -> str:
    """The de-duplication key: the user when signed in, else the device id (a cookie), else
    the connection itself (then nothing is de-duplicated)."""
    if user_id is not None:
        return f"u:{int(user_id)}"
    if device and _VIEWER_RE.match(device) and len(device) <= 98:
        return f"d:{device}"
    return check_viewer(f"c:{connection}")


@dataclass(frozen=True)
class WatchRecord:
    kind: Literal["start", "stop"]
    room: str
    viewer: str
    at: float
    """Seconds since the epoch."""
    seconds: float | None = None
    """Watch time of the session, on `stop`."""


class WatchSink(Protocol):
    def record(self, records: Sequence[WatchRecord]) -> None:
        """Store watch records in bulk (analytics; a Django model at integration)."""
        ...


class MemoryWatchSink:
    def __init__(self) -> None:
        self.records: list[WatchRecord] = []
        self._lock = threading.Lock()

    def record(self, records: Sequence[WatchRecord]) -> None:
        with self._lock:
            self.records.extend(records)


class _LocalPresence:
    """This process' connections per (room, viewer), and its pending watch records."""

    def __init__(self, *, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self.clock = clock
        self._local: dict[tuple[str, str], list[float]] = {}  # → [connections, started_at]
        self._records: list[WatchRecord] = []

    def _open(self, room: str, viewer: str) -> bool:
        key = (check_room(room), check_viewer(viewer))
        entry = self._local.get(key)
        if entry is not None:
            entry[0] += 1
            return False
        now = self.clock()
        self._local[key] = [1, now]
        self._records.append(WatchRecord("start", room, viewer, now))
        return True

    def _close(self, room: str, viewer: str) -> bool:
        entry = self._local.get((room, viewer))
        if entry is None:
            return False
        entry[0] -= 1
        if entry[0] > 0:
            return False
        del self._local[(room, viewer)]
        now = self.clock()
        self._records.append(WatchRecord("stop", room, viewer, now, round(now - entry[1], 3)))
        return True

    def _by_room(self) -> dict[str, list[str]]:
        rooms: dict[str, list[str]] = {}
        for room, viewer in self._local:
            rooms.setdefault(room, []).append(viewer)
        return rooms

    def local_connections(self, room: str) -> int:
        return sum(int(e[0]) for (r, _v), e in self._local.items() if r == room)

    async def flush_records(self, sink: WatchSink) -> int:
        """Hand pending watch records to `sink` in one call; on failure they are kept."""
        records, self._records = self._records, []
        if not records:
            return 0
        try:
            await asyncio.to_thread(sink.record, records)
        except BaseException:
            self._records[:0] = records
            raise
        return len(records)

    def stop_all(self) -> None:
        """Process shutdown: stop every session (their viewers expire from the store)."""
        for room, viewer in list(self._local):
            self._local[(room, viewer)][0] = 1
            self._close(room, viewer)


class MemoryPresenceStore:
    """The shared part for the embedded default (one per process). Tests share one between
    several `MemoryPresence` to stand for several processes."""

    def __init__(self) -> None:
        self.expiry: dict[str, dict[str, float]] = {}
        self.lock = threading.Lock()


class MemoryPresence(_LocalPresence):
    def __init__(
        self,
        store: MemoryPresenceStore | None = None,
        *,
        ttl: float = 45.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(ttl=ttl, clock=clock)
        self.store = store or MemoryPresenceStore()

    async def connect(self, room: str, viewer: str) -> None:
        if self._open(room, viewer):
            with self.store.lock:
                self.store.expiry.setdefault(room, {})[viewer] = self.clock() + self.ttl

    async def disconnect(self, room: str, viewer: str) -> None:
        if self._close(room, viewer):
            with self.store.lock:
                self.store.expiry.get(room, {}).pop(viewer, None)

    async def heartbeat(self) -> None:
        now = self.clock()
        with self.store.lock:
            for room, viewers in self._by_room().items():
                expiry = self.store.expiry.setdefault(room, {})
                for viewer in viewers:
                    expiry[viewer] = now + self.ttl
            for room, expiry in list(self.store.expiry.items()):
                for viewer in [v for v, t in expiry.items() if t <= now]:
                    del expiry[viewer]
                if not expiry:
                    del self.store.expiry[room]

    async def count(self, room: str) -> int:
        now = self.clock()
        with self.store.lock:
            return sum(1 for t in self.store.expiry.get(room, {}).values() if t > now)


class RedisPresence(_LocalPresence):
    def __init__(
        self, url: str, *, prefix: str, ttl: float = 45.0, clock: Callable[[], float] = time.time
    ) -> None:
        import redis.asyncio as aredis

        super().__init__(ttl=ttl, clock=clock)
        self._prefix = prefix
        self._redis = aredis.Redis.from_url(url, decode_responses=True, socket_timeout=10)

    def key(self, room: str) -> str:
        return f"{self._prefix}:room:{{{check_room(room)}}}:viewers"

    async def connect(self, room: str, viewer: str) -> None:
        if self._open(room, viewer):
            key = self.key(room)
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(key, {viewer: self.clock() + self.ttl})
                pipe.expire(key, int(self.ttl * 2) + 1)
                await pipe.execute()

    async def disconnect(self, room: str, viewer: str) -> None:
        # Another process may hold the same viewer: its next heartbeat adds it back.
        if self._close(room, viewer):
            await self._redis.zrem(self.key(room), viewer)

    async def heartbeat(self) -> None:
        """One ZADD per room for all this process' viewers, and drop expired ones."""
        now = self.clock()
        rooms = self._by_room()
        if not rooms:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for room, viewers in rooms.items():
                key = self.key(room)
                pipe.zadd(key, dict.fromkeys(viewers, now + self.ttl))
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.expire(key, int(self.ttl * 2) + 1)
            await pipe.execute()

    async def count(self, room: str) -> int:
        return int(await self._redis.zcount(self.key(room), f"({self.clock()}", "+inf"))

    async def aclose(self) -> None:
        await self._redis.aclose()
