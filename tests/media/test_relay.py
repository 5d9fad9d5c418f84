"""The relay end to end with aiortc publishers and viewers on loopback: an in-process relay
behind its real control server, driven through RelayClient."""

from __future__ import annotations

import asyncio
import time

import pytest

from media.relay.engine import Relay
from media.relay.protocol import RelayError
from tests.media.clients import (
    BROWSER_EXT_IDS,
    Harness,
    browserize,
    extension_ids,
    payload_types,
    relay_harness,
    run,
    sdp_codecs,
)

ROOM = "room:7:launch"
CONSULT = "consult:7:31"
MID_EXT = "urn:ietf:params:rtp-hdrext:sdes:mid"


def expected_luma(level: int) -> float:
    # flat `level` with a 1/16-wide white bar
    return level + (235 - level) / 16


def relay_viewer_track(relay: Relay, session: str, peer: str, kind: str = "video"):  # type: ignore[no-untyped-def]
    leg = relay.sessions[session].peers[peer].subscribe
    assert leg is not None
    return next(slot.track for slot in leg.slots if slot.kind == kind)


def test_viewer_receives_vp8_and_opus_as_published() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            host = h.publisher(ROOM, "host-ws", "host", level=60)
            answer = await host.start()
            assert sdp_codecs(answer["sdp"], "video") == [["VP8", "rtx"]]
            await host.wait_connected()
            viewer = h.viewer(ROOM, "viewer-ws")
            reply = await viewer.start()
            assert sdp_codecs(reply["sdp"], "video") == [["VP8", "rtx"]]
            assert sdp_codecs(reply["sdp"], "audio") == [["opus"]]
            assert [(t["kind"], t["publisher"], t["codec"]) for t in reply["tracks"]] == [
                ("audio", "host", "opus"),
                ("video", "host", "VP8"),
            ]
            await viewer.wait_video_frames(10, level=round(expected_luma(60)))
            audio = next(r for r in viewer.received.values() if r.kind == "audio")
            assert audio.frames > 10

    run(scenario())


def test_h264_publisher_is_forwarded_as_h264() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            # like OBS over WHIP: H.264 only
            host = h.publisher(ROOM, "whip-1", "host", codec="H264", level=90)
            answer = await host.start()
            assert sdp_codecs(answer["sdp"], "video") == [["H264", "rtx"]]
            await host.wait_connected()
            # a viewer that prefers VP8 still gets H.264: nothing is transcoded
            viewer = h.viewer(ROOM, "viewer-ws", video_codecs=["VP8", "H264", "rtx"])
            reply = await viewer.start()
            assert sdp_codecs(reply["sdp"], "video") == [["H264", "rtx"]]
            await viewer.wait_video_frames(10, level=round(expected_luma(90)))

    run(scenario())


def test_h264_feed_skips_a_viewer_that_cannot_decode_it() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            host = h.publisher(ROOM, "whip-1", "host", codec="H264", audio=False)
            await host.start()
            viewer = h.viewer(ROOM, "vp8-only", audio=0, video_codecs=["VP8", "rtx"])
            reply = await viewer.start()
            assert reply["tracks"] == [
                {"mid": "0", "kind": "video", "publisher": None, "feed": None, "codec": None}
            ]

    run(scenario())


def test_mid_stream_joiner_decodes_within_a_second() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            host = h.publisher(ROOM, "host-ws", "host", audio=False)
            await host.start()
            await host.wait_connected()
            # aiortc's VP8 encoder keeps a 3000-frame GOP: without a keyframe request on join
            # this viewer would wait 100 s for its first decodable frame.
            await asyncio.sleep(1.5)
            requests_before = h.relay.counters["keyframe_requests"]
            viewer = h.viewer(ROOM, "late-viewer", audio=0)
            await viewer.start()
            record = await viewer.wait_video_frames(1, timeout=3.0)
            assert record.first_at is not None
            assert record.first_at - viewer.offered_at < 1.0
            assert h.relay.counters["keyframe_requests"] > requests_before

    run(scenario())


