"""aiortc clients that signal like a browser: JSON frames over the real `/ws/media/…`
consumer (channels' WebsocketCommunicator against liveshop.routing), media over loopback ICE
to an in-process relay behind its real control server.

    async with media_stack() as stack:              # relay + the consumer pointed at it
        host = await stack.socket("acme", "launch", token=host_token)
        publisher = WsPublisher(host, level=60); await publisher.start()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from media.consumers import RoomMediaConsumer
from media.relay.registry import LocalDirectory, RelayPool
from tests.media.clients import Harness, SilentishAudio, SyntheticVideo, luma, new_pc, relay_harness


def application() -> Any:
    from liveshop.routing import websocket_urlpatterns

    return AuthMiddlewareStack(URLRouter(websocket_urlpatterns))


class Socket:
    """One WebSocket to the media consumer; frames are read in the background and kept."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self._changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())
        self.handlers: list[Any] = []  # async callables fed every frame (offer answering)

    async def _read(self) -> None:
        while True:
            try:
                message = await self.communicator.receive_output(timeout=3600)
            except (asyncio.CancelledError, Exception):
                return
            if message["type"] == "websocket.close":
                self.close_code = int(message.get("code", 1000))
                self._changed.set()
                return
            if message["type"] == "websocket.send" and message.get("text"):
                frame = json.loads(message["text"])
                self.frames.append(frame)
                for handler in self.handlers:
                    await handler(frame)
                self._changed.set()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def send_raw(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == kind]

    async def wait(
        self, kind: str, timeout: float = 5.0, after: int = 0, **match: Any
    ) -> dict[str, Any]:
        """The first frame of `kind` (matching `match`) at index ≥ `after`."""
        deadline = time.monotonic() + timeout
        while True:
            for frame in self.frames[after:]:
                if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
                    return frame
            if self.close_code is not None:
                raise AssertionError(
                    f"socket closed {self.close_code} before {kind}: {self.frames}"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} {match} frame: {self.frames}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.2))

    async def closed(self, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        while self.close_code is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"socket not closed: {self.frames}")
            await asyncio.sleep(0.02)
        return self.close_code

    async def disconnect(self) -> None:
        """Close the socket without `leave` (a dropped connection)."""
        with contextlib.suppress(Exception):
            await self.communicator.disconnect()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


