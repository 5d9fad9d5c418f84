"""Media signalling over a WebSocket: the one implementation behind `/ws/media/<m>/<room>/`
and the consult socket `/ws/consults/<m>/<id>/` (media/README.md, "Signalling sockets").

Two layers:

- `Signalling`: the relay side of one WebSocket connection. It forwards offer / answer /
  ice / leave to the session's relay over the control channel (RelayClient) and pumps the
  relay's events for this connection back as WS frames. It knows nothing about Channels.
- `SignallingMixin`: glue for a `liveshop.ws.TenantConsumer`. A consumer states what the
  connection may do by implementing `media_grant(role)` and routes frames with
  `media_frame(frame)`; the mixin validates and bounds the frames, rate-limits them, and
  leaves the relay when the socket closes.

Client frames: `{"type":"offer","sdp","role":"publish"|"subscribe"}` → `answer {sdp, role,
tracks[, publishers]}` (non-trickle: the relay's candidates are in its SDP);
`{"type":"answer","sdp"}` replies to a server `offer`; `{"type":"ice","candidate",
"sdpMid"?, "sdpMLineIndex"?, "role"?}`; `{"type":"leave","role"?}`. Refusals are `error`
frames `{code, message}` with the relay's codes (sdp_invalid, codec_unsupported, ...).
Server frames besides `answer`: `offer {role, sdp, tracks}` (renegotiation; reply with
`answer`), `state {role, state}`, `closed {role, reason}`, `publisher.joined|away|back|left
{identity, reason?}`, `stats {...}` (publishers only), `session.ended`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from liveshop.ws import Close, FrameError
from media.relay.client import EventStream, RelayClient
from media.relay.config import ICE_CANDIDATE_MAX_CHARS, SDP_MAX_BYTES
from media.relay.protocol import PROFILES, ROLES, RelayError
from media.relay.registry import RelayPool, relay_pool

log = logging.getLogger("liveshop.media.signalling")

Send = Callable[[dict[str, Any]], Awaitable[None]]
EventHook = Callable[[dict[str, Any], dict[str, Any]], Awaitable[dict[str, Any] | None]]

MID_MAX_CHARS = 32
MAX_MLINE_INDEX = 63
# `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> …`
_CANDIDATE = re.compile(
    r"^(?:a=)?candidate:[A-Za-z0-9+/]{1,32} [12] (?:udp|tcp|UDP|TCP) \d{1,10} \S{1,255} "
    r"\d{1,5} typ (?:host|srflx|prflx|relay)(?: [\x21-\x7e]+)*"
)
_SDP_START = re.compile(r"^v=0\r?\n")


class SignallingError(Exception):
    """A refused signalling frame: becomes an `error` frame, the socket stays open."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- frame validation ---------------------------------------------------------------------


@dataclass(frozen=True)
class Ice:
    candidate: str  # "" = end of candidates
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None
    role: str | None = None


def _sdp(frame: dict[str, Any]) -> str:
    sdp = frame.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise SignallingError("sdp_invalid", 'Send the SDP as a string in "sdp".')
    if len(sdp.encode()) > SDP_MAX_BYTES:
        raise SignallingError("sdp_too_large", f"SDP is limited to {SDP_MAX_BYTES} bytes.")
    if not _SDP_START.match(sdp) or "\x00" in sdp:
        raise SignallingError("sdp_invalid", "This is not an SDP session description.")
    return sdp


def _role(frame: dict[str, Any], *, required: bool) -> str | None:
    role = frame.get("role")
    if role is None and not required:
        return None
    if role not in ROLES:
        raise SignallingError("bad_frame", '"role" must be "publish" or "subscribe".')
    return str(role)


def parse_offer(frame: dict[str, Any]) -> tuple[str, str]:
    """A client `offer` frame → (role, sdp)."""
    role = _role(frame, required=True)
    assert role is not None
    return role, _sdp(frame)


def parse_answer(frame: dict[str, Any]) -> str:
    """A client `answer` frame (to a server offer) → sdp."""
    return _sdp(frame)


