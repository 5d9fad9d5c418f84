"""The HLS worker as a viewer of a room: one aiortc subscriber per broadcast, on the room's
relay, like a browser viewer (media/README.md). It asks for every feed of the session, so it
gets the host, the co-hosts and a PK partner, and aiortc decodes each feed once; frames go to
MediaInputs for the render thread.

The relay tells it which m-line carries which publisher's feed (`tracks` in answers and in its
own offers when co-hosts come and go); frames of a parked m-line are dropped. If the leg or
the control connection is lost it subscribes again, with backoff, while the render loop keeps
showing the last frames."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from media.relay import passthrough
from media.relay.client import EventStream, RelayClient
from media.relay.protocol import RelayError
from media.relay.registry import RelayPool

from .render import MediaInputs

logger = logging.getLogger(__name__)

# One audio and one video m-line up front; the relay offers more as co-hosts join. (Offering
# spare inactive m-lines breaks video when the relay later fills them: see README, known issues.)
INITIAL_SLOTS = 1
BACKOFF = (0.5, 1.0, 2.0, 4.0, 5.0)
STABLE_AFTER = 10.0  # a connection that lasted this long resets the backoff
# A mapped video feed that brings no frame for this long gets a keyframe request (PLI) from
# us, at most once per interval: a request the relay made for us can be lost (a publisher
# not yet connected), and aiortc publishers only send keyframes when asked.
STARVED_AFTER = 1.5
KEYFRAME_EVERY = 1.0


def declared_ssrcs(sdp: str) -> dict[str, int]:
    """mid → the media SSRC the sender declared in its SDP (the first of an FID group)."""
    out: dict[str, int] = {}
    for section in re.split(r"\r?\n(?=m=)", sdp):
        mid = re.search(r"^a=mid:(\S+)", section, re.M)
        group = re.search(r"^a=ssrc-group:FID (\d+)", section, re.M)
        single = re.search(r"^a=ssrc:(\d+)", section, re.M)
        found = group or single
        if mid and found:
            out[mid.group(1)] = int(found.group(1))
    return out


class StageSubscriber:
    def __init__(
        self,
        session: str,
        identity: str,
        inputs: MediaInputs,
        *,
        pool: RelayPool,
        rtc_configuration: RTCConfiguration | None = None,
    ) -> None:
        self.session = session
        self.identity = identity
        self.inputs = inputs
        self.pool = pool
        self.rtc_configuration = rtc_configuration or RTCConfiguration(iceServers=[])
        self.connections = 0
        self.connected = False
        self.publishers: dict[str, str] = {}  # identity → live | away
        self.last_error: str | None = None
        self.keyframe_requests = 0
        self._ids = itertools.count(1)
        self._mids: dict[str, tuple[str, str]] = {}  # mid → (feed, publisher)
        self._mapped_at: dict[str, float] = {}  # mid → when it got its current feed
        self._last_video: dict[str, float] = {}  # mid → last decoded frame
        self._ssrcs: dict[str, int] = {}

    async def run(self) -> None:
        """Subscribe until cancelled, again after each loss."""
        failures = 0
        while True:
            began = time.monotonic()
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except RelayError as exc:
                self.last_error = f"{exc.code}: {exc.message}"
                logger.warning("hls subscriber %s: %s", self.session, self.last_error)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("hls subscriber %s failed", self.session)
            finally:
                self.connected = False
            failures = 0 if time.monotonic() - began > STABLE_AFTER else failures + 1
            await asyncio.sleep(BACKOFF[min(failures, len(BACKOFF) - 1)])

    def _apply(self, tracks: list[dict[str, Any]]) -> None:
        mids = {
            str(t["mid"]): (str(t["feed"]), str(t["publisher"]))
            for t in tracks
            if t.get("feed") and t.get("publisher") and t.get("mid") is not None
        }
        now = time.monotonic()
        for mid, where in mids.items():
            if self._mids.get(mid) != where:
                self._mapped_at[mid] = now
        self._mids = mids
        self.inputs.keep_only({feed for feed, _ in self._mids.values()})
        for _, publisher in self._mids.values():
            self.publishers.setdefault(publisher, "live")

    async def _consume(self, track: MediaStreamTrack, mid: str) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                where = self._mids.get(mid)
                if where is None:
                    continue  # a parked m-line
                feed, publisher = where
                if isinstance(frame, av.VideoFrame):
                    self._last_video[mid] = time.monotonic()
                    self.inputs.video(feed, publisher, frame)
                elif isinstance(frame, av.AudioFrame):
                    self.inputs.audio(feed, publisher, frame)

    async def _connect_once(self) -> None:
        pc = RTCPeerConnection(self.rtc_configuration)
        peer = f"{self.identity}.{next(self._ids)}"[:128]
        tasks: list[asyncio.Task[Any]] = []
        failed = asyncio.Event()
        client: RelayClient | None = None
        events: EventStream | None = None

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            transceiver = next(t for t in pc.getTransceivers() if t.receiver.track is track)
            tasks.append(asyncio.ensure_future(self._consume(track, str(transceiver.mid))))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected":
                self.connected = True
            elif pc.connectionState in ("failed", "closed"):
                failed.set()

        try:
            for _ in range(INITIAL_SLOTS):
                pc.addTransceiver("audio", direction="recvonly")
                pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            client, events, reply = await self.pool.offer(
                session=self.session,
                peer=peer,
                role="subscribe",
                sdp=pc.localDescription.sdp,
                identity=self.identity,
                profile="room",
            )
            self.connections += 1
            await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
            self._ssrcs = declared_ssrcs(reply["sdp"])
            self._apply(reply["tracks"])
            lost = asyncio.ensure_future(failed.wait())
            tasks.append(lost)
            tasks.append(asyncio.ensure_future(self._keyframe_watch(pc)))
            while True:
                getting = asyncio.ensure_future(events.get())
                done, _ = await asyncio.wait({getting, lost}, return_when=asyncio.FIRST_COMPLETED)
                if getting not in done:
                    getting.cancel()
                    self.last_error = "peer connection failed"
                    return
                event = getting.result()
                if event is None:
                    return
                if not await self._on_event(pc, client, peer, event):
                    return
        finally:
            for task in tasks:
                task.cancel()
            if events is not None:
                events.close()
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.leave(session=self.session, peer=peer, reason="bye")
            await pc.close()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _keyframe_watch(self, pc: RTCPeerConnection) -> None:
        """Ask again for a keyframe on video feeds that bring nothing (see STARVED_AFTER)."""
        while True:
            await asyncio.sleep(KEYFRAME_EVERY)
            if pc.connectionState != "connected":
                continue
            now = time.monotonic()
            for transceiver in pc.getTransceivers():
                mid = str(transceiver.mid)
                if transceiver.kind != "video" or mid not in self._mids:
                    continue
                last = max(self._last_video.get(mid, 0.0), self._mapped_at.get(mid, now))
                ssrc = self._ssrcs.get(mid)
                if now - last > STARVED_AFTER and ssrc is not None:
                    with contextlib.suppress(Exception):  # transport closing: next round
                        await passthrough.send_pli(transceiver.receiver, ssrc)
                        self.keyframe_requests += 1

    async def _on_event(
        self, pc: RTCPeerConnection, client: RelayClient, peer: str, event: dict[str, Any]
    ) -> bool:
        """Handle one relay event; False ends this connection."""
        name = event.get("event")
        if name == "offer":
            # Co-hosts joined or left: apply the relay's offer like a browser would.
            await pc.setRemoteDescription(RTCSessionDescription(sdp=event["sdp"], type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            self._ssrcs = declared_ssrcs(event["sdp"])
            self._apply(event.get("tracks") or [])
            reply = await client.answer(
                session=self.session, peer=peer, sdp=pc.localDescription.sdp
            )
            self._apply(reply.get("tracks") or event.get("tracks") or [])
        elif name == "closed":
            self.last_error = f"closed: {event.get('reason')}"
            return False
        elif name in ("publisher.away", "publisher.back", "publisher.joined"):
            identity = str(event.get("identity"))
            self.publishers[identity] = "away" if name == "publisher.away" else "live"
        elif name == "publisher.left":
            self.publishers.pop(str(event.get("identity")), None)
        return True
