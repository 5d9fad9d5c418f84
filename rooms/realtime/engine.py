"""Wiring: one `RealtimeEngine` per process holds the stream, writer, persister, hub registry,
likes and presence, and runs their periodic jobs (bulk persist, likes flush, presence
heartbeat, watch records). Redis when `REDIS_URL` is set, in-process otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from typing import Any

from .config import RealtimeConfig
from .hub import HubRegistry
from .likes import MemoryLikes, RedisLikes
from .persist import EventPersister, EventSink
from .presence import MemoryPresence, RedisPresence, WatchSink
from .stream import InProcessRoomStream, RedisRoomStream, RoomStream
from .writer import RoomWriter

log = logging.getLogger("liveshop.rooms.realtime")


class RoomStats:
    """The hub's `StatsSource`: viewers from presence, likes from the counters."""

    def __init__(self, presence: MemoryPresence | RedisPresence, likes: MemoryLikes | RedisLikes):
        self.presence = presence
        self.likes = likes

    async def room_stats(self, room: str) -> dict[str, int]:
        return {"viewers": await self.presence.count(room), "likes": await self.likes.total(room)}


class RealtimeEngine:
    def __init__(
        self,
        *,
        config: RealtimeConfig,
        stream: RoomStream,
        persister: EventPersister,
        likes: MemoryLikes | RedisLikes,
        presence: MemoryPresence | RedisPresence,
        watch_sink: WatchSink,
    ) -> None:
        self.config = config
        self.stream = stream
        self.persister = persister
        self.likes = likes
        self.presence = presence
        self.watch_sink = watch_sink
        self.writer = RoomWriter(stream, persister)
        self.registry = HubRegistry(stream=stream, stats=RoomStats(presence, likes), config=config)
        self._tasks: list[asyncio.Task[None]] = []
        self._like_increments: Counter[str] = Counter()

    @classmethod
    def build(
        cls,
        config: RealtimeConfig,
        *,
        sink: EventSink,
        watch_sink: WatchSink,
        redis_url: str = "",
        prefix: str = "ls",
    ) -> RealtimeEngine:
        persister = EventPersister(sink, max_pending=config.persist_max_pending)
        stream: RoomStream
        likes: MemoryLikes | RedisLikes
        presence: MemoryPresence | RedisPresence
        if redis_url:
            stream = RedisRoomStream(redis_url, prefix=prefix, floor=persister, config=config)
            likes = RedisLikes(redis_url, prefix=prefix, max_per_frame=config.like_max_per_frame)
            presence = RedisPresence(redis_url, prefix=prefix, ttl=config.presence_ttl_s)
        else:
            stream = InProcessRoomStream(persister, config)
            likes = MemoryLikes(config.like_max_per_frame)
            presence = MemoryPresence(ttl=config.presence_ttl_s)
        return cls(
            config=config,
            stream=stream,
            persister=persister,
            likes=likes,
            presence=presence,
            watch_sink=watch_sink,
        )

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        """Start the periodic jobs on the running loop (idempotent)."""
        if self._tasks:
            return
        cfg = self.config
        self._tasks = [
            asyncio.create_task(self.persister.run(cfg.persist_interval_s), name="room-persist"),
            asyncio.create_task(self._every(cfg.tick_s, self._likes_job), name="room-likes"),
            asyncio.create_task(self._every(cfg.presence_heartbeat_s, self._presence_jobs)),
        ]

    async def _likes_job(self) -> None:
        self._like_increments.update(await self.likes.flush())

    async def _presence_jobs(self) -> None:
        await self.presence.heartbeat()
        await self.presence.flush_records(self.watch_sink)
        await self._store_likes()

    async def _store_likes(self) -> None:
        """Hand the likes counted since the last call to the watch sink's `add_likes` (when
        it has one: the database keeps totals that outlive the counters)."""
        add = getattr(self.watch_sink, "add_likes", None)
        increments, self._like_increments = self._like_increments, Counter()
        if add is None or not increments:
            return
        try:
            await asyncio.to_thread(add, dict(increments))
        except BaseException:
            self._like_increments.update(increments)
            raise

    @staticmethod
    async def _every(interval: float, job: Any) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await job()
            except Exception:
                log.exception("room realtime job %s failed", getattr(job, "__name__", job))

    async def aclose(self) -> None:
        """Stop hubs (viewers get 1001), flush likes, persist events, stop watch sessions."""
        await self.registry.aclose()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        with contextlib.suppress(Exception):
            await self._likes_job()
        with contextlib.suppress(Exception):
            await self._store_likes()
        self.presence.stop_all()
        with contextlib.suppress(Exception):
            await self.presence.flush_records(self.watch_sink)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.persister.flush)
        for part in (self.stream, self.likes, self.presence):
            closer = getattr(part, "aclose", None)
            if closer is not None:
                await closer()


_engine: RealtimeEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> RealtimeEngine:
    """This process' engine, built from Django settings on first use. The event sink and the
    watch sink are the objects made by `LIVESHOP_ROOM_EVENT_SINK` and
    `LIVESHOP_ROOM_WATCH_SINK` (dotted paths to zero-argument callables)."""
    global _engine
    if _engine is None:
        from django.conf import settings
        from django.utils.module_loading import import_string

        with _engine_lock:
            if _engine is None:
                _engine = RealtimeEngine.build(
                    RealtimeConfig.from_settings(),
                    sink=import_string(settings.LIVESHOP_ROOM_EVENT_SINK)(),
                    watch_sink=import_string(settings.LIVESHOP_ROOM_WATCH_SINK)(),
                    redis_url=settings.REDIS_URL,
                    prefix=settings.LIVESHOP_REDIS_PREFIX,
                )
    return _engine