def parse_ice(frame: dict[str, Any]) -> Ice:
    """A client `ice` frame → Ice. The relay checks candidates again in depth (addresses,
    ports); this bounds them and refuses what is not a candidate line at all."""
    candidate = frame.get("candidate")
    if isinstance(candidate, dict):  # RTCIceCandidate.toJSON() sent whole
        frame = {**frame, **candidate}
        candidate = frame.get("candidate")
    if candidate is None:
        candidate = ""
    if not isinstance(candidate, str) or len(candidate) > ICE_CANDIDATE_MAX_CHARS:
        raise SignallingError(
            "ice_invalid",
            f"A candidate is a string of at most {ICE_CANDIDATE_MAX_CHARS} characters.",
        )
    candidate = candidate.strip()
    if candidate and not _CANDIDATE.fullmatch(candidate):
        raise SignallingError("ice_invalid", "This is not an ICE candidate.")
    mid = frame.get("sdpMid")
    if mid is not None and (not isinstance(mid, str) or len(mid) > MID_MAX_CHARS):
        raise SignallingError("ice_invalid", f'"sdpMid" is a string of at most {MID_MAX_CHARS}.')
    index = frame.get("sdpMLineIndex")
    if index is not None and (
        isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_MLINE_INDEX
    ):
        raise SignallingError("ice_invalid", f'"sdpMLineIndex" is 0-{MAX_MLINE_INDEX}.')
    return Ice(candidate, mid, index, _role(frame, required=False))


# --- rate limits --------------------------------------------------------------------------


class FrameBudget:
    """Per-connection token buckets. An offer builds a peer connection in the relay, so a
    connection gets a few a minute; ICE frames are cheap but bounded too. A client that
    keeps hammering after being refused is closed (`abusive`)."""

    RATES: dict[str, tuple[float, float]] = {  # kind → (burst, refill per second)
        "offer": (6.0, 6 / 60),
        "answer": (20.0, 20 / 60),
        "ice": (100.0, 100 / 60),
        "leave": (10.0, 10 / 60),
    }
    ABUSE_AFTER = 20  # refusals in a row

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens = {kind: burst for kind, (burst, _) in self.RATES.items()}
        self._at = {kind: clock() for kind in self.RATES}
        self.refused_in_a_row = 0

    def take(self, kind: str) -> bool:
        burst, rate = self.RATES[kind]
        now = self._clock()
        tokens = min(burst, self._tokens[kind] + (now - self._at[kind]) * rate)
        self._at[kind] = now
        if tokens < 1:
            self._tokens[kind] = tokens
            self.refused_in_a_row += 1
            return False
        self._tokens[kind] = tokens - 1
        self.refused_in_a_row = 0
        return True

    @property
    def abusive(self) -> bool:
        return self.refused_in_a_row >= self.ABUSE_AFTER


# --- the relay side of one connection -------------------------------------------------------


def event_frame(event: dict[str, Any]) -> dict[str, Any] | None:
    """A relay event → the WS frame sent for it (None: not for the client)."""
    name = event.get("event")
    if name == "offer":
        return {
            "type": "offer",
            "role": event.get("role", "subscribe"),
            "sdp": event["sdp"],
            "tracks": event.get("tracks", []),
        }
    if name == "state":
        return {"type": "state", "role": event.get("role"), "state": event.get("state")}
    if name == "closed":
        return {"type": "closed", "role": event.get("role"), "reason": event.get("reason")}
    if name in ("publisher.joined", "publisher.away", "publisher.back", "publisher.left"):
        frame = {"type": name, "identity": event.get("identity")}
        if "reason" in event:
            frame["reason"] = event["reason"]
        return frame
    if name == "stats":
        return {
            "type": "stats",
            "viewers": event.get("viewers", 0),
            "subscribers": event.get("subscribers", 0),
            "publishers": event.get("publishers", []),
        }
    if name == "session.ended":
        return {"type": "session.ended"}
    return None


