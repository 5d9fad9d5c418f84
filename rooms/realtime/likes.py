"""Likes as counters, not events: a storm of `like {count}` frames must not become a storm
of stream entries. Each process adds them up in memory and flushes one INCRBY per room per
tick (`flush`, run by the engine); the total is reported in every batch's `stats.likes`."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from .stream import check_room


def check_like_count(count: object, max_per_frame: int) -> int:
    """Validate the `count` of a client `like` frame."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= max_per_frame:
        raise ValueError(f"like count must be an integer in 1..{max_per_frame}")
    return count


class _LocalLikes:
    def __init__(self, max_per_frame: int) -> None:
        self.max_per_frame = max_per_frame
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, room: str, count: int) -> None:
        """Count a client's `like {count}` (validated; ValueError for bad counts). Never blocks."""
        check_like_count(count, self.max_per_frame)
        check_room(room)
        with self._lock:
            self._pending[room] += count

    def _take(self) -> Counter[str]:
        with self._lock:
            pending, self._pending = self._pending, Counter()
        return pending

    def _put_back(self, pending: Counter[str]) -> None:
        with self._lock:
            self._pending.update(pending)


class MemoryLikes(_LocalLikes):
    """Likes for the embedded default: totals in this process. Tests pass one `totals`
    to several instances to stand for several processes."""

    def __init__(self, max_per_frame: int = 50, *, totals: Counter[str] | None = None) -> None:
        super().__init__(max_per_frame)
        self._totals: Counter[str] = Counter() if totals is None else totals

    async def flush(self) -> dict[str, int]:
        """Add what was counted since the last flush to the totals; returns the increments."""
        pending = self._take()
        self._totals.update(pending)
        return dict(pending)

    async def total(self, room: str) -> int:
        return self._totals[room]


class RedisLikes(_LocalLikes):
    """Totals in Redis (`<prefix>:room:{<room>}:likes`), shared by every process."""

    def __init__(self, url: str, *, prefix: str, max_per_frame: int = 50) -> None:
        import redis.asyncio as aredis

        super().__init__(max_per_frame)
        self._prefix = prefix
        self._redis = aredis.Redis.from_url(url, decode_responses=True, socket_timeout=10)

    def key(self, room: str) -> str:
        return f"{self._prefix}:room:{{{check_room(room)}}}:likes"

    async def flush(self) -> dict[str, int]:
        """One pipeline of INCRBY, one per room liked since the last flush. On a Redis error
        the counts are kept for the next flush (MULTI/EXEC: all rooms or none)."""
        pending = self._take()
        if not pending:
            return {}
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for room, count in pending.items():
                    pipe.incrby(self.key(room), count)
                await pipe.execute()
        except BaseException:
            self._put_back(pending)
            raise
        return dict(pending)

    async def total(self, room: str) -> int:
        return int(await self._redis.get(self.key(room)) or 0)

    async def aclose(self) -> None:
        await asyncio.shield(self._redis.aclose())
