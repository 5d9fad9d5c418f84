"""The per-process hub, driven the way the consumer will drive it: real streams (in-process
and Redis), real FrameQueues whose socket is a list, events published through the writer."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from django.conf import settings

from rooms.realtime.config import RealtimeConfig
from rooms.realtime.connection import CLOSE_RESET, CLOSE_TOO_SLOW, FrameQueue
from rooms.realtime.engine import RealtimeEngine
from rooms.realtime.persist import EventPersister, MemoryEventSink
from rooms.realtime.presence import MemoryWatchSink
from rooms.realtime.writer import RoomWriter

from .conftest import FAST, Backend, Viewer, check_frames, run

ROOM = "m1:launch"
ROOM_INFO: dict[str, Any] = {"slug": "launch", "title": "Launch", "gifts": [], "pinned": None}


def engine_for(backend: Backend, config: RealtimeConfig = FAST) -> RealtimeEngine:
    engine = RealtimeEngine.build(
        config,
        sink=MemoryEventSink(),
        watch_sink=MemoryWatchSink(),
        redis_url=settings.REDIS_URL if backend.kind == "redis" else "",
        prefix=backend.prefix,
    )
    if backend.kind == "memory":
        engine.presence.store = backend.presence_store  # type: ignore[union-attr]
    return engine


def chat(i: int) -> dict[str, Any]:
    return {"type": "chat.message", "user": {"id": i % 7, "name": "Sam"}, "text": f"m{i}"}


async def until(predicate: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.005)


def last_to(viewer: Viewer) -> int:
    frames = viewer.parsed()
    if not frames:
        return -1
    batches = [f for f in frames if f["type"] == "batch"]
    return batches[-1]["to"] if batches else frames[0]["seq"]


def test_live_batches_are_continuous_and_the_same_text_for_everyone(backend: Backend) -> None:
    async def scenario() -> None:
        engine = engine_for(backend)
        engine.start()
        await engine.writer.publish(ROOM, [chat(0)])
        viewers = [Viewer() for _ in range(3)]
        infos = [await engine.registry.join(ROOM, v.queue, room_info=ROOM_INFO) for v in viewers]
        assert [(i.seq, i.gap) for i in infos] == [(1, False)] * 3
        n = 1
        started = asyncio.get_running_loop().time()
        for burst in range(40):
            size = 1 + burst % 5
            await engine.writer.publish(ROOM, [chat(n + i) for i in range(size)])
            n += size
            await asyncio.sleep(0.003 * (burst % 4))
        await until(lambda: all(v.frames and last_to(v) == n for v in viewers))
        elapsed = asyncio.get_running_loop().time() - started
        hub = engine.registry.get(ROOM)
        assert hub is not None and len(hub.live) == 3
        results = [check_frames(v.parsed()) for v in viewers]
        for r in results:
            assert r["hello"]["seq"] == 1 and r["hello"]["room"] == ROOM_INFO
            assert r["listed"] == list(range(2, n + 1))  # nothing folded at this rate
        # At most one batch per tick: bursts within a tick share one.
        assert len(viewers[0].frames) - 1 <= elapsed / FAST.tick_s + 1
        # One serialisation per tick: every viewer was sent the very same str objects.
        batches = [v.frames[1:] for v in viewers]
        assert all(a is b for a, b in zip(batches[0], batches[1], strict=True))
        assert all(a is b for a, b in zip(batches[0], batches[2], strict=True))
        for v in viewers:
            await v.stop()
        await engine.aclose()

    run(scenario())


def test_chat_folds_only_above_the_threshold_and_nothing_else_does(backend: Backend) -> None:
    async def scenario() -> None:
        engine = engine_for(backend)
        engine.start()
        viewer = Viewer()
        await engine.registry.join(ROOM, viewer.queue, room_info=ROOM_INFO)
        at_threshold = [chat(i) for i in range(60)]
        await engine.writer.publish(ROOM, at_threshold)
        await until(lambda: len(viewer.frames) == 2)
        await asyncio.sleep(FAST.tick_s * 2)
        flood = [chat(i) for i in range(150)]
        gifts = [{"type": "gift", "user": {"id": 2}, "gift": "rose", "count": i} for i in range(50)]
        pin = [{"type": "product.pinned", "product": 7}]
        await engine.writer.publish(ROOM, flood[:75] + gifts + pin + flood[75:])
        await until(lambda: len(viewer.frames) == 3)
        _hello, first, second = viewer.parsed()
        assert (first["from"], first["to"], first["folded"], len(first["events"])) == (1, 60, 0, 60)
        assert (second["from"], second["to"], second["folded"]) == (61, 61 + 200, 90)
        types = [e["type"] for e in second["events"]]
        assert types.count("gift") == 50 and types.count("product.pinned") == 1
        assert types.count("chat.message") == 60
        kept_chat = [e["seq"] for e in second["events"] if e["type"] == "chat.message"]
        assert kept_chat == list(range(202, 262))  # the newest 60
        await viewer.stop()
        await engine.aclose()

    run(scenario())


def test_stock_changed_is_coalesced_per_product_per_tick(backend: Backend) -> None:
    async def scenario() -> None:
        engine = engine_for(backend)
        engine.start()
        viewer = Viewer()
        await engine.registry.join(ROOM, viewer.queue, room_info=ROOM_INFO)
        stock = [
            {"type": "stock.changed", "product": p, "variant": 1, "stock": s}
            for s in range(10, 0, -1)
            for p in (1, 2)
        ]
        await engine.writer.publish(ROOM, stock)
        await until(lambda: len(viewer.frames) == 2)
        batch = viewer.parsed()[1]
        assert [(e["product"], e["stock"]) for e in batch["events"]] == [(1, 1), (2, 1)]
        assert (batch["from"], batch["to"], batch["folded"]) == (1, 20, 18)
        # Across ticks nothing is coalesced.
        await asyncio.sleep(FAST.tick_s * 2)
        await engine.writer.publish(ROOM, [stock[0]])
        await until(lambda: len(viewer.frames) == 3)
        assert viewer.parsed()[2]["events"][0]["stock"] == 10
        await viewer.stop()
        await engine.aclose()

    run(scenario())


def test_stats_only_batches_keep_continuity_and_are_sent_only_on_change(backend: Backend) -> None:
    async def scenario() -> None:
        engine = engine_for(backend)
        engine.start()
        await engine.writer.publish(ROOM, [chat(1), chat(2)])
        viewer = Viewer()
        await engine.registry.join(ROOM, viewer.queue, room_info=ROOM_INFO)
        await asyncio.sleep(FAST.stats_interval_s * 4)
        assert len(viewer.frames) == 1  # nothing changed: nothing sent
        engine.likes.add(ROOM, 5)
        engine.likes.add(ROOM, 3)
        await until(lambda: len(viewer.frames) == 2)
        stats_batch = viewer.parsed()[1]
        assert stats_batch == {
            "type": "batch",
            "from": 3,
            "to": 2,
            "events": [],
            "folded": 0,
            "stats": {"viewers": 0, "likes": 8},
        }
        await asyncio.sleep(FAST.stats_interval_s * 4)
        assert len(viewer.frames) == 2
        await engine.presence.connect(ROOM, "u:1")
        await engine.writer.publish(ROOM, [chat(3)])
        await until(lambda: last_to(viewer) == 3)
        await until(lambda: viewer.parsed()[-1]["stats"]["viewers"] == 1)
        r = check_frames(viewer.parsed())
        assert r["listed"] == [3]
        await viewer.stop()
        await engine.aclose()

    run(scenario())


def test_a_viewer_too_slow_is_closed_with_4408_and_holds_nothing(backend: Backend) -> None:
    async def scenario() -> None:
        engine = engine_for(backend)
        engine.start()
        stalled = asyncio.Event()
        closed: list[int] = []

        async def never_sends(text: str) -> None:
            await stalled.wait()  # a socket whose peer stopped reading

        async def close_socket(code: int) -> None:
            closed.append(code)

        slow = FrameQueue(never_sends, close_socket, limit=5)
        slow_writer = asyncio.create_task(slow.run())
        fast = Viewer()
        await engine.registry.join(ROOM, slow, room_info=ROOM_INFO)
        await engine.registry.join(ROOM, fast.queue, room_info=ROOM_INFO)
        hub = engine.registry.get(ROOM)
        assert hub is not None
        peak = published = 0
        while not slow.closed and published < 500:
            published += 1
            await engine.writer.publish(ROOM, [chat(published)])
            await asyncio.sleep(FAST.tick_s * 1.5)
            peak = max(peak, len(slow))
        await until(lambda: last_to(fast) == published)
        await asyncio.wait_for(slow_writer, 5)
        assert closed == [CLOSE_TOO_SLOW]
        assert peak <= 5 and len(slow) == 0
        assert slow not in hub.live and fast.queue in hub.live
        assert check_frames(fast.parsed())["listed"] == list(range(1, published + 1))
        await fast.stop()
        await engine.aclose()

    run(scenario())


def test_joins_with_since_replay_then_go_live_without_duplicate_or_hole(
    backend: Backend,
) -> None:
    async def scenario() -> None:
        engine = engine_for(backend, FAST.with_(replay_chunk=37, queue_frames=8))
        engine.start()
        rng = random.Random(5)
        await engine.writer.publish(ROOM, [chat(i) for i in range(300)])
        published = 300
        stop = asyncio.Event()

        async def publisher() -> None:
            nonlocal published
            while not stop.is_set():
                size = rng.randint(1, 3)
                await engine.writer.publish(ROOM, [chat(published + i) for i in range(size)])
                published += size
                await asyncio.sleep(0.004)

        task = asyncio.create_task(publisher())
        joined: list[tuple[Viewer, int | None]] = []
        for _ in range(12):
            await asyncio.sleep(rng.uniform(0, 0.05))
            since = rng.choice([None, 0, rng.randint(0, published), published])
            viewer = Viewer(limit=8)
            info = await engine.registry.join(ROOM, viewer.queue, since=since, room_info=ROOM_INFO)
            assert not info.gap
            joined.append((viewer, since))
        await asyncio.sleep(0.1)
        stop.set()
        await task
        await until(lambda: all(v.frames and last_to(v) == published for v, _ in joined))
        for viewer, since in joined:
            r = check_frames(viewer.parsed(), since)
            assert not r["hello"]["gap"]
            start = since if since is not None else r["hello"]["seq"]
            assert r["listed"] == list(range(start + 1, published + 1)), since
            assert viewer.closed_with is None
            await viewer.stop()
        await engine.aclose()

    run(scenario())


def test_a_since_this_process_has_not_ticked_yet_is_served_without_duplicates(
    backend: Backend,
) -> None:
    async def scenario() -> None:
        engine = engine_for(backend, FAST.with_(tick_s=1.0))
        engine.start()
        first = Viewer()
        await engine.registry.join(ROOM, first.queue, room_info=ROOM_INFO)
        await engine.writer.publish(ROOM, [chat(0)])
        await until(lambda: last_to(first) == 1)  # a batch just went out: the next is a tick away
        await engine.writer.publish(ROOM, [chat(i) for i in range(1, 5)])
        # Another process delivered 2..5 to this client; here the hub has not ticked yet.
        hub = engine.registry.get(ROOM)
        assert hub is not None and hub.sent_to == 1
        resumed = Viewer()
        info = await engine.registry.join(ROOM, resumed.queue, since=5, room_info=ROOM_INFO)
        assert (info.seq, info.gap) == (5, False)
        await engine.writer.publish(ROOM, [chat(6)])
        await until(lambda: last_to(resumed) == 6)
        assert check_frames(resumed.parsed(), 5)["listed"] == [6]
        assert check_frames(first.parsed())["listed"] == [1, 2, 3, 4, 5, 6]
        for v in (first, resumed):
            await v.stop()
        await engine.aclose()

    run(scenario())


def test_since_older_than_retention_says_gap_and_goes_live(backend: Backend) -> None:
    async def scenario() -> None:
        engine = engine_for(backend, FAST.with_(retention=100))
        engine.start()
        for i in range(10):
            await engine.writer.publish(ROOM, [chat(i * 100 + j) for j in range(100)])
        viewer = Viewer()
        info = await engine.registry.join(ROOM, viewer.queue, since=3, room_info=ROOM_INFO)
        assert (info.seq, info.gap) == (1000, True)
        await engine.writer.publish(ROOM, [chat(1)])
        await until(lambda: last_to(viewer) == 1001)
        r = check_frames(viewer.parsed(), 3)
        assert r["hello"]["gap"] is True and r["listed"] == [1001]
        await viewer.stop()
        await engine.aclose()

    run(scenario())


def test_stream_loss_closes_viewers_and_their_resume_says_gap(backend: Backend) -> None:
    async def scenario() -> None:
        engine = engine_for(backend)
        engine.start()
        viewer = Viewer()
        await engine.registry.join(ROOM, viewer.queue, room_info=ROOM_INFO)
        await engine.writer.publish(ROOM, [chat(i) for i in range(40)])
        await until(lambda: viewer.frames and last_to(viewer) == 40)
        await asyncio.to_thread(engine.persister.flush)  # the database has 1..40
        # 41..50 come from a writer whose process dies before its next bulk write.
        doomed = RoomWriter(engine.stream, EventPersister(engine.persister.sink))
        await doomed.publish(ROOM, [chat(i) for i in range(10)])
        await until(lambda: last_to(viewer) == 50)

        backend.lose(engine.stream)
        # A writer continues from the database's highest seq...
        stored = await engine.writer.publish(ROOM, [chat(99)])
        assert stored[0]["seq"] == 41
        # ...and the hub that delivered up to 50 closes its viewers so they resume.
        await until(lambda: viewer.closed_with is not None)
        assert viewer.closed_with == CLOSE_RESET
        assert engine.registry.get(ROOM) is None

        again = Viewer()
        info = await engine.registry.join(ROOM, again.queue, since=50, room_info=ROOM_INFO)
        assert (info.seq, info.gap) == (41, True)
        await engine.writer.publish(ROOM, [chat(100)])
        await until(lambda: last_to(again) == 42)
        assert check_frames(again.parsed(), 50)["listed"] == [42]
        await again.stop()
        await engine.aclose()

    run(scenario())


def test_hello_recent_carries_the_last_chat_without_removed_messages(backend: Backend) -> None:
    async def scenario() -> None:
        engine = engine_for(backend, FAST.with_(recent_chat=5))
        engine.start()
        await engine.writer.publish(ROOM, [chat(i) for i in range(8)])
        await engine.writer.publish(ROOM, [{"type": "gift", "gift": "rose", "count": 1}])
        first = Viewer()  # the hub starts now, from the stream
        await engine.registry.join(ROOM, first.queue, room_info=ROOM_INFO)
        await until(lambda: first.frames)
        hello = first.parsed()[0]
        assert [e["seq"] for e in hello["recent"]] == [4, 5, 6, 7, 8]
        assert all(e["type"] == "chat.message" for e in hello["recent"])
        await engine.writer.publish(
            ROOM, [chat(9), {"type": "moderation.removed", "removed_seq": 7}]
        )
        await until(lambda: last_to(first) == 11)
        second = Viewer()
        await engine.registry.join(ROOM, second.queue, room_info=ROOM_INFO)
        await until(lambda: second.frames)
        assert [e["seq"] for e in second.parsed()[0]["recent"]] == [5, 6, 8, 10]
        for v in (first, second):
            await v.stop()
        await engine.aclose()

    run(scenario())


def test_hello_room_follows_pins_and_state_the_hub_delivered(backend: Backend) -> None:
    """The consumer reads `hello.room` before joining; a pin or state change delivered in
    between (seq <= hello.seq, so never replayed) still reaches the joiner's hello."""

    async def scenario() -> None:
        engine = engine_for(backend)
        engine.start()
        first = Viewer()
        stale = {**ROOM_INFO, "pinned": None, "status": "scheduled"}
        await engine.registry.join(ROOM, first.queue, room_info=stale)
        card = {"id": 7, "name": "Tee", "price": 1900, "currency": "EUR"}
        await engine.writer.publish(
            ROOM,
            [{"type": "product.pinned", "product": card}, {"type": "room.state", "status": "live"}],
        )
        await until(lambda: last_to(first) == 2)
        late = Viewer()
        await engine.registry.join(ROOM, late.queue, room_info=stale)
        await until(lambda: late.frames)
        room = late.parsed()[0]["room"]
        assert room["pinned"] == card and room["status"] == "live"
        await engine.writer.publish(ROOM, [{"type": "product.unpinned"}])
        await until(lambda: last_to(first) == 3)
        third = Viewer()
        await engine.registry.join(ROOM, third.queue, room_info={**stale, "pinned": card})
        await until(lambda: third.frames)
        assert third.parsed()[0]["room"]["pinned"] is None
        for v in (first, late, third):
            await v.stop()
        await engine.aclose()

    run(scenario())


