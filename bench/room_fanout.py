"""Micro-benchmark of the room hub's fan-out, to size hubs per process (not a test).

    python -m bench.room_fanout --subscribers 2000 --rate 500 --seconds 10 [--redis URL]

One process, one room, N in-process subscribers (real `FrameQueue`s whose socket only counts
bytes), a publisher appending `rate` chat events per second through the real writer and
stream. It measures the engine's side only — a real socket send costs about 9 µs (plain
websockets) to 13 µs (uvicorn) more per frame (research/room-fanout.md):

- end to end: process CPU seconds per second of traffic, CPU µs per frame delivered, frames
  and batches, delivery lag of the last event;
- `offer`: µs to offer one prebuilt frame to one subscriber (the hub's inner loop);
- baseline, same run: µs to serialise the batch once per subscriber (what a per-viewer
  `send_json` design pays), against once per tick;
- engine memory per subscriber (tracemalloc, queue + hub bookkeeping; not the socket).

Writes JSON to bench/results/room_fanout.json (or --out). Do not record numbers while other
work loads the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from rooms.realtime.config import RealtimeConfig
from rooms.realtime.connection import FrameQueue
from rooms.realtime.engine import RealtimeEngine
from rooms.realtime.frames import batch_frames, select_events
from rooms.realtime.persist import MemoryEventSink
from rooms.realtime.presence import MemoryWatchSink
from rooms.realtime.stream import dumps

ROOM = "bench:room"


class CountingSocket:
    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.last: str = ""

    async def send(self, text: str) -> None:
        self.frames += 1
        self.bytes += len(text)
        self.last = text

    async def close(self, code: int) -> None:
        return None


def chat(i: int) -> dict[str, Any]:
    return {
        "type": "chat.message",
        "user": {"id": i % 997, "name": f"viewer{i % 997}"},
        "text": f"message number {i} 🎉",
    }


def measure_offer(subscribers: int, repeats: int) -> float:
    """µs per subscriber per frame for the hub's inner loop (offer only, no writer)."""
    sockets = [CountingSocket() for _ in range(subscribers)]
    queues = [FrameQueue(s.send, s.close, limit=repeats + 1) for s in sockets]
    frame = "x" * 2000
    start = time.perf_counter()
    for _ in range(repeats):
        for q in queues:
            q.offer(frame)
    return (time.perf_counter() - start) / (repeats * subscribers) * 1e6


def measure_serialise(events_per_batch: int, subscribers: int) -> dict[str, float]:
    """Baseline: serialising one tick's batch once vs once per subscriber."""
    events = [dict(chat(i), seq=i + 1, ts=1_800_000_000_000) for i in range(events_per_batch)]
    stats = dumps({"viewers": subscribers, "likes": 0})
    start = time.perf_counter()
    kept, _ = select_events(events, 60)
    batch_frames(1, len(events), kept, stats, 65536)
    once = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(subscribers):
        dumps({"type": "batch", "from": 1, "to": len(events), "events": kept, "stats": stats})
    per_sub = time.perf_counter() - start
    return {"once_us": once * 1e6, "per_subscriber_total_us": per_sub * 1e6}


async def end_to_end(args: argparse.Namespace) -> dict[str, Any]:
    config = RealtimeConfig(queue_frames=args.queue)
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    engine = RealtimeEngine.build(
        config,
        sink=MemoryEventSink(),
        watch_sink=MemoryWatchSink(),
        redis_url=args.redis or "",
        prefix=prefix,
    )
    engine.start()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    sockets = [CountingSocket() for _ in range(args.subscribers)]
    queues = [FrameQueue(s.send, s.close, limit=config.queue_frames) for s in sockets]
    writers = [asyncio.create_task(q.run()) for q in queues]
    for q in queues:
        await engine.registry.join(ROOM, q, room_info={"slug": "bench"})
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    mem = sum(s.size_diff for s in after.compare_to(before, "filename"))

    per_step = max(args.rate // 100, 1)  # publish every 10 ms
    published = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    end = wall0 + args.seconds
    while time.perf_counter() < end:
        await engine.writer.publish(ROOM, [chat(published + i) for i in range(per_step)])
        published += per_step
        await asyncio.sleep(0.01)
    last_published = time.perf_counter()
    deadline = last_published + 10
    hub = engine.registry.get(ROOM)
    while time.perf_counter() < deadline:
        if hub is None or (hub.sent_to == published and not any(len(q) for q in queues)):
            break
        await asyncio.sleep(0.002)
    lag = time.perf_counter() - last_published
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    frames = sum(s.frames for s in sockets)
    slow = sum(1 for q in queues if q.closed)
    for q in queues:
        q.close(1000)
    await asyncio.gather(*writers)
    await engine.aclose()
    if args.redis:
        import redis

        client = redis.Redis.from_url(args.redis)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
    return {
        "published_events": published,
        "batches_built": hub.frames_built if hub else None,
        "frames_delivered": frames,
        "bytes_delivered": sum(s.bytes for s in sockets),
        "closed_too_slow": slow,
        "cpu_cores": cpu / wall,
        "cpu_us_per_frame_delivered": cpu / max(frames, 1) * 1e6,
        "last_event_lag_s": lag,
        "engine_bytes_per_subscriber": mem / args.subscribers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=500, help="chat events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--queue", type=int, default=50, help="frames per connection")
    parser.add_argument("--redis", default="", help="Redis URL (default: in-process stream)")
    parser.add_argument("--out", default="bench/results/room_fanout.json")
    args = parser.parse_args()

    result = {
        "bench": "room_fanout",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "params": vars(args),
        "offer_us_per_subscriber_frame": measure_offer(args.subscribers, 20),
        "baseline_serialise": measure_serialise(max(args.rate // 10, 1), args.subscribers),
        "end_to_end": asyncio.run(end_to_end(args)),
        "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
