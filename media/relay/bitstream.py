"""Just enough of the VP8 and H.264 bitstreams to forward them: is a frame a keyframe (where a
viewer can start decoding), and what resolution does it carry (for the host console)."""

from __future__ import annotations

from collections.abc import Iterator

H264_NAL_IDR = 5
H264_NAL_SPS = 7
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """True if a viewer can start decoding at this frame. Audio frames always are."""
    name = codec_name.upper()
    if name == "VP8":
        # RFC 6386 9.1: bit 0 of the frame tag is 0 for a key frame.
        return len(data) >= 3 and (data[0] & 0x01) == 0
    if name == "H264":
        return any((nal[0] & 0x1F) == H264_NAL_IDR for nal in h264_nal_units(data) if nal)
    return True


def resolution(codec_name: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) from a keyframe, or None if this frame does not say."""
    name = codec_name.upper()
    if name == "VP8":
        return vp8_resolution(data)
    if name == "H264":
        for nal in h264_nal_units(data):
            if nal and (nal[0] & 0x1F) == H264_NAL_SPS:
                try:
                    return h264_sps_resolution(nal)
                except (IndexError, ValueError):
                    return None
    return None


def vp8_resolution(data: bytes) -> tuple[int, int] | None:
    # RFC 6386 9.1: key frames carry a start code and 14-bit width and height.
    if len(data) < 10 or data[0] & 0x01 or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return width, height


def h264_nal_units(data: bytes) -> Iterator[bytes]:
    """NAL units of an Annex-B byte stream (what aiortc's depayloader produces)."""
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        start = i + 3
        j = data.find(b"\x00\x00\x01", start)
        if j == -1:
            yield data[start:]
            return
        end = j - 1 if data[j - 1] == 0 else j
        yield data[start:end]
        i = j


class _BitReader:
    def __init__(self, rbsp: bytes) -> None:
        self.data = rbsp
        self.pos = 0

    def bit(self) -> int:
        byte = self.data[self.pos >> 3]  # IndexError past the end: a truncated SPS
        value = (byte >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("exp-Golomb code too long")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _rbsp(nal: bytes) -> bytes:
    """Strip emulation prevention bytes (00 00 03 → 00 00)."""
    out = bytearray()
    zeros = 0
    for b in nal:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _skip_scaling_list(r: _BitReader, size: int) -> None:
    last, next_ = 8, 8
    for _ in range(size):
        if next_ != 0:
            next_ = (last + r.se() + 256) % 256
        last = next_ if next_ != 0 else last


def h264_sps_resolution(nal: bytes) -> tuple[int, int]:
    """Display size from a sequence parameter set (ITU-T H.264 7.3.2.1.1), cropping applied."""
    r = _BitReader(_rbsp(nal[1:]))
    profile_idc = r.bits(8)
    r.bits(16)  # constraint flags, level_idc
    r.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    separate_colour_plane = 0
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc == 3:
            separate_colour_plane = r.bit()
        r.ue()  # bit_depth_luma_minus8
        r.ue()  # bit_depth_chroma_minus8
        r.bit()  # qpprime_y_zero_transform_bypass_flag
        if r.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.bit():
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        r.bit()
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()  # max_num_ref_frames
    r.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_units = r.ue() + 1
    frame_mbs_only = r.bit()
    if not frame_mbs_only:
        r.bit()  # mb_adaptive_frame_field_flag
    r.bit()  # direct_8x8_inference_flag
    left = right = top = bottom = 0
    if r.bit():  # frame_cropping_flag
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
    if chroma_format_idc == 0 or separate_colour_plane:
        crop_x, crop_y = 1, 2 - frame_mbs_only
    else:
        sub_w = 2 if chroma_format_idc in (1, 2) else 1
        sub_h = 2 if chroma_format_idc == 1 else 1
        crop_x, crop_y = sub_w, sub_h * (2 - frame_mbs_only)
    width = width_mbs * 16 - crop_x * (left + right)
    height = (2 - frame_mbs_only) * height_units * 16 - crop_y * (top + bottom)
    if width <= 0 or height <= 0:
        raise ValueError("SPS describes an empty picture")
    return width, height
