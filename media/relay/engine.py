"""The relay engine: sessions, publishers, viewers, renegotiation, continuity and stats.

One engine runs per relay process, on one asyncio loop, and owns whole sessions (a live room
with its co-hosts and viewers, or a 1v1 consult). The control server (server.py) calls it;
tests may call it directly.

Model:
- A Session (opaque key such as `room:<merchant>:<room>`) has publishers, feeds and peers.
- A Peer (one signalling connection on the web side) has up to two legs, each its own
  RTCPeerConnection: a publish leg (the relay only receives) and a subscribe leg (the relay
  only sends). Every client `offer` starts a new peer connection for that role.
- A Publisher is an identity (the web side chooses it, e.g. `user:42`). Its published tracks
  are Feeds, kept across reconnects: a new publish offer for the same identity within the
  grace period swaps the source under the feeds, and viewers resume without renegotiation.
- A subscribe leg has Slots (m-lines). Each slot forwards one feed. The relay answers the
  viewer's offer with the feeds that fit its m-lines, then offers more m-lines itself when
  feeds come and go (co-hosts, PK), re-using idle slots of the same codec.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from aiortc import (
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from . import passthrough
from .client import EventStream, RelayClient
from .config import RelayConfig
from .fanout import Feed, ForwardTrack
from .passthrough import Codec, CodecInfo, SdpError, SdpInfo
from .protocol import RelayError

logger = logging.getLogger(__name__)

Owner = Hashable
EventSink = Callable[[Owner, dict[str, Any]], None]


class SessionDirectory(Protocol):
    """Where sessions live when several relays share Redis (registry.py)."""

    async def claim(self, session: str) -> str | None:
        """Take `session` for this relay; None if ours, else the owning relay's address."""

    async def release(self, session: str) -> None: ...


# --- publishing ---------------------------------------------------------------------------


class Source:
    """One received track of a publish leg: where a feed's frames come from right now."""

    def __init__(
        self, receiver: RTCRtpReceiver, kind: str, codec: Codec | None, ssrc: int | None
    ) -> None:
        self.receiver = receiver
        self.kind = kind
        self.codec = codec
        self.declared_ssrc = ssrc
        self.feed: Feed | None = None
        self.connected = False
        self.stats_lost = 0
        self.stats_received = 0

    def on_frame(self, data: bytes, pts: int) -> None:
        if self.feed is not None:
            self.feed.push(self, data, pts)


class PublishLeg:
    def __init__(self, pc: RTCPeerConnection, peer: Peer, identity: str) -> None:
        self.pc = pc
        self.peer = peer
        self.identity = identity
        self.sources: list[Source] = []
        self.mids: list[tuple[str | None, str, Source | None]] = []
        self.connected = False
        self.connected_at = 0.0
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None


class Publisher:
    def __init__(self, identity: str, remote: RemoteLeg | None = None) -> None:
        self.identity = identity
        self.leg: PublishLeg | None = None
        self.remote = remote  # pulled from another relay (cascade) rather than published here
        self.feeds: dict[tuple[str, int], Feed] = {}
        self.state = "connecting"  # connecting | live | away
        self.grace: asyncio.TimerHandle | None = None
        self.announced = False


# --- subscribing --------------------------------------------------------------------------


@dataclass
class Slot:
    transceiver: RTCRtpTransceiver
    kind: str
    track: ForwardTrack
    feed: Feed | None = None
    codec_key: str | None = None  # fixed once the sender started with a codec
    fresh: bool = False  # activated in the pending negotiation


class SubscribeLeg:
    def __init__(
        self, pc: RTCPeerConnection, peer: Peer, exclude: str | None, only: str | None = None
    ) -> None:
        self.pc = pc
        self.peer = peer
        self.exclude = exclude
        self.only = only
        self.slots: list[Slot] = []
        self.accepts: dict[str, list[CodecInfo]] = {"audio": [], "video": []}
        self.connected = False
        self.closed = False
        self.negotiating = False
        self.dirty = False
        self.timer: asyncio.TimerHandle | None = None
        self.renegotiations = 0

    def wants(self, feed: Feed) -> bool:
        """Feeds this viewer receives: not its own, only the chosen publisher's if it chose,
        and only in codecs its offer listed."""
        return (
            feed.publisher != self.exclude
            and (self.only is None or feed.publisher == self.only)
            and not feed.closed
            and feed.codec.accepted_by(self.accepts.get(feed.kind, []))
        )

    def tracks(self) -> list[dict[str, Any]]:
        return [
            {
                "mid": slot.transceiver.mid,
                "kind": slot.kind,
                "publisher": slot.feed.publisher if slot.feed else None,
                "feed": slot.feed.id if slot.feed else None,
                "codec": slot.feed.codec.name if slot.feed else None,
            }
            for slot in self.slots
        ]


# --- cascade ------------------------------------------------------------------------------


