"""Audio: every on-stage audio feed, resampled to 48 kHz stereo, mixed once.

Each feed has a small jitter buffer: it is mixed only once `delay` seconds are queued, and an
underrun pads silence and re-buffers, so a publisher going away leaves silence, not a
stutter. A buffer that grows past `delay + SLACK` (clock drift, a burst) drops its oldest
samples. The sum goes through a limiter rather than plain clipping, so two loud co-hosts
get quieter instead of distorted."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable

import av
import numpy as np

RATE = 48000
SLACK = 0.3  # seconds over the target a buffer may hold before it is trimmed
FULL_SCALE = 32767


class AudioInput:
    def __init__(self, delay: float) -> None:
        self.target = int(delay * RATE)
        self.limit = self.target + int(SLACK * RATE)
        self._chunks: deque[np.ndarray] = deque()
        self.level = 0
        self.playing = False
        self._resampler: av.AudioResampler | None = None
        self.underruns = 0
        self.dropped = 0

    def push(self, frame: av.AudioFrame) -> None:
        if frame.format.name != "s16" or frame.layout.name != "stereo" or frame.sample_rate != RATE:
            if self._resampler is None:
                self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=RATE)
            frames = self._resampler.resample(frame)
        else:
            frames = [frame]
        for f in frames:
            samples = f.to_ndarray().reshape(-1, 2)  # packed s16: one row, L R L R ...
            self._chunks.append(samples)
            self.level += len(samples)
        while self.level > self.limit and self._chunks:
            excess = self.level - self.target
            head = self._chunks[0]
            if len(head) <= excess:
                self._chunks.popleft()
                self.level -= len(head)
                self.dropped += len(head)
            else:
                self._chunks[0] = head[excess:]
                self.level -= excess
                self.dropped += excess

    def pull(self, n: int) -> np.ndarray | None:
        """n stereo samples, or None while (re)buffering."""
        if not self.playing:
            if self.level < max(self.target, 1):
                return None
            self.playing = True
        out = np.zeros((n, 2), np.int16)
        filled = 0
        while filled < n and self._chunks:
            head = self._chunks[0]
            take = min(n - filled, len(head))
            out[filled : filled + take] = head[:take]
            filled += take
            self.level -= take
            if take == len(head):
                self._chunks.popleft()
            else:
                self._chunks[0] = head[take:]
        if filled < n:
            self.playing = False  # ran dry: silence, then buffer up again
            self.underruns += 1
        return out


class AudioMixer:
    """Thread-safe: feeds push from the network thread, the render thread mixes."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._inputs: dict[Hashable, AudioInput] = {}
        self._lock = threading.Lock()
        self._gain = 1.0

    def push(self, key: Hashable, frame: av.AudioFrame) -> None:
        with self._lock:
            source = self._inputs.get(key)
            if source is None:
                source = self._inputs[key] = AudioInput(self.delay)
            source.push(frame)

    def remove(self, key: Hashable) -> None:
        with self._lock:
            self._inputs.pop(key, None)

    def sources(self) -> list[Hashable]:
        with self._lock:
            return list(self._inputs)

    def mix(self, n: int) -> np.ndarray:
        """The next n samples of the mix, int16 stereo, shape (n, 2)."""
        with self._lock:
            parts = [p for p in (s.pull(n) for s in self._inputs.values()) if p is not None]
        if not parts:
            self._gain = min(1.0, self._gain + 0.05)
            return np.zeros((n, 2), np.int16)
        if len(parts) == 1 and self._gain >= 1.0:
            return parts[0]
        total = np.sum([p.astype(np.int32) for p in parts], axis=0)
        peak = int(np.abs(total).max())
        # Instant attack, gentle release: a block never clips, the level recovers over ~0.4 s.
        wanted = 1.0 if peak <= FULL_SCALE else FULL_SCALE / peak
        self._gain = min(wanted, self._gain + 0.05)
        if self._gain < 1.0:
            total = (total * self._gain).astype(np.int32)
        return np.clip(total, -FULL_SCALE - 1, FULL_SCALE).astype(np.int16)