@dataclass
class Stack:
    harness: Harness
    pool: RelayPool
    sockets: list[Socket] = field(default_factory=list)
    closing: list[Any] = field(default_factory=list)

    async def socket(
        self,
        merchant: str,
        room: str,
        *,
        token: str | None = None,
        origin: str | None = None,
        hello: bool = True,
    ) -> Socket:
        headers = [(b"origin", origin.encode())] if origin else []
        communicator = WebsocketCommunicator(
            application(), f"/ws/media/{merchant}/{room}/", headers=headers
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        sock = Socket(communicator)
        self.sockets.append(sock)
        if hello:
            await sock.wait("hello")
        if token is not None:
            await sock.send({"type": "auth", "token": token})
            await sock.wait("auth.ok")
            await sock.wait("hello", after=1)
        return sock


@asynccontextmanager
async def media_stack(**relay_config: Any) -> AsyncIterator[Stack]:
    """An in-process relay, and the media consumer's pool pointed at it."""
    async with relay_harness(**relay_config) as harness:
        from media import whip
        from media.relay import registry

        pool = RelayPool(LocalDirectory(harness.address))
        saved = (RoomMediaConsumer.media_pool, whip.whip_pool, registry.directory_from_settings)
        RoomMediaConsumer.media_pool = lambda self: pool  # type: ignore[method-assign]
        whip.whip_pool = lambda: pool
        # short-lived pools (stream key revocation, room end) find this relay too
        registry.directory_from_settings = lambda: LocalDirectory(harness.address)
        stack = Stack(harness, pool)
        try:
            yield stack
        finally:
            for thing in reversed(stack.closing):
                with contextlib.suppress(Exception):
                    await thing.close()
            for sock in stack.sockets:
                await sock.disconnect()
            RoomMediaConsumer.media_pool, whip.whip_pool = saved[0], saved[1]  # type: ignore[method-assign]
            registry.directory_from_settings = saved[2]
            await asyncio.sleep(0.05)  # let the consumers' leave requests reach the relay
            await pool.close()


class WsPublisher:
    """A host publishing synthetic video (VP8, or H.264 like OBS) and audio over the socket."""

    def __init__(
        self, sock: Socket, *, level: int = 60, codec: str = "VP8", audio: bool = True
    ) -> None:
        self.sock = sock
        self.level = level
        self.codec = codec
        self.audio = audio
        self.pc = new_pc()
        self.answer: dict[str, Any] = {}

    async def offer_sdp(self) -> str:
        if self.audio:
            self.pc.addTrack(SilentishAudio())
        transceiver = self.pc.addTransceiver(SyntheticVideo(self.level), direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences(
            [c for c in caps if c.name == self.codec] + [c for c in caps if c.name == "rtx"]
        )
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def start(self) -> dict[str, Any]:
        """Offer and apply the answer; returns the answer frame (AssertionError on error)."""
        after = len(self.sock.frames)
        await self.sock.send({"type": "offer", "role": "publish", "sdp": await self.offer_sdp()})
        reply = await _answer_or_error(self.sock, after)
        assert reply["type"] == "answer", reply
        self.answer = reply
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        return reply

    async def wait_connected(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            assert time.monotonic() < deadline, f"publisher state {self.pc.connectionState}"
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.pc.close()


async def _answer_or_error(sock: Socket, after: int, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in sock.frames[after:]:
            if frame.get("type") in ("answer", "error"):
                return frame
        await asyncio.sleep(0.02)
    raise AssertionError(f"no answer: {sock.frames[after:]}")


@dataclass
class Track:
    kind: str
    frames: int = 0
    first_at: float | None = None
    lumas: list[float] = field(default_factory=list)


class WsViewer:
    """A viewer that decodes what it receives and answers the server's offers, like the
    storefront player."""

    def __init__(self, sock: Socket) -> None:
        self.sock = sock
        self.pc = new_pc()
        self.tracks: list[Track] = []
        self.offered_at = 0.0
        self.answers_sent = 0
        self._tasks: list[asyncio.Task[Any]] = []
        sock.handlers.append(self._on_frame)

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            record = Track(track.kind)
            self.tracks.append(record)
            self._tasks.append(asyncio.ensure_future(self._consume(track, record)))

    async def _consume(self, track: MediaStreamTrack, record: Track) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                record.frames += 1
                if record.first_at is None:
                    record.first_at = time.monotonic()
                if isinstance(frame, av.VideoFrame):
                    record.lumas.append(luma(frame))

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") != "offer":
            return
        # The server renegotiates (a publisher came, went or was parked): answer it.
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=frame["sdp"], type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.sock.send({"type": "answer", "sdp": self.pc.localDescription.sdp})
        self.answers_sent += 1

    async def start(self) -> dict[str, Any]:
        self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.addTransceiver("video", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        after = len(self.sock.frames)
        self.offered_at = time.monotonic()
        await self.sock.send(
            {"type": "offer", "role": "subscribe", "sdp": self.pc.localDescription.sdp}
        )
        reply = await _answer_or_error(self.sock, after)
        if reply["type"] == "answer":
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=reply["sdp"], type="answer")
            )
        return reply

    def video(self) -> list[Track]:
        return [t for t in self.tracks if t.kind == "video"]

    async def wait_frames(self, n: int, *, level: int | None = None, timeout: float = 5.0) -> Track:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.video():
                lumas = (
                    record.lumas
                    if level is None
                    else [x for x in record.lumas if abs(x - level) < 25]
                )
                if len(lumas) >= n:
                    return record
            await asyncio.sleep(0.02)
        summary = [(t.kind, t.frames, [round(x) for x in t.lumas[-3:]]) for t in self.tracks]
        raise AssertionError(f"no {n} video frames (level {level}): {summary}")

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def expected_luma(level: int) -> int:
    return round(level + (235 - level) / 16)  # flat `level` with a 1/16-wide white bar


class WhipClient:
    """An encoder like OBS: H.264 (constrained baseline, packetization-mode 1) and Opus,
    every candidate in the offer, no trickle; signals over HTTP (RFC 9725)."""

    def __init__(self, *, level: int = 90, audio: bool = True) -> None:
        self.level = level
        self.audio = audio
        self.pc = new_pc()

    async def offer_sdp(self) -> str:
        if self.audio:
            self.pc.addTrack(SilentishAudio())
        transceiver = self.pc.addTransceiver(SyntheticVideo(self.level), direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences(
            [c for c in caps if c.name == "H264"] + [c for c in caps if c.name == "rtx"]
        )
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def apply(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def wait_connected(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            assert time.monotonic() < deadline, f"encoder state {self.pc.connectionState}"
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.pc.close()
