"""The per-process room hub: read each room's stream once per process, build ONE batch frame
per room per tick, serialise it once and offer the same text to every local viewer.

Measured (research/room-fanout.md): one channel-layer message per viewer per chat message
collapses at a few thousand frames/s; this design carried 4,000 viewers × 500 msg/s at 0.54
cores. See README.md for the rules the frames follow.

One `RoomHub` per active room per process, kept by a `HubRegistry`. A hub has two tasks: the
reader (blocking tail on the stream, appends to `pending`) and the ticker (at most one batch
per `tick_s`: drains `pending`, folds, coalesces, serialises, offers). Joins, replays and
live switches run in the caller's task; they never await between deciding "this subscriber
is caught up" and adding it to the live set, so no batch can slip between replay and live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .config import RealtimeConfig
from .connection import CLOSE_RESET, CLOSE_TOO_SLOW, Subscriber
from .frames import (
    CHAT,
    REMOVED,
    REMOVED_FIELD,
    batch_frames,
    hello_frame,
    replay_frames,
    select_events,
)
from .stream import (
    MAX_READ,
    Event,
    Position,
    RoomStream,
    StreamReset,
    check_room,
    check_since,
    dumps,
)

log = logging.getLogger("liveshop.rooms.realtime")

PINNED, UNPINNED, ROOM_STATE = "product.pinned", "product.unpinned", "room.state"


class StatsSource(Protocol):
    async def room_stats(self, room: str) -> dict[str, int]:
        """`{"viewers": …, "likes": …}` for the batch `stats` field."""
        ...


class HubClosed(Exception):
    """The hub stopped (idle or stream reset) before the join completed; join again."""


@dataclass(frozen=True)
class JoinInfo:
    seq: int
    """`hello.seq`."""
    gap: bool
    """`hello.gap`: the resume could not be served; live events start at seq + 1."""


class RoomHub:
    def __init__(
        self,
        room: str,
        *,
        stream: RoomStream,
        stats: StatsSource,
        config: RealtimeConfig,
        on_stop: Callable[[RoomHub], None] | None = None,
    ) -> None:
        self.room = room
        self.stream = stream
        self.stats = stats
        self.config = config
        self.live: dict[Subscriber, None] = {}  # an ordered set
        self.catching: set[Subscriber] = set()
        self.sent_to = 0
        """The `to` of the last batch offered: live subscribers have everything up to here."""
        self.frames_built = 0
        self.stopping = False
        self._on_stop = on_stop
        self._pos: Position | None = None
        self._pending: list[Event] = []
        self._recent: deque[Event] = deque(maxlen=config.recent_chat)
        self._room_state: dict[str, Any] = {}
        """`hello.room` fields the hub saw change (pinned, status, host), newest first wins:
        the consumer's database read may predate an event that is already ≤ `hello.seq`."""
        self._stats: dict[str, int] = {"viewers": 0, "likes": 0}
        self._stats_json = dumps(self._stats)
        self._sent_stats_json = self._stats_json
        self._stats_read_at = float("-inf")
        self._last_frame_at = float("-inf")
        self._wake = asyncio.Event()
        self._advanced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._start_task: asyncio.Task[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._stopped = asyncio.Event()
        self._stop_task: asyncio.Future[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def started(self) -> None:
        """Start once (position, recent chat, first stats, tasks); later calls wait for it."""
        if self._start_task is None:
            self._start_task = asyncio.ensure_future(self._start())
        await asyncio.shield(self._start_task)
        if self.stopping:
            raise HubClosed(self.room)

    async def _start(self) -> None:
        try:
            pos = await self.stream.position(self.room)
            recent = await self.stream.read_recent(
                self.room, min(MAX_READ, self.config.recent_chat * 4)
            )
        except BaseException:
            self._shutdown(None)
            raise
        self._pos = pos
        self.sent_to = pos.seq
        self._remember([e for e in recent if e["seq"] <= pos.seq])
        await self._read_stats()
        self._sent_stats_json = self._stats_json
        self._tasks = [
            asyncio.create_task(self._read_loop(), name=f"room-hub-read-{self.room}"),
            asyncio.create_task(self._tick_loop(), name=f"room-hub-tick-{self.room}"),
        ]
        if self.stopping:  # stopped while starting
            self._shutdown(None)

    @property
    def members(self) -> int:
        return len(self.live) + len(self.catching)

    def _shutdown(self, code: int | None) -> None:
        """Stop now: unregister, close every subscriber (with `code`), cancel the tasks."""
        if not self.stopping:
            self.stopping = True
            if self._on_stop is not None:
                self._on_stop(self)
        self._cancel_idle()
        subs = [*self.live, *self.catching]
        self.live.clear()
        self.catching.clear()
        if code is not None:
            for sub in subs:
                sub.close(code)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._advanced.set()  # catch-ups waiting for a tick notice the stop

    async def stop(self, code: int | None = None) -> None:
        self._shutdown(code)
        current = asyncio.current_task()
        await asyncio.gather(*(t for t in self._tasks if t is not current), return_exceptions=True)
        self._stopped.set()

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _maybe_idle(self) -> None:
        if self.members or self.stopping or self._idle is not None:
            return
        self._idle = asyncio.get_running_loop().call_later(self.config.hub_idle_s, self._idle_fire)

    def _idle_fire(self) -> None:
        self._idle = None
        if not self.members and not self.stopping:
            self._stop_task = asyncio.ensure_future(self.stop())

    # --- joining -----------------------------------------------------------------------------

    async def join(
        self, sub: Subscriber, *, since: int | None = None, room: Mapping[str, Any]
    ) -> JoinInfo:
        """Offer `hello` to `sub`, then (with `since`) the missed events as batches, then live
        batches: every seq after `since` (or after hello.seq) exactly once, in order.
        `room` is hello's room payload. A `since` that cannot be served gives `gap: true`."""
        if since is not None:
            check_since(since)
        await self.started()
        self._cancel_idle()
        self.catching.add(sub)
        try:
            if since is None:
                seq = self.sent_to
                self._hello(sub, seq, False, room)
                self._go_live(sub)
                return JoinInfo(seq, False)
            first = await self.stream.read_after(self.room, since, self.config.replay_chunk)
            if sub not in self.catching:  # left, closed or hub stopped meanwhile
                return JoinInfo(self.sent_to, first.gap)
            if first.gap:
                seq = self.sent_to
                self._hello(sub, seq, True, room)
                self._go_live(sub)
                return JoinInfo(seq, True)
            seq = max(self.sent_to, since)
            self._hello(sub, seq, False, room)
            await self._catch_up(sub, since, first.events)
            return JoinInfo(seq, False)
        finally:
            self.catching.discard(sub)
            self._maybe_idle()

    def leave(self, sub: Subscriber) -> None:
        self.live.pop(sub, None)
        self.catching.discard(sub)
        self._maybe_idle()

    def _hello(self, sub: Subscriber, seq: int, gap: bool, room: Mapping[str, Any]) -> None:
        recent = [e for e in self._recent if e["seq"] <= seq]
        if self._room_state:
            room = {**room, **self._room_state}
        if not sub.offer(hello_frame(seq=seq, gap=gap, room=room, recent=recent)):
            self.catching.discard(sub)
            sub.close(CLOSE_TOO_SLOW)

    def _go_live(self, sub: Subscriber) -> None:
        if sub in self.catching:
            self.catching.discard(sub)
            self.live[sub] = None

    async def _catch_up(self, sub: Subscriber, pos: int, buffered: list[Event]) -> None:
        """Replay pos+1.. from the stream until `pos` meets the live position, then go live —
        with no await between that check and the switch."""
        loop = asyncio.get_running_loop()
        cfg = self.config
        # How long this hub may lag behind the stream, or a viewer may stall a replay.
        patience = 2 * cfg.tail_block_s + 2 * cfg.stats_interval_s
        deadline = loop.time() + patience
        while sub in self.catching:
            target = self.sent_to
            if pos == target:
                self._go_live(sub)
                return
            if pos > target:  # the client saw events this process has not ticked yet
                if loop.time() > deadline:
                    self.catching.discard(sub)
                    sub.close(CLOSE_RESET)
                    return
                advanced = self._advanced
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(advanced.wait(), max(deadline - loop.time(), 0.01))
                continue
            if not buffered:
                res = await self.stream.read_after(
                    self.room, pos, min(cfg.replay_chunk, target - pos)
                )
                if res.gap or not res.events:  # trimmed while this viewer caught up
                    self.catching.discard(sub)
                    sub.close(CLOSE_TOO_SLOW)
                    return
                buffered = res.events
            usable, buffered = buffered[: target - pos], []
            frames = replay_frames(
                usable,
                tick_ms=max(int(cfg.tick_s * 1000), 1),
                fold_threshold=cfg.fold_threshold,
                stats_json=self._stats_json,
                max_frame_bytes=cfg.max_frame_bytes,
            )
            for frame in frames:
                try:
                    await asyncio.wait_for(sub.wait_below(max(cfg.queue_frames // 2, 1)), patience)
                except TimeoutError:
                    self.catching.discard(sub)
                    sub.close(CLOSE_TOO_SLOW)
                    return
                if sub not in self.catching:
                    return
                if not sub.offer(frame):
                    self.catching.discard(sub)
                    sub.close(CLOSE_TOO_SLOW)
                    return
            pos = usable[-1]["seq"]
            deadline = loop.time() + patience

    # --- reading and ticking -----------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._pos is not None
        backoff = 0.05
        while True:
            try:
                events = await self.stream.tail(self.room, self._pos, self.config.tail_block_s)
            except StreamReset as exc:
                log.warning("room %s: %s; closing its viewers so they resume", self.room, exc)
                with contextlib.suppress(Exception):
                    await self.stream.note_reset(self.room, self._pos.seq)
                self._shutdown(CLOSE_RESET)
                self._stopped.set()
                return
            except Exception:
                log.exception("room %s: stream read failed, retrying", self.room)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            if events:
                self._pending.extend(events)
                self._pos = Position(events[-1]["seq"], self._pos.epoch)
                self._wake.set()

    async def _read_stats(self) -> None:
        self._stats_read_at = asyncio.get_running_loop().time()
        try:
            stats = await self.stats.room_stats(self.room)
        except Exception:
            log.exception("room %s: stats unavailable", self.room)
            return
        if stats != self._stats:
            self._stats = dict(stats)
            self._stats_json = dumps(self._stats)

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), cfg.stats_interval_s)
            wait = self._last_frame_at + cfg.tick_s - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._wake.clear()
            if loop.time() - self._stats_read_at >= cfg.stats_interval_s:
                await self._read_stats()
            self._emit(loop.time())

    def _emit(self, now: float) -> None:
        cfg = self.config
        events = self._pending
        if events:
            self._pending = []
            first, last = self.sent_to + 1, events[-1]["seq"]
            kept, _omitted = select_events(events, cfg.fold_threshold)
            frames = batch_frames(first, last, kept, self._stats_json, cfg.max_frame_bytes)
            self._remember(kept)
        elif (
            self._stats_json != self._sent_stats_json
            and now - self._last_frame_at >= cfg.stats_interval_s
        ):
            # Stats-only: covers no seq (to = from - 1), so the next batch still starts at
            # sent_to + 1 and from/to continuity holds.
            last = self.sent_to
            frames = batch_frames(last + 1, last, [], self._stats_json, cfg.max_frame_bytes)
        else:
            return
        self.sent_to = last
        self._sent_stats_json = self._stats_json
        self._last_frame_at = now
        self.frames_built += len(frames)
        self._broadcast(frames)
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()

    def _broadcast(self, frames: list[str]) -> None:
        slow = []
        for sub in self.live:
            for frame in frames:
                if not sub.offer(frame):
                    slow.append(sub)
                    break
        for sub in slow:
            del self.live[sub]
            sub.close(CLOSE_TOO_SLOW)
        if slow:
            self._maybe_idle()

    def _remember(self, events: list[Event]) -> None:
        """Keep the newest chat for `hello.recent`, without messages moderation removed, and
        the room state events change (the pinned product, status, host) for `hello.room`."""
        for event in events:
            if event["type"] == CHAT:
                self._recent.append(event)
            elif event["type"] == PINNED:
                self._room_state["pinned"] = event.get("product")
            elif event["type"] == UNPINNED:
                self._room_state["pinned"] = None
            elif event["type"] == ROOM_STATE:
                for key in ("status", "host"):
                    if key in event:
                        self._room_state[key] = event[key]
            elif event["type"] == REMOVED:
                removed = event.get(REMOVED_FIELD)
                kept = [e for e in self._recent if e["seq"] != removed]
                if len(kept) != len(self._recent):
                    self._recent = deque(kept, maxlen=self.config.recent_chat)


class HubRegistry:
    """This process' hubs, one per active room. What the consumer calls::

    info = await registry.join(room_key, frames, since=since, room=room_payload)
    ...
    registry.leave(room_key, frames)
    """

    def __init__(self, *, stream: RoomStream, stats: StatsSource, config: RealtimeConfig) -> None:
        self.stream = stream
        self.stats = stats
        self.config = config
        self._hubs: dict[str, RoomHub] = {}
        self._retired: set[RoomHub] = set()

    def get(self, room: str) -> RoomHub | None:
        return self._hubs.get(room)

    def __len__(self) -> int:
        return len(self._hubs)

    def _removed(self, hub: RoomHub) -> None:
        if self._hubs.get(hub.room) is hub:
            del self._hubs[hub.room]
        # Kept until their tasks are done, so `aclose` can wait for them.
        self._retired = {h for h in self._retired if not h._stopped.is_set()}
        self._retired.add(hub)

    async def join(
        self, room: str, sub: Subscriber, *, since: int | None = None, room_info: Mapping[str, Any]
    ) -> JoinInfo:
        """Join `sub` to `room`'s hub in this process (starting it when needed). Raises the
        stream's error when the room cannot be read (the consumer closes with 1011), and
        ValueError for a bad `since` or room key."""
        check_room(room)
        if since is not None:
            check_since(since)
        for _ in range(3):
            hub = self._hubs.get(room)
            if hub is None:
                hub = RoomHub(
                    room,
                    stream=self.stream,
                    stats=self.stats,
                    config=self.config,
                    on_stop=self._removed,
                )
                self._hubs[room] = hub
            try:
                return await hub.join(sub, since=since, room=room_info)
            except HubClosed:
                continue
        raise HubClosed(room)

    def leave(self, room: str, sub: Subscriber) -> None:
        hub = self._hubs.get(room)
        if hub is not None:
            hub.leave(sub)

    async def aclose(self) -> None:
        """Stop every hub (closing their viewers with 1001) and wait for their tasks."""
        hubs = [*self._hubs.values(), *self._retired]
        for hub in hubs:
            hub._shutdown(1001)
        await asyncio.gather(*(hub.stop() for hub in hubs), return_exceptions=True)
        self._retired.clear()
