"""Guards on the aiortc internals media/relay/passthrough.py relies on. These fail loudly when
aiortc changes under us, instead of the relay quietly re-encoding or dropping keyframe
requests. They may touch internals: that is their job."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
from pathlib import Path
from typing import Any

import aiortc
import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender

from media.relay import passthrough
from tests.media.clients import relay_harness, run

ROOM = "room:7:guard"


def test_module_refuses_another_aiortc_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "1.17.0")
    spec = importlib.util.spec_from_file_location(
        "passthrough_under_test", Path(passthrough.__file__)
    )
    assert spec is not None and spec.loader is not None
    with pytest.raises(ImportError, match=r"aiortc==1\.16\.0"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_self_check_passes_on_the_pinned_aiortc() -> None:
    assert aiortc.__version__ == passthrough.AIORTC_VERSION
    passthrough.self_check()


def test_self_check_notices_a_missing_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    with pytest.raises(RuntimeError, match="_send_rtcp_pli"):
        passthrough.self_check()


def test_self_check_notices_a_changed_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    real = inspect.getsource

    def getsource(obj: Any) -> str:
        text = real(obj)
        return text.replace("self._send_keyframe()", "self._request_keyframe()")

    monkeypatch.setattr(passthrough.inspect, "getsource", getsource)
    with pytest.raises(RuntimeError, match="_send_keyframe"):
        passthrough.self_check()


def test_relay_never_decodes_or_encodes() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            host = h.publisher(ROOM, "host-ws", "host")
            await host.start()
            await host.wait_connected()
            viewer = h.viewer(ROOM, "viewer-ws")
            await viewer.start()
            await viewer.wait_video_frames(10)
            await asyncio.sleep(0.3)
            publish_leg = h.relay.sessions[ROOM].peers["host-ws"].publish
            assert publish_leg is not None
            for transceiver in publish_leg.pc.getTransceivers():
                tap = transceiver.receiver._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
                assert isinstance(tap, passthrough._EncodedFrameTap)
                assert tap.qsize() == 0  # the decoder thread never got a frame
            assert all(s.feed and s.feed.stats.total_frames > 10 for s in publish_leg.sources)
            with pytest.raises(RuntimeError, match="before the receiver starts"):
                passthrough.tap_encoded_frames(publish_leg.sources[0].receiver, print)
            subscribe_leg = h.relay.sessions[ROOM].peers["viewer-ws"].subscribe
            assert subscribe_leg is not None
            for transceiver in subscribe_leg.pc.getTransceivers():
                encoder = transceiver.sender._RTCRtpSender__encoder  # type: ignore[attr-defined]
                assert encoder is not None  # it packetized...
                if transceiver.kind == "video":
                    assert encoder.codec is None  # ...but never opened libvpx
                else:
                    assert encoder.first_packet_pts is None  # ...and never ran libopus

    run(scenario())


def test_viewer_picture_loss_reaches_the_publisher() -> None:
    async def scenario() -> None:
        async with relay_harness(keyframe_interval=0.05) as h:
            host = h.publisher(ROOM, "host-ws", "host", audio=False)
            await host.start()
            await host.wait_connected()
            viewer = h.viewer(ROOM, "viewer-ws", audio=0)
            await viewer.start()
            await viewer.wait_video_frames(5)
            await asyncio.sleep(0.5)
            feed = next(iter(h.relay.sessions[ROOM].publishers["host"].feeds.values()))
            keyframes = feed.stats.total_keyframes
            # the viewer's decoder reports picture loss (RTCP PLI) for the relay's sender
            relay_sender = h.relay.sessions[ROOM].peers["viewer-ws"].subscribe.slots[0]  # type: ignore[union-attr]
            receiver = viewer.pc.getTransceivers()[0].receiver
            await receiver._send_rtcp_pli(relay_sender.transceiver.sender._ssrc)
            for _ in range(50):
                if feed.stats.total_keyframes > keyframes:
                    break
                await asyncio.sleep(0.02)
            # the publisher (aiortc, 3000-frame GOP) sent a keyframe because it was asked
            assert feed.stats.total_keyframes > keyframes

    run(scenario())


def test_loopback_ice_is_opt_in() -> None:
    from django.conf import settings

    assert settings.LIVESHOP_ICE_LOOPBACK is False  # never on unless the environment says so
    passthrough.disable_loopback_ice()
    try:
        assert not passthrough.loopback_ice_enabled()
        assert aiortc_host_addresses_exclude_loopback()
        passthrough.enable_loopback_ice()
        assert passthrough.loopback_ice_enabled()
        import aioice.ice

        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
    finally:
        passthrough.enable_loopback_ice()  # the fixture restores the original afterwards


def aiortc_host_addresses_exclude_loopback() -> bool:
    import aioice.ice

    return "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


def test_sender_keyframe_hook_is_per_sender() -> None:
    async def scenario() -> None:
        calls: list[str] = []
        from aiortc import RTCPeerConnection

        pc = RTCPeerConnection()
        hooked = pc.addTransceiver("video", direction="sendonly").sender
        plain = pc.addTransceiver("video", direction="sendonly").sender
        passthrough.on_keyframe_request(hooked, lambda: calls.append("hooked"))
        from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket

        await hooked._handle_rtcp_packet(
            RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=hooked._ssrc)
        )
        await plain._handle_rtcp_packet(
            RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=plain._ssrc)
        )
        assert calls == ["hooked"]
        assert RTCRtpSender._send_keyframe is not hooked._send_keyframe  # class untouched
        await pc.close()

    run(scenario())
