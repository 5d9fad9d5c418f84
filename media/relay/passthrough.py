"""The one place that touches aiortc (and aioice) internals. Pinned to aiortc 1.16.0.

The relay forwards encoded media: it never decodes what publishers send and never encodes
what viewers receive (../shared/research/media-relay.md: stock MediaRelay re-encodes per
viewer and costs 15-30x more). aiortc has no public API for that, so this module hooks into
it at a few narrow points, each covered by tests/media/test_passthrough_guard.py:

- receive: `RTCRtpReceiver` reassembles RTP into encoded frames and puts `(codec, frame)` on a
  `queue.Queue` read by its decoder thread. We replace that queue, per receiver, before the
  receiver starts, and hand each encoded frame to the relay instead. Other peer connections
  in the same process (test clients, a cascading relay's own viewers) still decode.
- send: `RTCRtpSender` packetizes `av.Packet`s without encoding (the path MediaPlayer's
  `decode=False` uses), so viewer tracks yield packets. A viewer's PLI/FIR ends in
  `RTCRtpSender._send_keyframe()`; we override it per sender to forward the request.
- keyframe requests to a publisher: `RTCRtpReceiver._send_rtcp_pli(ssrc)`.
- renegotiation: aiortc's `createOffer` renumbers payload types and header extension ids
  from its global tables, but a started sender keeps the numbers negotiated first (a
  browser's). `create_offer_keeping_numbers` rewrites the offer to keep them.
- SDP inspection (aiortc.sdp) for validation and codec choice before aiortc applies it.
- loopback ICE for tests: aioice skips 127.0.0.1 when gathering host candidates.

If aiortc changes, this module fails at import (version) or in `self_check()` (shape), which
the relay runs at start-up, instead of silently re-encoding or dropping keyframe requests.
"""

from __future__ import annotations

