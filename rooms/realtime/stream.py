"""Room event streams: the ordered, numbered log of everything that happens in a room.

`RoomStream` is the interface; `RedisRoomStream` (one Redis Stream per room, shared by every
process) and `InProcessRoomStream` (the embedded default, one process) implement it alike.

Numbering. Every stored event gets the room's next `seq` (1, 2, 3, … no holes) and a `ts`
(milliseconds since the epoch, from one clock: Redis' `TIME`, or this process'). On Redis the
counter is incremented and the entries are added by ONE Lua script, so writers in many
processes can never leave a hole or interleave out of order. Stream entry ids are
`<seq>-<epoch>`, so `since` reads are range reads (`XRANGE <since+1> +`).

Epochs and loss. A room's counter, stream and meta hash live and die together (same TTL).
When they are missing — first use, Redis flushed or restarted empty, the room idle past its
TTL, or (in-process) a restart — the stream is re-seeded: the counter starts from the floor
the `SeqFloor` gives (the highest seq the database holds), so seq never goes back, and a new
`epoch` is drawn. Events delivered but not yet persisted at the time of the loss are gone and
their seqs may be reused, so resumes with `base < since <= suspect` answer `gap` (suspect =
floor + `reseed_margin`, raised further by hubs that saw more before the loss, see
`note_reset`). A hub tailing across a loss sees the epoch change and gets `StreamReset`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .config import RealtimeConfig

Event = dict[str, Any]
"""A stored event: `{"seq", "type", "ts", …fields, "nonce"?}`. Treat as read-only: the same
dict is shared by the hub, every replay and the persister."""

MAX_EVENTS_PER_APPEND = 1000
MAX_READ = 10_000
_ROOM_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
_RESERVED = ("seq", "ts")


class StreamReset(Exception):
    """The stream this tail was following is gone (new epoch) or skipped events (trimmed past
    the reader). Whoever delivered events from it must make its clients resume."""


@dataclass(frozen=True)
class Position:
    """A point in one epoch of a room's stream."""

    seq: int
    epoch: str


@dataclass(frozen=True)
class ReadResult:
    events: list[Event]
    """Events with seq > since, contiguous from since+1, at most `limit`."""
    gap: bool
    """True when since+1… cannot be served: trimmed, lost, or since is ahead of the store."""
    last_seq: int
    """The room's last stored seq at the time of the read."""


class SeqFloor(Protocol):
    """Where a re-seeded stream continues from: the highest seq already stored durably
    (the database). Synchronous (it may query the database); called once per room per epoch."""

    def floor(self, room: str) -> int: ...


class ZeroFloor:
    """No durable store: a lost stream restarts at 1. Only for tests and benchmarks."""

    def floor(self, room: str) -> int:
        return 0


class RoomStream(Protocol):
    """What the hub and the writers use. All methods validate their arguments (ValueError)."""

    async def append(self, room: str, events: Sequence[Mapping[str, Any]]) -> list[Event]:
        """Store events (each a mapping with `type` and its fields, no `seq`/`ts`) in order;
        returns them as stored, with `seq` and `ts` assigned."""
        ...

    def append_sync(self, room: str, events: Sequence[Mapping[str, Any]]) -> list[Event]:
        """`append` for synchronous callers (request threads, Celery tasks)."""
        ...

    async def read_after(self, room: str, since: int, limit: int) -> ReadResult: ...

    async def last_seq(self, room: str) -> int: ...

    async def position(self, room: str) -> Position:
        """The last stored seq and the current epoch: where a tail starts."""
        ...

    async def tail(self, room: str, after: Position, timeout: float) -> list[Event]:
        """Events after `after`, waiting up to `timeout` seconds for the first one; [] on
        timeout. Raises StreamReset when the epoch changed or events were skipped."""
        ...

    async def read_recent(self, room: str, limit: int) -> list[Event]:
        """The last `limit` stored events, oldest first."""
        ...

    async def note_reset(self, room: str, seen_up_to: int) -> None:
        """A hub that delivered up to `seen_up_to` before a loss: resumes up to there are gaps."""
        ...

    async def aclose(self) -> None: ...


