"""Bounded viewer queues, keyframe skipping, timestamp continuity and PLI rate limiting."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from media.relay.fanout import Feed, ForwardTrack, KeyframeRequester, QueueLimits
from media.relay.passthrough import Codec
from tests.media.clients import run

VP8 = Codec(RTCRtpCodecCapability(mimeType="video/VP8", clockRate=90000))
OPUS = Codec(RTCRtpCodecCapability(mimeType="audio/opus", clockRate=48000, channels=2))
KEY = b"\x00" + bytes(9)  # VP8 frame tag bit 0 clear: keyframe
DELTA = b"\x01" + bytes(9)


class Publisher:
    """Stands in for the publisher side of a feed: counts the PLIs it is asked to send."""

    def __init__(self) -> None:
        self.plis: list[float] = []

    async def send(self, feed: Feed) -> bool:
        self.plis.append(time.monotonic())
        return True


def make_feed(codec: Codec = VP8, interval: float = 0.3) -> tuple[Feed, Publisher, object]:
    publisher = Publisher()
    feed = Feed(
        feed_id="host#video0",
        publisher="host",
        kind=codec.kind,
        index=0,
        codec=codec,
        keyframe_interval=interval,
        send_keyframe_request=publisher.send,
    )
    source = object()
    feed.set_source(source)
    return feed, publisher, source


def frame(key: bool, size: int) -> bytes:
    return (KEY if key else DELTA) + bytes(size)


def test_stalled_viewer_stays_bounded_and_resumes_at_a_keyframe() -> None:
    async def scenario() -> None:
        limits = QueueLimits(video_frames=30, audio_frames=50, max_bytes=256 * 1024)
        feed, publisher, source = make_feed()
        healthy, stalled = ForwardTrack("video", limits), ForwardTrack("video", limits)
        healthy.bind(feed)
        stalled.bind(feed)
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        peak_frames = peak_bytes = 0
        for i in range(2000):  # about 20 MB pushed at a viewer that never reads
            feed.push(source, frame(i % 100 == 0, 10_000), i * 3000)
            peak_frames = max(peak_frames, stalled.queued_frames)
            peak_bytes = max(peak_bytes, stalled.queued_bytes)
            if healthy.queued_frames:
                await healthy.recv()
        _, peak_memory = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak_frames <= limits.video_frames
        assert peak_bytes <= limits.max_bytes
        assert peak_memory - base < 4 * limits.max_bytes  # no unbounded growth anywhere
        assert stalled.overflows > 0 and stalled.dropped > 1500
        assert healthy.dropped == 0 and healthy.sent == 2000
        # overflow asked the publisher for a keyframe instead of waiting for its next GOP
        await asyncio.sleep(0.01)
        assert publisher.plis
        # once it reads again, it starts at a keyframe: decodable
        feed.push(source, frame(True, 100), 2000 * 3000)
        packet = await stalled.recv()
        assert bytes(packet)[:1] == KEY[:1]

    run(scenario())


def test_audio_viewer_loses_the_oldest_packets() -> None:
    async def scenario() -> None:
        feed, _, source = make_feed(OPUS)
        track = ForwardTrack("audio", QueueLimits(audio_frames=10))
        track.bind(feed)
        for i in range(25):
            feed.push(source, bytes([i]) * 50, i * 960)
        assert track.queued_frames == 10
        first = await track.recv()
        assert bytes(first)[0] == 15

    run(scenario())


def test_new_viewer_and_new_source_wait_for_a_keyframe() -> None:
    async def scenario() -> None:
        feed, publisher, source = make_feed()
        track = ForwardTrack("video", QueueLimits())
        track.bind(feed)
        await asyncio.sleep(0.01)
        assert len(publisher.plis) == 1  # PLI on join
        feed.push(source, frame(False, 10), 0)
        assert track.queued_frames == 0  # a delta frame is useless to a fresh viewer
        feed.push(source, frame(True, 10), 3000)
        feed.push(source, frame(False, 10), 6000)
        assert track.queued_frames == 2
        # the publisher reconnects: the old source's frames no longer count
        new_source = object()
        feed.set_source(new_source)
        feed.push(source, frame(True, 10), 9000)
        feed.push(new_source, frame(False, 10), 0)
        assert track.queued_frames == 2
        feed.push(new_source, frame(True, 10), 3000)
        assert track.queued_frames == 3

    run(scenario())


def test_timestamps_continue_across_a_source_swap() -> None:
    async def scenario() -> None:
        feed, _, source = make_feed()
        track = ForwardTrack("video", QueueLimits())
        track.bind(feed)
        for i in range(3):
            feed.push(source, frame(i == 0, 10), 500_000 + i * 3000)
        pts = [(await track.recv()).pts or 0 for _ in range(3)]
        assert pts == [0, 3000, 6000]
        new_source = object()
        feed.set_source(new_source)
        await asyncio.sleep(0.2)
        feed.push(new_source, frame(True, 10), 0)  # a new receiver's clock starts at 0
        feed.push(new_source, frame(False, 10), 3000)
        after = [(await track.recv()).pts or 0 for _ in range(2)]
        assert 6000 + 0.15 * 90000 < after[0] < 6000 + 0.5 * 90000  # a gap, not a jump back
        assert after[1] - after[0] == 3000

    run(scenario())


def test_far_behind_viewer_catches_up_at_a_keyframe() -> None:
    async def scenario() -> None:
        feed, _, source = make_feed()
        track = ForwardTrack("video", QueueLimits(video_frames=30))
        track.bind(feed)
        feed.push(source, frame(True, 10), 0)
        for i in range(1, 12):
            feed.push(source, frame(False, 10), i * 3000)
        assert track.queued_frames == 12
        feed.push(source, frame(True, 10), 12 * 3000)
        assert track.queued_frames == 1
        assert bytes(await track.recv())[:1] == KEY[:1]

    run(scenario())


def test_keyframe_requests_are_rate_limited_with_a_trailing_one() -> None:
    async def scenario() -> None:
        sent: list[float] = []

        async def send() -> bool:
            sent.append(time.monotonic())
            return True

        requester = KeyframeRequester(0.2, send)
        start = time.monotonic()
        for _ in range(10):
            requester.request()
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.35)
        assert len(sent) == 2  # one at once, one trailing for those who asked meanwhile
        assert sent[1] - sent[0] >= 0.19
        assert sent[0] - start < 0.05
        assert requester.sent == 2 and requester.requested == 10
        requester.close()

    run(scenario())


def test_viewer_keyframe_request_reaches_the_publisher() -> None:
    async def scenario() -> None:
        feed, publisher, _ = make_feed(interval=0.0)
        track = ForwardTrack("video", QueueLimits())
        track.bind(feed)
        await asyncio.sleep(0.01)
        track.request_keyframe()
        await asyncio.sleep(0.01)
        assert len(publisher.plis) == 2  # join + the viewer's PLI
        track.bind(None)
        track.request_keyframe()  # unbound: nowhere to send it, and no error
        await asyncio.sleep(0.01)
        assert len(publisher.plis) == 2
        track.stop()

    run(scenario())


def test_timestamps_continue_when_a_slot_is_rebound_to_another_feed() -> None:
    async def scenario() -> None:
        first, _, source_a = make_feed()
        second, _, source_b = make_feed()  # same epoch count as the first: 1
        track = ForwardTrack("video", QueueLimits())
        track.bind(first)
        first.push(source_a, frame(True, 10), 900_000)
        first.push(source_a, frame(False, 10), 903_000)
        before = [(await track.recv()).pts or 0 for _ in range(2)]
        track.bind(second)
        await asyncio.sleep(0.1)
        second.push(source_b, frame(True, 10), 0)
        after = (await track.recv()).pts or 0
        assert after - before[-1] >= 0.08 * 90000  # moved on by about the pause, not back

    run(scenario())


def test_a_request_that_could_not_be_sent_is_retried_until_the_publisher_is_there() -> None:
    # A viewer who joins before the publisher connects must still get a keyframe: the first
    # PLI finds no publisher transport (send → False) and is retried every interval.
    async def scenario() -> None:
        connected_at = time.monotonic() + 0.25
        attempts: list[bool] = []

        async def send() -> bool:
            ok = time.monotonic() >= connected_at
            attempts.append(ok)
            return ok

        requester = KeyframeRequester(0.05, send)
        requester.request()
        await asyncio.sleep(0.5)
        assert attempts[0] is False and attempts[-1] is True
        assert requester.sent == 1  # retries stop once one got through
        settled = len(attempts)
        await asyncio.sleep(0.2)
        assert len(attempts) == settled
        requester.close()

    run(scenario())


def test_retries_are_bounded_when_the_publisher_never_comes() -> None:
    async def scenario() -> None:
        attempts = 0

        async def send() -> bool:
            nonlocal attempts
            attempts += 1
            return False

        requester = KeyframeRequester(0.001, send)
        requester.request()
        await asyncio.sleep(0.5)
        assert attempts == KeyframeRequester.RETRIES + 1
        requester.close()

    run(scenario())
