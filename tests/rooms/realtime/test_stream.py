"""Room streams: numbering without holes, `since` reads with gap detection, tails, and
recovery after the store is lost — the same suite on the in-process and Redis streams."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from rooms.realtime.persist import EventPersister, MemoryEventSink
from rooms.realtime.stream import RedisRoomStream, StreamReset, ZeroFloor

from .conftest import FAST, Backend, run


def chat(text: str, **extra: object) -> dict[str, object]:
    return {"type": "chat.message", "user": {"id": 1, "name": "Sam"}, "text": text, **extra}


def test_append_assigns_contiguous_seq_and_ts(backend: Backend) -> None:
    async def scenario() -> None:
        stream = backend.stream(ZeroFloor())
        first = await stream.append("r1", [chat("hi", nonce="n1")])
        more = await stream.append("r1", [chat("a"), {"type": "gift", "gift": "rose", "count": 1}])
        assert [e["seq"] for e in first + more] == [1, 2, 3]
        assert first[0] == {
            "seq": 1,
            "type": "chat.message",
            "ts": first[0]["ts"],
            "user": {"id": 1, "name": "Sam"},
            "text": "hi",
            "nonce": "n1",
        }
        assert abs(first[0]["ts"] / 1000 - __import__("time").time()) < 5
        assert await stream.last_seq("r1") == 3
        assert await stream.last_seq("other") == 0  # rooms are numbered separately
        await stream.aclose()

    run(scenario())


def test_read_after_serves_since_and_limit(backend: Backend) -> None:
    async def scenario() -> None:
        stream = backend.stream(ZeroFloor())
        await stream.append("r1", [chat(str(i)) for i in range(20)])
        res = await stream.read_after("r1", 5, 4)
        assert (res.gap, res.last_seq, [e["seq"] for e in res.events]) == (False, 20, [6, 7, 8, 9])
        assert [e["text"] for e in res.events] == ["5", "6", "7", "8"]
        res = await stream.read_after("r1", 20, 100)  # up to date: nothing, no gap
        assert (res.events, res.gap) == ([], False)
        res = await stream.read_after("r1", 0, 100)
        assert [e["seq"] for e in res.events] == list(range(1, 21))
        res = await stream.read_after("r1", 21, 100)  # ahead of the store: it lost events
        assert res.gap
        await stream.aclose()

    run(scenario())


def test_gap_when_since_is_older_than_retention(backend: Backend) -> None:
    async def scenario() -> None:
        stream = backend.stream(ZeroFloor(), FAST.with_(retention=100))
        for i in range(10):
            await stream.append("r1", [chat(f"{i}-{j}") for j in range(100)])
        assert (await stream.read_after("r1", 1, 10)).gap
        kept = await stream.read_after("r1", 900, 100)  # the last `retention` are always kept
        assert not kept.gap
        assert [e["seq"] for e in kept.events] == list(range(901, 1001))
        await stream.aclose()

    run(scenario())


def test_bad_input_is_refused(backend: Backend) -> None:
    async def scenario() -> None:
        stream = backend.stream(ZeroFloor(), FAST.with_(max_event_bytes=200))
        bad = [
            ("room with spaces", [chat("x")]),
            ("r1", []),
            ("r1", [{"text": "no type"}]),
            ("r1", [{"type": "Chat Message"}]),
            ("r1", [chat("x", seq=4)]),
            ("r1", [chat("x", ts=4)]),
            ("r1", [chat("x" * 300)]),
            ("r1", [chat("x", when=object())]),
            ("r1", chat("not a list")),
        ]
        for room, events in bad:
            with pytest.raises(ValueError):
                await stream.append(room, events)  # type: ignore[arg-type]
        for since, limit in [(-1, 10), (0, 0), (0, 10_001), (True, 10)]:
            with pytest.raises(ValueError):
                await stream.read_after("r1", since, limit)
        assert await stream.last_seq("r1") == 0  # nothing refused was stored
        await stream.aclose()

    run(scenario())


def test_concurrent_appends_leave_no_hole(backend: Backend) -> None:
    async def scenario() -> None:
        stream = backend.stream(ZeroFloor())

        async def writer(w: int) -> list[int]:
            got = []
            for i in range(40):
                stored = await stream.append("r1", [chat(f"{w}-{i}")] * (1 + i % 2))
                got += [e["seq"] for e in stored]
            return got

        results = await asyncio.gather(*(writer(w) for w in range(8)))
        seqs = sorted(s for r in results for s in r)
        assert seqs == list(range(1, len(seqs) + 1))
        for r in results:  # each writer's own events stay in its order
            assert r == sorted(r)
        res = await stream.read_after("r1", 0, 10_000)
        assert [e["seq"] for e in res.events] == seqs
        await stream.aclose()

    run(scenario())


def test_sync_appends_from_threads_share_the_numbering(backend: Backend) -> None:
    async def scenario() -> None:
        stream = backend.stream(ZeroFloor())
        await stream.append("r1", [chat("loop")])
        done = await asyncio.gather(
            *(asyncio.to_thread(stream.append_sync, "r1", [chat(f"t{i}")]) for i in range(10))
        )
        assert sorted(e[0]["seq"] for e in done) == list(range(2, 12))
        assert await stream.last_seq("r1") == 11
        await stream.aclose()

    run(scenario())


@pytest.mark.pg
def test_writer_processes_leave_no_hole() -> None:
    """Several processes append to one room at once: every seq is given exactly once."""
    assert settings.REDIS_URL
    prefix = f"{settings.LIVESHOP_REDIS_PREFIX}:mp{os.getpid()}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.rooms.realtime.appender",
                *(settings.REDIS_URL, prefix, "r1", "150", f"w{w}"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    try:
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs)
        per_writer = [json.loads(o) for o in outputs]
        seqs = sorted(s for w in per_writer for s in w)
        assert len(seqs) == 4 * (50 * 1 + 50 * 2 + 50 * 3)
        assert seqs == list(range(1, len(seqs) + 1))

        async def stored() -> list[int]:
            stream = RedisRoomStream(settings.REDIS_URL, prefix=prefix, floor=ZeroFloor())
            res = await stream.read_after("r1", 0, 10_000)
            await stream.aclose()
            return [e["seq"] for e in res.events]

        assert run(stored()) == seqs
    finally:
        Backend("redis", prefix).lose()


def test_tail_waits_for_new_events(backend: Backend) -> None:
    async def scenario() -> None:
        stream = backend.stream(ZeroFloor())
        await stream.append("r1", [chat("old")])
        pos = await stream.position("r1")
        assert pos.seq == 1
        assert await stream.tail("r1", pos, 0.05) == []  # nothing new: times out empty
        tail = asyncio.create_task(stream.tail("r1", pos, 5))
        await asyncio.sleep(0.05)
        assert not tail.done()
        await stream.append("r1", [chat("new")])
        got = await asyncio.wait_for(tail, 5)
        assert [(e["seq"], e["text"]) for e in got] == [(2, "new")]
        await stream.aclose()

    run(scenario())


def test_loss_continues_from_floor_and_resumes_say_gap(backend: Backend) -> None:
    """The store is lost with events not yet in the database: seq continues from the
    database's highest, and every resume that could have seen a lost event says gap."""

    async def scenario() -> None:
        sink = MemoryEventSink()
        persister = EventPersister(sink)
        stream = backend.stream(persister, FAST.with_(reseed_margin=50))
        persister.add("r1", await stream.append("r1", [chat(str(i)) for i in range(80)]))
        persister.flush()
        await stream.append("r1", [chat(f"unpersisted {i}") for i in range(20)])  # 81..100
        pos = await stream.position("r1")
        tail = asyncio.create_task(stream.tail("r1", pos, 5))
        await asyncio.sleep(0.05)

        backend.lose(stream)
        assert await stream.last_seq("r1") == 80  # from the database, never 0
        with pytest.raises(StreamReset):  # a tail across the loss notices
            await asyncio.wait_for(tail, 10)
        stored = await stream.append("r1", [chat("after the loss")])
        assert stored[0]["seq"] == 81

        # A client that saw 95 (lost) or 81 (the old 81) cannot be served; nor one at 40.
        for since in (95, 81, 40, 130):
            assert (await stream.read_after("r1", since, 10)).gap, since
        # One that saw exactly what the database has continues without a gap.
        res = await stream.read_after("r1", 80, 10)
        assert (res.gap, [e["text"] for e in res.events]) == (False, ["after the loss"])
        # Past the margin, resumes are served again.
        await stream.append("r1", [chat(str(i)) for i in range(60)])
        res = await stream.read_after("r1", 135, 10)
        assert not res.gap and res.events[0]["seq"] == 136
        # A hub that had delivered up to 150 before the loss widens the gap window.
        await stream.note_reset("r1", 150)
        assert (await stream.read_after("r1", 135, 10)).gap
        await stream.aclose()

    run(scenario())


def test_read_recent_returns_last_events_oldest_first(backend: Backend) -> None:
    async def scenario() -> None:
        stream = backend.stream(ZeroFloor())
        assert await stream.read_recent("r1", 5) == []
        await stream.append("r1", [chat(str(i)) for i in range(12)])
        assert [e["seq"] for e in await stream.read_recent("r1", 5)] == [8, 9, 10, 11, 12]
        await stream.aclose()

    run(scenario())