# --- validation shared by both implementations ---------------------------------------------


def check_room(room: str) -> str:
    if not isinstance(room, str) or not _ROOM_RE.match(room):
        raise ValueError(f"room key must be 1-80 characters of [A-Za-z0-9_.:-], got {room!r}")
    return room


def check_since(since: int) -> int:
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        raise ValueError(f"since must be a non-negative integer, got {since!r}")
    return since


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_READ:
        raise ValueError(f"limit must be an integer in 1..{MAX_READ}, got {limit!r}")
    return limit


def dumps(value: Any) -> str:
    """The one JSON encoding of the engine: compact, UTF-8 text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode_events(events: Sequence[Mapping[str, Any]], max_bytes: int) -> list[str]:
    """Validate events to append and return each one's JSON body (with `type`, without
    `seq`/`ts`, which the stream assigns)."""
    if isinstance(events, Mapping) or not isinstance(events, Sequence):
        raise ValueError("events must be a sequence of mappings")
    if not 1 <= len(events) <= MAX_EVENTS_PER_APPEND:
        raise ValueError(f"append 1..{MAX_EVENTS_PER_APPEND} events at a time, got {len(events)}")
    bodies = []
    for event in events:
        if not isinstance(event, Mapping):
            raise ValueError(f"an event must be a mapping, got {type(event).__name__}")
        kind = event.get("type")
        if not isinstance(kind, str) or not _TYPE_RE.match(kind):
            raise ValueError(f"event type must be a lowercase dotted name, got {kind!r}")
        for key in _RESERVED:
            if key in event:
                raise ValueError(f"event {kind}: {key!r} is assigned by the stream")
        try:
            body = dumps(event)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"event {kind} is not JSON-serialisable: {exc}") from exc
        if len(body.encode()) > max_bytes:
            raise ValueError(f"event {kind} is over {max_bytes} bytes")
        bodies.append(body)
    return bodies


def stored_event(seq: int, ts: int, body: str) -> Event:
    fields = json.loads(body)
    event: Event = {"seq": seq, "type": fields.pop("type"), "ts": ts}
    event.update(fields)
    return event


def resume_gap(since: int, last: int, base: int, suspect: int) -> bool:
    """Whether a resume after `since` cannot be served by this epoch of the stream, before
    looking at what is retained. `since == base` is fine: the client saw exactly what the
    database holds and this epoch continues from there."""
    return since > last or since < base or base < since <= suspect


# --- in-process ------------------------------------------------------------------------------


class _Room:
    __slots__ = ("base", "epoch", "events", "last", "suspect", "waiters")

    def __init__(self, last: int, epoch: str, suspect: int, retention: int) -> None:
        self.last = last
        self.base = last
        self.suspect = suspect
        self.epoch = epoch
        self.events: deque[Event] = deque(maxlen=retention)
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class InProcessRoomStream:
    """The embedded default: one process, rooms in memory. Thread-safe, so request threads
    can append (`append_sync`) while the event loop tails. A restart loses the memory and
    behaves like a Redis loss: seq continues from the floor, resumes in between are gaps."""

    def __init__(self, floor: SeqFloor, config: RealtimeConfig | None = None) -> None:
        self._floor = floor
        self._config = config or RealtimeConfig()
        self._rooms: dict[str, _Room] = {}
        self._lock = threading.Lock()
        self._epochs = itertools.count(1)
        self._clock_ms = lambda: time.time_ns() // 1_000_000

    def _get(self, room: str) -> _Room:
        state = self._rooms.get(room)
        if state is not None:
            return state
        floor = int(self._floor.floor(room))  # outside the lock: it may query the database
        with self._lock:
            state = self._rooms.get(room)
            if state is None:
                suspect = floor + self._config.reseed_margin if floor > 0 else floor
                state = _Room(floor, f"p{next(self._epochs)}", suspect, self._config.retention)
                self._rooms[room] = state
            return state

    async def _aget(self, room: str) -> _Room:
        state = self._rooms.get(check_room(room))
        if state is None:
            state = await asyncio.to_thread(self._get, room)
        return state

    def append_sync(self, room: str, events: Sequence[Mapping[str, Any]]) -> list[Event]:
        bodies = encode_events(events, self._config.max_event_bytes)
        state = self._get(check_room(room))
        with self._lock:
            ts = self._clock_ms()
            stored = [stored_event(state.last + i, ts, b) for i, b in enumerate(bodies, 1)]
            state.last += len(stored)
            state.events.extend(stored)
            waiters, state.waiters = state.waiters, []
        for loop, fut in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_wake, fut)
        return stored

    async def append(self, room: str, events: Sequence[Mapping[str, Any]]) -> list[Event]:
        await self._aget(room)
        return self.append_sync(room, events)

    def _after(self, state: _Room, since: int, limit: int) -> list[Event]:
        # Caller holds the lock. Events are contiguous, so the index is arithmetic.
        if not state.events or since >= state.last:
            return []
        first = state.events[0]["seq"]
        start = max(since + 1 - first, 0)
        return list(itertools.islice(state.events, start, start + limit))

    async def read_after(self, room: str, since: int, limit: int) -> ReadResult:
        check_since(since)
        check_limit(limit)
        state = await self._aget(room)
        with self._lock:
            last = state.last
            if resume_gap(since, last, state.base, state.suspect):
                return ReadResult([], True, last)
            events = self._after(state, since, limit)
        if since < last and (not events or events[0]["seq"] != since + 1):
            return ReadResult([], True, last)
        return ReadResult(events, False, last)

    async def last_seq(self, room: str) -> int:
        return (await self._aget(room)).last

    async def position(self, room: str) -> Position:
        state = await self._aget(room)
        with self._lock:
            return Position(state.last, state.epoch)

    async def tail(self, room: str, after: Position, timeout: float) -> list[Event]:
        state = await self._aget(room)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if state.epoch != after.epoch:
                raise StreamReset(f"room {room}: stream epoch changed")
            events = self._after(state, after.seq, MAX_READ)
            if not events:
                state.waiters.append((loop, fut))
        if not events:
            try:
                await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                with self._lock:
                    if (loop, fut) in state.waiters:
                        state.waiters.remove((loop, fut))
            state = await self._aget(room)  # a clear() while waiting gives a new epoch
            with self._lock:
                if state.epoch != after.epoch:
                    raise StreamReset(f"room {room}: stream epoch changed")
                events = self._after(state, after.seq, MAX_READ)
        if events and events[0]["seq"] != after.seq + 1:
            raise StreamReset(f"room {room}: events after {after.seq} were trimmed")
        return events

    async def read_recent(self, room: str, limit: int) -> list[Event]:
        check_limit(limit)
        state = await self._aget(room)
        with self._lock:
            n = len(state.events)
            return list(itertools.islice(state.events, max(n - limit, 0), n))

    async def note_reset(self, room: str, seen_up_to: int) -> None:
        state = await self._aget(room)
        with self._lock:
            state.suspect = max(state.suspect, seen_up_to)

    def clear(self) -> None:
        """Forget every room, as a process restart does (tailing hubs get StreamReset)."""
        with self._lock:
            rooms, self._rooms = self._rooms, {}
        for state in rooms.values():
            for loop, fut in state.waiters:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_wake, fut)

    async def aclose(self) -> None:
        return None


# --- Redis -----------------------------------------------------------------------------------

# KEYS: counter, stream, meta.  ARGV: floor, reseed margin, ttl seconds.
# Starts a new epoch unless counter and meta both exist. DEL of the stream matters: XADD ids
# must grow, and a stream left over from another epoch could hold higher ids.
_SEED = """
local last = redis.call('GET', KEYS[1])
local epoch = redis.call('HGET', KEYS[3], 'epoch')
if last and epoch then return 0 end
local floor = tonumber(ARGV[1])
if last and tonumber(last) > floor then floor = tonumber(last) end
local t = redis.call('TIME')
epoch = t[1] .. string.format('%06d', tonumber(t[2]))
local suspect = floor
if floor > 0 then suspect = floor + tonumber(ARGV[2]) end
redis.call('SET', KEYS[1], string.format('%d', floor), 'EX', ARGV[3])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[3], 'epoch', epoch, 'base', string.format('%d', floor),
           'suspect', string.format('%d', suspect))