def test_hub_stops_after_the_last_viewer_leaves(backend: Backend) -> None:
    async def scenario() -> None:
        engine = engine_for(backend)
        engine.start()
        a, b = Viewer(), Viewer()
        await engine.registry.join(ROOM, a.queue, room_info=ROOM_INFO)
        await engine.registry.join(ROOM, b.queue, room_info=ROOM_INFO)
        hub = engine.registry.get(ROOM)
        assert hub is not None
        engine.registry.leave(ROOM, a.queue)
        await asyncio.sleep(FAST.hub_idle_s * 3)
        assert engine.registry.get(ROOM) is hub  # b still watches
        engine.registry.leave(ROOM, b.queue)
        await until(lambda: engine.registry.get(ROOM) is None)
        await until(lambda: all(t.done() for t in hub._tasks))
        # A viewer arriving later gets a fresh hub that continues the numbering.
        await engine.writer.publish(ROOM, [chat(1)])
        c = Viewer()
        info = await engine.registry.join(ROOM, c.queue, room_info=ROOM_INFO)
        assert info.seq == 1 and engine.registry.get(ROOM) is not hub
        for v in (a, b, c):
            await v.stop()
        await engine.aclose()

    run(scenario())


def test_oversized_ticks_split_into_continuous_batches(backend: Backend) -> None:
    async def scenario() -> None:
        engine = engine_for(backend, FAST.with_(max_frame_bytes=4096))
        engine.start()
        viewer = Viewer()
        await engine.registry.join(ROOM, viewer.queue, room_info=ROOM_INFO)
        gifts = [{"type": "gift", "gift": "rose", "count": i, "note": "x" * 200} for i in range(60)]
        await engine.writer.publish(ROOM, gifts)
        await until(lambda: viewer.frames and last_to(viewer) == 60)
        assert len(viewer.frames) > 3
        assert all(len(f.encode()) <= 4096 for f in viewer.frames[1:])
        assert check_frames(viewer.parsed())["listed"] == list(range(1, 61))
        await viewer.stop()
        await engine.aclose()

    run(scenario())


