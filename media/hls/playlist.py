"""M3U8 text, written by hand (RFC 8216): media playlists (a live window, or a whole
recording) and the master playlist naming every rendition. FFmpeg's hls muxer writes one
rendition per output, and we need the renditions' keyframes aligned and our own file layout."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

VERSION = 3  # floating-point EXTINF


@dataclass(frozen=True)
class Segment:
    seq: int
    duration: float  # seconds
    pts: int  # first video timestamp, 90 kHz
    wall: float  # Unix time when its first frame was shown on stage
    discontinuity: bool = False

    @property
    def uri(self) -> str:
        return segment_name(self.seq)

    def as_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "duration": round(self.duration, 6),
            "pts": self.pts,
            "wall": round(self.wall, 3),
            "discontinuity": self.discontinuity,
        }


@dataclass(frozen=True)
class Variant:
    uri: str
    bandwidth: int
    average_bandwidth: int
    width: int
    height: int
    codecs: str
    frame_rate: float


def segment_name(seq: int) -> str:
    return f"seg{seq:06d}.ts"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def target_duration(segments: Sequence[Segment], floor: int) -> int:
    """EXT-X-TARGETDURATION: every EXTINF rounded to the nearest integer must fit."""
    longest = max((s.duration for s in segments), default=0.0)
    return max(floor, math.floor(longest + 0.5))


def media_playlist(
    segments: Sequence[Segment],
    *,
    target: int,
    discontinuity_sequence: int = 0,
    ended: bool = False,
    playlist_type: str | None = None,
    every_date: bool = True,
) -> str:
    """A media playlist of these segments (oldest first). `discontinuity_sequence` counts the
    discontinuities of segments that already left a live window. `every_date` stamps each
    segment with EXT-X-PROGRAM-DATE-TIME (else the first and those after a break)."""
    first = segments[0].seq if segments else 0
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{VERSION}",
        f"#EXT-X-TARGETDURATION:{target_duration(segments, target)}",
        f"#EXT-X-MEDIA-SEQUENCE:{first}",
    ]
    if discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}")
    if playlist_type:
        lines.append(f"#EXT-X-PLAYLIST-TYPE:{playlist_type}")
    lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    for i, segment in enumerate(segments):
        if segment.discontinuity and i > 0:
            lines.append("#EXT-X-DISCONTINUITY")
        if every_date or i == 0 or segment.discontinuity:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(segment.wall)}")
        lines.append(f"#EXTINF:{segment.duration:.3f},")
        lines.append(segment.uri)
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master_playlist(variants: Sequence[Variant]) -> str:
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in sorted(variants, key=lambda v: -v.bandwidth):
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.bandwidth},AVERAGE-BANDWIDTH={v.average_bandwidth},"
            f'RESOLUTION={v.width}x{v.height},CODECS="{v.codecs}",FRAME-RATE={v.frame_rate:.3f}'
        )
        lines.append(v.uri)
    return "\n".join(lines) + "\n"


def avc1_codec(packet: bytes) -> str | None:
    """RFC 6381 codec string (avc1.PPCCLL) from the SPS in an Annex-B access unit."""
    i = 0
    n = len(packet)
    while i + 3 < n:
        # start codes 00 00 01 (a 4-byte 00 00 00 01 ends in the same three bytes)
        j = packet.find(b"\x00\x00\x01", i)
        if j < 0 or j + 6 >= n:
            return None
        header = packet[j + 3]
        if header & 0x1F == 7:  # sequence parameter set
            profile, constraints, level = packet[j + 4], packet[j + 5], packet[j + 6]
            return f"avc1.{profile:02x}{constraints:02x}{level:02x}"
        i = j + 3
    return None


def write_atomic(path: Path, data: str | bytes) -> None:
    """Readers (nginx, a CDN, the view) see the old file or the new one, never half of one."""
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