redis.call('EXPIRE', KEYS[3], ARGV[3])
return 1
"""

# KEYS: counter, stream, meta.  ARGV: maxlen, ttl seconds, body 1, body 2, …
# Returns false when the stream needs seeding, else {first seq, ts ms, epoch}. seq and XADD
# happen in one script, so no writer can take a seq without storing its event.
_APPEND = """
local last = redis.call('GET', KEYS[1])
local epoch = redis.call('HGET', KEYS[3], 'epoch')
if not last or not epoch then return false end
local n = #ARGV - 2
local first = redis.call('INCRBY', KEYS[1], n) - n + 1
local t = redis.call('TIME')
local ts = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
for i = 1, n do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1],
             string.format('%d', first + i - 1) .. '-' .. epoch, 't', ts, 'd', ARGV[2 + i])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return {first, ts, epoch}
"""

# KEYS: meta. ARGV: seen_up_to.
_RAISE_SUSPECT = """
local s = redis.call('HGET', KEYS[1], 'suspect')
if s and tonumber(ARGV[1]) > tonumber(s) then
  redis.call('HSET', KEYS[1], 'suspect', ARGV[1])
end
return 0
"""

# Read after `<seq>-<this>`: every entry of that seq, whatever its epoch, sorts before it.
_MAX_ID_PART = 2**64 - 1


def _parse_entry(entry_id: str, fields: Mapping[str, str]) -> tuple[Event, str]:
    seq, _, epoch = entry_id.partition("-")
    return stored_event(int(seq), int(fields["t"]), fields["d"]), epoch


class RedisRoomStream:
    """One Redis Stream per room, shared by every process. Keys (hash-tagged per room, so a
    cluster keeps them in one slot): `<prefix>:room:{<room>}:seq` (counter), `…:ev` (stream),
    `…:meta` (hash: epoch, base, suspect)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        floor: SeqFloor,
        config: RealtimeConfig | None = None,
        max_connections: int = 10_000,
    ) -> None:
        import redis
        import redis.asyncio as aredis

        self._prefix = prefix
        self._floor = floor
        self._config = config or RealtimeConfig()
        # Short commands share a small pool that waits for a free connection.
        self._cmd = aredis.Redis(
            connection_pool=aredis.BlockingConnectionPool.from_url(
                url, max_connections=64, timeout=10, decode_responses=True, socket_timeout=10
            )
        )
        # Blocking tails hold a connection each (one per active room per process); no socket
        # timeout, or redis-py cuts the blocking read (see research/room-fanout.md).
        self._block = aredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=None, max_connections=max_connections
        )
        self._sync = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
        self._seed_a = self._cmd.register_script(_SEED)
        self._append_a = self._cmd.register_script(_APPEND)
        self._raise_a = self._cmd.register_script(_RAISE_SUSPECT)
        self._seed_s = self._sync.register_script(_SEED)
        self._append_s = self._sync.register_script(_APPEND)

    def keys(self, room: str) -> tuple[str, str, str]:
        base = f"{self._prefix}:room:{{{check_room(room)}}}"
        return f"{base}:seq", f"{base}:ev", f"{base}:meta"

    def _seed_args(self, room: str) -> list[Any]:
        return [self._floor.floor(room), self._config.reseed_margin, self._config.stream_ttl_s]

    async def _seed(self, room: str) -> None:
        args = await asyncio.to_thread(self._seed_args, room)
        await self._seed_a(keys=list(self.keys(room)), args=args)

    def _append_args(self, bodies: list[str]) -> list[Any]:
        return [self._config.retention, self._config.stream_ttl_s, *bodies]

    @staticmethod
    def _stored(result: Sequence[Any], bodies: list[str]) -> list[Event]:
        first, ts = int(result[0]), int(result[1])
        return [stored_event(first + i, ts, body) for i, body in enumerate(bodies)]

    async def append(self, room: str, events: Sequence[Mapping[str, Any]]) -> list[Event]:
        bodies = encode_events(events, self._config.max_event_bytes)
        keys = list(self.keys(room))
        for _ in range(3):
            result = await self._append_a(keys=keys, args=self._append_args(bodies))
            if result:
                return self._stored(result, bodies)
            await self._seed(room)
        raise RuntimeError(f"room {room}: stream could not be seeded")

    def append_sync(self, room: str, events: Sequence[Mapping[str, Any]]) -> list[Event]:
        bodies = encode_events(events, self._config.max_event_bytes)
        keys = list(self.keys(room))
        for _ in range(3):
            result = self._append_s(keys=keys, args=self._append_args(bodies))
            if result:
                return self._stored(result, bodies)
            self._seed_s(keys=keys, args=self._seed_args(room))
        raise RuntimeError(f"room {room}: stream could not be seeded")

    async def _meta(self, room: str) -> tuple[int, str, int, int]:
        """(last, epoch, base, suspect), seeding the room first when needed."""
        counter, _stream, meta = self.keys(room)
        for _ in range(3):
            async with self._cmd.pipeline(transaction=True) as pipe:
                pipe.get(counter)
                pipe.hmget(meta, ["epoch", "base", "suspect"])
                last, (epoch, base, suspect) = await pipe.execute()
            if last is not None and epoch is not None:
                return int(last), epoch, int(base), int(suspect)
            await self._seed(room)
        raise RuntimeError(f"room {room}: stream could not be seeded")

    async def read_after(self, room: str, since: int, limit: int) -> ReadResult:
        check_since(since)
        check_limit(limit)
        counter, stream, meta = self.keys(room)
        for _ in range(3):
            async with self._cmd.pipeline(transaction=True) as pipe:
                pipe.get(counter)
                pipe.hmget(meta, ["epoch", "base", "suspect"])
                pipe.xrange(stream, min=str(since + 1), max="+", count=limit)
                last_raw, (epoch, base, suspect), entries = await pipe.execute()
            if last_raw is not None and epoch is not None:
                break
            await self._seed(room)
        else:
            raise RuntimeError(f"room {room}: stream could not be seeded")
        last = int(last_raw)
        if resume_gap(since, last, int(base), int(suspect)):
            return ReadResult([], True, last)
        events = [_parse_entry(eid, fields)[0] for eid, fields in entries]
        if since < last and (not events or events[0]["seq"] != since + 1):
            return ReadResult([], True, last)
        return ReadResult(events, False, last)

    async def last_seq(self, room: str) -> int:
        return (await self._meta(room))[0]

    async def position(self, room: str) -> Position:
        last, epoch, _base, _suspect = await self._meta(room)
        return Position(last, epoch)

    async def tail(self, room: str, after: Position, timeout: float) -> list[Event]:
        _counter, stream, meta = self.keys(room)
        reply: Any = await self._block.xread(
            {stream: f"{after.seq}-{_MAX_ID_PART}"},
            count=MAX_READ,
            block=max(int(timeout * 1000), 1),
        )
        if not reply:
            # Idle: make sure we are not waiting on a stream that no longer exists.
            if await self._cmd.hget(meta, "epoch") != after.epoch:
                raise StreamReset(f"room {room}: stream epoch changed")
            return []
        entries = reply[0][1] if isinstance(reply, list) else next(iter(reply.values()))[0]
        events = []
        for eid, fields in entries:
            event, epoch = _parse_entry(eid, fields)
            if epoch != after.epoch:
                raise StreamReset(f"room {room}: stream epoch changed")
            events.append(event)
        if events and events[0]["seq"] != after.seq + 1:
            raise StreamReset(f"room {room}: events after {after.seq} were trimmed")
        return events

    async def read_recent(self, room: str, limit: int) -> list[Event]:
        check_limit(limit)
        await self._meta(room)
        entries: Any = await self._cmd.xrevrange(self.keys(room)[1], max="+", min="-", count=limit)
        return [_parse_entry(eid, fields)[0] for eid, fields in reversed(entries)]

    async def note_reset(self, room: str, seen_up_to: int) -> None:
        await self._meta(room)
        await self._raise_a(keys=[self.keys(room)[2]], args=[int(seen_up_to)])

    async def aclose(self) -> None:
        await self._cmd.aclose()
        await self._block.aclose()
        self._sync.close()
