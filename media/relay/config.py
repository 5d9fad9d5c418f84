"""Relay configuration: limits and timings, read from Django settings (LIVESHOP_MEDIA, ...).

The engine takes a RelayConfig rather than reading settings itself, so tests can run relays
with short timeouts and small queues side by side."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCBundlePolicy

from .fanout import QueueLimits

SDP_MAX_BYTES = 64 * 1024
ICE_CANDIDATE_MAX_CHARS = 512


@dataclass(frozen=True)
class SessionLimits:
    max_publishers: int
    max_subscribers: int


@dataclass(frozen=True)
class RelayConfig:
    ice_servers: tuple[dict[str, Any], ...] = ()
    sdp_max_bytes: int = SDP_MAX_BYTES
    ice_candidate_max_chars: int = ICE_CANDIDATE_MAX_CHARS
    max_publish_media: int = 4  # m-lines in a publisher's offer (2 audio + 2 video)
    max_subscribe_media: int = 16  # m-lines a viewer's peer connection may grow to
    max_sessions: int = 200
    max_peer_connections: int = 400  # per relay process, publishers and viewers together
    room: SessionLimits = SessionLimits(max_publishers=6, max_subscribers=300)
    consult: SessionLimits = SessionLimits(max_publishers=2, max_subscribers=3)
    publisher_grace: float = 15.0
    publisher_idle: float = 3.0
    connect_timeout: float = 15.0
    renegotiation_timeout: float = 10.0
    keyframe_interval: float = 0.3
    stats_interval: float = 1.0
    queue: QueueLimits = field(default_factory=QueueLimits)
    secret: str = ""  # for this relay's own connections to other relays (cascade)

    def limits(self, profile: str) -> SessionLimits:
        if profile == "room":
            return self.room
        if profile == "consult":
            return self.consult
        raise ValueError(f"unknown session profile {profile!r}")

    def rtc_configuration(self) -> RTCConfiguration:
        # iceServers=[] rather than None: None makes aiortc use Google's public STUN server.
        servers = [RTCIceServer(**server) for server in self.ice_servers]
        return RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)

    def with_(self, **changes: Any) -> RelayConfig:
        return replace(self, **changes)

    @classmethod
    def from_settings(cls) -> RelayConfig:
        from django.conf import settings

        media: dict[str, Any] = dict(getattr(settings, "LIVESHOP_MEDIA", {}))
        servers = getattr(settings, "LIVESHOP_ICE_SERVERS", []) or []
        for server in servers:
            if not isinstance(server, dict) or "urls" not in server:
                raise ValueError(f"LIVESHOP_ICE_SERVERS entries need 'urls': {server!r}")
        defaults = cls()
        return cls(
            ice_servers=tuple(dict(s) for s in servers),
            max_sessions=media.get("MAX_SESSIONS", defaults.max_sessions),
            max_peer_connections=media.get("MAX_PEER_CONNECTIONS", defaults.max_peer_connections),
            room=SessionLimits(
                max_publishers=media.get("ROOM_MAX_PUBLISHERS", defaults.room.max_publishers),
                max_subscribers=media.get("ROOM_MAX_SUBSCRIBERS", defaults.room.max_subscribers),
            ),
            consult=SessionLimits(
                max_publishers=media.get("CONSULT_MAX_PUBLISHERS", defaults.consult.max_publishers),
                max_subscribers=media.get(
                    "CONSULT_MAX_SUBSCRIBERS", defaults.consult.max_subscribers
                ),
            ),
            publisher_grace=media.get("PUBLISHER_GRACE", defaults.publisher_grace),
            publisher_idle=media.get("PUBLISHER_IDLE", defaults.publisher_idle),
            connect_timeout=media.get("CONNECT_TIMEOUT", defaults.connect_timeout),
            renegotiation_timeout=media.get(
                "RENEGOTIATION_TIMEOUT", defaults.renegotiation_timeout
            ),
            keyframe_interval=media.get("KEYFRAME_INTERVAL", defaults.keyframe_interval),
            stats_interval=media.get("STATS_INTERVAL", defaults.stats_interval),
            secret=getattr(settings, "LIVESHOP_MEDIA_RELAY_SECRET", ""),
        )
