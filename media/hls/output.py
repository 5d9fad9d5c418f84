"""Files of one broadcast ("epoch"): MPEG-TS segments per rendition, their playlists, the
master playlists, and for a recording the VOD playlists and a manifest with wall-clock times.

    <root>/<merchant id>/<room id>/master.m3u8          the room's live master (current epoch)
    <root>/<merchant id>/<room id>/<epoch>/
        master.m3u8    live master: <rendition>/live.m3u8
        replay.m3u8    recording master: <rendition>/replay.m3u8 (recording only)
        <rendition>/live.m3u8  rolling window;  <rendition>/replay.m3u8  every segment
        <rendition>/seg000123.ts
        epoch.json     the encoding parameters (a resumed epoch keeps them)
        segments.jsonl one line per segment written (resume and the replay timeline)
        recording.json the finished recording's manifest

Every file is written atomically. A segment becomes visible (renamed into place) before any
playlist names it. Live-only epochs delete segments a window after they left the playlist.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from .config import AUDIO_RATE, VIDEO_CLOCK, HlsSettings, Rendition
from .playlist import (
    Segment,
    Variant,
    avc1_codec,
    master_playlist,
    media_playlist,
    segment_name,
    write_atomic,
)

logger = logging.getLogger(__name__)

AAC_CODEC = "mp4a.40.2"
TS_OVERHEAD = 1.1  # MPEG-TS packetisation and PES headers, roughly
PTS_BASE = VIDEO_CLOCK  # the timeline starts at 1 s, so AAC priming never goes negative


@dataclass
class EncodedPacket:
    data: bytes
    pts: int  # in its stream's clock: 90 kHz video, 48 kHz audio
    keyframe: bool = False


@dataclass
class _Pending:
    start_pts: int  # 90 kHz
    wall: float
    started_at: float  # time.monotonic() of its first frame
    video: list[list[EncodedPacket]]
    audio: list[EncodedPacket] = field(default_factory=list)
    end_pts: int | None = None
    last_tick_at: float = 0.0


def room_dir(root: Path, merchant_id: int, room_id: int) -> Path:
    return root / str(merchant_id) / str(room_id)


def write_ts(
    path: Path,
    rendition: Rendition,
    fps: int,
    video: list[EncodedPacket],
    audio: list[EncodedPacket],
    audio_extradata: bytes | None,
) -> int:
    """Mux one segment; returns its size in bytes."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with av.open(str(tmp), "w", format="mpegts") as out:
            vs = out.add_stream("h264", rate=fps)
            vs.width, vs.height = rendition.width, rendition.height
            vs.time_base = Fraction(1, VIDEO_CLOCK)
            streams: list[Any] = [vs]
            a_s = None
            if audio:
                a_s = out.add_stream("aac", rate=AUDIO_RATE)
                a_s.layout = "stereo"  # type: ignore[union-attr]
                if audio_extradata:
                    a_s.codec_context.extradata = audio_extradata
                a_s.time_base = Fraction(1, AUDIO_RATE)
                streams.append(a_s)
            # Interleave by time, as a demuxer reading the file front to back wants it.
            merged = [(p.pts / VIDEO_CLOCK, 0, p) for p in video] + [
                (p.pts / AUDIO_RATE, 1, p) for p in audio
            ]
            merged.sort(key=lambda item: (item[0], item[1]))
            for _, kind, p in merged:
                packet = av.Packet(p.data)
                packet.pts = packet.dts = p.pts
                # Fixed clocks: the muxer changes the streams' time_base when it starts.
                if kind == 0:
                    packet.time_base = Fraction(1, VIDEO_CLOCK)
                    packet.stream = vs
                    packet.is_keyframe = p.keyframe
                else:
                    assert a_s is not None
                    packet.time_base = Fraction(1, AUDIO_RATE)
                    packet.stream = a_s
                out.mux(packet)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path.stat().st_size