class Signalling:
    """One WebSocket connection's signalling with the relay of one session.

    `send` writes a frame to the socket. `on_event(event, frame)` (optional) sees every
    relay event with the frame made for it and returns the frame to send (or None); the
    room socket uses it to put the room live when its host's media arrives. Methods raise
    SignallingError for refusals (send it as an `error` frame)."""

    def __init__(
        self,
        *,
        session: str,
        profile: str,
        send: Send,
        on_event: EventHook | None = None,
        pool: Callable[[], RelayPool] = relay_pool,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}")
        self.session = session
        self.profile = profile
        self.peer = f"ws-{uuid.uuid4().hex}"  # relay tokens allow no '!' (channel names do)
        self._send = send
        self._on_event = on_event
        self._pool = pool
        self._client: RelayClient | None = None
        self._events: EventStream | None = None
        self._pump: asyncio.Task[None] | None = None
        self.legs: set[str] = set()  # roles with an open peer connection in the relay
        self.closed = False

    async def offer(
        self,
        *,
        role: str,
        sdp: str,
        identity: str | None = None,
        publisher: str | None = None,
        max_subscribers: int | None = None,
    ) -> dict[str, Any]:
        """Forward a client offer; sends (and returns) the `answer` frame."""
        self._check_open()
        try:
            client, events, reply = await self._pool().offer(
                session=self.session,
                peer=self.peer,
                role=role,
                sdp=sdp,
                identity=identity,
                profile=self.profile,
                publisher=publisher,
                **({"max_subscribers": max_subscribers} if max_subscribers is not None else {}),
            )
        except RelayError as exc:
            raise _refusal(exc) from exc
        if self.closed:  # the socket went while the relay answered: undo
            if events is not self._events:
                events.close()
            with contextlib.suppress(RelayError, OSError):
                await client.leave(session=self.session, peer=self.peer, reason="disconnect")
            raise SignallingError("closed", "The connection is closing.")
        if self._events is not events:
            self._stop_pump()
            self._client, self._events = client, events
            self._pump = asyncio.create_task(self._pump_events(events))
        self.legs.add(role)
        frame: dict[str, Any] = {
            "type": "answer",
            "role": role,
            "sdp": reply["sdp"],
            "tracks": reply.get("tracks", []),
        }
        if "publishers" in reply:
            frame["publishers"] = reply["publishers"]
        await self._send(frame)
        return frame

    async def answer(self, *, sdp: str) -> None:
        """The client's answer to a server `offer`."""
        client = self._leg_client()
        try:
            await client.answer(session=self.session, peer=self.peer, sdp=sdp)
        except RelayError as exc:
            raise _refusal(exc) from exc

    async def ice(self, ice: Ice) -> None:
        client = self._leg_client()
        role = ice.role
        if role is None and len(self.legs) == 1:
            role = next(iter(self.legs))
        try:
            await client.ice(
                session=self.session,
                peer=self.peer,
                candidate=ice.candidate,
                sdp_mid=ice.sdp_mid,
                sdp_mline_index=ice.sdp_mline_index,
                role=role,
            )
        except RelayError as exc:
            raise _refusal(exc) from exc

    async def leave(self, *, role: str | None = None, reason: str = "bye") -> None:
        """End one leg (or both). `bye`: the user left; a publisher's tracks end now."""
        if self._client is None or not self.legs:
            return
        try:
            await self._client.leave(session=self.session, peer=self.peer, role=role, reason=reason)
        except RelayError as exc:
            raise _refusal(exc) from exc
        self.legs.difference_update([role] if role else list(self.legs))

    async def close(self) -> None:
        """The socket closed. Without a `leave` first, the relay treats it as a dropped
        connection: a publisher is *away* and may come back within the grace period."""
        if self.closed:
            return
        self.closed = True
        if self._client is not None and self.legs:
            with contextlib.suppress(RelayError, OSError):
                await self._client.leave(session=self.session, peer=self.peer, reason="disconnect")
        self.legs.clear()
        self._stop_pump()

    # --- internals ---

    def _check_open(self) -> None:
        if self.closed:
            raise SignallingError("closed", "The connection is closing.")

    def _leg_client(self) -> RelayClient:
        self._check_open()
        if self._client is None or not self.legs:
            raise SignallingError("no_connection", "Send an offer first.")
        return self._client

    def _stop_pump(self) -> None:
        if self._events is not None:
            self._events.close()
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
        self._pump = None
        self._events = None

    async def _pump_events(self, events: EventStream) -> None:
        try:
            async for event in events:
                frame = event_frame(event)
                if event.get("event") == "closed":
                    reason = event.get("reason")
                    if reason == "overflow" and self._client is not None:
                        # This socket stopped reading the relay's events: give its peer
                        # connections up (the client re-offers when it catches up).
                        with contextlib.suppress(RelayError, OSError):
                            await self._client.leave(
                                session=self.session, peer=self.peer, reason="disconnect"
                            )
                    if reason in ("relay_unavailable", "overflow"):
                        self.legs.clear()  # the stream has ended, and the peer's legs with it
                    else:
                        self.legs.discard(str(event.get("role")))
                if self._on_event is not None and frame is not None:
                    frame = await self._on_event(event, frame)
                if frame is not None and not self.closed:
                    await self._send(frame)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A socket that went away mid-send, or a hook that failed: the connection's
            # signalling ends here; close() still leaves the relay.
            log.exception("media signalling: event pump of %s stopped", self.peer)
        finally:
            if self._events is events:
                self._events = None


