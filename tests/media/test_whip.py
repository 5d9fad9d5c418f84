"""WHIP ingest (RFC 9725) with an aiortc encoder sending H.264 + Opus, like OBS: the stream
key, the 201 + Location + application/sdp answer, ICE servers in Link headers, DELETE,
PATCH 405, and every refusal."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient, override_settings

from liveshop.tenancy.access import access_merchant
from liveshop.tenancy.scope import tenant_scope
from media import services
from media.access import room_session_key
from media.models import StreamKey
from rooms.models import Room, RoomStatus
from tests.factories import RoomFactory
from tests.media.ws_clients import WhipClient, WsViewer, expected_luma, media_stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

URL = "/whip/acme/launch"


@pytest.fixture
def room(merchant: Any, host: Any) -> Room:
    return RoomFactory(merchant=merchant, host=host, slug="launch", status=RoomStatus.SCHEDULED)


@pytest.fixture
def stream_key(room: Room, host: Any) -> str:
    actor = access_merchant(principal=host, slug=room.merchant.slug)
    return services.stream_key_create(actor=actor, room=room)[1]


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def post_offer(sdp: str, key: str | None, url: str = URL, **kw: Any) -> Any:
    headers = bearer(key) if key else {}
    return await AsyncClient().post(
        url, data=sdp, content_type=kw.pop("content_type", "application/sdp"), headers=headers
    )


def status_of(room: Room) -> str:
    with tenant_scope(room.merchant_id):
        return Room.objects.get(pk=room.pk).status


async def test_obs_like_encoder_publishes_h264_and_viewers_get_h264(room, stream_key):
    async with media_stack() as stack:
        encoder = WhipClient(level=90)
        stack.closing.append(encoder)
        response = await post_offer(await encoder.offer_sdp(), stream_key)
        assert response.status_code == 201, response.content
        assert response["Content-Type"] == "application/sdp"
        location = response["Location"]
        assert location.startswith(f"{URL}/") and len(location.rsplit("/", 1)[1]) == 32
        answer = response.content.decode()
        assert "H264" in answer and "VP8" not in answer
        await encoder.apply(answer)
        await encoder.wait_connected()
        # the room went live with the stream
        assert await database_sync_to_async(status_of)(room) == RoomStatus.LIVE

        viewer_socket = await stack.socket("acme", "launch")
        viewer = WsViewer(viewer_socket)
        stack.closing.append(viewer)
        reply = await viewer.start()
        video = [t for t in reply["tracks"] if t["kind"] == "video"]
        assert video[0]["codec"] == "H264" and video[0]["publisher"] == f"user:{room.host_id}"
        await viewer.wait_frames(10, level=expected_luma(90))

        # PATCH (trickle / ICE restart) is not offered; DELETE ends the stream
        patch = await AsyncClient().patch(
            location,
            data="a=end-of-candidates",
            content_type="application/trickle-ice-sdpfrag",
            headers=bearer(stream_key),
        )
        assert patch.status_code == 405 and "DELETE" in patch["Allow"]
        assert (await AsyncClient().delete(location)).status_code == 401
        deleted = await AsyncClient().delete(location, headers=bearer(stream_key))
        assert deleted.status_code == 200
        await viewer_socket.wait("publisher.left", identity=f"user:{room.host_id}")


async def test_the_encoder_reconnecting_within_grace_resumes_viewers(room, stream_key):
    async with media_stack(publisher_grace=5.0) as stack:
        first = WhipClient(level=40, audio=False)
        stack.closing.append(first)
        response = await post_offer(await first.offer_sdp(), stream_key)
        await first.apply(response.content.decode())
        viewer_socket = await stack.socket("acme", "launch")
        viewer = WsViewer(viewer_socket)
        stack.closing.append(viewer)
        await viewer.start()
        await viewer.wait_frames(5, level=expected_luma(40))
        await first.pc.close()  # the encoder's network drops
        await viewer_socket.wait("publisher.away")
        second = WhipClient(level=200, audio=False)
        stack.closing.append(second)
        again = await post_offer(await second.offer_sdp(), stream_key)
        assert again.status_code == 201
        await second.apply(again.content.decode())
        await viewer_socket.wait("publisher.back")
        await viewer.wait_frames(5, level=expected_luma(200), timeout=4.0)
        assert viewer_socket.of_type("offer") == []


async def test_revoking_the_key_refuses_it_and_ends_its_stream(room, stream_key, host):
    async with media_stack() as stack:
        encoder = WhipClient(audio=False)
        stack.closing.append(encoder)
        response = await post_offer(await encoder.offer_sdp(), stream_key)
        await encoder.apply(response.content.decode())
        await encoder.wait_connected()
        session = stack.harness.relay.sessions[room_session_key(room)]
        assert session.publishers

        def revoke() -> list[str]:
            actor = access_merchant(principal=host, slug="acme")
            return services.stream_key_revoke(actor=actor, room=room)

        ended = await database_sync_to_async(revoke)()
        assert ended == [response["Location"].rsplit("/", 1)[1]]
        for _ in range(100):
            if not session.publishers:
                break
            await asyncio.sleep(0.05)
        assert not session.publishers
        refused = await post_offer(await WhipClient().offer_sdp(), stream_key)
        assert refused.status_code == 401


@override_settings(
    LIVESHOP_ICE_STUN_URLS=["stun:stun.example.net:3478"],
    LIVESHOP_ICE_TURN_URLS=["turn:turn.example.net:3478?transport=udp"],
    LIVESHOP_ICE_TURN_SECRET="coturn-secret",
)
async def test_ice_servers_in_link_headers_with_a_minted_turn_credential(room, stream_key):
    async with media_stack() as stack:
        encoder = WhipClient(audio=False)
        stack.closing.append(encoder)
        response = await post_offer(await encoder.offer_sdp(), stream_key)
        assert response.status_code == 201
        links = [link.strip() for link in response["Link"].split(", ")]
        assert links[0] == '<stun:stun.example.net:3478>; rel="ice-server"'
        turn = links[1]
        assert turn.startswith('<turn:turn.example.net:3478?transport=udp>; rel="ice-server"')
        username = turn.split('username="')[1].split('"')[0]
        credential = turn.split('credential="')[1].split('"')[0]
        assert username.endswith(f":{room.host_id}")
        expected = base64.b64encode(
            hmac.new(b"coturn-secret", username.encode(), hashlib.sha1).digest()
        ).decode()
        assert credential == expected


@pytest.fixture
def other_room(merchant: Any, host: Any) -> Room:
    return RoomFactory(merchant=merchant, host=host, slug="other-show", status=RoomStatus.LIVE)


@pytest.fixture
def other_key(other_room: Room, host: Any) -> str:
    actor = access_merchant(principal=host, slug="acme")
    return services.stream_key_create(actor=actor, room=other_room)[1]


async def test_refusals(room, stream_key, other_key):
    async with media_stack() as stack:
        encoder = WhipClient(audio=False)
        stack.closing.append(encoder)
        sdp = await encoder.offer_sdp()
        missing = await post_offer(sdp, None)
        assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
        assert (await post_offer(sdp, "lsw_made-up")).status_code == 401
        assert (await post_offer(sdp, other_key)).status_code == 401  # another room's key
        assert (await post_offer(sdp, stream_key, url="/whip/acme/nope")).status_code == 404
        assert (await post_offer(sdp, stream_key, url="/whip/nope/launch")).status_code == 404
        wrong_type = await post_offer(sdp, stream_key, content_type="application/json")
        assert wrong_type.status_code == 415
        bad = await post_offer("v=0\r\nthis is not sdp\r\n", stream_key)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "sdp_invalid"
        junk = await post_offer("GET / HTTP/1.1", stream_key)
        assert junk.status_code == 400
        huge = await post_offer("v=0\r\n" + "a=x\r\n" * 20_000, stream_key)
        assert huge.status_code == 413
        assert (await AsyncClient().get(URL)).status_code == 405
        assert stack.harness.relay.sessions == {} or all(
            not s.publishers for s in stack.harness.relay.sessions.values()
        )


async def test_ended_room_refuses_the_encoder(room, stream_key):
    def end() -> None:
        with tenant_scope(room.merchant_id):
            Room.objects.filter(pk=room.pk).update(status=RoomStatus.ENDED)

    await database_sync_to_async(end)()
    async with media_stack() as stack:
        encoder = WhipClient(audio=False)
        stack.closing.append(encoder)
        response = await post_offer(await encoder.offer_sdp(), stream_key)
        assert response.status_code == 409 and response.json()["error"]["code"] == "room_ended"


async def test_key_is_stored_hashed(room, stream_key):
    def rows() -> list[StreamKey]:
        with tenant_scope(room.merchant_id):
            return list(StreamKey.objects.filter(room=room))

    [row] = await database_sync_to_async(rows)()
    assert stream_key.startswith("lsw_") and row.prefix == stream_key[:12]
    assert stream_key not in row.key_hash and len(row.key_hash) == 64
