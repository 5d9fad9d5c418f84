"""Fixtures for the real-time engine: one parametrised `backend` runs each test on the
in-process implementation (both passes) and on Redis (Postgres + Redis pass, marked pg)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from django.conf import settings

from rooms.realtime.config import RealtimeConfig
from rooms.realtime.connection import FrameQueue
from rooms.realtime.likes import MemoryLikes, RedisLikes
from rooms.realtime.presence import MemoryPresence, MemoryPresenceStore, RedisPresence
from rooms.realtime.stream import InProcessRoomStream, RedisRoomStream, RoomStream, SeqFloor

T = TypeVar("T")

# Fast ticks keep the suite quick; the rules do not depend on the numbers.
FAST = RealtimeConfig(
    tick_s=0.02,
    stats_interval_s=0.05,
    hub_idle_s=0.05,
    tail_block_s=1.0,
    persist_interval_s=0.02,
    presence_heartbeat_s=0.05,
    presence_ttl_s=1.0,
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 60))


@dataclass
class Backend:
    kind: str
    prefix: str
    presence_store: MemoryPresenceStore = field(default_factory=MemoryPresenceStore)
    like_totals: Counter[str] = field(default_factory=Counter)

    def stream(self, floor: SeqFloor, config: RealtimeConfig = FAST) -> RoomStream:
        if self.kind == "memory":
            return InProcessRoomStream(floor, config)
        return RedisRoomStream(settings.REDIS_URL, prefix=self.prefix, floor=floor, config=config)

    def lose(self, stream: RoomStream | None = None) -> None:
        """The stream store loses everything: a process restart, or Redis flushed (only this
        test's keys: the Redis server is shared)."""
        if self.kind == "memory":
            assert isinstance(stream, InProcessRoomStream)
            stream.clear()
            return
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()

    def likes(self) -> MemoryLikes | RedisLikes:
        if self.kind == "memory":
            return MemoryLikes(totals=self.like_totals)
        return RedisLikes(settings.REDIS_URL, prefix=self.prefix)

    def presence(self, clock: Any, ttl: float = 10.0) -> MemoryPresence | RedisPresence:
        """A presence as one process has it; two calls stand for two processes."""
        if self.kind == "memory":
            return MemoryPresence(self.presence_store, ttl=ttl, clock=clock)
        return RedisPresence(settings.REDIS_URL, prefix=self.prefix, ttl=ttl, clock=clock)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.pg)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    prefix = f"{settings.LIVESHOP_REDIS_PREFIX}:rt{uuid.uuid4().hex[:10]}"
    if request.param == "redis":
        assert settings.REDIS_URL, "the Redis variant needs REDIS_URL (the Postgres pass)"
    b = Backend(request.param, prefix)
    yield b
    if request.param == "redis":
        b.lose()


class Viewer:
    """A real FrameQueue whose socket is a list: what a viewer received, and how it closed."""

    def __init__(self, limit: int = 1000) -> None:
        self.frames: list[str] = []
        self.closed_with: int | None = None
        self.queue = FrameQueue(self._send, self._close, limit=limit)
        self.writer = asyncio.create_task(self.queue.run())

    async def _send(self, text: str) -> None:
        self.frames.append(text)

    async def _close(self, code: int) -> None:
        self.closed_with = code

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(f) for f in self.frames]

    async def drain(self) -> None:
        while len(self.queue):
            await asyncio.sleep(0.001)

    async def stop(self) -> None:
        self.queue.close(1000)
        await self.writer


def check_frames(frames: list[dict[str, Any]], since: int | None = None) -> dict[str, Any]:
    """Assert the contract on what one viewer received; returns hello, the seqs listed, the
    seqs covered and the folded count."""
    hello, *batches = frames
    assert hello["type"] == "hello"
    assert all(b["type"] == "batch" for b in batches)
    prev_to = since if since is not None and not hello["gap"] else hello["seq"]
    start = prev_to
    listed: list[int] = []
    folded = 0
    for b in batches:
        assert b["from"] == prev_to + 1, (b["from"], prev_to)
        assert b["to"] >= b["from"] - 1
        assert len(b["events"]) + b["folded"] == b["to"] - b["from"] + 1
        assert set(b["stats"]) == {"viewers", "likes"}
        seqs = [e["seq"] for e in b["events"]]
        assert seqs == sorted(set(seqs))
        assert all(b["from"] <= s <= b["to"] for s in seqs)
        for e in b["events"]:
            assert isinstance(e["type"], str) and isinstance(e["ts"], int)
        listed += seqs
        folded += b["folded"]
        prev_to = b["to"]
    return {
        "hello": hello,
        "listed": listed,
        "covered": list(range(start + 1, prev_to + 1)),
        "folded": folded,
        "last": prev_to,
    }