def _refusal(exc: RelayError) -> SignallingError:
    messages = {
        "unavailable": gettext("Video is unavailable right now. Try again shortly."),
        "busy": gettext("Video is busy right now. Try again shortly."),
        "relay_full": gettext("Video is at capacity right now. Try again shortly."),
        "subscriber_limit": gettext("This room has the most viewers it can take right now."),
        "viewer_cap": gettext("This room has the most video viewers it can take right now."),
        "internal": gettext("Video failed. Try again."),
    }
    code = exc.code if exc.code != "moved" else "unavailable"
    return SignallingError(code, messages.get(code, exc.message))


# --- Channels glue --------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaGrant:
    """What one offer may do, decided by the consumer. `session` and `profile` are built
    server-side from the URL's merchant and object; `identity` is required to publish
    (`user:<id>`); a subscriber passes its identity to be spared its own feeds, and
    `publisher` to receive only that identity's feeds."""

    session: str
    profile: str = "room"
    identity: str | None = None
    publisher: str | None = None
    # Subscribers: refuse this viewer (`viewer_cap`) when the session already has this many
    # viewers (the merchant plan's WebRTC cap); None = only the relay's own limit.
    max_subscribers: int | None = None


class SignallingMixin:
    """Media signalling for a `TenantConsumer` subclass (put it first in the bases).

        class ConsultConsumer(SignallingMixin, TenantConsumer):
            async def media_grant(self, role):       # raise FrameError/SignallingError to refuse
                return MediaGrant(session=f"consult:{m.id}:{c.id}", profile="consult",
                                  identity=f"user:{self.user.pk}")
            async def on_frame(self, frame):
                if await self.media_frame(frame):
                    return
                ...                                   # the consult's own frames

    `media_event(event, frame)` may be overridden to react to relay events (return the
    frame to send, or None). The mixin leaves the relay when the socket closes."""

    media: Signalling | None = None
    _media_budget: FrameBudget | None = None
    # Each consumer decides what its connection may do: `async def media_grant(self, role)`
    # returns a MediaGrant or raises FrameError/SignallingError (see the example above).
    media_grant: Callable[[str], Awaitable[MediaGrant]]

    async def media_event(
        self, event: dict[str, Any], frame: dict[str, Any]
    ) -> dict[str, Any] | None:
        return frame

    def media_pool(self) -> RelayPool:
        return relay_pool()

    async def media_frame(self, frame: dict[str, Any]) -> bool:
        """Handle offer/answer/ice/leave; False for any other frame type."""
        kind = frame.get("type")
        if kind not in ("offer", "answer", "ice", "leave"):
            return False
        if self._media_budget is None:
            self._media_budget = FrameBudget()
        if not self._media_budget.take(str(kind)):
            if self._media_budget.abusive:
                await self.close(code=Close.ABUSE)  # type: ignore[attr-defined]
                return True
            raise FrameError(
                "rate_limited", gettext("Too many %(kind)s frames; slow down.") % {"kind": kind}
            )
        try:
            if kind == "offer":
                role, sdp = parse_offer(frame)
                grant = await self.media_grant(role)
                media = self._media_for(grant)
                await media.offer(
                    role=role,
                    sdp=sdp,
                    identity=grant.identity,
                    publisher=grant.publisher,
                    max_subscribers=grant.max_subscribers if role == "subscribe" else None,
                )
            elif kind == "answer":
                sdp = parse_answer(frame)  # bad input is reported as such, whatever the state
                await self._media_required().answer(sdp=sdp)
            elif kind == "ice":
                ice = parse_ice(frame)
                await self._media_required().ice(ice)
            else:
                leaving = _role(frame, required=False)
                if self.media is not None:
                    await self.media.leave(role=leaving, reason="bye")
        except SignallingError as exc:
            raise FrameError(exc.code, exc.message) from exc
        return True

    async def media_close(self) -> None:
        if self.media is not None:
            await self.media.close()

    async def disconnect(self, code: int) -> None:
        await self.media_close()
        await super().disconnect(code)  # type: ignore[misc]

    def _media_required(self) -> Signalling:
        if self.media is None:
            raise SignallingError("no_connection", "Send an offer first.")
        return self.media

    def _media_for(self, grant: MediaGrant) -> Signalling:
        if self.media is None:
            self.media = Signalling(
                session=grant.session,
                profile=grant.profile,
                send=self.send_json,  # type: ignore[attr-defined]
                on_event=self.media_event,
                pool=self.media_pool,
            )
        elif (self.media.session, self.media.profile) != (grant.session, grant.profile):
            raise SignallingError("bad_request", "This connection signals for another session.")
        return self.media