def test_stalled_viewer_stays_bounded_and_others_are_unaffected() -> None:
    async def scenario() -> None:
        from media.relay.fanout import QueueLimits

        limits = QueueLimits(video_frames=8, audio_frames=20, max_bytes=64 * 1024)
        async with relay_harness(queue=limits, connect_timeout=3.0) as h:
            host = h.publisher(ROOM, "host-ws", "host")
            await host.start()
            await host.wait_connected()
            healthy = h.viewer(ROOM, "healthy")
            await healthy.start()
            # The stalled viewer sends its offer and then vanishes: its sender never starts,
            # so nothing reads its queue while the host keeps publishing.
            stalled = h.viewer(ROOM, "stalled")
            await stalled.start(apply_answer=False)
            await stalled.pc.close()
            track = relay_viewer_track(h.relay, ROOM, "stalled")
            peak_frames = peak_bytes = 0
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                peak_frames = max(peak_frames, track.queued_frames)
                peak_bytes = max(peak_bytes, track.queued_bytes)
                await asyncio.sleep(0.02)
            assert 0 < peak_frames <= limits.video_frames
            assert peak_bytes <= limits.max_bytes
            assert track.dropped > 0
            before = healthy.video_records()[0].frames
            await asyncio.sleep(0.5)
            assert healthy.video_records()[0].frames - before >= 10  # still ~30 fps
            # a viewer that never connects is closed, not kept forever
            closed = await stalled.wait_event("closed", timeout=3.0, role="subscribe")
            assert closed["reason"] == "connect_timeout"
            for _ in range(50):
                if "stalled" not in h.relay.sessions[ROOM].peers:
                    break
                await asyncio.sleep(0.02)
            assert "stalled" not in h.relay.sessions[ROOM].peers

    run(scenario())


def test_publisher_drop_and_republish_resumes_viewers_without_renegotiation() -> None:
    async def scenario() -> None:
        async with relay_harness(publisher_grace=5.0) as h:
            host = h.publisher(ROOM, "host-ws-1", "host", level=40)
            await host.start()
            await host.wait_connected()
            viewer = h.viewer(ROOM, "viewer-ws")
            await viewer.start()
            before = await viewer.wait_video_frames(5, level=round(expected_luma(40)))
            # the host's network drops: no goodbye, the peer connection just ends
            await host.drop()
            away = await viewer.wait_event("publisher.away", identity="host")
            assert away["peer"] is None
            assert viewer.pc.connectionState == "connected"
            # the host comes back (another signalling connection), same identity
            again = h.publisher(ROOM, "host-ws-2", "host", level=200)
            await again.start()
            await viewer.wait_event("publisher.back", identity="host")
            after = await viewer.wait_video_frames(5, level=round(expected_luma(200)), timeout=3.0)
            assert after.mid == before.mid  # the same slot: the sender under it swapped source
            assert viewer.events_named("offer") == []  # no renegotiation was needed
            assert viewer.pc.connectionState == "connected"

    run(scenario())


def test_publisher_gone_past_grace_is_removed_and_can_return() -> None:
    async def scenario() -> None:
        async with relay_harness(publisher_grace=0.5) as h:
            host = h.publisher(ROOM, "host-ws-1", "host", level=40, audio=False)
            await host.start()
            await host.wait_connected()
            viewer = h.viewer(ROOM, "viewer-ws", audio=0)
            await viewer.start()
            first = await viewer.wait_video_frames(3)
            await host.drop()
            await viewer.wait_event("publisher.left", identity="host", timeout=3.0)
            await viewer.wait_event("offer")  # the relay parks the slot (inactive)
            assert ROOM in h.relay.sessions  # the viewer keeps the session alive
            assert h.relay.sessions[ROOM].publishers == {}
            # later the host starts again: the parked slot is reused, same codec
            again = h.publisher(ROOM, "host-ws-2", "host", level=200, audio=False)
            await again.start()
            await viewer.wait_video_frames(3, level=round(expected_luma(200)), timeout=4.0)
            offers = viewer.events_named("offer")
            assert len(offers) == 2
            assert [t["mid"] for t in offers[-1]["tracks"]] == [first.mid]  # no new m-line

    run(scenario())


