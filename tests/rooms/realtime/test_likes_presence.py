"""Likes as counters flushed per tick; viewers counted once per viewer key, across
connections and processes; watch-time sessions."""

from __future__ import annotations

import pytest

from rooms.realtime.presence import MemoryWatchSink, check_viewer, viewer_key

from .conftest import Backend, run


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_likes_accumulate_locally_and_flush_in_one_increment(backend: Backend) -> None:
    async def scenario() -> None:
        process_a, process_b = backend.likes(), backend.likes()
        for _ in range(10):
            process_a.add("r1", 3)
        process_b.add("r1", 50)
        process_b.add("r2", 1)
        assert await process_a.total("r1") == 0  # counted, not yet flushed
        assert await process_a.flush() == {"r1": 30}
        assert await process_b.flush() == {"r1": 50, "r2": 1}
        assert await process_a.flush() == {}
        assert await process_a.total("r1") == 80
        assert await process_b.total("r2") == 1
        for like in process_a, process_b:
            if hasattr(like, "aclose"):
                await like.aclose()

    run(scenario())


@pytest.mark.parametrize("count", [0, -1, 51, 2.5, "3", True, None])
def test_bad_like_counts_are_refused(count: object) -> None:
    from rooms.realtime.likes import MemoryLikes

    likes = MemoryLikes(max_per_frame=50)
    with pytest.raises(ValueError):
        likes.add("r1", count)  # type: ignore[arg-type]


def test_viewers_are_counted_once_per_viewer_key(backend: Backend) -> None:
    async def scenario() -> None:
        clock = Clock()
        p1, p2 = backend.presence(clock), backend.presence(clock)  # two processes
        await p1.connect("r1", "u:1")
        await p1.connect("r1", "u:1")  # a second tab
        await p2.connect("r1", "u:1")  # another device, same user, other process
        await p2.connect("r1", "d:abc")
        await p2.connect("r2", "u:1")
        assert await p1.count("r1") == 2
        assert await p1.count("r2") == 1
        await p1.disconnect("r1", "u:1")  # one tab closed: still watching
        assert await p1.count("r1") == 2
        await p2.disconnect("r1", "d:abc")
        assert await p2.count("r1") == 1
        for p in p1, p2:
            if hasattr(p, "aclose"):
                await p.aclose()

    run(scenario())


def test_viewers_expire_without_heartbeats(backend: Backend) -> None:
    async def scenario() -> None:
        clock = Clock()
        alive, crashed = backend.presence(clock, ttl=10), backend.presence(clock, ttl=10)
        await alive.connect("r1", "u:1")
        await crashed.connect("r1", "u:2")
        clock.now += 6
        await alive.heartbeat()  # `crashed` never beats again
        clock.now += 6
        assert await alive.count("r1") == 1
        await alive.heartbeat()
        clock.now += 9
        assert await alive.count("r1") == 1
        for p in alive, crashed:
            if hasattr(p, "aclose"):
                await p.aclose()

    run(scenario())


def test_watch_sessions_start_on_the_first_connection_and_stop_on_the_last(
    backend: Backend,
) -> None:
    async def scenario() -> None:
        clock = Clock()
        sink = MemoryWatchSink()
        p = backend.presence(clock)
        await p.connect("r1", "u:1")
        clock.now += 5
        await p.connect("r1", "u:1")
        clock.now += 10
        await p.disconnect("r1", "u:1")
        await p.connect("r1", "u:2")
        clock.now += 20
        await p.disconnect("r1", "u:1")
        assert await p.flush_records(sink) == 3
        p.stop_all()
        assert await p.flush_records(sink) == 1
        assert [(r.kind, r.viewer, r.seconds) for r in sink.records] == [
            ("start", "u:1", None),
            ("start", "u:2", None),
            ("stop", "u:1", 35.0),
            ("stop", "u:2", 20.0),
        ]
        if hasattr(p, "aclose"):
            await p.aclose()

    run(scenario())


def test_viewer_keys() -> None:
    assert viewer_key(user_id=7, device="abc", connection="x1") == "u:7"
    assert viewer_key(device="abc-123", connection="x1") == "d:abc-123"
    assert viewer_key(device="bad device!", connection="x1") == "c:x1"
    for bad in ("", "has space", "x" * 101, None):
        with pytest.raises(ValueError):
            check_viewer(bad)  # type: ignore[arg-type]