import copy
import inspect
import ipaddress
import logging
import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
import aiortc
from aiortc import (
    RTCIceCandidate,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.rtcpeerconnection import is_codec_compatible
from aiortc.rtcrtpparameters import (
    RTCRtpCodecCapability,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
)

logger = logging.getLogger(__name__)

AIORTC_VERSION = "1.16.0"
if aiortc.__version__ != AIORTC_VERSION:  # pragma: no cover - exercised by the guard test
    raise ImportError(
        f"media.relay.passthrough is written against aiortc=={AIORTC_VERSION} internals, "
        f"found aiortc=={aiortc.__version__}. Re-check every hook in this module and "
        "tests/media/test_passthrough_guard.py before changing the pin."
    )

# Mangled names of RTCRtpReceiver's private attributes we use.
_RECEIVER_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_RECEIVER_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"
_RECEIVER_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"

DYNAMIC_PAYLOAD_TYPES = range(96, 128)
HEADER_EXTENSION_IDS = range(1, 15)  # one-byte header extensions


class SdpError(ValueError):
    """An SDP (or ICE candidate) the relay will not accept; the message is user-facing."""


# --- SDP inspection -------------------------------------------------------------------


@dataclass(frozen=True)
class CodecInfo:
    mime_type: str
    clock_rate: int
    channels: int | None
    parameters: tuple[tuple[str, str], ...]
    payload_type: int

    @property
    def name(self) -> str:
        return self.mime_type.split("/", 1)[1]

    @property
    def is_rtx(self) -> bool:
        return self.name.lower() == "rtx"

    def params(self) -> dict[str, Any]:
        return dict(self.parameters)


@dataclass(frozen=True)
class MediaInfo:
    kind: str
    mid: str | None
    direction: str
    codecs: tuple[CodecInfo, ...]
    primary_ssrc: int | None
    candidate_count: int

    @property
    def sends(self) -> bool:
        """The remote side sends media on this m-line."""
        return self.direction in ("sendonly", "sendrecv")


@dataclass(frozen=True)
class SdpInfo:
    media: tuple[MediaInfo, ...]
    bundle: tuple[str, ...]


def _pt(codec: RTCRtpCodecParameters) -> int:
    # aiortc types payloadType as optional; every codec parsed from SDP or taken from its
    # codec table has one.
    assert codec.payloadType is not None
    return codec.payloadType


def _codec_info(codec: RTCRtpCodecParameters) -> CodecInfo:
    return CodecInfo(
        mime_type=codec.mimeType,
        clock_rate=codec.clockRate,
        channels=codec.channels,
        parameters=tuple((str(k), str(v)) for k, v in codec.parameters.items()),
        payload_type=_pt(codec),
    )


def _check_candidate_address(address: str) -> None:
    """Clients may name only IP addresses or mDNS names: anything else would make the
    relay resolve a hostname the client chose."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        if not (address.endswith(".local") and len(address) <= 80):
            raise SdpError(f"ICE candidate address {address[:80]!r} is not an IP address") from None


def inspect_sdp(text: str, *, max_media: int) -> SdpInfo:
    """Parse an SDP the way aiortc will, and check what the relay relies on.

    Raises SdpError with a message fit for the client for anything aiortc would choke on
    later, or that the relay does not support (data channels, unbundled m-lines)."""
    try:
        description = aiortc_sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc's parser raises assorted errors on garbage
        raise SdpError(f"SDP could not be parsed ({type(exc).__name__})") from exc
    if not description.media:
        raise SdpError("SDP has no media sections")
    if len(description.media) > max_media:
        raise SdpError(f"SDP has {len(description.media)} media sections; at most {max_media}")
    bundle = next((g for g in description.group if g.semantic == "BUNDLE"), None)
    bundle_mids = tuple(str(x) for x in bundle.items) if bundle else ()
    media: list[MediaInfo] = []
    candidates = 0
    for m in description.media:
        if m.kind not in ("audio", "video"):
            raise SdpError(f"media kind {m.kind!r} is not supported (audio and video only)")
        if not m.rtp.muxId:
            raise SdpError("every media section needs an a=mid")
        if not m.ice or not m.ice.usernameFragment or not m.ice.password:
            raise SdpError("ICE username fragment or password is missing")
        if m.dtls is None or not m.dtls.fingerprints:
            raise SdpError("DTLS fingerprint is missing")
        if not m.rtcp_mux:
            raise SdpError("RTCP mux is required")
        for candidate in m.ice_candidates:
            _check_candidate_address(candidate.ip)
        candidates += len(m.ice_candidates)
        primary = None
        fid = next((g for g in m.ssrc_group if g.semantic == "FID"), None)
        if fid and fid.items:
            primary = int(fid.items[0])
        elif m.ssrc:
            primary = m.ssrc[0].ssrc
        media.append(
            MediaInfo(
                kind=m.kind,
                mid=m.rtp.muxId,
                direction=m.direction or "sendrecv",
                codecs=tuple(_codec_info(c) for c in m.rtp.codecs),
                primary_ssrc=primary,
                candidate_count=len(m.ice_candidates),
            )
        )
    if candidates > 32 * len(media):
        raise SdpError("SDP carries too many ICE candidates")
    if len(media) > 1 and set(bundle_mids) != {m.mid for m in media}:
        raise SdpError("all media sections must be in one BUNDLE group")
    return SdpInfo(media=tuple(media), bundle=bundle_mids)


# --- codecs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Codec:
    """A codec the relay forwards: what a feed carries and what its viewers must accept."""

    capability: RTCRtpCodecCapability

    @property
    def kind(self) -> str:
        return self.capability.mimeType.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.capability.mimeType.split("/", 1)[1]

    @property
    def clock_rate(self) -> int:
        return self.capability.clockRate

    @property
    def key(self) -> str:
        params = ";".join(f"{k}={v}" for k, v in sorted(self.capability.parameters.items()))
        return f"{self.capability.mimeType.lower()}/{self.clock_rate}" + (
            f";{params}" if params else ""
        )

    def preferences(self) -> list[RTCRtpCodecCapability]:
        """setCodecPreferences list pinning this codec (plus RTX for video: NACK repair)."""
        prefs = [self.capability]
        if self.kind == "video":
            prefs += [
                c for c in RTCRtpSender.getCapabilities("video").codecs if c.name.lower() == "rtx"
            ]
        return prefs

    def accepted_by(self, offered: Sequence[CodecInfo]) -> bool:
        return any(self._compatible(c) for c in offered if not c.is_rtx)

    def _compatible(self, info: CodecInfo) -> bool:
        ours = RTCRtpCodecParameters(
            mimeType=self.capability.mimeType,
            clockRate=self.clock_rate,
            channels=self.capability.channels,
            parameters=dict(self.capability.parameters),
        )
        theirs = RTCRtpCodecParameters(
            mimeType=info.mime_type,
            clockRate=info.clock_rate,
            channels=info.channels,
            parameters=info.params(),
        )
        # aiortc's own test, so we never pin a codec aiortc would then refuse to negotiate.
        return is_codec_compatible(ours, theirs)


def pick_codec(kind: str, offered: Sequence[CodecInfo]) -> Codec | None:
    """The first codec in the remote's order of preference that aiortc can packetize:
    browsers list VP8 first, WHIP encoders (OBS) H.264. None if there is none."""
    capabilities = [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.name.lower() != "rtx"]
    for info in offered:
        if info.is_rtx:
            continue
        for capability in capabilities:
            codec = Codec(capability)
            if codec._compatible(info):
                return codec
    return None


def negotiated_codec(transceiver: RTCRtpTransceiver) -> Codec | None:
    """The codec a negotiated transceiver carries (its first non-RTX codec), as a Codec the
    relay can pin for viewers. None before negotiation."""
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    infos = [_codec_info(c) for c in codecs if c.name.lower() != "rtx"][:1]
    return pick_codec(transceiver.kind, infos) if infos else None


# --- receive side: encoded frames instead of decoded ones ------------------------------

FrameSink = Callable[[bytes, int], None]


class _EncodedFrameTap(queue.Queue):  # type: ignore[type-arg]
    """Stands in for a receiver's decoder queue. aiortc calls `put((codec, frame))` on the
    event loop thread for each reassembled frame; we pass the encoded bytes and the RTP
    timestamp (aiortc has already made it start at 0) straight to the sink. `put(None)`
    still reaches the (idle) decoder thread, which then exits and ends the remote track."""

    def __init__(self, sink: FrameSink) -> None:
        super().__init__()
        self._sink = sink

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None, block, timeout)
            return
        _codec, frame = item
        try:
            self._sink(frame.data, frame.timestamp)
        except Exception:  # never let a relay bug break aiortc's RTP loop
            logger.exception("media relay: dropping an encoded frame after an error")


def tap_encoded_frames(receiver: RTCRtpReceiver, sink: FrameSink) -> None:
    """Deliver this receiver's encoded frames to `sink(data, timestamp)`; never decode.

    Must run before the receiver starts (that is, before DTLS connects): the decoder thread
    captures the queue when it starts."""
    if getattr(receiver, _RECEIVER_DECODER_THREAD) is not None:
        raise RuntimeError("tap_encoded_frames() must run before the receiver starts")
    setattr(receiver, _RECEIVER_DECODER_QUEUE, _EncodedFrameTap(sink))


def media_ssrc(receiver: RTCRtpReceiver, declared: int | None) -> int | None:
    """The SSRC a PLI must name: the one the SDP declared, else the newest non-RTX source."""
    if declared is not None:
        return declared
    rtx: dict[int, int] = getattr(receiver, _RECEIVER_RTX_SSRC)
    if rtx:
        return next(iter(rtx.values()))
    sources = sorted(receiver.getSynchronizationSources(), key=lambda s: s.timestamp)
    return sources[-1].source if sources else None


async def send_pli(receiver: RTCRtpReceiver, ssrc: int) -> None:
    """Ask the remote sender for a keyframe (RTCP PLI, RFC 4585)."""
    await receiver._send_rtcp_pli(ssrc)


# --- send side -----------------------------------------------------------------------


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback` when the remote viewer sends PLI or FIR for this sender.

    aiortc would set a force-keyframe flag for its encoder; there is no encoder here, so the
    request goes to the publisher instead (through the feed's rate limit)."""

    def _send_keyframe() -> None:
        try:
            callback()
        except Exception:
            logger.exception("media relay: keyframe request handler failed")

    # An instance attribute shadows the method, for this sender only.
    sender._send_keyframe = _send_keyframe  # type: ignore[method-assign]


# --- renegotiation: keep the numbers the first negotiation chose -----------------------


def _codec_key(codec: RTCRtpCodecParameters) -> tuple[Any, ...]:
    return (
        codec.mimeType.lower(),
        codec.clockRate,
        codec.channels,
        tuple(sorted((str(k), str(v)) for k, v in codec.parameters.items() if k != "apt")),
    )


@dataclass
class _Numbering:
    """Payload types and extension ids already in use across the BUNDLE group."""

    pt_by_codec: dict[tuple[Any, ...], int] = field(default_factory=dict)
    rtx_by_apt: dict[int, int] = field(default_factory=dict)
    used_pts: set[int] = field(default_factory=set)
    ext_by_uri: dict[str, int] = field(default_factory=dict)
    used_ext_ids: set[int] = field(default_factory=set)

    def learn(
        self,
        codecs: Sequence[RTCRtpCodecParameters],
        extensions: Sequence[RTCRtpHeaderExtensionParameters],
    ) -> None:
        for c in codecs:
            self.used_pts.add(_pt(c))
            if c.name.lower() == "rtx":
                apt = c.parameters.get("apt")
                if isinstance(apt, int):
                    self.rtx_by_apt.setdefault(apt, _pt(c))
            else:
                self.pt_by_codec.setdefault(_codec_key(c), _pt(c))
        for e in extensions:
            self.ext_by_uri.setdefault(e.uri, e.id)
            self.used_ext_ids.add(e.id)

    def free_pt(self, taken: set[int]) -> int:
        for pt in DYNAMIC_PAYLOAD_TYPES:
            if pt not in self.used_pts and pt not in taken:
                return pt
        raise SdpError("no free RTP payload type left for renegotiation")

    def free_ext_id(self, taken: set[int]) -> int:
        for ext_id in HEADER_EXTENSION_IDS:
            if ext_id not in self.used_ext_ids and ext_id not in taken:
                return ext_id
        raise SdpError("no free RTP header extension id left for renegotiation")


def _renumber(
    codecs: list[RTCRtpCodecParameters],
    extensions: list[RTCRtpHeaderExtensionParameters],
    own: _Numbering,
    bundle: _Numbering,
) -> tuple[list[RTCRtpCodecParameters], list[RTCRtpHeaderExtensionParameters]]:
    """Copies of `codecs`/`extensions` numbered as this m-line (own) or the BUNDLE group
    already numbers them; new ones get numbers nobody in the group uses."""
    taken: set[int] = set()
    new_codecs: list[RTCRtpCodecParameters] = []
    mapping: dict[int, int] = {}
    for c in codecs:
        if c.name.lower() == "rtx":
            continue
        key = _codec_key(c)
        pt = own.pt_by_codec.get(key) or bundle.pt_by_codec.get(key)
        if pt is None or pt in taken:
            pt = bundle.free_pt(taken)
        taken.add(pt)
        mapping[_pt(c)] = pt
        copied = copy.deepcopy(c)
        copied.payloadType = pt
        new_codecs.append(copied)
    for c in codecs:
        if c.name.lower() != "rtx":
            continue
        apt = c.parameters.get("apt")
        if not isinstance(apt, int) or apt not in mapping:
            continue
        base = mapping[apt]
        pt = own.rtx_by_apt.get(base) or bundle.rtx_by_apt.get(base)
        if pt is None or pt in taken:
            pt = bundle.free_pt(taken)
        taken.add(pt)
        copied = copy.deepcopy(c)
        copied.payloadType = pt
        copied.parameters = {**c.parameters, "apt": base}
        # keep RTX right after its codec, as aiortc orders them
        index = next(i for i, x in enumerate(new_codecs) if x.payloadType == base) + 1
        new_codecs.insert(index, copied)
    ext_taken: set[int] = set()
    new_extensions: list[RTCRtpHeaderExtensionParameters] = []
    for e in extensions:
        ext_id = own.ext_by_uri.get(e.uri) or bundle.ext_by_uri.get(e.uri)
        if ext_id is None or ext_id in ext_taken:
            ext_id = bundle.free_ext_id(ext_taken)
        ext_taken.add(ext_id)
        new_extensions.append(RTCRtpHeaderExtensionParameters(id=ext_id, uri=e.uri))
    return new_codecs, new_extensions


async def create_offer_keeping_numbers(pc: RTCPeerConnection) -> RTCSessionDescription:
    """`pc.createOffer()` for a renegotiation, with the payload types and header extension
    ids the earlier negotiations chose (often the browser's, e.g. VP8=96, mid=4) instead of
    aiortc's defaults. Started senders keep sending the old numbers, and browsers reject a
    BUNDLE group in which one payload type means two codecs."""
    transceivers = pc.getTransceivers()
    before: dict[str, _Numbering] = {}
    bundle = _Numbering()
    for t in transceivers:
        if t.mid is not None and t._codecs:
            numbering = _Numbering()
            numbering.learn(t._codecs, t._headerExtensions)
            before[t.mid] = numbering
            bundle.learn(t._codecs, t._headerExtensions)
    offer = await pc.createOffer()  # resets every transceiver's _codecs to aiortc's numbers
    description = aiortc_sdp.SessionDescription.parse(offer.sdp)
    description.type = "offer"
    by_mid = {t.mid: t for t in transceivers if t.mid is not None}
    for index, media in enumerate(description.media):
        if media.kind not in ("audio", "video"):
            continue
        transceiver = by_mid.get(media.rtp.muxId)
        if transceiver is None:
            transceiver = next(
                (t for t in transceivers if t._get_mline_index() == index and t.mid is None),
                None,
            )
        if transceiver is None:
            raise SdpError(f"no transceiver for media section {index}")
        codecs, extensions = _renumber(
            list(transceiver._codecs),
            list(transceiver._headerExtensions),
            before.get(media.rtp.muxId, _Numbering()),
            bundle,
        )
        # numbers given to a new m-line are taken for the m-lines after it
        bundle.learn(codecs, extensions)
        transceiver._codecs = codecs
        transceiver._headerExtensions = extensions
        media.rtp.codecs = codecs
        media.rtp.headerExtensions = extensions
        media.fmt = [c.payloadType for c in codecs]
    return RTCSessionDescription(sdp=str(description), type="offer")


# --- ICE ------------------------------------------------------------------------------


def parse_ice_candidate(
    candidate: str, *, sdp_mid: str | None, sdp_mline_index: int | None
) -> RTCIceCandidate | None:
    """A trickled candidate (`candidate:...` as browsers send it) → RTCIceCandidate, or None
    for end-of-candidates (an empty string). Raises SdpError on anything malformed."""
    text = candidate.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    if not text:
        return None
    bits = text.split()
    if len(bits) < 8 or bits[6] != "typ":
        raise SdpError("ICE candidate is malformed")
    try:
        parsed = aiortc_sdp.candidate_from_sdp(text)
    except Exception as exc:
        raise SdpError("ICE candidate is malformed") from exc
    if parsed.protocol.lower() not in ("udp", "tcp"):
        raise SdpError("ICE candidate protocol must be udp or tcp")
    if not 0 < parsed.port < 65536 or parsed.component not in (1, 2):
        raise SdpError("ICE candidate port or component is out of range")
    _check_candidate_address(parsed.ip)
    parsed.sdpMid = sdp_mid
    parsed.sdpMLineIndex = sdp_mline_index
    return parsed


_original_get_host_addresses = aioice.ice.get_host_addresses


def _loopback_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else []


def enable_loopback_ice() -> None:
    """Gather 127.0.0.1 as the only host candidate (aioice skips it by design).

    For tests and single-machine development only (settings.LIVESHOP_ICE_LOOPBACK): with it
    on, nothing outside this machine can reach the relay."""
    aioice.ice.get_host_addresses = _loopback_host_addresses


def disable_loopback_ice() -> None:
    aioice.ice.get_host_addresses = _original_get_host_addresses


def loopback_ice_enabled() -> bool:
    return aioice.ice.get_host_addresses is _loopback_host_addresses


# --- guard ----------------------------------------------------------------------------


def self_check() -> None:
    """Verify the internals this module relies on still have the shape it expects.

    Cheap (no network); the relay calls it at start-up so an aiortc upgrade fails loudly
    before the first viewer gets a frozen picture."""
    problems: list[str] = []
    source = inspect.getsource(RTCRtpReceiver)
    for needle in ("self.__decoder_queue: queue.Queue", "self.__decoder_queue.put((codec"):
        if needle not in source:
            problems.append(f"RTCRtpReceiver no longer has {needle!r}")
    if not inspect.iscoroutinefunction(getattr(RTCRtpReceiver, "_send_rtcp_pli", None)):
        problems.append("RTCRtpReceiver._send_rtcp_pli is gone")
    sender_source = inspect.getsource(RTCRtpSender)
    if "self._send_keyframe()" not in sender_source:
        problems.append("RTCRtpSender no longer calls self._send_keyframe() on PLI/FIR")
    if "self.__encoder.pack(data)" not in sender_source:
        problems.append("RTCRtpSender no longer packs pre-encoded av.Packet data")
    if "transceiver._codecs = filter_preferred_codecs" not in inspect.getsource(
        RTCPeerConnection.createOffer
    ):
        problems.append("RTCPeerConnection.createOffer no longer sets transceiver._codecs")
    params = list(inspect.signature(aioice.ice.Connection.gather_candidates).parameters)
    if params != ["self"] or "get_host_addresses(" not in inspect.getsource(
        aioice.ice.Connection.gather_candidates
    ):
        problems.append("aioice no longer gathers host addresses via get_host_addresses()")
    if problems:
        raise RuntimeError("aiortc internals changed: " + "; ".join(problems))