def test_second_publisher_is_offered_to_viewers_keeping_their_numbering() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            host = h.publisher(ROOM, "host-ws", "host", level=40)
            await host.start()
            await host.wait_connected()
            viewer = h.viewer(ROOM, "browser-viewer")
            offer = browserize(await viewer.offer_sdp())
            reply = await viewer.start(offer)
            assert payload_types(reply["sdp"], "video", "VP8") == [96]
            await viewer.wait_video_frames(5, level=round(expected_luma(40)))
            # a co-host goes on stage; it watches the host but not itself
            cohost = h.publisher(ROOM, "cohost-ws", "user:9", level=200)
            await cohost.start()
            await cohost.wait_connected()
            cohost_view = h.viewer(ROOM, "cohost-ws", identity="user:9")
            cohost_reply = await cohost_view.start()
            assert {t["publisher"] for t in cohost_reply["tracks"]} == {"host"}
            offer_event = await viewer.wait_event("offer")
            # the relay's offer keeps the browser's numbers: VP8=96, opus=111, mid ext id 4
            assert payload_types(offer_event["sdp"], "video", "VP8") == [96, 96]
            assert payload_types(offer_event["sdp"], "audio", "opus") == [111, 111]
            assert extension_ids(offer_event["sdp"], MID_EXT) == {BROWSER_EXT_IDS[MID_EXT]}
            assert [(t["kind"], t["publisher"]) for t in offer_event["tracks"]] == [
                ("audio", "host"),
                ("video", "host"),
                ("audio", "user:9"),
                ("video", "user:9"),
            ]
            cohost_record = await viewer.wait_video_frames(5, level=round(expected_luma(200)))
            assert cohost_record.mid == offer_event["tracks"][3]["mid"]
            host_frames = viewer.received["1"].frames
            await asyncio.sleep(0.3)
            assert viewer.received["1"].frames > host_frames  # the host's slot kept playing
            await asyncio.sleep(0.5)
            assert cohost_view.events_named("offer") == []  # its own tracks never come back

    run(scenario())


def test_viewer_who_arrives_before_the_host_gets_the_host_by_renegotiation() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            viewer = h.viewer(ROOM, "early-viewer")
            reply = await viewer.start()
            assert [t["feed"] for t in reply["tracks"]] == [None, None]
            assert "a=inactive" in reply["sdp"]
            host = h.publisher(ROOM, "host-ws", "host", level=150)
            await host.start()
            event = await viewer.wait_event("offer", timeout=5.0)
            assert [t["publisher"] for t in event["tracks"]] == ["host", "host"]
            await viewer.wait_video_frames(5, level=round(expected_luma(150)), timeout=5.0)

    run(scenario())


def test_consult_two_parties_and_a_silent_supervisor() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            shopper = h.publisher(CONSULT, "shopper-ws", "shopper", level=50, profile="consult")
            agent = h.publisher(CONSULT, "agent-ws", "agent", level=180, profile="consult")
            await shopper.start()
            await agent.start()
            # each party watches the other, on the same signalling peer it publishes from
            shopper_view = h.viewer(CONSULT, "shopper-ws", identity="shopper", profile="consult")
            agent_view = h.viewer(CONSULT, "agent-ws", identity="agent", profile="consult")
            await shopper_view.start()
            await agent_view.start()
            await shopper_view.wait_video_frames(5, level=round(expected_luma(180)))
            await agent_view.wait_video_frames(5, level=round(expected_luma(50)))
            # the supervisor only watches, both parties (one video m-line offered, one added)
            supervisor = h.viewer(CONSULT, "supervisor-ws", profile="consult")
            await supervisor.start()
            await supervisor.wait_video_frames(5, level=round(expected_luma(50)))
            await supervisor.wait_video_frames(5, level=round(expected_luma(180)))
            # nobody else gets in
            third = h.publisher(CONSULT, "intruder", "someone", profile="consult")
            with pytest.raises(RelayError) as refused:
                await third.start()
            assert refused.value.code == "publisher_limit"
            extra = h.viewer(CONSULT, "extra-viewer", profile="consult")
            with pytest.raises(RelayError) as full:
                await extra.start()
            assert full.value.code == "subscriber_limit"
            # and a consult key cannot be joined as a room
            wrong = h.viewer(CONSULT, "room-viewer", profile="room")
            with pytest.raises(RelayError) as mismatch:
                await wrong.start()
            assert mismatch.value.code == "profile_mismatch"

    run(scenario())


