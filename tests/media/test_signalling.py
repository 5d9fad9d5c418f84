"""The room video socket `/ws/media/<m>/<room>/` end to end: aiortc publishers and viewers
signal through the real consumer (auth, Origin, permissions, validation) to an in-process
relay, and media flows over loopback ICE."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from liveshop.accounts.services import token_issue
from liveshop.tenancy.scope import tenant_scope
from media.access import room_session_key
from rooms.models import Room, RoomStatus
from tests.factories import RoomFactory
from tests.media.ws_clients import WsPublisher, WsViewer, expected_luma, media_stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def room(merchant: Any, host: Any) -> Room:
    return RoomFactory(merchant=merchant, host=host, slug="launch", status=RoomStatus.LIVE)


@pytest.fixture
def tokens(host: Any, shopper: Any, outsider: Any, owner: Any) -> dict[str, str]:
    return {
        name: token_issue(user=user)[1]
        for name, user in [
            ("host", host),
            ("shopper", shopper),
            ("outsider", outsider),
            ("owner", owner),
        ]
    }


def room_status(room: Room) -> str:
    with tenant_scope(room.merchant_id):
        return Room.objects.get(pk=room.pk).status


def set_status(room: Room, status: str) -> None:
    with tenant_scope(room.merchant_id):
        Room.objects.filter(pk=room.pk).update(status=status)


# --- publish and watch ------------------------------------------------------------------


async def test_host_publishes_and_an_anonymous_viewer_plays_it(room, tokens):
    async with media_stack() as stack:
        host_socket = await stack.socket("acme", "launch", token=tokens["host"])
        hello = host_socket.of_type("hello")[-1]
        assert hello["can_publish"] is True and hello["host"] == f"user:{room.host_id}"
        publisher = WsPublisher(host_socket, level=60)
        stack.closing.append(publisher)
        answer = await publisher.start()
        assert answer["role"] == "publish" and "VP8" in answer["sdp"]
        await publisher.wait_connected()

        viewer_socket = await stack.socket("acme", "launch")  # anonymous
        assert viewer_socket.of_type("hello")[0]["can_publish"] is False
        viewer = WsViewer(viewer_socket)
        stack.closing.append(viewer)
        reply = await viewer.start()
        assert reply["type"] == "answer", reply
        assert [(t["kind"], t["publisher"], t["codec"]) for t in reply["tracks"]] == [
            ("audio", f"user:{room.host_id}", "opus"),
            ("video", f"user:{room.host_id}", "VP8"),
        ]
        assert reply["publishers"] == [{"identity": f"user:{room.host_id}", "state": "live"}]
        await viewer.wait_frames(10, level=expected_luma(60))
        # the relay's session was named server-side from the URL's merchant and room
        assert list(stack.harness.relay.sessions) == [room_session_key(room)]
        # the host's socket carries the relay's stats (viewers, bitrate, fps, resolution)
        stats = await host_socket.wait("stats", timeout=4.0)
        assert stats["viewers"] >= 1
        video = [t for p in stats["publishers"] for t in p["tracks"] if t["kind"] == "video"]
        assert video and video[0]["width"] == 160 and video[0]["fps"] > 0


async def test_a_mid_stream_joiner_gets_a_keyframe_at_once(room, tokens):
    async with media_stack() as stack:
        publisher = WsPublisher(
            await stack.socket("acme", "launch", token=tokens["host"]), audio=False
        )
        stack.closing.append(publisher)
        await publisher.start()
        await publisher.wait_connected()
        # aiortc encoders keep a 3000-frame GOP: only a forwarded PLI lets a joiner decode
        await asyncio.sleep(1.5)
        before = stack.harness.relay.counters["keyframe_requests"]
        viewer = WsViewer(await stack.socket("acme", "launch"))
        stack.closing.append(viewer)
        await viewer.start()
        track = await viewer.wait_frames(1, timeout=3.0)
        assert track.first_at is not None and track.first_at - viewer.offered_at < 1.0
        assert stack.harness.relay.counters["keyframe_requests"] > before


async def test_viewer_waiting_before_the_host_gets_the_host_by_renegotiation(room, tokens):
    async with media_stack() as stack:
        viewer_socket = await stack.socket("acme", "launch", token=tokens["shopper"])
        viewer = WsViewer(viewer_socket)
        stack.closing.append(viewer)
        reply = await viewer.start()
        assert [t["publisher"] for t in reply["tracks"]] == [None, None]
        publisher = WsPublisher(
            await stack.socket("acme", "launch", token=tokens["host"]), level=120
        )
        stack.closing.append(publisher)
        await publisher.start()
        await viewer_socket.wait("publisher.joined", identity=f"user:{room.host_id}")
        offer = await viewer_socket.wait("offer", timeout=5.0)
        assert offer["role"] == "subscribe"
        assert [t["publisher"] for t in offer["tracks"]] == [f"user:{room.host_id}"] * 2
        await viewer.wait_frames(5, level=expected_luma(120))
        assert viewer.answers_sent >= 1


async def test_host_drops_and_returns_within_grace_viewer_resumes(room, tokens):
    async with media_stack(publisher_grace=5.0) as stack:
        host_socket = await stack.socket("acme", "launch", token=tokens["host"])
        first = WsPublisher(host_socket, level=40)
        stack.closing.append(first)
        await first.start()
        await first.wait_connected()
        viewer_socket = await stack.socket("acme", "launch")
        viewer = WsViewer(viewer_socket)
        stack.closing.append(viewer)
        await viewer.start()
        before = await viewer.wait_frames(5, level=expected_luma(40))

        # The host's network drops: socket and peer connection gone, no `leave`.
        await host_socket.disconnect()
        await first.pc.close()
        away = await viewer_socket.wait("publisher.away", identity=f"user:{room.host_id}")
        assert away["reason"]
        # ... and comes back on a new socket within the grace period.
        second = WsPublisher(await stack.socket("acme", "launch", token=tokens["host"]), level=200)
        stack.closing.append(second)
        await second.start()
        await viewer_socket.wait("publisher.back", identity=f"user:{room.host_id}")
        after = await viewer.wait_frames(5, level=expected_luma(200), timeout=4.0)
        assert after is before  # the same receiver: the relay swapped the source under it
        assert viewer_socket.of_type("offer") == []  # resumed without renegotiation
        assert viewer.pc.connectionState == "connected"


async def test_host_publishing_puts_a_scheduled_room_live(room, tokens):
    await database_sync_to_async(set_status)(room, RoomStatus.SCHEDULED)
    async with media_stack() as stack:
        # before: anonymous viewers are told the show has not started
        early = await stack.socket("acme", "launch")
        await WsViewer(early).start()
        assert (await early.wait("error"))["code"] == "room_not_live"

        host_socket = await stack.socket("acme", "launch", token=tokens["host"])
        publisher = WsPublisher(host_socket)
        stack.closing.append(publisher)
        await publisher.start()
        await host_socket.wait("publisher.joined")
        for _ in range(100):
            if await database_sync_to_async(room_status)(room) == RoomStatus.LIVE:
                break
            await asyncio.sleep(0.05)
        assert await database_sync_to_async(room_status)(room) == RoomStatus.LIVE
        assert host_socket.of_type("error") == []

        viewer = WsViewer(await stack.socket("acme", "launch"))
        stack.closing.append(viewer)
        assert (await viewer.start())["type"] == "answer"
        await viewer.wait_frames(3)


async def test_leave_ends_the_publisher_for_viewers(room, tokens):
    async with media_stack() as stack:
        host_socket = await stack.socket("acme", "launch", token=tokens["host"])
        publisher = WsPublisher(host_socket, audio=False)
        stack.closing.append(publisher)
        await publisher.start()
        await publisher.wait_connected()
        viewer_socket = await stack.socket("acme", "launch")
        viewer = WsViewer(viewer_socket)
        stack.closing.append(viewer)
        await viewer.start()
        await viewer.wait_frames(2)
        await host_socket.send({"type": "leave"})
        await viewer_socket.wait("publisher.left", identity=f"user:{room.host_id}")


# --- who may do what --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["shopper", "outsider", "owner", None])
async def test_only_the_rooms_host_may_publish(room, tokens, who):
    async with media_stack() as stack:
        sock = await stack.socket("acme", "launch", token=tokens[who] if who else None)
        assert sock.of_type("hello")[-1]["can_publish"] is False
        publisher = WsPublisher(sock)
        stack.closing.append(publisher)
        await sock.send({"type": "offer", "role": "publish", "sdp": await publisher.offer_sdp()})
        error = await sock.wait("error")
        assert error["code"] == ("auth_required" if who is None else "publish_forbidden")
        assert stack.harness.relay.sessions == {}  # nothing reached the relay


async def test_other_merchants_staff_cannot_reach_the_room_through_their_own_merchant(
    room, tokens, other_merchant
):
    async with media_stack() as stack:
        # the room's slug under the outsider's own merchant does not exist there
        sock = await stack.socket("rivalco", "launch", hello=False)
        assert await sock.closed() == 4404


@pytest.fixture
def rival_room(other_merchant: Any) -> Room:
    return RoomFactory(merchant=other_merchant, slug="rival-show", status=RoomStatus.LIVE)


async def test_subscribing_to_another_merchants_room_is_refused(room, rival_room, tokens):
    async with media_stack() as stack:
        sock = await stack.socket("acme", "rival-show", hello=False)
        assert await sock.closed() == 4404
        unknown = await stack.socket("nope", "launch", hello=False)
        assert await unknown.closed() == 4404


async def test_the_session_is_never_taken_from_the_client(room, tokens):
    async with media_stack() as stack:
        sock = await stack.socket("acme", "launch")
        viewer = WsViewer(sock)
        stack.closing.append(viewer)
        viewer.pc.addTransceiver("video", direction="recvonly")
        await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
        await sock.send(
            {
                "type": "offer",
                "role": "subscribe",
                "sdp": viewer.pc.localDescription.sdp,
                "session": f"consult:{room.merchant_id}:1",
                "profile": "consult",
            }
        )
        await sock.wait("answer")
        assert list(stack.harness.relay.sessions) == [room_session_key(room)]


async def test_ended_room_refuses_publish_and_subscribe(room, tokens):
    await database_sync_to_async(set_status)(room, RoomStatus.ENDED)
    async with media_stack() as stack:
        sock = await stack.socket("acme", "launch", token=tokens["host"])
        publisher = WsPublisher(sock)
        stack.closing.append(publisher)
        await sock.send({"type": "offer", "role": "publish", "sdp": await publisher.offer_sdp()})
        assert (await sock.wait("error"))["code"] == "room_ended"
        viewer = WsViewer(await stack.socket("acme", "launch"))
        stack.closing.append(viewer)
        assert (await viewer.start())["code"] == "room_ended"


async def test_foreign_origin_is_closed_4403(room):
    async with media_stack() as stack:
        sock = await stack.socket("acme", "launch", origin="https://evil.example", hello=False)
        assert (await sock.wait("error"))["code"] == "origin_refused"
        assert await sock.closed() == 4403


# --- bad input --------------------------------------------------------------------------

BAD_FRAMES = [
    ({"type": "offer", "role": "publish"}, "sdp_invalid"),
    ({"type": "offer", "role": "subscribe", "sdp": 42}, "sdp_invalid"),
    ({"type": "offer", "role": "subscribe", "sdp": "hello relay"}, "sdp_invalid"),
    ({"type": "offer", "role": "watch", "sdp": "v=0\r\n"}, "bad_frame"),
    (
        {"type": "offer", "role": "subscribe", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"},
        "sdp_invalid",
    ),
    ({"type": "answer", "sdp": "v=0\r\n"}, "no_connection"),
    ({"type": "ice", "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}, "no_connection"),
    ({"type": "ice", "candidate": "rm -rf /"}, "ice_invalid"),
    ({"type": "ice", "candidate": "candidate:" + "1" * 600}, "ice_invalid"),
    ({"type": "ice", "candidate": {"candidate": 5}}, "ice_invalid"),
    ({"type": "ice", "candidate": "", "sdpMLineIndex": -1}, "ice_invalid"),
    ({"type": "ice", "candidate": "", "sdpMid": "x" * 100}, "ice_invalid"),
    ({"type": "leave", "role": "both"}, "bad_frame"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
async def test_malformed_signalling_gets_an_error_frame(room, frame, code):
    async with media_stack() as stack:
        sock = await stack.socket("acme", "launch")
        await sock.send({**frame, "nonce": "n1"})
        error = await sock.wait("error")
        assert (error["code"], error.get("nonce")) == (code, "n1")
        assert sock.close_code is None  # the socket stays open


async def test_bad_sdp_and_ice_after_a_real_offer(room, tokens):
    async with media_stack() as stack:
        sock = await stack.socket("acme", "launch", token=tokens["host"])
        publisher = WsPublisher(sock, audio=False)
        stack.closing.append(publisher)
        await publisher.start()
        # a hostname candidate (relay-side check), then a garbage answer to no offer
        await sock.send(
            {"type": "ice", "candidate": "candidate:1 1 udp 2122260223 evil.example 9 typ host"}
        )
        assert (await sock.wait("error"))["code"] == "ice_invalid"
        count = len(sock.frames)
        await sock.send({"type": "ice", "candidate": ""})  # end of candidates is fine
        await sock.send({"type": "answer", "sdp": "v=0\r\n"})
        assert (await sock.wait("error", after=count))["code"] == "no_pending_offer"
        # a publish offer whose SDP the relay cannot parse
        count = len(sock.frames)
        await sock.send({"type": "offer", "role": "publish", "sdp": "v=0\r\nm=video 9\r\n"})
        assert (await sock.wait("error", after=count))["code"] == "sdp_invalid"
        await publisher.wait_connected()  # the good leg is untouched by the refusals


async def test_oversized_frame_closes_1009(room):
    async with media_stack() as stack:
        sock = await stack.socket("acme", "launch")
        await sock.send({"type": "offer", "role": "subscribe", "sdp": "v=0\r\n" + "a" * 70_000})
        assert await sock.closed() == 1009


async def test_offers_are_rate_limited_then_the_abuser_is_closed(room):
    async with media_stack() as stack:
        sock = await stack.socket("acme", "launch")
        codes = []
        for _ in range(8):
            count = len(sock.frames)
            await sock.send({"type": "offer", "role": "subscribe", "sdp": "nonsense"})
            codes.append((await sock.wait("error", after=count))["code"])
        assert codes[:6] == ["sdp_invalid"] * 6 and codes[6:] == ["rate_limited"] * 2
        for _ in range(30):
            await sock.send({"type": "offer", "role": "subscribe", "sdp": "nonsense"})
        assert await sock.closed() == 4429


@override_settings(LIVESHOP_MEDIA_OFFER_RATE="3/min")
async def test_offers_are_limited_per_viewer_across_sockets(room):
    async with media_stack() as stack:
        codes = []
        for _ in range(4):  # a fresh socket each time: the per-socket budget is not the limit
            sock = await stack.socket("acme", "launch")
            viewer = WsViewer(sock)
            stack.closing.append(viewer)
            codes.append((await viewer.start())["type"])
        assert codes[:3] == ["answer"] * 3
        assert codes[3] == "error" and sock.of_type("error")[-1]["code"] == "rate_limited"
