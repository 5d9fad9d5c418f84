"""aiortc clients for relay tests: a synthetic publisher and a decoding viewer, both talking
to a relay through a real RelayClient over the control channel, on loopback ICE.

Pictures are flat grey at a chosen luma level with a moving white bar, small (160x120), so
a viewer can tell which publisher it is watching by the average brightness of what it
decodes, and encoders have motion to encode."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from media.relay.client import EventStream, RelayClient
from media.relay.config import RelayConfig
from media.relay.engine import Relay
from media.relay.server import ControlServer

VIDEO_CLOCK = 90000
WIDTH, HEIGHT = 160, 120


def new_pc() -> RTCPeerConnection:
    # iceServers=[]: no STUN on loopback (aiortc would default to Google's)
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class SyntheticVideo(MediaStreamTrack):
    kind = "video"

    def __init__(self, level: int, fps: int = 30, width: int = WIDTH, height: int = HEIGHT) -> None:
        super().__init__()
        self.level = level
        self.fps = fps
        self.width, self.height = width, height
        self._start: float | None = None
        self._n = 0
        self._planes: list[list[bytes]] = []
        template = av.VideoFrame(width, height, "yuv420p")
        for step in range(16):
            y = template.planes[0]
            rows = []
            bar = (step * width // 16, step * width // 16 + width // 16)
            for _ in range(y.height):
                row = bytearray([level]) * y.line_size
                row[bar[0] : bar[1]] = b"\xeb" * (bar[1] - bar[0])
                rows.append(bytes(row))
            self._planes.append(
                [
                    b"".join(rows),
                    bytes([128]) * template.planes[1].buffer_size,
                    bytes([128]) * template.planes[2].buffer_size,
                ]
            )

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n / self.fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for plane, data in zip(frame.planes, self._planes[self._n % 16], strict=True):
            plane.update(data)
        frame.pts = self._n * VIDEO_CLOCK // self.fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._n += 1
        return frame


class SilentishAudio(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._n = 0
        self._pcm = bytes(range(0, 256, 64)) * (960 * 2 // 4)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n * 0.02 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(self._pcm)
        frame.sample_rate = 48000
        frame.pts = self._n * 960
        frame.time_base = fractions.Fraction(1, 48000)
        self._n += 1
        return frame


def sdp_codecs(sdp: str, kind: str) -> list[list[str]]:
    """Codec names per m-line of `kind` (rtx and friends included), in SDP order."""
    out = []
    for section in re.split(r"\r?\n(?=m=)", sdp):
        if section.startswith(f"m={kind}"):
            out.append(re.findall(r"a=rtpmap:\d+ ([^/\s]+)/", section))
    return out


def luma(frame: av.VideoFrame) -> float:
    """Mean luma of the picture (rows without their line padding), sampled."""
    plane = frame.planes[0]
    data = bytes(plane)
    total = count = 0
    for row in range(0, plane.height, 4):
        line = data[row * plane.line_size : row * plane.line_size + plane.width : 3]
        total += sum(line)
        count += len(line)
    return total / count


class Publisher:
    """An aiortc publisher: synthetic video (VP8 or H264) and audio."""

    def __init__(
        self,
        client: RelayClient,
        session: str,
        peer: str,
        identity: str,
        *,
        level: int = 60,
        codec: str = "VP8",
        audio: bool = True,
        profile: str = "room",
    ) -> None:
        self.client = client
        self.session = session
        self.peer = peer
        self.identity = identity
        self.level = level
        self.codec = codec
        self.audio = audio
        self.profile = profile
        self.pc = new_pc()
        self.events: EventStream = client.events(session, peer)
        self.answer: dict[str, Any] = {}
        self.video = SyntheticVideo(level)

    async def start(self) -> dict[str, Any]:
        if self.audio:
            self.pc.addTrack(SilentishAudio())
        transceiver = self.pc.addTransceiver(self.video, direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        prefer = [c for c in caps if c.name == self.codec] + [c for c in caps if c.name == "rtx"]
        transceiver.setCodecPreferences(prefer)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.answer = await self.client.offer(
            session=self.session,
            peer=self.peer,
            role="publish",
            sdp=self.pc.localDescription.sdp,
            identity=self.identity,
            profile=self.profile,
        )
        await self.pc.setRemoteDescription(RTCSessionDescription(**_desc(self.answer)))
        return self.answer

    async def wait_connected(self, timeout: float = 5.0) -> None:
        await _wait_for(lambda: self.pc.connectionState == "connected", timeout)

    async def drop(self) -> None:
        """Vanish without saying goodbye (network loss): close the peer connection only."""
        await self.pc.close()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.leave(session=self.session, peer=self.peer, role="publish")
        await self.pc.close()
        self.events.close()


@dataclass
class Received:
    kind: str
    mid: str | None
    frames: int = 0
    first_at: float | None = None
    lumas: list[float] = field(default_factory=list)


class Viewer:
    """An aiortc viewer that decodes what it receives and answers the relay's offers."""

    def __init__(
        self,
        client: RelayClient,
        session: str,
        peer: str,
        *,
        video: int = 1,
        audio: int = 1,
        identity: str | None = None,
        profile: str = "room",
        video_codecs: list[str] | None = None,
        answer_offers: bool = True,
    ) -> None:
        self.client = client
        self.session = session
        self.peer = peer
        self.identity = identity
        self.profile = profile
        self.pc = new_pc()
        self.events = client.events(session, peer)
        self.received: dict[str, Received] = {}
        self.event_log: list[dict[str, Any]] = []
        self.offers_answered = 0
        self.offered_at = 0.0
        self._n_video, self._n_audio = video, audio
        self._video_codecs = video_codecs
        self._answer_offers = answer_offers
        self._tasks: list[asyncio.Task[Any]] = []
        self.answer: dict[str, Any] = {}

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            transceiver = next(t for t in self.pc.getTransceivers() if t.receiver.track is track)
            self._tasks.append(asyncio.ensure_future(self._consume(track, transceiver.mid)))

    async def _consume(self, track: MediaStreamTrack, mid: str | None) -> None:
        record = self.received.setdefault(str(mid), Received(track.kind, mid))
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                record.frames += 1
                if record.first_at is None:
                    record.first_at = time.monotonic()
                if isinstance(frame, av.VideoFrame):
                    record.lumas.append(luma(frame))

    async def _follow_events(self) -> None:
        async for event in self.events:
            self.event_log.append(event)
            if event["event"] == "offer" and self._answer_offers:
                await self.pc.setRemoteDescription(
                    RTCSessionDescription(sdp=event["sdp"], type="offer")
                )
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                await self.client.answer(
                    session=self.session, peer=self.peer, sdp=self.pc.localDescription.sdp
                )
                self.offers_answered += 1

    async def offer_sdp(self) -> str:
        for _ in range(self._n_audio):
            self.pc.addTransceiver("audio", direction="recvonly")
        for _ in range(self._n_video):
            transceiver = self.pc.addTransceiver("video", direction="recvonly")
            if self._video_codecs:
                caps = RTCRtpSender.getCapabilities("video").codecs
                transceiver.setCodecPreferences(
                    [c for name in self._video_codecs for c in caps if c.name == name]
                )
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def start(self, sdp: str | None = None, *, apply_answer: bool = True) -> dict[str, Any]:
        offer = sdp or await self.offer_sdp()
        self._tasks.append(asyncio.ensure_future(self._follow_events()))
        self.offered_at = time.monotonic()
        self.answer = await self.client.offer(
            session=self.session,
            peer=self.peer,
            role="subscribe",
            sdp=offer,
            identity=self.identity,
            profile=self.profile,
        )
        if apply_answer:
            await self.pc.setRemoteDescription(RTCSessionDescription(**_desc(self.answer)))
        return self.answer

    def video_records(self) -> list[Received]:
        return [r for r in self.received.values() if r.kind == "video"]

    def events_named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.event_log if e["event"] == name]

    async def wait_video_frames(
        self, n: int, timeout: float = 5.0, level: int | None = None, mid: str | None = None
    ) -> Received:
        """Wait until some video slot decoded n frames (of about `level` luma, if given)."""

        def ready() -> Received | None:
            for record in self.video_records():
                if mid is not None and record.mid != mid:
                    continue
                lumas = (
                    record.lumas
                    if level is None
                    else [x for x in record.lumas if abs(x - level) < 25]
                )
                if len(lumas) >= n:
                    return record
            return None

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = ready()
            if record is not None:
                return record
            await asyncio.sleep(0.02)
        summary = {
            m: (r.frames, [round(x) for x in r.lumas[-3:]]) for m, r in self.received.items()
        }
        raise AssertionError(f"viewer {self.peer}: no {n} video frames (level {level}): {summary}")

    async def wait_event(self, name: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.event_log:
                if event["event"] == name and all(event.get(k) == v for k, v in match.items()):
                    return event
            await asyncio.sleep(0.02)
        raise AssertionError(f"viewer {self.peer}: no {name} {match}: {self.event_log}")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.leave(session=self.session, peer=self.peer)
        await self.pc.close()
        self.events.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _desc(reply: dict[str, Any]) -> dict[str, str]:
    return {"sdp": reply["sdp"], "type": reply["type"]}


async def _wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


@dataclass
class Harness:
    relay: Relay
    server: ControlServer
    client: RelayClient
    address: str
    closing: list[Any] = field(default_factory=list)

    def publisher(self, session: str, peer: str, identity: str, **kw: Any) -> Publisher:
        publisher = Publisher(self.client, session, peer, identity, **kw)
        self.closing.append(publisher)
        return publisher

    def viewer(self, session: str, peer: str, **kw: Any) -> Viewer:
        viewer = Viewer(self.client, session, peer, **kw)
        self.closing.append(viewer)
        return viewer


@asynccontextmanager
async def relay_harness(**config: Any) -> AsyncIterator[Harness]:
    """An in-process relay behind a real control server on a Unix socket, and a client."""
    tmp = tempfile.mkdtemp(prefix="lsm")
    relay = Relay(RelayConfig().with_(**config), relay_id="test-relay")
    server = ControlServer(relay, listen=f"unix:{tmp}/relay.sock")
    address = await server.start()
    await relay.start()
    client = RelayClient(address)
    harness = Harness(relay, server, client, address)
    try:
        yield harness
    finally:
        for thing in reversed(harness.closing):
            with contextlib.suppress(Exception):
                await thing.close()
        await client.close()
        await server.close()
        await relay.close()
        shutil.rmtree(tmp, ignore_errors=True)


def run(coro: Any, timeout: float = 60.0) -> Any:
    """Run a test scenario on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


# Chrome numbers codecs and header extensions differently from aiortc; the relay must keep a
# viewer's numbers when it renegotiates. aiortc → Chrome-like payload types and ids:
BROWSER_PTS = {96: 111, 97: 96, 98: 97, 99: 102, 100: 103, 101: 98, 102: 99}
BROWSER_EXT_IDS = {
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level": 1,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": 2,
    "urn:ietf:params:rtp-hdrext:sdes:mid": 4,
}


def browserize(sdp: str) -> str:
    """Renumber an aiortc offer the way a browser numbers its own (opus=111, VP8=96, ...)."""
    out = []
    for line in sdp.split("\r\n"):
        m = re.match(r"^(m=(?:audio|video) \d+ \S+ )(.*)$", line)
        if m:
            pts = (str(BROWSER_PTS.get(int(x), int(x))) for x in m.group(2).split())
            line = m.group(1) + " ".join(pts)
        m = re.match(r"^a=(rtpmap|fmtp|rtcp-fb):(\d+)(.*)$", line)
        if m:
            rest = re.sub(r"apt=(\d+)", lambda a: f"apt={BROWSER_PTS[int(a.group(1))]}", m.group(3))
            line = f"a={m.group(1)}:{BROWSER_PTS.get(int(m.group(2)), int(m.group(2)))}{rest}"
        m = re.match(r"^a=extmap:(\d+) (\S+)$", line)
        if m:
            line = f"a=extmap:{BROWSER_EXT_IDS[m.group(2)]} {m.group(2)}"
        out.append(line)
    return "\r\n".join(out)


def payload_types(sdp: str, kind: str, codec: str) -> list[int]:
    """Payload type of `codec` in each m-line of `kind`."""
    result = []
    for section in re.split(r"\r?\n(?=m=)", sdp):
        if section.startswith(f"m={kind}"):
            found = re.findall(rf"a=rtpmap:(\d+) {codec}/", section)
            result.append(int(found[0]) if found else -1)
    return result


def extension_ids(sdp: str, uri: str) -> set[int]:
    return {int(x) for x in re.findall(rf"a=extmap:(\d+) {re.escape(uri)}", sdp)}
