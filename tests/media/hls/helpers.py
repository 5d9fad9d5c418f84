"""HLS test helpers: small settings, tone publishers, decoding what the worker wrote."""

from __future__ import annotations

import asyncio
import fractions
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from media.hls.config import HlsSettings, Rendition
from tests.media.clients import Publisher, SyntheticVideo

HI = Rendition("hi", 320, 180, 300_000, "high")
LO = Rendition("lo", 160, 90, 120_000, "main")


def small_settings(root: Path, **changes: Any) -> HlsSettings:
    """Tiny renditions at 15 fps with 1 s segments: seconds of media cost little CPU."""
    base = {
        "enabled": True,
        "root": root,
        "renditions": (HI, LO),
        "fps": 15,
        "segment_seconds": 1.0,
        "window": 3,
        "threads": 1,
        "poll_seconds": 0.2,
        "lease_seconds": 3.0,
    }
    base.update(changes)
    return HlsSettings().with_(**base)


class ToneAudio(MediaStreamTrack):
    """A sine tone, 48 kHz mono, 20 ms frames in real time."""

    kind = "audio"

    def __init__(self, freq: float, amplitude: int = 8000) -> None:
        super().__init__()
        self.freq = freq
        self.amplitude = amplitude
        self._start: float | None = None
        self._n = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n * 0.02 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = np.arange(self._n * 960, (self._n + 1) * 960) / 48000
        pcm = (np.sin(2 * np.pi * self.freq * t) * self.amplitude).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self._n * 960
        frame.time_base = fractions.Fraction(1, 48000)
        self._n += 1
        return frame


class TonePublisher(Publisher):
    """The relay tests' publisher, with a tone instead of its fixed audio pattern."""

    def __init__(self, *args: Any, tone: float = 440.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tone = tone
        self.video = SyntheticVideo(self.level)

    async def start(self) -> dict[str, Any]:
        self.pc.addTrack(ToneAudio(self.tone))
        transceiver = self.pc.addTransceiver(self.video, direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences(
            [c for c in caps if c.name == self.codec] + [c for c in caps if c.name == "rtx"]
        )
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.answer = await self.client.offer(
            session=self.session,
            peer=self.peer,
            role="publish",
            sdp=self.pc.localDescription.sdp,
            identity=self.identity,
            profile=self.profile,
        )
        await self.pc.setRemoteDescription(
            RTCSessionDescription(sdp=self.answer["sdp"], type=self.answer["type"])
        )
        return self.answer


def decode(path: Path) -> tuple[list[av.VideoFrame], np.ndarray, list[float]]:
    """Every video frame, the audio as float stereo samples, and the video timestamps."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray() for f in container.decode(audio=0)]
    audio = np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0))
    return frames, audio, [float(f.time) for f in frames]


def luma_halves(frame: av.VideoFrame) -> tuple[float, float]:
    """Mean luma of the left and right halves of the picture."""
    y = frame.to_ndarray(format="gray")
    half = y.shape[1] // 2
    return float(y[:, :half].mean()), float(y[:, half:].mean())


def tone_power(samples: np.ndarray, freq: float, rate: int = 48000) -> float:
    """Share of the signal's energy within ±20 Hz of `freq`."""
    mono = samples.mean(axis=0) if samples.ndim == 2 else samples
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono)))) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1 / rate)
    total = spectrum.sum() or 1.0
    return float(spectrum[(freqs > freq - 20) & (freqs < freq + 20)].sum() / total)


async def wait_for(condition: Any, timeout: float, what: str, detail: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            extra = f": {detail()}" if detail is not None else ""
            raise AssertionError(f"timed out waiting for {what}{extra}")
        await asyncio.sleep(0.05)


def describe(broadcast: Any) -> dict[str, Any]:
    """What a BroadcastRun's subscriber and inputs hold, for failure messages."""
    inputs = broadcast.inputs
    return {
        "mids": dict(broadcast.subscriber._mids),
        "publishers": dict(broadcast.subscriber.publishers),
        "connections": broadcast.subscriber.connections,
        "error": broadcast.subscriber.last_error,
        "video": {
            k: (v.publisher, len(v.queue), v.current is not None) for k, v in inputs._video.items()
        },
        "audio": inputs.mixer.sources(),
        "frames_in": inputs.frames_in,
    }


def hls_setting_dict(root: Path, **extra: Any) -> dict[str, Any]:
    """LIVESHOP_HLS for tests (Django settings form of small_settings)."""
    return {
        "ENABLED": True,
        "ROOT": str(root),
        "RENDITIONS": [HI.as_dict(), LO.as_dict()],
        "FPS": 15,
        "SEGMENT_SECONDS": 1.0,
        "WINDOW": 3,
        "THREADS": 1,
        "POLL_SECONDS": 0.2,
        "LEASE_SECONDS": 3.0,
        **extra,
    }


def render_synthetic(settings: HlsSettings, job: Any, seconds: float, *, final: bool = True) -> Any:
    """Render `seconds` of a flat picture and a tone for `job` without a relay (real
    encoding, real files): for tests of what reads the output."""
    import threading

    from media.hls.output import EpochWriter
    from media.hls.render import MediaInputs, RenderLoop

    writer = EpochWriter(
        settings, settings.root, job.merchant_id, job.room_id, job.epoch, record=job.record
    )
    inputs = MediaInputs(delay=0.0)
    loop = RenderLoop(settings, writer, inputs)
    stop = threading.Event()

    def feed() -> None:
        n = 0
        while not stop.is_set():
            frame = av.VideoFrame(160, 120, "yuv420p")
            for plane, value in zip(frame.planes, (90, 128, 128), strict=True):
                plane.update(bytes([value]) * plane.buffer_size)
            inputs.video("v", "host", frame)
            t = np.arange(n * 960, (n + 1) * 960) / 48000
            pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
            audio = av.AudioFrame.from_ndarray(
                np.stack([pcm, pcm], 1).reshape(1, -1), "s16", "stereo"
            )
            audio.sample_rate = 48000
            inputs.audio("a", "host", audio)
            n += 1
            time.sleep(0.02)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    loop.start()
    time.sleep(seconds)
    loop.stop(final=final)
    loop.join()
    stop.set()
    feeder.join()
    return loop
