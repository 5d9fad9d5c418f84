"""HLS settings (`LIVESHOP_HLS`), validated once into frozen dataclasses.

The worker and the serving view take an `HlsSettings` rather than reading Django settings
themselves, so tests run pipelines at small sizes side by side."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,15}$")
PROFILES = ("baseline", "main", "high")
VIDEO_CLOCK = 90000
AUDIO_RATE = 48000


@dataclass(frozen=True)
class Rendition:
    """One quality level: its own H.264 encode of the composed picture."""

    name: str
    width: int
    height: int
    video_bitrate: int
    profile: str = "main"

    def check(self) -> None:
        if not NAME_RE.match(self.name):
            raise ValueError(f"rendition name {self.name!r}: use 1-16 of [a-z0-9_-]")
        if not (16 <= self.width <= 3840 and 16 <= self.height <= 2160):
            raise ValueError(f"rendition {self.name}: size {self.width}x{self.height} out of range")
        if self.width % 2 or self.height % 2:
            raise ValueError(f"rendition {self.name}: width and height must be even (4:2:0)")
        if not (50_000 <= self.video_bitrate <= 20_000_000):
            raise ValueError(f"rendition {self.name}: video_bitrate out of range")
        if self.profile not in PROFILES:
            raise ValueError(f"rendition {self.name}: profile must be one of {PROFILES}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "video_bitrate": self.video_bitrate,
            "profile": self.profile,
        }


DEFAULT_RENDITIONS = (
    Rendition("720p", 1280, 720, 2_500_000, "high"),
    Rendition("360p", 640, 360, 800_000, "main"),
)


@dataclass(frozen=True)
class HlsSettings:
    enabled: bool = False
    root: Path = Path("var/media/hls")
    renditions: tuple[Rendition, ...] = DEFAULT_RENDITIONS
    fps: int = 30
    segment_seconds: float = 2.0
    window: int = 6  # segments in a live media playlist
    audio_bitrate: int = 128_000
    preset: str = "veryfast"
    threads: int = 0  # x264 threads per rendition; 0 = x264 decides
    # Audio waits this long in each feed's jitter buffer; video is held back as much, so
    # lips stay in sync.
    av_delay: float = 0.08
    max_sessions: int = 4  # broadcasts one worker renders at once
    poll_seconds: float = 1.0
    lease_seconds: float = 10.0  # a claim not renewed for this long may be taken over
    janitor_age: float = 600.0  # unrecorded output this long finished is deleted
    accel_redirect: str = ""  # nginx internal location prefix, e.g. "/_hls/"

    @property
    def gop(self) -> int:
        """Frames per segment: every segment starts with an IDR frame in every rendition."""
        return round(self.fps * self.segment_seconds)

    @property
    def target_duration(self) -> int:
        return max(1, math.ceil(self.segment_seconds))

    @property
    def canvas(self) -> tuple[int, int]:
        """The composed picture's size: that of the largest rendition."""
        top = max(self.renditions, key=lambda r: r.width * r.height)
        return top.width, top.height

    def check(self) -> HlsSettings:
        if not self.renditions or len(self.renditions) > 4:
            raise ValueError("LIVESHOP_HLS RENDITIONS: give 1 to 4 renditions")
        names = [r.name for r in self.renditions]
        if len(set(names)) != len(names):
            raise ValueError("LIVESHOP_HLS RENDITIONS: names must be unique")
        for rendition in self.renditions:
            rendition.check()
        if not (1 <= self.fps <= 60) or VIDEO_CLOCK % self.fps:
            raise ValueError("LIVESHOP_HLS FPS: 1-60 and a divisor of 90000 (e.g. 15, 25, 30)")
        if not (1.0 <= self.segment_seconds <= 6.0):
            raise ValueError("LIVESHOP_HLS SEGMENT_SECONDS: between 1 and 6")
        if abs(self.fps * self.segment_seconds - self.gop) > 1e-6:
            raise ValueError("LIVESHOP_HLS: FPS x SEGMENT_SECONDS must be a whole number of frames")
        if not (3 <= self.window <= 60):
            raise ValueError("LIVESHOP_HLS WINDOW: 3 to 60 segments")
        if not (32_000 <= self.audio_bitrate <= 320_000):
            raise ValueError("LIVESHOP_HLS AUDIO_BITRATE out of range")
        if not (0 <= self.av_delay <= 1.0):
            raise ValueError("LIVESHOP_HLS AV_DELAY: 0 to 1 second")
        if self.max_sessions < 1:
            raise ValueError("LIVESHOP_HLS MAX_SESSIONS: at least 1")
        if self.accel_redirect and not (
            self.accel_redirect.startswith("/") and self.accel_redirect.endswith("/")
        ):
            raise ValueError("LIVESHOP_HLS ACCEL_REDIRECT: a location like /_hls/")
        return self

    def with_(self, **changes: Any) -> HlsSettings:
        return replace(self, **changes).check()

    @classmethod
    def from_settings(cls) -> HlsSettings:
        from django.conf import settings

        raw: dict[str, Any] = dict(getattr(settings, "LIVESHOP_HLS", {}))
        defaults = cls()
        renditions = raw.get("RENDITIONS")
        return cls(
            enabled=bool(raw.get("ENABLED", False)),
            root=Path(raw.get("ROOT") or Path(settings.MEDIA_ROOT) / "hls"),
            renditions=(
                tuple(_rendition(r) for r in renditions) if renditions else defaults.renditions
            ),
            fps=int(raw.get("FPS", defaults.fps)),
            segment_seconds=float(raw.get("SEGMENT_SECONDS", defaults.segment_seconds)),
            window=int(raw.get("WINDOW", defaults.window)),
            audio_bitrate=int(raw.get("AUDIO_BITRATE", defaults.audio_bitrate)),
            preset=str(raw.get("PRESET", defaults.preset)),
            threads=int(raw.get("THREADS", defaults.threads)),
            av_delay=float(raw.get("AV_DELAY", defaults.av_delay)),
            max_sessions=int(raw.get("MAX_SESSIONS", defaults.max_sessions)),
            poll_seconds=float(raw.get("POLL_SECONDS", defaults.poll_seconds)),
            lease_seconds=float(raw.get("LEASE_SECONDS", defaults.lease_seconds)),
            janitor_age=float(raw.get("JANITOR_AGE", defaults.janitor_age)),
            accel_redirect=str(raw.get("ACCEL_REDIRECT", "")),
        ).check()


def _rendition(raw: Any) -> Rendition:
    if not isinstance(raw, dict):
        raise ValueError(f"LIVESHOP_HLS RENDITIONS entries are objects, not {raw!r}")
    unknown = set(raw) - {"name", "width", "height", "video_bitrate", "profile"}
    if unknown:
        raise ValueError(f"LIVESHOP_HLS RENDITIONS: unknown keys {sorted(unknown)}")
    try:
        return Rendition(
            name=str(raw["name"]),
            width=int(raw["width"]),
            height=int(raw["height"]),
            video_bitrate=int(raw["video_bitrate"]),
            profile=str(raw.get("profile", "main")),
        )
    except KeyError as exc:
        raise ValueError(f"LIVESHOP_HLS RENDITIONS entry lacks {exc}") from None


def hls_settings() -> HlsSettings:
    """The process's HLS settings (validated on each call: cheap, and tests override)."""
    return HlsSettings.from_settings()
