"""Keyframe and resolution parsing on real encoder output (libvpx, libx264 via PyAV)."""

from __future__ import annotations

import fractions
from typing import Any

import av
import pytest

from media.relay import bitstream


def encode(codec: str, width: int, height: int, frames: int = 4, profile: str = "") -> list[bytes]:
    context: Any = av.CodecContext.create(codec, "w")
    context.width, context.height = width, height
    context.pix_fmt = "yuv420p"
    context.time_base = fractions.Fraction(1, 30)
    context.bit_rate = 200_000
    if codec == "libx264":
        context.options = {"tune": "zerolatency"}
        context.profile = profile or "Baseline"
    out: list[bytes] = []
    for i in range(frames):
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(i * 37) % 256]) * plane.buffer_size)
        frame.pts = i
        frame.time_base = fractions.Fraction(1, 30)
        out += [bytes(p) for p in context.encode(frame)]
    return out


@pytest.mark.parametrize(
    ("codec", "name", "width", "height", "profile"),
    [
        ("libvpx", "VP8", 320, 180, ""),
        ("libx264", "H264", 320, 180, "Baseline"),  # 180 = 12 macroblocks minus cropping
        ("libx264", "H264", 176, 144, "High"),  # high profile SPS has more fields first
    ],
)
def test_keyframes_and_resolution_from_encoder_output(
    codec: str, name: str, width: int, height: int, profile: str
) -> None:
    frames = encode(codec, width, height, profile=profile)
    assert [bitstream.is_keyframe(name, f) for f in frames] == [True] + [False] * (len(frames) - 1)
    assert bitstream.resolution(name, frames[0]) == (width, height)
    assert bitstream.resolution(name, frames[1]) is None


def test_audio_frames_are_always_keyframes() -> None:
    assert bitstream.is_keyframe("opus", b"\x01\x02")


def test_truncated_or_garbage_frames_do_not_raise() -> None:
    idr = encode("libx264", 320, 240)[0]
    sps_start = idr.find(b"\x00\x00\x01\x67")
    assert sps_start >= 0
    truncated = idr[: sps_start + 6]
    assert bitstream.resolution("H264", truncated) is None
    assert bitstream.resolution("VP8", b"\x00\x01") is None
    assert not bitstream.is_keyframe("VP8", b"")
    assert not bitstream.is_keyframe("H264", b"\x00\x00\x01")
    assert bitstream.resolution("H264", b"\x00\x00\x01\x67" + b"\x00" * 40) is None


def test_emulation_prevention_bytes_are_removed() -> None:
    assert bitstream._rbsp(b"\x00\x00\x03\x01\x00\x00\x03\x00") == b"\x00\x00\x01\x00\x00\x00"
