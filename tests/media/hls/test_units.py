"""Pieces of the HLS engine on their own: layout, compositor, mixer, playlists, settings,
and the strict checker the other tests rely on (it must reject what is wrong)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from media.hls.compose import Compositor, Rect, cells, fit
from media.hls.config import HlsSettings, Rendition
from media.hls.mixer import AudioMixer
from media.hls.output import EpochWriter
from media.hls.playlist import Segment, avc1_codec, master_playlist, media_playlist
from tests.media.hls import m3u8check
from tests.media.hls.helpers import luma_halves, tone_power


def flat(width: int, height: int, level: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, value in zip(frame.planes, (level, 128, 128), strict=True):
        plane.update(bytes([value]) * plane.buffer_size)
    return frame


def tone(freq: float, n: int = 960, start: int = 0, amplitude: int = 8000) -> av.AudioFrame:
    t = np.arange(start, start + n) / 48000
    pcm = (np.sin(2 * np.pi * freq * t) * amplitude).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.stack([pcm, pcm], 1).reshape(1, -1), "s16", "stereo")
    frame.sample_rate = 48000
    return frame


# --- layout ---


def test_layout_cells_cover_the_canvas_and_stay_inside_it() -> None:
    assert cells(1, 1280, 720) == [Rect(0, 0, 1280, 720)]
    assert cells(2, 1280, 720) == [Rect(0, 0, 640, 720), Rect(640, 0, 640, 720)]
    assert cells(4, 1280, 720) == [
        Rect(0, 0, 640, 360),
        Rect(640, 0, 640, 360),
        Rect(0, 360, 640, 360),
        Rect(640, 360, 640, 360),
    ]
    three = cells(3, 1280, 720)
    assert three[2] == Rect(320, 360, 640, 360)  # the odd one out is centred
    for n in range(1, 7):
        for rect in cells(n, 640, 360):
            assert rect.x % 2 == rect.y % 2 == rect.w % 2 == rect.h % 2 == 0
            assert rect.x + rect.w <= 640 and rect.y + rect.h <= 360
    assert len(cells(9, 640, 360)) == 6  # never more than the stage holds
    assert cells(0, 640, 360) == []


def test_fit_keeps_the_aspect_ratio_and_letterboxes() -> None:
    cell = Rect(640, 0, 640, 720)
    portrait = fit(720, 1280, cell)  # a phone camera in a tall cell
    assert portrait.h == 720 and portrait.w == 404 and portrait.x == 640 + 118
    wide = fit(1280, 720, cell)  # a 16:9 camera in a tall cell: bars above and below
    assert wide.w == 640 and wide.h == 360 and wide.y == 180


def test_compositor_places_feeds_side_by_side_and_scales_only_new_frames() -> None:
    compositor = Compositor(320, 180)
    dark, bright = flat(160, 120, 40), flat(160, 120, 220)
    picture = compositor.compose([("a", dark)])
    assert (picture.width, picture.height) == (320, 180)
    left, right = luma_halves(picture)
    assert abs(left - right) < 1  # one feed, centred
    picture = compositor.compose([("a", dark), ("b", bright)])
    left, right = luma_halves(picture)
    assert left < 40 < 150 < right
    scaled = compositor.scaled
    again = compositor.compose([("a", dark), ("b", bright)])
    assert again is picture and compositor.scaled == scaled  # nothing new, nothing redone
    compositor.compose([("a", flat(160, 120, 90)), ("b", bright)])
    assert compositor.scaled == scaled + 1
    empty = compositor.compose([])
    assert float(empty.to_ndarray(format="gray").max()) <= 16  # black


# --- audio ---


def test_mixer_sums_feeds_and_both_tones_are_heard() -> None:
    mixer = AudioMixer(delay=0.04)
    out = []
    for i in range(50):
        mixer.push("a", tone(440, start=i * 960))
        mixer.push("b", tone(1000, start=i * 960))
        out.append(mixer.mix(960))
    mix = np.concatenate(out[5:]).astype(np.float64).T
    assert tone_power(mix, 440) > 0.3 and tone_power(mix, 1000) > 0.3


def test_mixer_never_clips_loud_feeds() -> None:
    mixer = AudioMixer(delay=0.0)
    for i in range(10):
        for key in ("a", "b", "c"):
            mixer.push(key, tone(440, start=i * 960, amplitude=30000))
    blocks = [mixer.mix(960) for _ in range(10)]
    peak = max(int(np.abs(b.astype(np.int32)).max()) for b in blocks)
    assert 20000 < peak <= 32767
    # The limiter scales the block rather than flattening the wave against the rails: only
    # the peak itself touches full scale (plain clipping would flatten over half of it).
    rails = sum(int((np.abs(b.astype(np.int32)) >= 32767).sum()) for b in blocks)
    assert rails < 0.005 * 10 * 960 * 2


def test_mixer_buffers_jitter_pads_silence_and_resamples() -> None:
    mixer = AudioMixer(delay=0.06)
    mixer.push("a", tone(440))  # 20 ms: below the 60 ms target, still buffering
    assert not mixer.mix(960).any()
    for i in range(1, 4):
        mixer.push("a", tone(440, start=i * 960))
    assert mixer.mix(960).any()
    for _ in range(4):
        mixer.mix(960)  # drains it: an underrun is silence, not an error
    assert not mixer.mix(960).any()
    mono8k = av.AudioFrame.from_ndarray(np.full((1, 800), 1000, np.int16), "s16", "mono")
    mono8k.sample_rate = 8000  # a G.711 publisher
    for _ in range(10):
        mixer.push("g711", mono8k)
    block = mixer.mix(960)
    assert block.shape == (960, 2) and block.any()


# --- playlists and settings ---


def test_playlists_written_by_hand_pass_the_checker() -> None:
    segments = [
        Segment(5, 2.0, 90000, 1_700_000_000.0),
        Segment(6, 2.0, 270000, 1_700_000_002.0),
        Segment(7, 1.5, 450000, 1_700_000_010.0, discontinuity=True),
    ]
    text = media_playlist(segments, target=2, discontinuity_sequence=1)
    parsed = m3u8check.media(text)
    assert parsed.media_sequence == 5 and parsed.discontinuity_sequence == 1
    assert [s.discontinuity for s in parsed.segments] == [False, False, True]
    assert not parsed.ended
    vod = m3u8check.media(media_playlist(segments, target=2, ended=True, playlist_type="VOD"))
    assert vod.ended and vod.playlist_type == "VOD" and vod.duration == 5.5
    # A segment longer than planned raises the target duration rather than breaking it.
    long = [*segments, Segment(8, 2.6, 585000, 1_700_000_012.0)]
    assert m3u8check.media(media_playlist(long, target=2)).target == 3


def test_the_checker_rejects_broken_playlists() -> None:
    good = media_playlist([Segment(0, 2.0, 0, 1e9)], target=2)
    m3u8check.media(good)
    broken = {
        "no header": good.replace("#EXTM3U\n", ""),
        "over target": good.replace("#EXTINF:2.000,", "#EXTINF:3.000,"),
        "unknown tag": good.replace("#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-WHATEVER"),
        "uri without extinf": good + "seg000009.ts\n",
        "missing target": good.replace("#EXT-X-TARGETDURATION:2\n", ""),
        "bad date": good.replace("Z\n", "\n", 1),
        "vod without end": good.replace(
            "#EXT-X-INDEPENDENT", "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT"
        ),
        "escaping uri": good.replace("seg000000.ts", "../x.ts"),
    }
    for name, text in broken.items():
        with pytest.raises(m3u8check.PlaylistError):
            m3u8check.media(text)
            pytest.fail(name)
    older = m3u8check.media(media_playlist([Segment(3, 2.0, 0, 1e9)], target=2))
    newer = m3u8check.media(media_playlist([Segment(2, 2.0, 0, 1e9)], target=2))
    with pytest.raises(m3u8check.PlaylistError):
        m3u8check.successor(older, newer)  # the sequence went back
    with pytest.raises(m3u8check.PlaylistError):
        m3u8check.master("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhi/live.m3u8\n")


def test_master_playlist_names_codecs_from_the_sps() -> None:
    sps = b"\x00\x00\x00\x01\x67\x64\x00\x1f\xac"  # High profile, level 3.1
    assert avc1_codec(b"\x00\x00\x00\x01\x09\xf0" + sps) == "avc1.64001f"
    assert avc1_codec(b"\x00\x00\x01\x65\x88") is None
    from media.hls.playlist import Variant

    text = master_playlist(
        [
            Variant("lo/live.m3u8", 900_000, 800_000, 640, 360, "avc1.4d401e,mp4a.40.2", 30.0),
            Variant("hi/live.m3u8", 3_000_000, 2_700_000, 1280, 720, "avc1.64001f,mp4a.40.2", 30),
        ]
    )
    variants = m3u8check.master(text)
    assert [v.uri for v in variants] == ["hi/live.m3u8", "lo/live.m3u8"]  # best first
    assert variants[0].resolution == (1280, 720)


def test_settings_are_checked() -> None:
    ok = HlsSettings().check()
    assert ok.gop == 60 and ok.canvas == (1280, 720) and ok.target_duration == 2
    bad = [
        {"fps": 7},  # 90000 / 7 is no whole tick
        {"segment_seconds": 0.5},
        {"segment_seconds": 1.1, "fps": 25},  # 27.5 frames
        {"window": 1},
        {"renditions": ()},
        {"renditions": (Rendition("a b", 640, 360, 800_000),)},
        {"renditions": (Rendition("odd", 641, 360, 800_000),)},
        {"renditions": (Rendition("x", 640, 360, 800_000, "extreme"),)},
        {"renditions": (Rendition("x", 640, 360, 800_000), Rendition("x", 320, 180, 300_000))},
        {"accel_redirect": "_hls"},
    ]
    for change in bad:
        with pytest.raises(ValueError):
            ok.with_(**change)


def test_a_resumed_epoch_keeps_its_parameters(tmp_path: Path) -> None:
    settings = HlsSettings().with_(root=tmp_path, fps=15, segment_seconds=1.0)
    first = EpochWriter(settings, tmp_path, 1, 2, "e", record=True)
    first.open()
    other = settings.with_(fps=30, renditions=(Rendition("only", 320, 180, 300_000),))
    again = EpochWriter(other, tmp_path, 1, 2, "e", record=False)
    again.open()
    assert again.resumed and again.fps == 15 and again.record is True
    assert [r.name for r in again.renditions] == ["720p", "360p"]