def test_host_console_gets_stats_about_once_a_second() -> None:
    async def scenario() -> None:
        async with relay_harness(stats_interval=0.5) as h:
            host = h.publisher(ROOM, "host-ws", "host")
            await host.start()
            await host.wait_connected()
            viewer = h.viewer(ROOM, "viewer-ws")
            await viewer.start()
            await viewer.wait_video_frames(5)
            console = await h.client.watch(ROOM)
            stats = None
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                event = await asyncio.wait_for(console.get(), 2)
                assert event is not None
                if event["event"] == "stats" and event["viewers"] == 1:
                    stats = event
                    break
            assert stats is not None
            (publisher,) = stats["publishers"]
            assert publisher["identity"] == "host" and publisher["state"] == "live"
            audio, video = publisher["tracks"]
            assert (audio["kind"], audio["codec"]) == ("audio", "opus")
            assert audio["bitrate"] > 0
            assert (video["codec"], video["width"], video["height"]) == ("VP8", 160, 120)
            assert video["bitrate"] > 0 and 10 <= video["fps"] <= 45
            assert video["viewers"] == 1
            assert 0.0 <= video["fraction_lost"] <= 1.0
            # the publisher's own event stream (the host console) gets them too
            assert any(e["event"] == "stats" for e in _drain(host.events))
            # viewers do not
            assert viewer.events_named("stats") == []

    run(scenario())


def _drain(stream):  # type: ignore[no-untyped-def]
    items = []
    while stream._queue:
        items.append(stream._queue.popleft())
    return items


def test_leave_bye_ends_the_publisher_at_once() -> None:
    async def scenario() -> None:
        async with relay_harness(publisher_grace=30.0) as h:
            host = h.publisher(ROOM, "host-ws", "host", audio=False)
            await host.start()
            await host.wait_connected()
            viewer = h.viewer(ROOM, "viewer-ws", audio=0)
            await viewer.start()
            await viewer.wait_video_frames(3)
            await h.client.leave(session=ROOM, peer="host-ws", reason="bye")
            await viewer.wait_event("publisher.left", identity="host", timeout=2.0)
            assert viewer.events_named("publisher.away") == []
            await _leave_and_check(viewer, h)

    run(scenario())


def test_lost_control_connection_makes_its_publisher_away() -> None:
    async def scenario() -> None:
        async with relay_harness(publisher_grace=5.0) as h:
            from media.relay.client import RelayClient
            from tests.media.clients import Publisher

            other_web_process = RelayClient(h.address)
            host = Publisher(other_web_process, ROOM, "host-ws", "host", audio=False)
            h.closing.append(host)
            await host.start()
            await host.wait_connected()
            viewer = h.viewer(ROOM, "viewer-ws", audio=0)
            await viewer.start()
            await viewer.wait_video_frames(3)
            await other_web_process.close()  # that web process died
            await viewer.wait_event("publisher.away", identity="host", timeout=3.0)
            assert "host-ws" not in h.relay.sessions[ROOM].peers
            assert "host" in h.relay.sessions[ROOM].publishers  # within its grace period

    run(scenario())


async def _leave_and_check(viewer, h: Harness) -> None:  # type: ignore[no-untyped-def]
    await viewer.close()
    assert ROOM not in h.relay.sessions  # the last one out ends the session
