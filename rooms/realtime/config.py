"""Engine settings. Read from Django settings (which read them from the environment, see
`liveshop/settings.py`); tests and the benchmark build `RealtimeConfig` directly."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

# Contract: at least 10,000 events are kept per room for `since` resumes.
MIN_RETENTION = 10_000


@dataclass(frozen=True)
class RealtimeConfig:
    tick_s: float = 0.1
    """Minimum spacing of batch frames per room (the contract's "at most every 100 ms")."""
    fold_threshold: int = 60
    """`chat.message` events per tick above which chat is folded (only the newest this many
    are kept; the rest are counted in `folded`)."""
    queue_frames: int = 50
    """Frames one connection may have waiting; one more closes it with 4408."""
    retention: int = MIN_RETENTION
    """Events kept per room stream (Redis trims approximately, never below this)."""
    stream_ttl_s: int = 7 * 24 * 3600
    """A room stream that receives nothing for this long expires from Redis (its seq then
    continues from the database)."""
    reseed_margin: int = 1000
    """After a stream loss, resumes with `since` up to floor + this many get `gap: true`:
    events delivered but not yet persisted (about one persist interval's worth) may have been
    lost, and their seqs are reused. Hubs that survive the loss raise it to what they saw."""
    stats_interval_s: float = 1.0
    """How often the hub re-reads viewers/likes, and the minimum spacing of stats-only batches."""
    hub_idle_s: float = 10.0
    """A hub whose last subscriber left stops after this long."""
    max_frame_bytes: int = 64 * 1024
    """Batch frames are split (with continuous from/to) to stay under this size."""
    max_event_bytes: int = 8 * 1024
    """One event's JSON may not be larger than this (publishers get ValueError)."""
    recent_chat: int = 50
    """`chat.message` events carried in `hello.recent`."""
    replay_chunk: int = 500
    """Events read from the stream per round trip while replaying a resume."""
    tail_block_s: float = 5.0
    """Longest blocking stream read; an idle hub checks for a stream reset this often."""
    persist_interval_s: float = 0.2
    """How often appended events are written to the event sink in bulk."""
    persist_max_pending: int = 200_000
    """Events kept for retry while the sink fails; beyond that the oldest are dropped (logged)."""
    like_max_per_frame: int = 50
    """Largest `like {count}` accepted from one client frame."""
    presence_ttl_s: float = 45.0
    """A viewer not heard of for this long is no longer counted."""
    presence_heartbeat_s: float = 15.0
    """How often a process refreshes the presence of its connected viewers."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(
                    f"realtime setting {f.name} must be a positive number, got {value!r}"
                )
        if self.presence_heartbeat_s >= self.presence_ttl_s:
            raise ValueError("presence_heartbeat_s must be shorter than presence_ttl_s")

    def with_(self, **changes: Any) -> RealtimeConfig:
        return replace(self, **changes)

    @classmethod
    def from_settings(cls) -> RealtimeConfig:
        """The values in Django settings (`LIVESHOP_ROOM_*`), defaults for the ones not set."""
        from django.conf import settings

        values: dict[str, Any] = {}
        for f in fields(cls):
            name = "LIVESHOP_ROOM_" + f.name.upper()
            if hasattr(settings, name):
                values[f.name] = getattr(settings, name)
        return cls(**values)
