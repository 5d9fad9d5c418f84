"""The render loop of one broadcast, on its own thread: at a fixed frame rate it takes the
latest frame of every on-stage video feed, composes them once, encodes the picture once per
rendition (keyframes forced at the same instants in all of them), mixes the audio once and
encodes it once to AAC, shared by every rendition's segments.

The timeline is the worker's clock, not the publishers': a publisher that goes away leaves
its last frame and silence, and segments keep flowing at the configured duration. If the
machine cannot keep up, ticks are skipped (the frame is shown longer) rather than falling
behind; a skipped segment boundary moves to the next encoded frame.

MediaInputs is where the network side (subscriber.py) hands frames over; it is the only
state shared between the two threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
from av.video.frame import PictureType

from .compose import MAX_TILES, Compositor
from .config import AUDIO_RATE, VIDEO_CLOCK, HlsSettings, Rendition
from .mixer import AudioMixer
from .output import EncodedPacket, EpochWriter

logger = logging.getLogger(__name__)

AUDIO_BLOCK = 960  # 20 ms at 48 kHz
VIDEO_QUEUE = 90  # frames kept per feed while waiting out the A/V delay (3 s at 30 fps)


class _VideoFeed:
    def __init__(self, publisher: str) -> None:
        self.publisher = publisher
        self.queue: deque[tuple[float, av.VideoFrame]] = deque(maxlen=VIDEO_QUEUE)
        self.current: av.VideoFrame | None = None

    def frame_at(self, t: float) -> av.VideoFrame | None:
        while self.queue and self.queue[0][0] <= t:
            self.current = self.queue.popleft()[1]
        return self.current


class MediaInputs:
    """Frames from the network thread, taken by the render thread. Feeds are keyed by the
    relay's feed id; tiles are ordered host first, then publishers by arrival."""

    def __init__(self, *, delay: float, host: str | None = None) -> None:
        self.delay = delay
        self.host = host
        self.mixer = AudioMixer(delay)
        self.started = threading.Event()  # the first frame of anything arrived
        self._lock = threading.Lock()
        self._video: dict[str, _VideoFeed] = {}
        self._publishers: list[str] = []  # first-seen order
        self.frames_in = 0

    def _rank(self, publisher: str) -> tuple[int, int]:
        if publisher not in self._publishers:
            self._publishers.append(publisher)
        return (0 if publisher == self.host else 1, self._publishers.index(publisher))

    def video(self, feed: str, publisher: str, frame: av.VideoFrame) -> None:
        with self._lock:
            source = self._video.get(feed)
            if source is None or source.publisher != publisher:
                source = self._video[feed] = _VideoFeed(publisher)
                self._rank(publisher)
            source.queue.append((time.monotonic(), frame))
            self.frames_in += 1
        self.started.set()

    def audio(self, feed: str, publisher: str, frame: av.AudioFrame) -> None:
        self.mixer.push(feed, frame)
        with self._lock:
            self._rank(publisher)
        self.started.set()

    def keep_only(self, feeds: set[str]) -> None:
        """The relay's current feeds: drop tiles and audio of publishers who left."""
        with self._lock:
            for gone in [k for k in self._video if k not in feeds]:
                del self._video[gone]
        for key in self.mixer.sources():
            if key not in feeds:
                self.mixer.remove(key)

    def tiles(self, now: float) -> list[tuple[str, av.VideoFrame]]:
        t = now - self.delay
        with self._lock:
            shown = []
            for key, source in self._video.items():
                frame = source.frame_at(t)
                if frame is not None:
                    shown.append((self._rank(source.publisher), key, frame))
        shown.sort(key=lambda item: (item[0], item[1]))
        return [(key, frame) for _, key, frame in shown[:MAX_TILES]]


def _video_encoder(settings: HlsSettings, rendition: Rendition, fps: int, gop: int) -> Any:
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height = rendition.width, rendition.height
    enc.pix_fmt = "yuv420p"
    enc.time_base = Fraction(1, VIDEO_CLOCK)
    enc.framerate = Fraction(fps, 1)
    enc.bit_rate = rendition.video_bitrate
    enc.gop_size = gop
    kbps = rendition.video_bitrate // 1000
    # Keyframes come only where the render loop forces them (same frame in every
    # rendition); x264's own keyint is a backstop at two segments.
    params = (
        f"keyint={2 * gop}:min-keyint={gop}:scenecut=0:"
        f"vbv-maxrate={kbps}:vbv-bufsize={kbps}:repeat-headers=1"
    )
    enc.options = {
        "preset": settings.preset,
        "tune": "zerolatency",
        "profile": rendition.profile,
        "forced-idr": "1",
        "x264-params": params,
        "threads": str(settings.threads),
    }
    enc.open()
    return enc


def _audio_encoder(settings: HlsSettings) -> Any:
    enc = av.CodecContext.create("aac", "w")
    enc.sample_rate = AUDIO_RATE
    enc.layout = "stereo"
    enc.format = "fltp"
    enc.bit_rate = settings.audio_bitrate
    enc.time_base = Fraction(1, AUDIO_RATE)
    enc.open()
    return enc


@dataclass
class RenderStats:
    ticks: int = 0
    skipped: int = 0
    skips: list[tuple[float, int]] = field(default_factory=list)  # (at s, ticks), for tests
    encode_seconds: dict[str, float] = field(default_factory=dict)  # CPU-ish wall per rendition
    compose_seconds: float = 0.0
    audio_seconds: float = 0.0
    started_at: float | None = None
    error: str | None = None