class EpochWriter:
    """Writes one epoch's files. Not thread-safe: the render thread owns it."""

    def __init__(
        self,
        settings: HlsSettings,
        root: Path,
        merchant_id: int,
        room_id: int,
        epoch: str,
        *,
        record: bool,
    ) -> None:
        self.room_dir = room_dir(root, merchant_id, room_id)
        self.dir = self.room_dir / epoch
        self.epoch = epoch
        self.record = record
        self.settings = settings
        self.renditions = settings.renditions
        self.fps = settings.fps
        self.segment_seconds = settings.segment_seconds
        self.segments: list[Segment] = []  # the whole epoch when recording, else recent ones
        self.written = 0  # segments written by this process
        self.next_seq = 0
        self.next_pts = PTS_BASE
        self.resumed = False
        self.codecs: dict[str, str] = {}
        self.audio_extradata: bytes | None = None
        self.max_bitrate: dict[str, float] = {}
        self.latencies: list[float] = []  # last frame of a segment → segment on disk, s
        self.finished = False
        self.first_wall: float | None = None  # the epoch's first segment, even once trimmed
        self._pending: list[_Pending] = []
        self._audio_seen_pts = -1
        self._discontinuity_next = False
        self._discontinuities_dropped = 0

    # --- opening and resuming ---

    def open(self) -> None:
        """Create the directories, or pick up an epoch an earlier worker started: its
        parameters win, and the next segment is marked as a discontinuity."""
        meta_path = self.dir / "epoch.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            self.renditions = tuple(Rendition(**r) for r in meta["renditions"])
            self.fps = int(meta["fps"])
            self.segment_seconds = float(meta["segment_seconds"])
            self.record = bool(meta["record"])
            self.codecs = dict(meta.get("codecs", {}))
            self._load_segments()
            if self.segments:
                self.first_wall = self.segments[0].wall
                last = self.segments[-1]
                self.next_seq = last.seq + 1
                self.next_pts = last.pts + round(last.duration * VIDEO_CLOCK)
                self._discontinuity_next = True
            self.resumed = True
        else:
            for rendition in self.renditions:
                (self.dir / rendition.name).mkdir(parents=True, exist_ok=True)
            self._write_meta(created=time.time())

    def _write_meta(self, **extra: Any) -> None:
        path = self.dir / "epoch.json"
        meta: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        meta.update(
            {
                "version": 1,
                "epoch": self.epoch,
                "record": self.record,
                "fps": self.fps,
                "segment_seconds": self.segment_seconds,
                "renditions": [r.as_dict() for r in self.renditions],
                "audio_bitrate": self.settings.audio_bitrate,
                "codecs": self.codecs,
                **extra,
            }
        )
        write_atomic(path, json.dumps(meta, indent=1))

    def _load_segments(self) -> None:
        path = self.dir / "segments.jsonl"
        if not path.exists():
            return
        for line in path.read_text().splitlines():
            try:
                raw = json.loads(line)
                segment = Segment(
                    seq=int(raw["seq"]),
                    duration=float(raw["duration"]),
                    pts=int(raw["pts"]),
                    wall=float(raw["wall"]),
                    discontinuity=bool(raw.get("discontinuity", False)),
                )
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash: that segment is not named anywhere
            self.segments.append(segment)

    # --- packets in ---

    def begin_segment(self, pts: int, wall: float, now: float) -> None:
        """The render loop forced an IDR frame at `pts` in every rendition: a new segment."""
        if self._pending and self._pending[-1].end_pts is None:
            self._pending[-1].end_pts = pts
        self._pending.append(
            _Pending(pts, wall, now, [[] for _ in self.renditions], last_tick_at=now)
        )

    def video(self, index: int, packet: EncodedPacket, now: float) -> None:
        if not self._pending:
            return
        current = self._pending[-1]
        current.video[index].append(packet)
        current.last_tick_at = now
        if packet.keyframe and self.renditions[index].name not in self.codecs:
            codec = avc1_codec(packet.data)
            if codec:
                self.codecs[self.renditions[index].name] = codec

    def audio(self, packet: EncodedPacket) -> None:
        if not self._pending:
            return
        at = packet.pts * VIDEO_CLOCK // AUDIO_RATE
        target = self._pending[0]
        for pending in self._pending:
            if pending.start_pts <= at:
                target = pending
        target.audio.append(packet)
        self._audio_seen_pts = max(self._audio_seen_pts, at)
        self._flush_ready()

    def _flush_ready(self) -> None:
        # A segment is complete once the next one began (video) and audio has passed its end.
        while self._pending:
            head = self._pending[0]
            if head.end_pts is None or self._audio_seen_pts < head.end_pts:
                return
            self._pending.pop(0)
            self._write(head, head.end_pts)

    # --- writing ---

    def _write(self, pending: _Pending, end_pts: int) -> None:
        if not all(pending.video):
            return  # nothing encoded in some rendition (stopped mid-tick): skip it
        seq = self.next_seq
        duration = (end_pts - pending.start_pts) / VIDEO_CLOCK
        for index, rendition in enumerate(self.renditions):
            size = write_ts(
                self.dir / rendition.name / segment_name(seq),
                rendition,
                self.fps,
                pending.video[index],
                pending.audio,
                self.audio_extradata,
            )
            bitrate = size * 8 / duration if duration > 0 else 0.0
            self.max_bitrate[rendition.name] = max(self.max_bitrate.get(rendition.name, 0), bitrate)
        segment = Segment(
            seq=seq,
            duration=duration,
            pts=pending.start_pts,
            wall=pending.wall,
            discontinuity=self._discontinuity_next,
        )
        self._discontinuity_next = False
        self.next_seq = seq + 1
        self.next_pts = end_pts
        self.segments.append(segment)
        if self.first_wall is None:
            self.first_wall = segment.wall
        self.written += 1
        self.latencies.append(time.monotonic() - pending.last_tick_at)
        with open(self.dir / "segments.jsonl", "a") as log:
            log.write(json.dumps(segment.as_json()) + "\n")
        if self.written == 1:
            self._write_meta(codecs=self.codecs)
        self._write_playlists(ended=False)
        if self.written == 1:
            self._write_masters()
        self._trim()

    def _live_window(self) -> list[Segment]:
        return self.segments[-self.settings.window :]

    def _write_playlists(self, *, ended: bool) -> None:
        window = self._live_window()
        # Discontinuities that left the window still count (EXT-X-DISCONTINUITY-SEQUENCE).
        first = window[0].seq if window else 0
        dropped = sum(1 for s in self.segments if s.seq < first and s.discontinuity)
        dseq = self._discontinuities_dropped + dropped
        target = self.settings.target_duration
        for rendition in self.renditions:
            folder = self.dir / rendition.name
            write_atomic(
                folder / "live.m3u8",
                media_playlist(window, target=target, discontinuity_sequence=dseq, ended=ended),
            )
            if self.record:
                write_atomic(
                    folder / "replay.m3u8",
                    media_playlist(
                        self.segments,
                        target=target,
                        ended=ended,
                        playlist_type="VOD" if ended else "EVENT",
                        every_date=False,
                    ),
                )

    def variants(self, prefix: str, playlist: str) -> list[Variant]:
        out = []
        audio = self.settings.audio_bitrate
        for r in self.renditions:
            # VBV: maxrate = the bitrate, buffer = 1 s, so a segment peaks at most at
            # bitrate x (1 + 1/segment seconds).
            peak = r.video_bitrate * (1 + 1 / self.segment_seconds) + audio
            out.append(
                Variant(
                    uri=f"{prefix}{r.name}/{playlist}",
                    bandwidth=int(peak * TS_OVERHEAD),
                    average_bandwidth=int((r.video_bitrate + audio) * TS_OVERHEAD),
                    width=r.width,
                    height=r.height,
                    codecs=f"{self.codecs.get(r.name, 'avc1.4d401f')},{AAC_CODEC}",
                    frame_rate=float(self.fps),
                )
            )
        return out

    def _write_masters(self) -> None:
        write_atomic(self.dir / "master.m3u8", master_playlist(self.variants("", "live.m3u8")))
        if self.record:
            write_atomic(
                self.dir / "replay.m3u8", master_playlist(self.variants("", "replay.m3u8"))
            )
        # The room's stable URL now plays this epoch.
        write_atomic(
            self.room_dir / "master.m3u8",
            master_playlist(self.variants(f"{self.epoch}/", "live.m3u8")),
        )

    def _trim(self) -> None:
        """Live only: forget segments a whole window after they left the playlist (players
        that loaded an older playlist may still fetch them meanwhile)."""
        if self.record:
            return
        keep = 2 * self.settings.window
        while len(self.segments) > keep:
            old = self.segments.pop(0)
            if old.discontinuity:
                self._discontinuities_dropped += 1
            for rendition in self.renditions:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.dir / rendition.name / old.uri)

    # --- the end ---

    def suspend(self, last_pts: int | None) -> dict[str, Any]:
        """The worker is shutting down but the show goes on: write the complete segments it
        has and leave the playlists open, for the next worker to resume (a discontinuity)."""
        pending, self._pending = self._pending, []
        for p in pending:
            end = p.end_pts if p.end_pts is not None else last_pts
            if end is not None and end > p.start_pts:
                self._write(p, end)
        return self.summary()

    def finish(self, last_pts: int | None) -> dict[str, Any]:
        """Write what is pending, end the playlists (EXT-X-ENDLIST) and, when recording, the
        manifest. Idempotent. Returns a summary for the broadcast row."""
        if not self.finished:
            pending, self._pending = self._pending, []
            for p in pending:
                end = p.end_pts if p.end_pts is not None else last_pts
                if end is not None and end > p.start_pts:
                    self._write(p, end)
            self.finished = True
            if self.segments:
                self._write_playlists(ended=True)
                if self.record:
                    write_atomic(self.dir / "recording.json", json.dumps(self.manifest(), indent=1))
        return self.summary()

    def manifest(self) -> dict[str, Any]:
        """What a replay page needs: where each segment sits in media time and wall time,
        so events (pins, purchases) line up with the video."""
        media = 0.0
        rows = []
        for s in self.segments:
            rows.append(
                [s.seq, round(media, 3), round(s.wall, 3), round(s.duration, 3), s.discontinuity]
            )
            media += s.duration
        return {
            "version": 1,
            "epoch": self.epoch,
            "started_at": self.segments[0].wall if self.segments else None,
            "ended_at": self.segments[-1].wall + self.segments[-1].duration
            if self.segments
            else None,
            "duration": round(media, 3),
            "playlist": "replay.m3u8",
            "renditions": [
                {
                    "name": v.uri.split("/")[0],
                    "bandwidth": v.bandwidth,
                    "resolution": f"{v.width}x{v.height}",
                    "codecs": v.codecs,
                }
                for v in self.variants("", "replay.m3u8")
            ],
            "segments_columns": ["seq", "media_start", "wall_start", "duration", "discontinuity"],
            "segments": rows,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "segments": self.next_seq,
            "started_at": self.first_wall,
            # the whole epoch is listed when recording; live-only keeps recent segments
            "duration": sum(s.duration for s in self.segments) if self.record else None,
            "written": self.written,
        }


def remove_epoch(root: Path, merchant_id: int, room_id: int, epoch: str) -> None:
    """Delete an epoch's files (an unrecorded show, once players are done with it)."""
    path = room_dir(root, merchant_id, room_id) / epoch
    if path.is_dir() and path.parent.parent.parent == root:
        shutil.rmtree(path, ignore_errors=True)
