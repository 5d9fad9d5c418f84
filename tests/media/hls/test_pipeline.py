"""The HLS pipeline through a real relay: aiortc publishers → relay → the worker's subscriber
(decode once) → compose, mix, encode per rendition → segments and playlists on disk."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from media.hls.pipeline import BroadcastRun, Job
from media.relay.registry import LocalDirectory, RelayPool
from tests.media.clients import relay_harness, run
from tests.media.hls import m3u8check
from tests.media.hls.helpers import (
    HI,
    LO,
    TonePublisher,
    decode,
    describe,
    luma_halves,
    small_settings,
    tone_power,
    wait_for,
)

SESSION = "room:1:2"


def job(epoch: str = "20261125T100000-abcdef", *, record: bool = False) -> Job:
    return Job(broadcast_id=1, merchant_id=1, room_id=2, epoch=epoch, record=record, host="host")


def epoch_dir(root: Path, epoch: str = "20261125T100000-abcdef") -> Path:
    return root / "1" / "2" / epoch


def live(root: Path, rendition: str = "hi") -> m3u8check.MediaPlaylist:
    return m3u8check.media((epoch_dir(root) / rendition / "live.m3u8").read_text())


def assert_durations(playlist: m3u8check.MediaPlaylist, broadcast: BroadcastRun) -> None:
    """Segments last the configured second; one may be longer only by render ticks the
    loaded test machine made the loop skip (the frame shown longer, never time lost)."""
    skipped = broadcast.render.stats.skipped / 15
    for segment in playlist.segments[:-1]:  # the last one is cut short by the stop
        assert 1.0 - 0.01 <= segment.duration <= 1.0 + skipped + 0.01, segment


def test_one_publisher_segments_decode_and_playlists_validate(tmp_path: Path) -> None:
    settings = small_settings(tmp_path)
    runs: list[BroadcastRun] = []

    async def scenario() -> None:
        async with relay_harness() as h:
            host = TonePublisher(h.client, SESSION, "host-ws", "host", level=60, tone=440.0)
            h.closing.append(host)
            await host.start()
            pool = RelayPool(LocalDirectory(h.address))
            broadcast = BroadcastRun(settings, job(), pool=pool, identity="hls:test")
            runs.append(broadcast)
            broadcast.start()
            try:
                playlist = epoch_dir(tmp_path) / "hi" / "live.m3u8"
                await wait_for(playlist.exists, 10, "the first segment")
                previous = live(tmp_path)
                # Reload the live playlist like a player while 8 segments go by.
                while broadcast.writer.next_seq < 8:
                    await asyncio.sleep(0.3)
                    current = live(tmp_path)
                    m3u8check.successor(previous, current)
                    assert len(current.segments) <= settings.window and not current.ended
                    previous = current
                # The relay counts the worker as one viewer of the room.
                assert h.relay.sessions[SESSION].subscribe_legs()
            finally:
                summary = await broadcast.stop()
                await pool.close()
            assert summary["segments"] >= 8 and broadcast.render.stats.error is None

    run(scenario(), timeout=60)

    folder = epoch_dir(tmp_path)
    variants = m3u8check.master((folder / "master.m3u8").read_text())
    assert [(v.resolution, v.uri) for v in variants] == [
        ((320, 180), "hi/live.m3u8"),
        ((160, 90), "lo/live.m3u8"),
    ]
    for v in variants:
        assert v.codecs[0].startswith("avc1.") and v.codecs[1] == "mp4a.40.2"
        assert v.average_bandwidth is not None and v.average_bandwidth <= v.bandwidth
    assert variants[0].codecs[0].startswith("avc1.64")  # High for hi, Main for lo
    assert variants[1].codecs[0].startswith("avc1.4d")
    room_master = m3u8check.master((folder.parent / "master.m3u8").read_text())
    assert [v.uri for v in room_master] == [
        "20261125T100000-abcdef/hi/live.m3u8",
        "20261125T100000-abcdef/lo/live.m3u8",
    ]
    ended = live(tmp_path)
    assert ended.ended and ended.segments
    # Live only: segments a window behind the playlist are deleted, recent ones kept.
    assert not (folder / "hi" / "seg000000.ts").exists()
    for rendition, variant in ((HI, variants[0]), (LO, variants[1])):
        playlist = m3u8check.media((folder / rendition.name / "live.m3u8").read_text())
        assert not any(s.discontinuity for s in playlist.segments)
        assert_durations(playlist, runs[0])
        for segment in playlist.segments[:-1]:  # the last one is cut by the stop
            path = folder / rendition.name / segment.uri
            frames, audio, times = decode(path)
            skipped = runs[0].render.stats.skipped
            assert (segment.duration * 15) - skipped - 1 <= len(frames) <= segment.duration * 15 + 1
            assert frames[0].key_frame, "every segment starts with a keyframe"
            assert (frames[0].width, frames[0].height) == (rendition.width, rendition.height)
            assert times == sorted(times)
            assert audio.shape[1] == pytest.approx(48000, rel=0.1)
            assert tone_power(audio, 440.0) > 0.5
            bitrate = path.stat().st_size * 8 / segment.duration
            assert bitrate <= variant.bandwidth
    # Keyframes aligned across renditions: segment N starts at the same instant in both.
    for segment in ended.segments[:-1]:
        _, _, hi_times = decode(folder / "hi" / segment.uri)
        _, _, lo_times = decode(folder / "lo" / segment.uri)
        assert hi_times[0] == lo_times[0]


def test_co_hosts_are_composed_and_mixed_and_the_layout_follows_the_stage(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, window=20)

    def newest(rendition: str = "hi") -> Path:
        playlist = live(tmp_path, rendition)
        return epoch_dir(tmp_path) / rendition / playlist.segments[-1].uri

    async def next_segment(broadcast: BroadcastRun, count: int = 1) -> None:
        target = broadcast.writer.next_seq + count
        await wait_for(lambda: broadcast.writer.next_seq >= target, 10, "a segment")

    async def scenario() -> None:
        async with relay_harness() as h:
            host = TonePublisher(h.client, SESSION, "host-ws", "host", level=40, tone=440.0)
            cohost = TonePublisher(h.client, SESSION, "co-ws", "user:9", level=220, tone=1200.0)
            h.closing += [host, cohost]
            await host.start()
            pool = RelayPool(LocalDirectory(h.address))
            broadcast = BroadcastRun(settings, job(), pool=pool, identity="hls:test")
            broadcast.start()
            try:
                await next_segment(broadcast, 2)
                frames, audio, _ = decode(newest())
                left, right = luma_halves(frames[-1])
                assert abs(left - right) < 25  # one feed, centred on the whole canvas
                assert tone_power(audio, 440.0) > 0.5 and tone_power(audio, 1200.0) < 0.01

                await cohost.start()
                await wait_for(
                    lambda: len(broadcast.inputs.tiles(1e12)) == 2,
                    10,
                    "two tiles",
                    lambda: describe(broadcast),
                )
                await next_segment(broadcast, 2)
                frames, audio, _ = decode(newest())
                assert (frames[-1].width, frames[-1].height) == (HI.width, HI.height)
                left, right = luma_halves(frames[-1])
                assert left < 60 < 110 < right, (left, right)  # host left, co-host right
                # Both voices are in the mix.
                assert tone_power(audio, 440.0) > 0.15 and tone_power(audio, 1200.0) > 0.15
                lo_frames, _, _ = decode(newest("lo"))
                assert (lo_frames[-1].width, lo_frames[-1].height) == (LO.width, LO.height)

                # The co-host leaves: back to one full picture. Another joins in the freed
                # m-line (the relay re-uses parked slots) and shows up on the right.
                await cohost.close()
                await wait_for(
                    lambda: len(broadcast.inputs.tiles(1e12)) == 1,
                    10,
                    "one tile",
                    lambda: describe(broadcast),
                )
                await next_segment(broadcast, 2)
                left, right = luma_halves(decode(newest())[0][-1])
                assert abs(left - right) < 25
                guest = TonePublisher(h.client, SESSION, "guest-ws", "user:10", level=160)
                h.closing.append(guest)
                await guest.start()
                await wait_for(
                    lambda: len(broadcast.inputs.tiles(1e12)) == 2,
                    10,
                    "the guest",
                    lambda: describe(broadcast),
                )
                await next_segment(broadcast, 2)
                left, right = luma_halves(decode(newest())[0][-1])
                assert left < 60 < 90 < right, (left, right)
                assert broadcast.subscriber.connections == 1  # renegotiated, never re-joined
            finally:
                await broadcast.stop()
                await pool.close()
            playlist = live(tmp_path)
            assert not any(s.discontinuity for s in playlist.segments)

    run(scenario(), timeout=90)


def test_publisher_away_and_back_keeps_segments_flowing(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, window=20)

    async def scenario() -> None:
        async with relay_harness(publisher_grace=10.0) as h:
            host = TonePublisher(h.client, SESSION, "host-ws", "host", level=60)
            h.closing.append(host)
            await host.start()
            pool = RelayPool(LocalDirectory(h.address))
            broadcast = BroadcastRun(settings, job(), pool=pool, identity="hls:test")
            broadcast.start()
            try:
                await wait_for(lambda: broadcast.writer.next_seq >= 2, 10, "segments")
                await host.drop()  # the host's network goes
                away_from = broadcast.writer.next_seq
                await wait_for(
                    lambda: broadcast.subscriber.publishers.get("host") == "away", 10, "away"
                )
                await wait_for(
                    lambda: broadcast.writer.next_seq >= away_from + 3, 10, "segments while away"
                )
                away_segments = range(away_from + 1, broadcast.writer.next_seq)
                back = TonePublisher(h.client, SESSION, "host-ws-2", "host", level=200)
                h.closing.append(back)
                await back.start()
                await wait_for(
                    lambda: broadcast.subscriber.publishers.get("host") == "live", 10, "back"
                )
                back_from = broadcast.writer.next_seq
                await wait_for(lambda: broadcast.writer.next_seq >= back_from + 2, 10, "after")
            finally:
                await broadcast.stop()
                await pool.close()
            folder = epoch_dir(tmp_path) / "hi"
            playlist = live(tmp_path)
            assert not any(s.discontinuity for s in playlist.segments)
            assert_durations(playlist, broadcast)
            # While away: the last picture and silence, at full frame rate.
            for seq in list(away_segments)[1:]:
                frames, audio, _ = decode(folder / f"seg{seq:06d}.ts")
                assert len(frames) >= 14
                assert max(luma_halves(frames[-1])) < 100
                assert float(abs(audio).max()) < 0.01
            # Back: the new picture (brighter) and the tone again.
            frames, audio, _ = decode(folder / f"seg{back_from + 1:06d}.ts")
            assert max(luma_halves(frames[-1])) > 100
            assert tone_power(audio, 440.0) > 0.3

    run(scenario(), timeout=90)


def test_recording_is_a_vod_playlist_that_plays_from_start_to_end_across_a_restart(
    tmp_path: Path,
) -> None:
    settings = small_settings(tmp_path)
    epoch = "20261125T100000-abcdef"
    runs: list[BroadcastRun] = []

    async def scenario() -> None:
        async with relay_harness() as h:
            host = TonePublisher(h.client, SESSION, "host-ws", "host", level=60)
            h.closing.append(host)
            await host.start()
            pool = RelayPool(LocalDirectory(h.address))
            first = BroadcastRun(settings, job(record=True), pool=pool, identity="hls:a")
            runs.append(first)
            first.start()
            await wait_for(lambda: first.writer.next_seq >= 4, 15, "segments")
            await first.stop(final=False)  # the worker goes away mid-show
            replay = m3u8check.media((epoch_dir(tmp_path) / "hi" / "replay.m3u8").read_text())
            assert replay.playlist_type == "EVENT" and not replay.ended
            second = BroadcastRun(settings, job(record=True), pool=pool, identity="hls:b")
            runs.append(second)
            second.start()
            await wait_for(lambda: second.writer.written >= 3, 15, "segments after resume")
            await second.stop()
            await pool.close()

    run(scenario(), timeout=90)

    folder = epoch_dir(tmp_path, epoch)
    variants = m3u8check.master((folder / "replay.m3u8").read_text())
    assert [v.uri for v in variants] == ["hi/replay.m3u8", "lo/replay.m3u8"]
    for rendition in ("hi", "lo"):
        vod = m3u8check.media((folder / rendition / "replay.m3u8").read_text())
        assert vod.playlist_type == "VOD" and vod.ended and vod.media_sequence == 0
        assert [s.seq for s in vod.segments] == list(range(len(vod.segments)))
        breaks = [s.seq for s in vod.segments if s.discontinuity]
        assert len(breaks) == 1, "one discontinuity, where the second worker took over"
        assert vod.segments[0].date is not None and vod.segments[breaks[0]].date is not None
        # Plays from start to end: every segment decodes, timestamps only move forward.
        last_time = -1.0
        frames_total = 0
        for segment in vod.segments:
            frames, audio, times = decode(folder / rendition / segment.uri)
            assert frames and audio.shape[1] > 0
            assert times[0] > last_time
            if segment.seq not in breaks:
                skipped = runs[0].render.stats.skipped
            assert (segment.duration * 15) - skipped - 1 <= len(frames) <= segment.duration * 15 + 1
            last_time = times[-1]
            frames_total += len(frames)
        skipped = sum(r.render.stats.skipped for r in runs)
        assert vod.duration * 15 - skipped - len(vod.segments) <= frames_total
        assert frames_total <= vod.duration * 15 + len(vod.segments)
    manifest = json.loads((folder / "recording.json").read_text())
    assert manifest["duration"] == pytest.approx(vod.duration, abs=0.01)
    assert len(manifest["segments"]) == len(vod.segments)
    assert manifest["segments"][breaks[0]][4] is True


def test_a_lost_keyframe_request_is_asked_again(tmp_path: Path) -> None:
    """The relay's keyframe requests for the worker cannot be sent at first (fault injected:
    those of the first second fail, as when a publisher is not connected yet). aiortc
    publishers send a keyframe only when asked: the relay retries the request (and the
    worker, like a browser, also asks when a feed stays starved), so the picture arrives."""
    settings = small_settings(tmp_path)

    async def scenario() -> None:
        async with relay_harness() as h:
            real = h.relay._send_keyframe_request
            dropped: list[float] = []
            armed: list[float] = []

            async def lossy(feed: Any) -> bool:
                if armed and time.monotonic() - armed[0] < 1.0:
                    dropped.append(time.monotonic())
                    return False
                return await real(feed)

            h.relay._send_keyframe_request = lossy  # type: ignore[method-assign]
            host = TonePublisher(h.client, SESSION, "host-ws", "host", level=60)
            h.closing.append(host)
            await host.start()
            await host.wait_connected()
            await asyncio.sleep(1.0)  # its first keyframe is long gone
            pool = RelayPool(LocalDirectory(h.address))
            broadcast = BroadcastRun(settings, job(), pool=pool, identity="hls:test")
            armed.append(time.monotonic())
            broadcast.start()
            try:
                await wait_for(
                    lambda: bool(broadcast.inputs._video),
                    10,
                    "the picture",
                    lambda: (dropped, describe(broadcast)),
                )
                assert dropped, "the relay's requests were dropped"
            finally:
                await broadcast.stop()
                await pool.close()

    run(scenario(), timeout=60)