class RenderLoop(threading.Thread):
    """Renders one broadcast until stop(); then finishes the epoch's playlists."""

    def __init__(
        self,
        settings: HlsSettings,
        writer: EpochWriter,
        inputs: MediaInputs,
        *,
        name: str = "hls-render",
        on_segment: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.settings = settings
        self.writer = writer
        self.inputs = inputs
        self.stats = RenderStats()
        self.summary: dict[str, Any] | None = None
        self._stop_event = threading.Event()
        self._final = True
        self._on_segment = on_segment

    def stop(self, *, final: bool = True) -> None:
        """Stop rendering. `final`: the show ended (EXT-X-ENDLIST, the recording's manifest);
        otherwise the worker is going away and another will resume the epoch."""
        self._final = final
        self._stop_event.set()
        self.inputs.started.set()  # wake a loop still waiting for the first frame

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a broken encoder must not take the worker down
            logger.exception("hls render loop of %s failed", self.writer.dir)
            self.stats.error = f"{type(exc).__name__}: {exc}"
            try:
                self.summary = self.writer.finish(None)
            except Exception:
                logger.exception("hls: could not finish %s", self.writer.dir)

    def _run(self) -> None:
        writer = self.writer
        writer.open()
        # Nothing to show before the first frame: the recording starts with the show.
        while not self.inputs.started.wait(0.2):
            if self._stop_event.is_set():
                break
        if self._stop_event.is_set() and not self.inputs.started.is_set():
            self.summary = writer.finish(None) if self._final else writer.summary()
            return
        fps, gop = writer.fps, round(writer.fps * writer.segment_seconds)
        step = VIDEO_CLOCK // fps
        encoders = [_video_encoder(self.settings, r, fps, gop) for r in writer.renditions]
        aenc = _audio_encoder(self.settings)
        writer.audio_extradata = bytes(aenc.extradata or b"")
        resampler = av.AudioResampler(
            format="fltp", layout="stereo", rate=AUDIO_RATE, frame_size=1024
        )
        canvas_w, canvas_h = max(
            ((r.width, r.height) for r in writer.renditions), key=lambda s: s[0] * s[1]
        )
        compositor = Compositor(canvas_w, canvas_h)
        base = writer.next_pts
        audio_base = base * AUDIO_RATE // VIDEO_CLOCK
        t0 = time.monotonic()
        self.stats.started_at = t0
        n = 0
        samples = 0
        aac_samples = 0
        last_pts: int | None = None
        next_boundary = 0
        stats = self.stats
        stats.encode_seconds = {r.name: 0.0 for r in writer.renditions}
        while not self._stop_event.is_set():
            now = time.monotonic()
            due = int((now - t0) * fps)
            if due < n:
                self._stop_event.wait(t0 + n / fps - now)
                continue
            if due > n:
                stats.skipped += due - n
                stats.skips.append((round(now - t0, 3), due - n))
                n = due
            written = writer.written
            pts = base + n * step
            boundary = n >= next_boundary
            if boundary:
                # Counted from this frame: a boundary that skipped ticks delayed makes that
                # segment longer, never the next one shorter.
                next_boundary = n + gop
                writer.begin_segment(pts, time.time() - self.inputs.delay, now)
            c0 = time.perf_counter()
            picture = compositor.compose(self.inputs.tiles(now))
            stats.compose_seconds += time.perf_counter() - c0
            for index, (rendition, enc) in enumerate(zip(writer.renditions, encoders, strict=True)):
                e0 = time.perf_counter()
                if (rendition.width, rendition.height) == (canvas_w, canvas_h):
                    frame = picture
                else:
                    frame = picture.reformat(width=rendition.width, height=rendition.height)
                frame.pts = pts
                frame.time_base = enc.time_base
                frame.pict_type = PictureType.I if boundary else PictureType.NONE
                for packet in enc.encode(frame):
                    writer.video(
                        index,
                        EncodedPacket(bytes(packet), int(packet.pts), bool(packet.is_keyframe)),
                        now,
                    )
                stats.encode_seconds[rendition.name] += time.perf_counter() - e0
            last_pts = pts + step
            a0 = time.perf_counter()
            # Audio follows the same clock, 20 ms at a time.
            due_samples = int((now - t0) * AUDIO_RATE) + AUDIO_BLOCK
            while samples + AUDIO_BLOCK <= due_samples:
                block = self.inputs.mixer.mix(AUDIO_BLOCK)
                mixed = av.AudioFrame.from_ndarray(
                    block.reshape(1, -1), format="s16", layout="stereo"
                )
                mixed.sample_rate = AUDIO_RATE
                mixed.pts = audio_base + samples
                mixed.time_base = Fraction(1, AUDIO_RATE)
                samples += AUDIO_BLOCK
                for chunk in resampler.resample(mixed):
                    chunk.pts = audio_base + aac_samples
                    aac_samples += chunk.samples
                    for packet in aenc.encode(chunk):
                        writer.audio(EncodedPacket(bytes(packet), int(packet.pts)))
            stats.audio_seconds += time.perf_counter() - a0
            stats.ticks += 1
            n += 1
            if self._on_segment is not None and writer.written != written:
                self._on_segment()
        # Drain: the audio encoder holds a frame or two; x264 with zerolatency holds none.
        for index, enc in enumerate(encoders):
            for packet in enc.encode(None):
                writer.video(
                    index,
                    EncodedPacket(bytes(packet), int(packet.pts), bool(packet.is_keyframe)),
                    time.monotonic(),
                )
        for packet in aenc.encode(None):
            writer.audio(EncodedPacket(bytes(packet), int(packet.pts)))
        self.summary = writer.finish(last_pts) if self._final else writer.suspend(last_pts)
