"""A small, strict M3U8 checker (RFC 8216 subset we rely on), independent of the writer.

`media(text)` and `master(text)` parse and validate a playlist or raise PlaylistError naming
the line; `successor(old, new)` checks a live playlist reload against the previous one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

MEDIA_TAGS = {
    "#EXT-X-VERSION",
    "#EXT-X-TARGETDURATION",
    "#EXT-X-MEDIA-SEQUENCE",
    "#EXT-X-DISCONTINUITY-SEQUENCE",
    "#EXT-X-PLAYLIST-TYPE",
    "#EXT-X-INDEPENDENT-SEGMENTS",
    "#EXT-X-PROGRAM-DATE-TIME",
    "#EXT-X-DISCONTINUITY",
    "#EXTINF",
    "#EXT-X-ENDLIST",
}
MASTER_TAGS = {"#EXT-X-VERSION", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-STREAM-INF"}
ONCE = {
    "#EXT-X-VERSION",
    "#EXT-X-TARGETDURATION",
    "#EXT-X-MEDIA-SEQUENCE",
    "#EXT-X-DISCONTINUITY-SEQUENCE",
    "#EXT-X-PLAYLIST-TYPE",
    "#EXT-X-INDEPENDENT-SEGMENTS",
    "#EXT-X-ENDLIST",
}
URI_RE = re.compile(r"^[A-Za-z0-9_./-]+$")
CODECS_RE = re.compile(
    r"^(avc1\.[0-9a-f]{6}|mp4a\.40\.[0-9]+)(,(avc1\.[0-9a-f]{6}|mp4a\.40\.[0-9]+))*$"
)


class PlaylistError(AssertionError):
    pass


@dataclass
class MediaSegment:
    seq: int
    duration: float
    uri: str
    discontinuity: bool
    date: datetime | None


@dataclass
class MediaPlaylist:
    version: int
    target: int
    media_sequence: int
    discontinuity_sequence: int
    playlist_type: str | None
    ended: bool
    segments: list[MediaSegment] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)


@dataclass
class Variant:
    bandwidth: int
    average_bandwidth: int | None
    resolution: tuple[int, int]
    codecs: list[str]
    uri: str


def _lines(text: str) -> list[str]:
    if not text.endswith("\n"):
        raise PlaylistError("playlist must end with a newline")
    lines = text.split("\n")[:-1]
    if not lines or lines[0] != "#EXTM3U":
        raise PlaylistError("first line must be #EXTM3U")
    for i, line in enumerate(lines):
        if line != line.strip() or not line:
            raise PlaylistError(f"line {i + 1}: blank or padded line {line!r}")
    return lines[1:]


def _int(value: str, where: str) -> int:
    if not re.fullmatch(r"\d+", value):
        raise PlaylistError(f"{where}: not a decimal integer: {value!r}")
    return int(value)


def media(text: str) -> MediaPlaylist:
    lines = _lines(text)
    seen: set[str] = set()
    values: dict[str, str] = {}
    segments: list[MediaSegment] = []
    pending_inf: float | None = None
    pending_disc = False
    pending_date: datetime | None = None
    ended = False
    for n, line in enumerate(lines, start=2):
        if ended:
            raise PlaylistError(f"line {n}: content after #EXT-X-ENDLIST")
        if line.startswith("#"):
            tag, _, value = line.partition(":")
            if tag not in MEDIA_TAGS:
                raise PlaylistError(f"line {n}: unknown or misplaced tag {tag}")
            if tag in ONCE:
                if tag in seen:
                    raise PlaylistError(f"line {n}: {tag} twice")
                seen.add(tag)
                values[tag] = value
            if tag == "#EXTINF":
                m = re.fullmatch(r"(\d+(?:\.\d+)?),", value)
                if not m or pending_inf is not None:
                    raise PlaylistError(f"line {n}: bad EXTINF {value!r}")
                pending_inf = float(m.group(1))
            elif tag == "#EXT-X-DISCONTINUITY":
                if value or pending_inf is not None:
                    raise PlaylistError(f"line {n}: bad discontinuity")
                pending_disc = True
            elif tag == "#EXT-X-PROGRAM-DATE-TIME":
                try:
                    pending_date = datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    raise PlaylistError(f"line {n}: bad date {value!r}") from None
                if pending_date.tzinfo is None:
                    raise PlaylistError(f"line {n}: date without a time zone")
            elif tag == "#EXT-X-ENDLIST":
                if pending_inf is not None:
                    raise PlaylistError(f"line {n}: ENDLIST after EXTINF without URI")
                ended = True
            continue
        if pending_inf is None:
            raise PlaylistError(f"line {n}: URI without EXTINF: {line!r}")
        if not URI_RE.match(line) or ".." in line:
            raise PlaylistError(f"line {n}: bad URI {line!r}")
        segments.append(MediaSegment(0, pending_inf, line, pending_disc, pending_date))
        pending_inf, pending_disc, pending_date = None, False, None
    if pending_inf is not None:
        raise PlaylistError("EXTINF at the end without a URI")
    for required in ("#EXT-X-TARGETDURATION", "#EXT-X-VERSION"):
        if required not in values:
            raise PlaylistError(f"missing {required}")
    version = _int(values["#EXT-X-VERSION"], "VERSION")
    target = _int(values["#EXT-X-TARGETDURATION"], "TARGETDURATION")
    sequence = _int(values.get("#EXT-X-MEDIA-SEQUENCE", "0"), "MEDIA-SEQUENCE")
    dseq = _int(values.get("#EXT-X-DISCONTINUITY-SEQUENCE", "0"), "DISCONTINUITY-SEQUENCE")
    ptype = values.get("#EXT-X-PLAYLIST-TYPE")
    if ptype not in (None, "EVENT", "VOD"):
        raise PlaylistError(f"bad PLAYLIST-TYPE {ptype}")
    if ptype == "VOD" and not ended:
        raise PlaylistError("a VOD playlist must end with #EXT-X-ENDLIST")
    uris = [s.uri for s in segments]
    if len(set(uris)) != len(uris):
        raise PlaylistError("a segment is listed twice")
    for i, segment in enumerate(segments):
        segment.seq = sequence + i
        if round(segment.duration) > target:
            raise PlaylistError(f"{segment.uri}: EXTINF {segment.duration} over target {target}")
        if version < 3 and segment.duration != int(segment.duration):
            raise PlaylistError("fractional EXTINF needs VERSION 3")
    return MediaPlaylist(version, target, sequence, dseq, ptype, ended, segments)


def _attributes(value: str, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in re.finditer(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)(,|$)', value):
        if m.group(1) in out:
            raise PlaylistError(f"{where}: attribute {m.group(1)} twice")
        out[m.group(1)] = m.group(2)
    rebuilt = ",".join(f"{k}={v}" for k, v in out.items())
    if rebuilt != value:
        raise PlaylistError(f"{where}: cannot parse attributes {value!r}")
    return out


def master(text: str) -> list[Variant]:
    lines = _lines(text)
    variants: list[Variant] = []
    pending: dict[str, str] | None = None
    seen: set[str] = set()
    for n, line in enumerate(lines, start=2):
        if line.startswith("#"):
            tag, _, value = line.partition(":")
            if tag not in MASTER_TAGS:
                raise PlaylistError(f"line {n}: tag {tag} does not belong in a master playlist")
            if tag in ONCE:
                if tag in seen:
                    raise PlaylistError(f"line {n}: {tag} twice")
                seen.add(tag)
            if tag == "#EXT-X-STREAM-INF":
                if pending is not None:
                    raise PlaylistError(f"line {n}: STREAM-INF without URI")
                pending = _attributes(value, f"line {n}")
            continue
        if pending is None:
            raise PlaylistError(f"line {n}: URI without STREAM-INF")
        if not URI_RE.match(line) or ".." in line:
            raise PlaylistError(f"line {n}: bad URI {line!r}")
        for required in ("BANDWIDTH", "RESOLUTION", "CODECS"):
            if required not in pending:
                raise PlaylistError(f"line {n}: STREAM-INF lacks {required}")
        resolution = re.fullmatch(r"(\d+)x(\d+)", pending["RESOLUTION"])
        codecs = pending["CODECS"]
        if not resolution:
            raise PlaylistError(f"line {n}: bad RESOLUTION")
        if not (codecs.startswith('"') and codecs.endswith('"')) or not CODECS_RE.match(
            codecs[1:-1]
        ):
            raise PlaylistError(f"line {n}: bad CODECS {codecs}")
        bandwidth = _int(pending["BANDWIDTH"], f"line {n} BANDWIDTH")
        average = pending.get("AVERAGE-BANDWIDTH")
        average_bw = _int(average, f"line {n}") if average is not None else None
        if average_bw is not None and average_bw > bandwidth:
            raise PlaylistError(f"line {n}: AVERAGE-BANDWIDTH above BANDWIDTH")
        variants.append(
            Variant(
                bandwidth,
                average_bw,
                (int(resolution.group(1)), int(resolution.group(2))),
                codecs[1:-1].split(","),
                line,
            )
        )
        pending = None
    if pending is not None:
        raise PlaylistError("STREAM-INF at the end without URI")
    if not variants:
        raise PlaylistError("a master playlist without variants")
    return variants


def successor(old: MediaPlaylist, new: MediaPlaylist) -> None:
    """A live reload: the media sequence never goes back, and a segment keeps its number."""
    if new.media_sequence < old.media_sequence:
        raise PlaylistError("MEDIA-SEQUENCE went backwards")
    if new.discontinuity_sequence < old.discontinuity_sequence:
        raise PlaylistError("DISCONTINUITY-SEQUENCE went backwards")
    before = {s.seq: s.uri for s in old.segments}
    for segment in new.segments:
        if segment.seq in before and before[segment.seq] != segment.uri:
            raise PlaylistError(f"segment {segment.seq} changed URI")
    if old.ended and new.segments != old.segments:
        raise PlaylistError("an ended playlist changed")
