"""Fan-out of encoded frames: one Feed per published track, one ForwardTrack per viewer slot.

Why not aiortc's MediaRelay: with `buffered=True` its per-viewer queues are unbounded (a
stalled viewer grows memory without limit); with `buffered=False` it drops arbitrary frames,
which corrupts an encoded stream. Here each viewer has a bounded queue; when it overflows the
viewer skips to the next keyframe (video) or loses the oldest packets (audio), and asks the
publisher for a keyframe so it recovers quickly.

Timestamps: each viewer's track rewrites RTP timestamps onto its own continuous timeline, so
swapping the source under it (publisher reconnected, slot re-used for another co-host) looks
like a short gap to the viewer, not a jump back in time.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av.packet import Packet

from . import bitstream
from .passthrough import Codec

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class EncodedFrame:
    """One encoded frame, shared (never copied) by every viewer queue it sits in."""

    data: bytes
    pts: int  # source timeline: RTP timestamp units, starting near 0 per source
    keyframe: bool
    epoch: int  # changes when the feed's source changes
    arrival: float  # time.monotonic()


@dataclass(frozen=True)
class QueueLimits:
    video_frames: int = 90  # 3 s at 30 fps
    audio_frames: int = 150  # 3 s of 20 ms Opus
    max_bytes: int = 4 * 1024 * 1024


class KeyframeRequester:
    """Rate-limits keyframe requests to one publisher track: at most one PLI per interval,
    plus one trailing PLI when requests arrived during the quiet period (a viewer who joins
    just after another must not miss the keyframe both need). A request that could not be
    sent (the publisher is not connected yet, or is away) is retried every interval for a
    while, so a viewer who joined first still gets its first keyframe."""

    RETRIES = 60  # × interval: ~18 s at 0.3 s, longer than a publisher's connect or grace

    def __init__(self, interval: float, send: Callable[[], Awaitable[bool]]) -> None:
        self.interval = interval
        self._send = send
        self._last = float("-inf")
        self._trailing: asyncio.TimerHandle | None = None
        self._retries_left = 0
        self.sent = 0
        self.requested = 0

    def request(self) -> None:
        self.requested += 1
        self._retries_left = self.RETRIES
        now = time.monotonic()
        wait = self._last + self.interval - now
        if wait <= 0:
            self._fire(now)
        elif self._trailing is None:
            loop = asyncio.get_running_loop()
            self._trailing = loop.call_later(wait, self._fire_trailing)

    def _fire_trailing(self) -> None:
        self._trailing = None
        self._fire(time.monotonic())

    def _fire(self, now: float) -> None:
        self._last = now
        task = asyncio.ensure_future(self._send())
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[bool]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.warning("media relay: keyframe request failed: %s", exc)
        elif task.result():
            self.sent += 1
            self._retries_left = 0
        elif self._retries_left > 0 and self._trailing is None:
            self._retries_left -= 1
            self._trailing = asyncio.get_running_loop().call_later(
                self.interval, self._fire_trailing
            )

    def close(self) -> None:
        if self._trailing is not None:
            self._trailing.cancel()
            self._trailing = None


class FeedStats:
    """Counters for the host console, read and reset once per stats interval."""

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.keyframes = 0
        self.width: int | None = None
        self.height: int | None = None
        self.last_frame_at: float | None = None
        self.total_frames = 0
        self.total_keyframes = 0
        self.dropped = 0  # frames dropped for slow viewers, all outputs together

    def take(self) -> tuple[int, int, int]:
        frames, size, keyframes = self.frames, self.bytes, self.keyframes
        self.frames = self.bytes = self.keyframes = 0
        return frames, size, keyframes


class Feed:
    """One published track (say the host's camera video) that viewers' slots forward.

    The source (an aiortc receiver of the publisher's current peer connection) can be
    swapped: when the publisher reconnects, viewers keep their senders and just get frames
    from the new source after its first keyframe."""

    def __init__(
        self,
        *,
        feed_id: str,
        publisher: str,
        kind: str,
        index: int,
        codec: Codec,
        keyframe_interval: float,
        send_keyframe_request: Callable[[Feed], Awaitable[bool]],
    ) -> None:
        self.id = feed_id
        self.publisher = publisher
        self.kind = kind
        self.index = index
        self.codec = codec
        self.outputs: set[ForwardTrack] = set()
        self.epoch = 0
        self.source: object | None = None  # token of the current source; frames from others drop
        self.remote_id: str | None = None  # the feed's id on the relay it is pulled from
        self.stats = FeedStats()
        self.closed = False
        self.keyframes = KeyframeRequester(keyframe_interval, lambda: send_keyframe_request(self))

    @property
    def clock_rate(self) -> int:
        return self.codec.clock_rate

    def set_source(self, token: object | None) -> None:
        """Start taking frames from the source `token` (None: no source, publisher away).
        Viewers wait for the new source's first keyframe; one is requested at once."""
        self.source = token
        self.epoch += 1
        if token is not None and self.outputs:
            self.keyframes.request()

    def push(self, token: object, data: bytes, pts: int) -> None:
        """A frame from a source; frames from a source that was swapped out are dropped."""
        if token is not self.source or self.closed:
            return
        keyframe = bitstream.is_keyframe(self.codec.name, data)
        stats = self.stats
        stats.frames += 1
        stats.total_frames += 1
        stats.bytes += len(data)
        stats.last_frame_at = time.monotonic()
        if keyframe and self.kind == "video":
            stats.keyframes += 1
            stats.total_keyframes += 1
            size = bitstream.resolution(self.codec.name, data)
            if size is not None:
                stats.width, stats.height = size
        frame = EncodedFrame(data, pts, keyframe, self.epoch, stats.last_frame_at)
        for output in self.outputs:
            output.push(frame)

    def attach(self, output: ForwardTrack) -> None:
        self.outputs.add(output)
        self.keyframes.request()  # a new viewer needs a keyframe to start (PLI on join)

    def detach(self, output: ForwardTrack) -> None:
        self.outputs.discard(output)

    def close(self) -> None:
        self.closed = True
        self.keyframes.close()
        for output in list(self.outputs):
            output.bind(None)
        self.outputs.clear()


class ForwardTrack(MediaStreamTrack):
    """What an aiortc sender reads for one viewer slot: av.Packets, from a bounded queue.

    aiortc's RTCRtpSender packetizes an av.Packet without encoding it. The track can be bound
    to a feed, re-bound to another feed of the same codec, or left unbound (then `recv`
    simply waits)."""

    def __init__(self, kind: str, limits: QueueLimits) -> None:
        super().__init__()
        self.kind = kind
        self._limits = limits
        self._max_frames = limits.video_frames if kind == "video" else limits.audio_frames
        self._queue: deque[EncodedFrame] = deque()
        self._queued_bytes = 0
        self._waiter: asyncio.Future[None] | None = None
        self._waiting_for_keyframe = kind == "video"
        self._last_epoch: int | None = None
        self.feed: Feed | None = None
        # output timeline
        self._offset = 0
        self._out_epoch: int | None = None
        self._last_out_pts: int | None = None
        self._last_arrival = 0.0
        self.dropped = 0
        self.sent = 0
        self.overflows = 0

    # --- binding ---

    def bind(self, feed: Feed | None) -> None:
        if feed is self.feed:
            return
        if self.feed is not None:
            self.feed.detach(self)
        self.feed = feed
        self._clear()
        self._waiting_for_keyframe = self.kind == "video"
        # Another feed's epochs are another count: re-anchor timestamps on its first frame.
        self._last_epoch = None
        self._out_epoch = None
        if feed is not None:
            feed.attach(self)

    def request_keyframe(self) -> None:
        """The viewer lost pictures (PLI/FIR from its decoder): ask the publisher."""
        if self.feed is not None:
            self.feed.keyframes.request()

    # --- producer side (the feed) ---

    @property
    def queued_frames(self) -> int:
        return len(self._queue)

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def push(self, frame: EncodedFrame) -> None:
        if self.readyState != "live":
            return
        if self.kind == "video":
            if frame.epoch != self._last_epoch:
                # a new source: its delta frames reference pictures this viewer never had
                self._last_epoch = frame.epoch
                self._waiting_for_keyframe = True
            if self._waiting_for_keyframe:
                if not frame.keyframe:
                    self._drop(1)
                    return
                self._waiting_for_keyframe = False
            elif frame.keyframe and len(self._queue) >= self._max_frames // 3:
                # Well behind: a keyframe makes the queued frames unnecessary to decode,
                # so skip them and catch up instead of staying seconds late.
                self._drop(len(self._queue))
                self._clear()
        elif len(self._queue) >= self._max_frames:
            old = self._queue.popleft()
            self._queued_bytes -= len(old.data)
            self._drop(1)
        if self.kind == "video" and (
            len(self._queue) >= self._max_frames
            or self._queued_bytes + len(frame.data) > self._limits.max_bytes
        ):
            # The viewer is not keeping up: drop what it has not sent and skip to the next
            # keyframe, asking for one now rather than at the publisher's next GOP.
            self.overflows += 1
            self._drop(len(self._queue) + 1)
            self._clear()
            self._waiting_for_keyframe = True
            self.request_keyframe()
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame.data)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _drop(self, count: int) -> None:
        self.dropped += count
        if self.feed is not None:
            self.feed.stats.dropped += count

    def _clear(self) -> None:
        self._queue.clear()
        self._queued_bytes = 0

    # --- consumer side (the aiortc sender) ---

    async def recv(self) -> Packet:  # type: ignore[override]
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        frame = self._queue.popleft()
        self._queued_bytes -= len(frame.data)
        feed = self.feed
        clock_rate = feed.clock_rate if feed is not None else 90000
        if frame.epoch != self._out_epoch:
            self._out_epoch = frame.epoch
            if self._last_out_pts is None:
                self._offset = -frame.pts
            else:
                gap = max(1, round((frame.arrival - self._last_arrival) * clock_rate))
                self._offset = self._last_out_pts + gap - frame.pts
        pts = frame.pts + self._offset
        if self._last_out_pts is not None and pts <= self._last_out_pts and frame.keyframe:
            # never step back in time (a source restarted its clock mid-epoch)
            self._offset += self._last_out_pts + 1 - pts
            pts = self._last_out_pts + 1
        self._last_out_pts = pts
        self._last_arrival = frame.arrival
        packet = Packet(frame.data)
        packet.pts = pts
        packet.time_base = fractions.Fraction(1, clock_rate)
        self.sent += 1
        return packet

    def stop(self) -> None:
        super().stop()
        if self.feed is not None:
            self.feed.detach(self)
            self.feed = None
        self._clear()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


@dataclass
class FeedSnapshot:
    """Per-feed numbers for a stats event."""

    feed: str
    kind: str
    codec: str
    bitrate: int
    fps: float
    width: int | None
    height: int | None
    keyframes: int
    packets_lost: int = 0
    fraction_lost: float = 0.0
    viewers: int = 0
    extra: dict[str, int] = field(default_factory=dict)
