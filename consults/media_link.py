"""Signalling between one consult socket and the media relay (media/README.md).

The consult consumer owns authorisation (who may publish or subscribe in which consult);
this class only forwards: client `offer {sdp, role}` → relay offer → `answer {sdp, tracks}`,
`answer` (to a relay-initiated offer), `ice {candidate}`, `leave`, and pumps the relay's
events for this peer back to the socket as frames. It is kept small and behind this one
interface so it can be swapped for the shared signalling helper of the media app
(media/signalling.py, being written for the room's media socket) once that lands.

Session: `consult:<merchant_id>:<consult_id>` (profile `consult`: two publishers and three
viewers — the parties and a silent supervisor). Peer: one id per socket. Identity:
`user:<id>` for both legs of a party (a subscriber never receives its own identity's feeds);
a supervisor subscribes without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from media.relay.client import EventStream, RelayClient
from media.relay.protocol import RelayError
from media.relay.registry import RelayPool, relay_pool

log = logging.getLogger("liveshop.consults.media")

MAX_SDP = 60 * 1024  # the whole frame is ≤ 64 KiB
MAX_CANDIDATE = 512

SendFrame = Callable[[dict[str, Any]], Awaitable[None]]

# Tests point this at an in-process relay; production uses the process' RelayPool.
pool_factory: Callable[[], RelayPool] = relay_pool


class SignallingError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def session_key(merchant_id: int, consult_id: int) -> str:
    return f"consult:{merchant_id}:{consult_id}"


def sdp_check(sdp: Any) -> str:
    if not isinstance(sdp, str) or not sdp.strip():
        raise SignallingError("sdp_invalid", "Send the SDP as text.")
    if len(sdp) > MAX_SDP:
        raise SignallingError("sdp_too_large", "This SDP is too large.")
    if not sdp.lstrip().startswith("v=0"):
        raise SignallingError("sdp_invalid", "This is not an SDP offer (it must start with v=0).")
    return sdp


class MediaLink:
    """One socket's legs (publish and/or subscribe) in a consult's relay session."""

    def __init__(
        self,
        *,
        session: str,
        identity: str | None,
        send: SendFrame,
        describe: Callable[[str | None], dict[str, Any]] | None = None,
    ) -> None:
        self.session = session
        self.identity = identity
        self.peer = f"ws-{uuid.uuid4().hex}"
        self._send = send
        self._describe = describe or (lambda identity: {"identity": identity})
        self._client: RelayClient | None = None
        self._events: EventStream | None = None
        self._pump: asyncio.Task[None] | None = None
        self.legs: set[str] = set()

    async def offer(self, *, role: str, sdp: Any) -> None:
        sdp = sdp_check(sdp)
        pool = pool_factory()
        try:
            if self._client is None:
                client, events, reply = await pool.offer(
                    session=self.session,
                    peer=self.peer,
                    role=role,
                    sdp=sdp,
                    identity=self.identity,
                    profile="consult",
                )
                self._client, self._events = client, events
                self._pump = asyncio.create_task(self._pump_events(events))
            else:
                reply = await self._client.offer(
                    session=self.session,
                    peer=self.peer,
                    role=role,
                    sdp=sdp,
                    identity=self.identity,
                    profile="consult",
                )
        except RelayError as exc:
            raise SignallingError(exc.code, exc.message or "The media relay refused.") from exc
        self.legs.add(role)
        await self._send(
            {
                "type": "answer",
                "role": role,
                "sdp": reply["sdp"],
                "tracks": self._tracks(reply.get("tracks") or []),
            }
        )

    async def answer(self, *, sdp: Any) -> None:
        sdp = sdp_check(sdp)
        if self._client is None:
            raise SignallingError("no_pending_offer", "There is no offer to answer.")
        try:
            reply = await self._client.answer(session=self.session, peer=self.peer, sdp=sdp)
        except RelayError as exc:
            raise SignallingError(exc.code, exc.message) from exc
        await self._send({"type": "tracks", "tracks": self._tracks(reply.get("tracks") or [])})

    async def ice(self, frame: dict[str, Any]) -> None:
        candidate = frame.get("candidate")
        if isinstance(candidate, dict):  # a browser's RTCIceCandidate as JSON
            frame = {**frame, **candidate}
            candidate = candidate.get("candidate")
        if not isinstance(candidate, str) or len(candidate) > MAX_CANDIDATE:
            raise SignallingError("ice_invalid", "Send the candidate as text.")
        mid = frame.get("sdpMid")
        index = frame.get("sdpMLineIndex")
        role = frame.get("role")
        if mid is not None and (not isinstance(mid, str) or len(mid) > 32):
            raise SignallingError("ice_invalid", "Bad sdpMid.")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            raise SignallingError("ice_invalid", "Bad sdpMLineIndex.")
        if role is not None and role not in ("publish", "subscribe"):
            raise SignallingError("ice_invalid", "Bad role.")
        if self._client is None:
            raise SignallingError("no_session", "Send an offer first.")
        try:
            await self._client.ice(
                session=self.session,
                peer=self.peer,
                candidate=candidate,
                sdp_mid=mid,
                sdp_mline_index=index,
                role=role,
            )
        except RelayError as exc:
            raise SignallingError(exc.code, exc.message) from exc

    async def leave(self, *, reason: str = "bye") -> None:
        """Leave the session (`bye`: gone; `disconnect`: may come back within the grace)."""
        client, events, pump = self._client, self._events, self._pump
        self._client = self._events = self._pump = None
        self.legs.clear()
        if client is not None:
            with contextlib.suppress(RelayError, OSError):
                await client.leave(session=self.session, peer=self.peer, reason=reason)
        if events is not None:
            events.close()
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump

    def _tracks(self, tracks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**t, **self._describe(t.get("publisher"))} for t in tracks]

    async def _pump_events(self, events: EventStream) -> None:
        try:
            async for event in events:
                frame = self._frame_for(event)
                if frame is not None:
                    await self._send(frame)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("consult media event pump of %s failed", self.peer)

    def _frame_for(self, event: dict[str, Any]) -> dict[str, Any] | None:
        name = event.get("event")
        if name == "offer":
            return {
                "type": "offer",
                "role": event.get("role", "subscribe"),
                "sdp": event.get("sdp"),
                "tracks": self._tracks(event.get("tracks") or []),
            }
        if name == "state":
            return {
                "type": "media.connection",
                "role": event.get("role"),
                "state": event.get("state"),
            }
        if name == "closed":
            self.legs.discard(str(event.get("role")))
            return {
                "type": "media.closed",
                "role": event.get("role"),
                "reason": event.get("reason"),
            }
        if name in ("publisher.joined", "publisher.away", "publisher.back", "publisher.left"):
            return {
                "type": "media.publisher",
                "event": name.split(".", 1)[1],
                **self._describe(event.get("identity")),
            }
        return None  # stats: not shown in consults