class RemoteLeg:
    """This relay as a viewer of a session on another relay (cascade): what it receives
    there becomes feeds of remote publishers here, for PK across relays and for crowds."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        client: RelayClient,
        address: str,
        remote_session: str,
        peer_id: str,
        only: str | None,
    ) -> None:
        self.pc = pc
        self.client = client
        self.address = address
        self.remote_session = remote_session
        self.peer_id = peer_id
        self.only = only
        self.sources: dict[RTCRtpReceiver, Source] = {}
        self.feeds: dict[str, Feed] = {}  # mid → local feed
        self.events: EventStream | None = None
        self.connected = False
        self.closed = False

    def tracks(self) -> list[dict[str, Any]]:
        return [
            {"mid": mid, "kind": feed.kind, "publisher": feed.publisher, "feed": feed.id}
            for mid, feed in self.feeds.items()
        ]


# --- sessions -----------------------------------------------------------------------------


class Peer:
    def __init__(self, peer_id: str, owner: Owner | None, detached: bool) -> None:
        self.id = peer_id
        self.owner = owner
        self.detached = detached
        self.lock = asyncio.Lock()
        self.publish: PublishLeg | None = None
        self.subscribe: SubscribeLeg | None = None


class Session:
    def __init__(self, key: str, profile: str) -> None:
        self.key = key
        self.profile = profile
        self.peers: dict[str, Peer] = {}
        self.publishers: dict[str, Publisher] = {}
        self.watchers: set[Owner] = set()
        self.pulls: dict[tuple[str, str], RemoteLeg] = {}
        self.created = time.monotonic()
        self.closed = False

    def feeds(self) -> list[Feed]:
        """All live feeds, in a stable order: publishers by arrival, audio before video."""
        out: list[Feed] = []
        for publisher in self.publishers.values():
            out += sorted(publisher.feeds.values(), key=lambda f: (f.kind != "audio", f.index))
        return out

    def subscribe_legs(self) -> list[SubscribeLeg]:
        return [p.subscribe for p in self.peers.values() if p.subscribe is not None]

    def owners(self) -> set[Owner]:
        owners = {p.owner for p in self.peers.values() if p.owner is not None}
        return owners | self.watchers


# --- the engine ---------------------------------------------------------------------------


class Relay:
    def __init__(
        self,
        config: RelayConfig,
        *,
        emit: EventSink | None = None,
        directory: SessionDirectory | None = None,
        relay_id: str = "local",
    ) -> None:
        self.config = config
        self.relay_id = relay_id
        self._emit_to = emit or (lambda owner, event: None)
        self.directory = directory
        self.sessions: dict[str, Session] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stats_task: asyncio.Task[None] | None = None
        self._feed_ids = itertools.count(1)
        self._remote_clients: dict[str, RelayClient] = {}
        self.closed = False
        self.counters: Counter[str] = Counter()

    def set_event_sink(self, emit: EventSink) -> None:
        self._emit_to = emit

    # --- lifecycle ---

    async def start(self) -> None:
        self._stats_task = asyncio.create_task(self._stats_loop())

    async def close(self) -> None:
        self.closed = True
        if self._stats_task is not None:
            self._stats_task.cancel()
        for key in list(self.sessions):
            await self.close_session(key, reason="relay_shutdown")
        for task in list(self._tasks):
            task.cancel()
        for client in self._remote_clients.values():
            await client.close()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("media relay task failed", exc_info=task.exception())

    def peer_connections(self) -> int:
        return sum(
            (p.publish is not None) + (p.subscribe is not None)
            for s in self.sessions.values()
            for p in s.peers.values()
        ) + sum(len(s.pulls) for s in self.sessions.values())

    def status(self) -> dict[str, Any]:
        return {
            "relay": self.relay_id,
            "sessions": len(self.sessions),
            "peer_connections": self.peer_connections(),
            "publishers": sum(len(s.publishers) for s in self.sessions.values()),
            "counters": dict(self.counters),
        }

    # --- events ---

    def _emit(self, owner: Owner | None, event: dict[str, Any]) -> None:
        if owner is None:
            return
        try:
            self._emit_to(owner, event)
        except Exception:
            logger.exception("media relay: event delivery failed")

    def _peer_event(self, session: Session, peer: Peer, event: str, **data: Any) -> None:
        self._emit(peer.owner, {"event": event, "session": session.key, "peer": peer.id, **data})

    def _session_event(self, session: Session, event: str, **data: Any) -> None:
        message = {"event": event, "session": session.key, "peer": None, **data}
        for owner in session.owners():
            self._emit(owner, message)

    # --- lookup ---

    async def _session_for_offer(self, key: str, profile: str) -> Session:
        session = self.sessions.get(key)
        if session is None:
            if len(self.sessions) >= self.config.max_sessions:
                raise RelayError("relay_full", "this relay hosts its maximum of sessions")
            if self.directory is not None:
                try:
                    address = await self.directory.claim(key)
                except Exception as exc:  # Redis unreachable: refuse rather than split a room
                    logger.warning("media relay: cannot claim %s: %s", key, exc)
                    raise RelayError("unavailable", "the session registry is unavailable") from exc
                if address is not None:
                    raise RelayError("moved", "the session lives on another relay", address=address)
            session = self.sessions.get(key)  # an offer racing ours may have created it
            if session is None:
                session = self.sessions[key] = Session(key, profile)
        if session.profile != profile:
            raise RelayError(
                "profile_mismatch", f"session {key} is a {session.profile}, not a {profile}"
            )
        return session

    def _session(self, key: str) -> Session:
        session = self.sessions.get(key)
        if session is None:
            raise RelayError("not_found", "no such session on this relay")
        return session

    def _peer(self, session: Session, peer_id: str, owner: Owner | None) -> Peer:
        peer = session.peers.get(peer_id)
        if peer is None or (not peer.detached and peer.owner != owner):
            raise RelayError("not_found", "no such peer in this session")
        return peer

    def _check_budget(self) -> None:
        if self.peer_connections() >= self.config.max_peer_connections:
            raise RelayError("relay_full", "this relay carries its maximum of peer connections")

    def _inspect(self, sdp: str, max_media: int) -> SdpInfo:
        if len(sdp.encode()) > self.config.sdp_max_bytes:
            raise RelayError("sdp_too_large", f"SDP exceeds {self.config.sdp_max_bytes} bytes")
        try:
            return passthrough.inspect_sdp(sdp, max_media=max_media)
        except SdpError as exc:
            raise RelayError("sdp_invalid", str(exc)) from exc

    # --- requests ---

    async def offer(
        self,
        *,
        session: str,
        peer: str,
        role: str,
        sdp: str,
        identity: str | None = None,
        profile: str = "room",
        owner: Owner | None = None,
        detached: bool = False,
        publisher: str | None = None,
        max_subscribers: int | None = None,
    ) -> dict[str, Any]:
        """A client's offer to publish or subscribe → `{"type": "answer", "sdp", "tracks"}`.

        Each offer starts a new peer connection for (peer, role), replacing an older one.
        Subscribers get every feed but their own (`identity`), or only `publisher`'s."""
        if self.closed:
            raise RelayError("unavailable", "the relay is shutting down")
        max_media = (
            self.config.max_publish_media if role == "publish" else self.config.max_subscribe_media
        )
        info = self._inspect(sdp, max_media)
        if role == "publish" and not identity:
            raise RelayError("bad_request", "identity is required to publish")
        sess = await self._session_for_offer(session, profile)
        existing = sess.peers.get(peer)
        if existing is not None and not existing.detached and existing.owner != owner:
            raise RelayError("peer_conflict", "peer id is in use by another connection")
        the_peer = existing or Peer(peer, owner, detached)
        sess.peers.setdefault(peer, the_peer)
        try:
            async with the_peer.lock:
                if role == "publish":
                    assert identity is not None
                    return await self._publish(sess, the_peer, sdp, info, identity)
                return await self._subscribe(
                    sess, the_peer, sdp, info, identity, publisher, max_subscribers
                )
        finally:
            await self._maybe_forget_peer(sess, the_peer)

    async def answer(
        self, *, session: str, peer: str, sdp: str, owner: Owner | None = None
    ) -> dict[str, Any]:
        """The viewer's answer to the relay's own offer (renegotiation)."""
        sess = self._session(session)
        the_peer = self._peer(sess, peer, owner)
        async with the_peer.lock:
            leg = the_peer.subscribe
            if leg is None or not leg.negotiating or leg.pc.signalingState != "have-local-offer":
                raise RelayError(
                    "no_pending_offer", "there is no relay offer waiting for an answer"
                )
            self._inspect(sdp, self.config.max_subscribe_media)
            try:
                await leg.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            except Exception as exc:
                raise RelayError("sdp_invalid", f"answer rejected: {exc}") from exc
            leg.negotiating = False
            if leg.timer is not None:
                leg.timer.cancel()
                leg.timer = None
            for slot in leg.slots:
                if slot.fresh and slot.feed is not None:
                    slot.feed.keyframes.request()
                slot.fresh = False
            if leg.dirty:
                self._spawn(self._reconcile(sess, leg))
            return {"tracks": leg.tracks()}

    async def ice(
        self,
        *,
        session: str,
        peer: str,
        candidate: str,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
        role: str | None = None,
        owner: Owner | None = None,
    ) -> dict[str, Any]:
        """A trickled remote ICE candidate ('' = end of candidates)."""
        if len(candidate) > self.config.ice_candidate_max_chars:
            raise RelayError("ice_invalid", "ICE candidate is too long")
        try:
            parsed = passthrough.parse_ice_candidate(
                candidate, sdp_mid=sdp_mid, sdp_mline_index=sdp_mline_index
            )
        except SdpError as exc:
            raise RelayError("ice_invalid", str(exc)) from exc
        sess = self._session(session)
        the_peer = self._peer(sess, peer, owner)
        async with the_peer.lock:
            legs: dict[str, PublishLeg | SubscribeLeg | None] = {
                "publish": the_peer.publish,
                "subscribe": the_peer.subscribe,
            }
            leg: PublishLeg | SubscribeLeg | None
            if role is None:
                live = [leg for leg in legs.values() if leg is not None]
                if len(live) != 1:
                    raise RelayError(
                        "bad_request", "role is required: the peer has two connections"
                    )
                leg = live[0]
            else:
                leg = legs[role]
            if leg is None or leg.closed:
                raise RelayError("not_found", f"the peer has no {role} connection")
            if parsed is not None:
                # Everything is BUNDLEd: the first m-line's transport carries all media.
                first = leg.pc.getTransceivers()[0]
                parsed.sdpMid = first.mid
                parsed.sdpMLineIndex = 0
            try:
                await leg.pc.addIceCandidate(parsed)
            except Exception as exc:
                raise RelayError("ice_invalid", f"ICE candidate rejected: {exc}") from exc
        return {}

    async def leave(
        self,
        *,
        session: str,
        peer: str,
        role: str | None = None,
        reason: str = "bye",
        owner: Owner | None = None,
    ) -> dict[str, Any]:
        """End a peer's connections. reason "bye": the user left (a publisher's tracks end
        now); "disconnect": the signalling connection dropped (a publisher is away and may
        come back within the grace period)."""
        sess = self.sessions.get(session)
        if sess is None or peer not in sess.peers:
            return {}  # leaving twice is not an error
        the_peer = self._peer(sess, peer, owner)
        async with the_peer.lock:
            if role in (None, "subscribe") and the_peer.subscribe is not None:
                await self._close_subscribe(sess, the_peer.subscribe, "left", notify=False)
            if role in (None, "publish") and the_peer.publish is not None:
                await self._publish_lost(
                    sess, the_peer.publish, "left", away=reason == "disconnect", notify=False
                )
        await self._maybe_forget_peer(sess, the_peer)
        return {}

    def watch(self, session: str, owner: Owner) -> dict[str, Any]:
        """Send this session's stats and publisher events to `owner` (a host console)."""
        sess = self.sessions.get(session)
        if sess is None:
            raise RelayError("not_found", "no such session on this relay")
        sess.watchers.add(owner)
        return {}

    def unwatch(self, session: str, owner: Owner) -> dict[str, Any]:
        sess = self.sessions.get(session)
        if sess is not None:
            sess.watchers.discard(owner)
        return {}

    async def owner_gone(self, owner: Owner) -> None:
        """A control connection closed: its peers' signalling is gone with it."""
        for sess in list(self.sessions.values()):
            sess.watchers.discard(owner)
            for peer in list(sess.peers.values()):
                if peer.owner == owner and not peer.detached:
                    await self.leave(
                        session=sess.key, peer=peer.id, reason="disconnect", owner=owner
                    )

    async def kick(self, session: str, identity: str, *, reason: str = "revoked") -> dict[str, Any]:
        """Stop a publisher now, wherever it publishes from (a co-host whose grant was
        revoked): its publish leg is closed (`closed {reason}` to its peer), its feeds end
        and viewers get `publisher.left` and a renegotiation. No grace. → {"kicked"}"""
        sess = self.sessions.get(session)
        publisher = sess.publishers.get(identity) if sess is not None else None
        if sess is None or publisher is None or publisher.remote is not None:
            return {"kicked": False}
        leg = publisher.leg
        if leg is None:  # away: it must not come back
            self._remove_publisher(sess, publisher, notify=True)
            await self._maybe_end_session(sess)
            return {"kicked": True}
        peer = leg.peer
        async with peer.lock:
            await self._publish_lost(sess, leg, reason, away=False)
        await self._maybe_forget_peer(sess, peer)
        self.counters["kicks"] += 1
        return {"kicked": True}

    async def close_session(self, session: str, *, reason: str = "closed") -> dict[str, Any]:
        """End everything in a session (the room ended, the consult was closed)."""
        sess = self.sessions.get(session)
        if sess is None:
            return {}
        sess.closed = True
        for remote in list(sess.pulls.values()):
            await self._remote_lost(sess, remote, reason, away=False, leave=True)
        for peer in list(sess.peers.values()):
            if peer.subscribe is not None:
                await self._close_subscribe(sess, peer.subscribe, reason)
            if peer.publish is not None:
                await self._publish_lost(sess, peer.publish, reason, away=False)
        for publisher in list(sess.publishers.values()):
            self._remove_publisher(sess, publisher, notify=False)
        sess.peers.clear()
        await self._maybe_end_session(sess)
        return {}

    # --- publish ---

    async def _publish(
        self, sess: Session, peer: Peer, sdp: str, info: SdpInfo, identity: str
    ) -> dict[str, Any]:
        limits = self.config.limits(sess.profile)
        publisher = sess.publishers.get(identity)
        if publisher is None and len(sess.publishers) >= limits.max_publishers:
            raise RelayError("publisher_limit", f"at most {limits.max_publishers} publishers")
        plan: list[tuple[passthrough.MediaInfo, Codec | None]] = []
        for media in info.media:
            codec = passthrough.pick_codec(media.kind, media.codecs) if media.sends else None
            if media.sends and codec is None:
                raise RelayError(
                    "codec_unsupported",
                    f"none of the offered {media.kind} codecs can be forwarded "
                    "(VP8, H.264 constrained baseline, Opus, G.711, G.722)",
                )
            plan.append((media, codec))
        if not any(codec for _, codec in plan):
            raise RelayError("sdp_invalid", "a publish offer must send at least one track")
        if peer.publish is None:
            self._check_budget()

        pc = RTCPeerConnection(self.config.rtc_configuration())
        leg = PublishLeg(pc, peer, identity)
        try:
            for media, codec in plan:
                if codec is None:
                    pc.addTransceiver(media.kind, direction="inactive")
                    continue
                transceiver = pc.addTransceiver(media.kind, direction="recvonly")
                transceiver.setCodecPreferences(codec.preferences())
                source = Source(transceiver.receiver, media.kind, codec, media.primary_ssrc)
                passthrough.tap_encoded_frames(transceiver.receiver, source.on_frame)
                leg.sources.append(source)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            if len(pc.getTransceivers()) != len(info.media):
                raise SdpError("media sections do not match")
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            await pc.close()
            raise RelayError("sdp_invalid", f"offer rejected: {exc}") from exc
        # Other offers ran while this one awaited: look again.
        publisher = sess.publishers.get(identity)
        if publisher is None and len(sess.publishers) >= limits.max_publishers:
            await pc.close()
            raise RelayError("publisher_limit", f"at most {limits.max_publishers} publishers")

        # The new connection replaces the peer's older publish leg, and the identity's
        # leg wherever it was (another tab, a reconnect through another web process).
        old = peer.publish
        if old is not None:
            # Same identity: the new leg takes over its feeds. Another identity: that one left.
            same = old.identity == identity
            await self._publish_lost(sess, old, "replaced", away=False, keep=same, notify=False)
        if publisher is not None and publisher.leg is not None:
            await self._publish_lost(sess, publisher.leg, "replaced", away=False, keep=True)
        if publisher is None:
            publisher = sess.publishers[identity] = Publisher(identity)
        if publisher.grace is not None:
            publisher.grace.cancel()
            publisher.grace = None
        publisher.leg = leg
        publisher.remote = None  # published here now, whatever was pulled before
        peer.publish = leg

        changed = False
        used: set[tuple[str, int]] = set()
        per_kind: Counter[str] = Counter()
        for source in leg.sources:
            codec = source.codec
            assert codec is not None  # publish legs pin their codecs up front
            slot_key = (source.kind, per_kind[source.kind])
            per_kind[source.kind] += 1
            used.add(slot_key)
            feed = publisher.feeds.get(slot_key)
            if feed is not None and feed.codec.key != codec.key:
                self._retire_feed(publisher, slot_key)
                feed = None
            if feed is None:
                feed = Feed(
                    feed_id=f"{identity}#{source.kind}{slot_key[1]}.{next(self._feed_ids)}",
                    publisher=identity,
                    kind=source.kind,
                    index=slot_key[1],
                    codec=codec,
                    keyframe_interval=self.config.keyframe_interval,
                    send_keyframe_request=self._send_keyframe_request,
                )
                publisher.feeds[slot_key] = feed
                changed = True
            source.feed = feed
            feed.set_source(source)
        for slot_key in [k for k in publisher.feeds if k not in used]:
            self._retire_feed(publisher, slot_key)
            changed = True

        self._watch_publish_leg(sess, publisher, leg)
        if changed:
            self._feeds_changed(sess)
        self.counters["publish_offers"] += 1
        return {
            "type": "answer",
            "sdp": pc.localDescription.sdp,
            "tracks": [
                {"mid": t.mid, "kind": t.kind, "feed": s.feed.id if s.feed else None}
                for t, s in zip(
                    [t for t in pc.getTransceivers() if t.direction == "recvonly"],
                    leg.sources,
                    strict=True,
                )
            ],
        }

    def _watch_publish_leg(self, sess: Session, publisher: Publisher, leg: PublishLeg) -> None:
        pc = leg.pc

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            if leg.closed:
                return
            self._peer_event(sess, leg.peer, "state", role="publish", state=state)
            if state == "connected":
                leg.connected = True
                leg.connected_at = time.monotonic()
                if leg.timer is not None:
                    leg.timer.cancel()
                    leg.timer = None
                for source in leg.sources:
                    source.connected = True
                if publisher.leg is leg:
                    was = publisher.state
                    publisher.state = "live"
                    if was == "away":
                        self._session_event(sess, "publisher.back", identity=publisher.identity)
                    elif not publisher.announced:
                        publisher.announced = True
                        self._session_event(sess, "publisher.joined", identity=publisher.identity)
                    for source in leg.sources:
                        if source.feed is not None:
                            source.feed.keyframes.request()
            elif state in ("failed", "closed"):
                await self._publish_lost(sess, leg, state, away=True)
                await self._maybe_forget_peer(sess, leg.peer)

        loop = asyncio.get_running_loop()
        leg.timer = loop.call_later(
            self.config.connect_timeout,
            lambda: self._spawn(self._publish_timeout(sess, leg)),
        )

    async def _publish_timeout(self, sess: Session, leg: PublishLeg) -> None:
        if not leg.connected and not leg.closed:
            await self._publish_lost(sess, leg, "connect_timeout", away=True)
            await self._maybe_forget_peer(sess, leg.peer)

    async def _publish_lost(
        self,
        sess: Session,
        leg: PublishLeg,
        reason: str,
        *,
        away: bool,
        keep: bool = False,
        notify: bool = True,
    ) -> None:
        """A publish leg ended. `away`: its publisher may come back within the grace period
        (viewers keep their slots); otherwise it left. `keep`: a new leg takes over now.
        `notify`: tell the leg's peer (not when it asked for this itself)."""
        if leg.closed:
            return
        leg.closed = True
        if leg.timer is not None:
            leg.timer.cancel()
            leg.timer = None
        if leg.peer.publish is leg:
            leg.peer.publish = None
        if notify:
            self._peer_event(sess, leg.peer, "closed", role="publish", reason=reason)
        publisher = sess.publishers.get(leg.identity)
        if publisher is not None and publisher.leg is leg:
            publisher.leg = None
            if keep:
                pass
            elif away and not sess.closed:
                for feed in publisher.feeds.values():
                    feed.set_source(None)
                if publisher.state != "away":
                    publisher.state = "away"
                    self._session_event(
                        sess, "publisher.away", identity=publisher.identity, reason=reason
                    )
                loop = asyncio.get_running_loop()
                publisher.grace = loop.call_later(
                    self.config.publisher_grace,
                    lambda: self._spawn(self._grace_expired(sess, publisher)),
                )
            else:
                self._remove_publisher(sess, publisher, notify=True)
        await leg.pc.close()

    async def _grace_expired(self, sess: Session, publisher: Publisher) -> None:
        publisher.grace = None
        if publisher.leg is None and sess.publishers.get(publisher.identity) is publisher:
            self._remove_publisher(sess, publisher, notify=True)
            await self._maybe_end_session(sess)

    def _remove_publisher(self, sess: Session, publisher: Publisher, *, notify: bool) -> None:
        if publisher.grace is not None:
            publisher.grace.cancel()
            publisher.grace = None
        for slot_key in list(publisher.feeds):
            self._retire_feed(publisher, slot_key)
        if sess.publishers.get(publisher.identity) is publisher:
            del sess.publishers[publisher.identity]
        if notify:
            self._session_event(sess, "publisher.left", identity=publisher.identity)
            self._feeds_changed(sess)

    def _retire_feed(self, publisher: Publisher, slot_key: tuple[str, int]) -> None:
        feed = publisher.feeds.pop(slot_key)
        feed.close()

    async def _send_keyframe_request(self, feed: Feed) -> bool:
        source = feed.source
        if not isinstance(source, Source) or not source.connected:
            return False
        ssrc = passthrough.media_ssrc(source.receiver, source.declared_ssrc)
        if ssrc is None:
            return False
        await passthrough.send_pli(source.receiver, ssrc)
        self.counters["keyframe_requests"] += 1
        return True

    # --- subscribe ---

    async def _subscribe(
        self,
        sess: Session,
        peer: Peer,
        sdp: str,
        info: SdpInfo,
        exclude: str | None,
        only: str | None,
        cap: int | None = None,
    ) -> dict[str, Any]:
        limits = self.config.limits(sess.profile)
        if peer.subscribe is None:
            self._check_viewer_cap(sess, cap)
            if len(sess.subscribe_legs()) >= limits.max_subscribers:
                raise RelayError("subscriber_limit", f"at most {limits.max_subscribers} viewers")
            self._check_budget()
        else:
            await self._close_subscribe(sess, peer.subscribe, "replaced", notify=False)

        pc = RTCPeerConnection(self.config.rtc_configuration())
        leg = SubscribeLeg(pc, peer, exclude, only)
        for media in info.media:
            leg.accepts[media.kind] += [c for c in media.codecs if not c.is_rtx]
        available = [f for f in sess.feeds() if leg.wants(f)]
        try:
            for media in info.media:
                track = ForwardTrack(media.kind, self.config.queue)
                feed = None
                if media.direction in ("recvonly", "sendrecv"):
                    feed = next(
                        (
                            f
                            for f in available
                            if f.kind == media.kind and f.codec.accepted_by(media.codecs)
                        ),
                        None,
                    )
                if feed is not None:
                    available.remove(feed)
                    transceiver = pc.addTransceiver(track, direction="sendonly")
                    transceiver.setCodecPreferences(feed.codec.preferences())
                else:
                    transceiver = pc.addTransceiver(track, direction="inactive")
                passthrough.on_keyframe_request(transceiver.sender, track.request_keyframe)
                leg.slots.append(Slot(transceiver, media.kind, track, feed=feed))
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            if len(pc.getTransceivers()) != len(info.media):
                raise SdpError("media sections do not match")
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            for slot in leg.slots:
                slot.track.stop()
            await pc.close()
            raise RelayError("sdp_invalid", f"offer rejected: {exc}") from exc
        over_cap = cap is not None and len(sess.subscribe_legs()) >= cap
        if over_cap or len(sess.subscribe_legs()) >= limits.max_subscribers:  # others joined
            for slot in leg.slots:
                slot.track.stop()
            await pc.close()
            if over_cap:
                raise RelayError("viewer_cap", f"this room takes {cap} WebRTC viewers")
            raise RelayError("subscriber_limit", f"at most {limits.max_subscribers} viewers")

        peer.subscribe = leg
        for slot in leg.slots:
            if slot.feed is not None:
                slot.codec_key = slot.feed.codec.key
                feed, slot.feed = slot.feed, None
                self._bind(slot, feed)
        self._watch_subscribe_leg(sess, leg)
        self.counters["subscribe_offers"] += 1
        return {
            "type": "answer",
            "sdp": pc.localDescription.sdp,
            "tracks": leg.tracks(),
            # Where each publisher stands now: a viewer joining while the host is away
            # learns it here (publisher.* events only report changes).
            "publishers": [
                {"identity": p.identity, "state": p.state} for p in sess.publishers.values()
            ],
        }

    @staticmethod
    def _check_viewer_cap(sess: Session, cap: int | None) -> None:
        """The web side's cap for this viewer (the merchant's plan): beyond it the viewer
        is sent to HLS. Viewers already connected are never dropped for it."""
        if cap is not None and len(sess.subscribe_legs()) >= cap:
            raise RelayError("viewer_cap", f"this room takes {cap} WebRTC viewers")

    def _bind(self, slot: Slot, feed: Feed | None) -> None:
        slot.feed = feed
        slot.track.bind(feed)

    def _watch_subscribe_leg(self, sess: Session, leg: SubscribeLeg) -> None:
        pc = leg.pc

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            if leg.closed:
                return
            self._peer_event(sess, leg.peer, "state", role="subscribe", state=state)
            if state == "connected":
                leg.connected = True
                if leg.timer is not None:
                    leg.timer.cancel()
                    leg.timer = None
                # PLI on join: the viewer can decode only from a keyframe.
                for slot in leg.slots:
                    if slot.feed is not None:
                        slot.feed.keyframes.request()
                await self._reconcile(sess, leg)
            elif state in ("failed", "closed"):
                await self._close_subscribe(sess, leg, state)
                await self._maybe_forget_peer(sess, leg.peer)

        loop = asyncio.get_running_loop()
        leg.timer = loop.call_later(
            self.config.connect_timeout,
            lambda: self._spawn(self._subscribe_timeout(sess, leg, "connect_timeout")),
        )

    async def _subscribe_timeout(self, sess: Session, leg: SubscribeLeg, reason: str) -> None:
        if leg.closed:
            return
        if reason == "connect_timeout" and leg.connected:
            return
        await self._close_subscribe(sess, leg, reason)
        await self._maybe_forget_peer(sess, leg.peer)

    async def _close_subscribe(
        self, sess: Session, leg: SubscribeLeg, reason: str, *, notify: bool = True
    ) -> None:
        if leg.closed:
            return
        leg.closed = True
        if leg.timer is not None:
            leg.timer.cancel()
            leg.timer = None
        if leg.peer.subscribe is leg:
            leg.peer.subscribe = None
        for slot in leg.slots:
            slot.track.stop()
            slot.feed = None
        if notify:
            self._peer_event(sess, leg.peer, "closed", role="subscribe", reason=reason)
        await leg.pc.close()

    def _feeds_changed(self, sess: Session) -> None:
        for leg in sess.subscribe_legs():
            self._spawn(self._reconcile(sess, leg))

    async def _reconcile(self, sess: Session, leg: SubscribeLeg) -> None:
        """Make the viewer's slots match the session's feeds; offer the change if any."""
        if leg.closed or sess.closed:
            return
        if not leg.connected or leg.negotiating or leg.pc.signalingState != "stable":
            leg.dirty = True
            return
        leg.dirty = False
        wanted = [f for f in sess.feeds() if leg.wants(f)]
        changed = False
        for old in leg.slots:
            if old.feed is not None and old.feed not in wanted:
                self._bind(old, None)
                old.transceiver.direction = "inactive"
                changed = True
        bound = {s.feed for s in leg.slots if s.feed is not None}
        for feed in wanted:
            if feed in bound:
                continue
            slot: Slot | None = self._free_slot(leg, feed)
            if slot is None:
                if len(leg.slots) >= self.config.max_subscribe_media:
                    logger.warning(
                        "media relay: viewer %s has no room for %s", leg.peer.id, feed.id
                    )
                    continue
                track = ForwardTrack(feed.kind, self.config.queue)
                transceiver = leg.pc.addTransceiver(track, direction="sendonly")
                passthrough.on_keyframe_request(transceiver.sender, track.request_keyframe)
                slot = Slot(transceiver, feed.kind, track)
                leg.slots.append(slot)
            slot.transceiver.direction = "sendonly"
            if slot.codec_key is None:
                slot.transceiver.setCodecPreferences(feed.codec.preferences())
                slot.codec_key = feed.codec.key
            slot.fresh = True
            self._bind(slot, feed)
            changed = True
        if changed:
            await self._send_offer(sess, leg)

    @staticmethod
    def _free_slot(leg: SubscribeLeg, feed: Feed) -> Slot | None:
        free = [s for s in leg.slots if s.feed is None and s.kind == feed.kind]
        same = next((s for s in free if s.codec_key == feed.codec.key), None)
        return same or next((s for s in free if s.codec_key is None), None)

    async def _send_offer(self, sess: Session, leg: SubscribeLeg) -> None:
        leg.negotiating = True
        try:
            offer = await passthrough.create_offer_keeping_numbers(leg.pc)
            await leg.pc.setLocalDescription(offer)
        except Exception:
            logger.exception("media relay: could not renegotiate with viewer %s", leg.peer.id)
            await self._close_subscribe(sess, leg, "renegotiation_failed")
            await self._maybe_forget_peer(sess, leg.peer)
            return
        if leg.closed:
            return
        leg.renegotiations += 1
        self.counters["renegotiations"] += 1
        loop = asyncio.get_running_loop()
        leg.timer = loop.call_later(
            self.config.renegotiation_timeout,
            lambda: self._spawn(self._subscribe_timeout(sess, leg, "renegotiation_timeout")),
        )
        self._peer_event(
            sess,
            leg.peer,
            "offer",
            role="subscribe",
            sdp=leg.pc.localDescription.sdp,
            tracks=leg.tracks(),
        )

    # --- cascade ---

    def _remote_client(self, address: str) -> RelayClient:
        client = self._remote_clients.get(address)
        if client is None:
            client = self._remote_clients[address] = RelayClient(address, secret=self.config.secret)
        return client

    async def pull(
        self,
        *,
        session: str,
        address: str,
        remote_session: str,
        publisher: str | None = None,
        profile: str = "room",
    ) -> dict[str, Any]:
        """Subscribe to `remote_session` on the relay at `address` and republish what it
        sends in `session` here, under the same publisher identities (all of them, or only
        `publisher`'s). Viewers here then get those feeds like local ones. → {"tracks"}"""
        if self.closed:
            raise RelayError("unavailable", "the relay is shutting down")
        sess = await self._session_for_offer(session, profile)
        key = (address, remote_session)
        existing = sess.pulls.get(key)
        if existing is not None:
            return {"tracks": existing.tracks()}
        try:
            self._check_budget()
        except RelayError:
            await self._maybe_end_session(sess)
            raise
        client = self._remote_client(address)
        pc = RTCPeerConnection(self.config.rtc_configuration())
        peer_id = f"cascade.{self.relay_id}.{next(self._feed_ids)}"[:128]
        leg = RemoteLeg(pc, client, address, remote_session, peer_id, publisher)

        @pc.on("track")
        def on_track(track: Any) -> None:
            # Emitted inside setRemoteDescription, before the receiver starts: tap it now.
            transceiver = next(t for t in pc.getTransceivers() if t.receiver.track is track)
            source = Source(transceiver.receiver, transceiver.kind, None, None)
            passthrough.tap_encoded_frames(transceiver.receiver, source.on_frame)
            leg.sources[transceiver.receiver] = source

        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")
        leg.events = client.events(remote_session, peer_id)
        try:
            await pc.setLocalDescription(await pc.createOffer())
            reply = await client.offer(
                session=remote_session,
                peer=peer_id,
                role="subscribe",
                sdp=pc.localDescription.sdp,
                identity=f"cascade:{self.relay_id}"[:128],
                profile=profile,
                publisher=publisher,
            )
            await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        except Exception as exc:
            leg.events.close()
            await pc.close()
            await self._maybe_end_session(sess)
            if isinstance(exc, RelayError):
                raise
            raise RelayError("unavailable", f"cannot pull from {address}: {exc}") from exc
        sess.pulls[key] = leg
        self._apply_remote_tracks(sess, leg, reply["tracks"])
        self._watch_remote_leg(sess, leg)
        self._spawn(self._follow_remote(sess, leg))
        self.counters["pulls"] += 1
        return {"tracks": leg.tracks()}

    async def unpull(self, *, session: str, address: str, remote_session: str) -> dict[str, Any]:
        """Stop pulling; the remote publishers leave this session."""
        sess = self.sessions.get(session)
        leg = sess.pulls.get((address, remote_session)) if sess else None
        if sess is not None and leg is not None:
            await self._remote_lost(sess, leg, "unpulled", away=False, leave=True)
            await self._maybe_end_session(sess)
        return {}

    def _apply_remote_tracks(
        self, sess: Session, leg: RemoteLeg, tracks: list[dict[str, Any]]
    ) -> None:
        """Mirror the remote relay's m-line → feed mapping as local feeds."""
        by_mid = {t.mid: t for t in leg.pc.getTransceivers()}
        changed = False
        seen: set[str] = set()
        for entry in tracks:
            mid, identity, remote_feed = entry.get("mid"), entry.get("publisher"), entry.get("feed")
            transceiver = by_mid.get(mid)
            if not isinstance(mid, str) or transceiver is None:
                continue
            seen.add(mid)
            current = leg.feeds.get(mid)
            codec = passthrough.negotiated_codec(transceiver)
            source = leg.sources.get(transceiver.receiver)
            if (
                current is not None
                and current.remote_id == remote_feed
                and codec is not None
                and current.codec.key == codec.key
            ):
                continue
            if current is not None:
                self._drop_remote_feed(sess, leg, mid)
                changed = True
            if not isinstance(identity, str) or not remote_feed or codec is None or source is None:
                continue
            publisher = sess.publishers.get(identity)
            if publisher is None:
                publisher = sess.publishers[identity] = Publisher(identity, remote=leg)
                publisher.state = "live"
                self._session_event(sess, "publisher.joined", identity=identity)
            elif publisher.remote is None and publisher.leg is None:
                # away (an earlier pull dropped): this pull takes its feeds over, as a
                # republish would; viewers keep their slots
                if publisher.grace is not None:
                    publisher.grace.cancel()
                    publisher.grace = None
                publisher.remote = leg
                publisher.state = "live"
                self._session_event(sess, "publisher.back", identity=identity)
            elif publisher.remote is not leg:
                logger.warning("media relay: %s already publishes here; not pulling it", identity)
                continue
            taken = set(leg.feeds.values())
            reusable = next(
                (
                    f
                    for f in publisher.feeds.values()
                    if f.kind == transceiver.kind and f.codec.key == codec.key and f not in taken
                ),
                None,
            )
            if reusable is not None:
                reusable.remote_id = remote_feed
                source.codec = codec
                source.feed = reusable
                source.connected = leg.connected
                reusable.set_source(source)
                leg.feeds[mid] = reusable
                continue
            index = next(
                i for i in itertools.count() if (transceiver.kind, i) not in publisher.feeds
            )
            feed = Feed(
                feed_id=f"{identity}#{transceiver.kind}{index}.{next(self._feed_ids)}",
                publisher=identity,
                kind=transceiver.kind,
                index=index,
                codec=codec,
                keyframe_interval=self.config.keyframe_interval,
                send_keyframe_request=self._send_keyframe_request,
            )
            feed.remote_id = remote_feed
            publisher.feeds[(transceiver.kind, index)] = feed
            source.codec = codec
            source.feed = feed
            source.connected = leg.connected
            feed.set_source(source)
            leg.feeds[mid] = feed
            changed = True
        for mid in [m for m in leg.feeds if m not in seen]:
            self._drop_remote_feed(sess, leg, mid)
            changed = True
        if changed:
            self._feeds_changed(sess)

    def _drop_remote_feed(self, sess: Session, leg: RemoteLeg, mid: str) -> None:
        feed = leg.feeds.pop(mid)
        publisher = sess.publishers.get(feed.publisher)
        if publisher is None or publisher.remote is not leg:
            return
        key = next((k for k, f in publisher.feeds.items() if f is feed), None)
        if key is not None:
            self._retire_feed(publisher, key)
        if not publisher.feeds:
            self._remove_publisher(sess, publisher, notify=True)

    def _watch_remote_leg(self, sess: Session, leg: RemoteLeg) -> None:
        pc = leg.pc

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if leg.closed:
                return
            if pc.connectionState == "connected":
                leg.connected = True
                for source in leg.sources.values():
                    source.connected = True
                    if source.feed is not None:
                        source.feed.keyframes.request()
            elif pc.connectionState in ("failed", "closed"):
                await self._remote_lost(sess, leg, pc.connectionState, away=True, leave=True)

    async def _follow_remote(self, sess: Session, leg: RemoteLeg) -> None:
        """Answer the remote relay's renegotiations; mirror its publisher events."""
        assert leg.events is not None
        reason = "closed"
        async for event in leg.events:
            if leg.closed:
                return
            name = event.get("event")
            if name == "offer":
                try:
                    await leg.pc.setRemoteDescription(
                        RTCSessionDescription(sdp=event["sdp"], type="offer")
                    )
                    await leg.pc.setLocalDescription(await leg.pc.createAnswer())
                    await leg.client.answer(
                        session=leg.remote_session,
                        peer=leg.peer_id,
                        sdp=leg.pc.localDescription.sdp,
                    )
                except Exception as exc:
                    logger.warning("media relay: cascade renegotiation failed: %s", exc)
                    reason = "renegotiation_failed"
                    break
                self._apply_remote_tracks(sess, leg, event.get("tracks") or [])
            elif name in ("publisher.away", "publisher.back"):
                identity = event.get("identity")
                publisher = sess.publishers.get(identity) if isinstance(identity, str) else None
                if publisher is not None and publisher.remote is leg:
                    publisher.state = "away" if name == "publisher.away" else "live"
                    self._session_event(sess, name, identity=identity)
            elif name == "closed":
                reason = str(event.get("reason", "closed"))
                break
        await self._remote_lost(sess, leg, reason, away=True, leave=False)

    async def _remote_lost(
        self, sess: Session, leg: RemoteLeg, reason: str, *, away: bool, leave: bool
    ) -> None:
        """The pull ended. `away`: its publishers may come back (a new pull within the grace
        period takes them over); otherwise they left."""
        if leg.closed:
            return
        leg.closed = True
        if sess.pulls.get((leg.address, leg.remote_session)) is leg:
            del sess.pulls[(leg.address, leg.remote_session)]
        if leg.events is not None:
            leg.events.close()
        for publisher in [p for p in sess.publishers.values() if p.remote is leg]:
            if away and not sess.closed:
                publisher.remote = None
                for feed in publisher.feeds.values():
                    feed.set_source(None)
                if publisher.state != "away":
                    publisher.state = "away"
                    self._session_event(
                        sess, "publisher.away", identity=publisher.identity, reason=reason
                    )
                loop = asyncio.get_running_loop()
                publisher.grace = loop.call_later(
                    self.config.publisher_grace,
                    lambda p=publisher: self._spawn(self._grace_expired(sess, p)),  # type: ignore[misc]
                )
            else:
                self._remove_publisher(sess, publisher, notify=True)
        if leave:
            with contextlib.suppress(RelayError):  # the other relay is gone or forgot us
                await leg.client.leave(session=leg.remote_session, peer=leg.peer_id, reason="bye")
        await leg.pc.close()

    # --- bookkeeping ---

    async def _maybe_forget_peer(self, sess: Session, peer: Peer) -> None:
        if peer.publish is None and peer.subscribe is None and sess.peers.get(peer.id) is peer:
            del sess.peers[peer.id]
        await self._maybe_end_session(sess)

    async def _maybe_end_session(self, sess: Session) -> None:
        if sess.peers or sess.publishers or sess.pulls or self.sessions.get(sess.key) is not sess:
            return
        del self.sessions[sess.key]
        sess.closed = True
        for owner in sess.watchers:
            self._emit(owner, {"event": "session.ended", "session": sess.key, "peer": None})
        if self.directory is not None:
            try:
                await self.directory.release(sess.key)
            except Exception:
                logger.exception("media relay: could not release session %s", sess.key)

    # --- stats ---

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.stats_interval)
            for sess in list(self.sessions.values()):
                try:
                    await self._session_stats(sess)
                except Exception:
                    logger.exception("media relay: stats for %s failed", sess.key)

    async def _session_stats(self, sess: Session) -> None:
        now = time.monotonic()
        interval = self.config.stats_interval
        publishers: list[dict[str, Any]] = []
        listeners: set[Owner] = set(sess.watchers)
        for publisher in sess.publishers.values():
            leg = publisher.leg
            if leg is not None and leg.peer.owner is not None:
                listeners.add(leg.peer.owner)
            if leg is not None and leg.connected:
                last = max(
                    (f.stats.last_frame_at or 0.0 for f in publisher.feeds.values()),
                    default=0.0,
                )
                idle = now - max(last, leg.connected_at) > self.config.publisher_idle
                if idle and publisher.state == "live":
                    publisher.state = "away"
                    self._session_event(
                        sess, "publisher.away", identity=publisher.identity, reason="no_media"
                    )
                elif not idle and publisher.state == "away":
                    publisher.state = "live"
                    self._session_event(sess, "publisher.back", identity=publisher.identity)
            tracks = []
            for source_feed in sorted(
                publisher.feeds.values(), key=lambda f: (f.kind != "audio", f.index)
            ):
                frames, size, keyframes = source_feed.stats.take()
                track: dict[str, Any] = {
                    "feed": source_feed.id,
                    "kind": source_feed.kind,
                    "codec": source_feed.codec.name,
                    "bitrate": int(size * 8 / interval),
                    "keyframes": keyframes,
                    "viewers": len(source_feed.outputs),
                    "dropped_for_viewers": source_feed.stats.dropped,
                }
                if source_feed.kind == "video":
                    track.update(
                        fps=round(frames / interval, 1),
                        width=source_feed.stats.width,
                        height=source_feed.stats.height,
                    )
                source = source_feed.source
                if isinstance(source, Source) and source.connected:
                    track.update(await self._loss(source))
                tracks.append(track)
            publishers.append(
                {"identity": publisher.identity, "state": publisher.state, "tracks": tracks}
            )
        if not listeners:
            return
        legs = sess.subscribe_legs()
        event = {
            "event": "stats",
            "session": sess.key,
            "peer": None,
            "viewers": sum(1 for leg in legs if leg.connected),
            "subscribers": len(legs),
            "publishers": publishers,
        }
        for owner in listeners:
            self._emit(owner, event)

    @staticmethod
    async def _loss(source: Source) -> dict[str, Any]:
        report = await source.receiver.getStats()
        lost = received = 0
        for stat in report.values():
            if getattr(stat, "type", None) == "inbound-rtp":
                lost += stat.packetsLost
                received += stat.packetsReceived
        d_lost = max(0, lost - source.stats_lost)
        d_received = max(0, received - source.stats_received)
        source.stats_lost, source.stats_received = lost, received
        total = d_lost + d_received
        return {
            "packets_lost": lost,
            "fraction_lost": round(d_lost / total, 4) if total else 0.0,
        }