def test_join_validates_since(backend: Backend) -> None:
    async def scenario() -> None:
        engine = engine_for(backend)
        viewer = Viewer()
        for since in (-1, "5", 1.5):
            try:
                await engine.registry.join(ROOM, viewer.queue, since=since, room_info=ROOM_INFO)  # type: ignore[arg-type]
            except ValueError:
                continue
            raise AssertionError(f"since={since!r} accepted")
        for room in ("", "bad room", "{x}"):
            try:
                await engine.registry.join(room, viewer.queue, room_info=ROOM_INFO)
            except ValueError:
                continue
            raise AssertionError(f"room={room!r} accepted")
        assert viewer.frames == [] and len(engine.registry) == 0
        await viewer.stop()
        await engine.aclose()

    run(scenario())


def test_published_events_reach_the_sink_in_bulk(backend: Backend) -> None:
    async def scenario() -> None:
        interval = 0.25
        engine = engine_for(backend, FAST.with_(persist_interval_s=interval))
        loop = asyncio.get_running_loop()
        started = loop.time()
        engine.start()
        await asyncio.gather(*(engine.writer.publish(ROOM, [chat(i)]) for i in range(200)))
        await until(lambda: engine.persister.pending() == 0, 10)
        elapsed = loop.time() - started
        sink = engine.persister.sink
        assert isinstance(sink, MemoryEventSink)
        assert sink.seqs(ROOM) == list(range(1, 201))
        # At most one bulk write per room per interval, never one per event.
        assert sink.writes <= elapsed / interval + 1
        assert sink.writes < 200
        await engine.aclose()

    run(scenario())
