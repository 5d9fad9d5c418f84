"""Cascade: a relay pulls a session from another relay as an ordinary client, for crowds
(an edge relay serving a popular room) and PK across relays."""

from __future__ import annotations

import asyncio

import pytest

from media.relay.protocol import RelayError
from tests.media.clients import relay_harness, run


def level(value: int) -> int:
    return round(value + (235 - value) / 16)


def test_edge_relay_serves_an_origin_room_and_follows_its_changes() -> None:
    async def scenario() -> None:
        async with relay_harness(publisher_grace=5.0) as origin, relay_harness() as edge:
            host = origin.publisher("room:7:big", "host-ws", "host", level=60)
            await host.start()
            await host.wait_connected()
            await asyncio.sleep(1.0)  # mid-stream: the edge needs a keyframe through origin
            reply = await edge.client.pull(
                session="room:7:big", address=origin.address, remote_session="room:7:big"
            )
            assert sorted(t["kind"] for t in reply["tracks"]) == ["audio", "video"]
            viewer = edge.viewer("room:7:big", "edge-viewer")
            await viewer.start()
            record = await viewer.wait_video_frames(5, level=level(60), timeout=4.0)
            assert record.first_at is not None and record.first_at - viewer.offered_at < 1.5
            # the origin relay sees the edge as one viewer, not as each of its viewers
            assert origin.relay.status()["peer_connections"] == 2
            # a co-host joins at the origin: the edge follows, its viewer gets an offer
            cohost = origin.publisher("room:7:big", "cohost-ws", "user:9", level=200)
            await cohost.start()
            await viewer.wait_event("offer", timeout=5.0)
            await viewer.wait_video_frames(5, level=level(200), timeout=5.0)
            # the host's connection drops and comes back: edge viewers resume by themselves
            await host.drop()
            await viewer.wait_event("publisher.away", identity="host", timeout=3.0)
            back = origin.publisher("room:7:big", "host-ws-2", "host", level=120)
            await back.start()
            await viewer.wait_event("publisher.back", identity="host", timeout=5.0)
            await viewer.wait_video_frames(5, level=level(120), timeout=5.0)
            assert len(viewer.events_named("offer")) == 1  # only the co-host needed one
            # stopping the pull removes the pulled publishers at the edge
            await edge.client.unpull(
                session="room:7:big", address=origin.address, remote_session="room:7:big"
            )
            await viewer.wait_event("publisher.left", identity="user:9", timeout=3.0)
            assert edge.relay.sessions["room:7:big"].publishers == {}
            await asyncio.sleep(0.2)
            assert origin.relay.status()["peer_connections"] == 2  # the edge left the origin

    run(scenario(), timeout=90)


def test_pk_across_relays_pulls_only_the_partner() -> None:
    async def scenario() -> None:
        async with relay_harness() as one, relay_harness() as two:
            x = one.publisher("room:1:a", "x-ws", "user:x", level=40, audio=False)
            y = two.publisher("room:2:b", "y-ws", "user:y", level=200, audio=False)
            await x.start()
            await y.start()
            # each room pulls the partner host only: no loop through the other's pull
            await one.client.pull(
                session="room:1:a",
                address=two.address,
                remote_session="room:2:b",
                publisher="user:y",
            )
            await two.client.pull(
                session="room:2:b",
                address=one.address,
                remote_session="room:1:a",
                publisher="user:x",
            )
            viewer_a = one.viewer("room:1:a", "va", video=2, audio=0)
            viewer_b = two.viewer("room:2:b", "vb", video=2, audio=0)
            await viewer_a.start()
            await viewer_b.start()
            for viewer in (viewer_a, viewer_b):
                await viewer.wait_video_frames(5, level=level(40), timeout=5.0)
                await viewer.wait_video_frames(5, level=level(200), timeout=5.0)
            assert set(one.relay.sessions["room:1:a"].publishers) == {"user:x", "user:y"}
            assert set(two.relay.sessions["room:2:b"].publishers) == {"user:y", "user:x"}

    run(scenario(), timeout=90)


def test_pull_from_nowhere_is_a_clear_error() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            with pytest.raises(RelayError) as error:
                await h.client.pull(
                    session="room:1:a", address="unix:/nonexistent.sock", remote_session="room:2:b"
                )
            assert error.value.code == "unavailable"
            with pytest.raises(RelayError) as bad:
                await h.client.request(
                    "pull", session="room:1:a", address="http://x", remote_session="r"
                )
            assert bad.value.code == "bad_request"
            assert h.relay.sessions == {} and h.relay.peer_connections() == 0

    run(scenario())
