"""Co-hosts on stage through the real media socket and an in-process relay (aiortc, loopback
ICE): a guest publishes only once invited and accepted, viewers receive every on-stage
track, and revoking stops the guest's track reaching viewers at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async

from liveshop.accounts.services import token_issue
from liveshop.tenancy.access import access_merchant
from media import stage
from media.relay.protocol import RelayError
from rooms.models import Room, RoomStatus
from tests.factories import RoomFactory
from tests.media.clients import relay_harness, run
from tests.media.ws_clients import WsPublisher, WsViewer, expected_luma, media_stack

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def room(merchant: Any, host: Any) -> Room:
    return RoomFactory(merchant=merchant, host=host, slug="launch", status=RoomStatus.LIVE)


def _frames_near(viewer: WsViewer, level: int) -> int:
    return sum(1 for t in viewer.video() for x in t.lumas if abs(x - level) < 25)


@pytest.fixture
def tokens(host: Any, shopper: Any) -> dict[str, str]:
    return {"host": token_issue(user=host)[1], "guest": token_issue(user=shopper)[1]}


@pytest.fixture
def actor(host: Any, merchant: Any) -> Any:
    return access_merchant(principal=host, slug="acme")


@pytest.mark.asyncio
async def test_cohost_publishes_once_accepted_and_stops_when_revoked(
    room, host, shopper, tokens, actor
):
    host_token, guest_token = tokens["host"], tokens["guest"]
    async with media_stack() as stack:
        host_socket = await stack.socket("acme", "launch", token=host_token)
        host_pub = WsPublisher(host_socket, level=60)
        stack.closing.append(host_pub)
        await host_pub.start()
        await host_pub.wait_connected()

        viewer_socket = await stack.socket("acme", "launch")
        viewer = WsViewer(viewer_socket)
        stack.closing.append(viewer)
        await viewer.start()
        await viewer.wait_frames(5, level=expected_luma(60))

        # not invited: refused
        guest_socket = await stack.socket("acme", "launch", token=guest_token)
        assert guest_socket.of_type("hello")[-1]["can_publish"] is False
        await guest_socket.send({"type": "offer", "role": "publish", "sdp": "v=0\r\nx"})
        assert (await guest_socket.wait("error"))["code"] == "publish_forbidden"

        # invited but not accepted: still refused
        await database_sync_to_async(stage.stage_invite)(actor=actor, room=room, user_id=shopper.pk)
        count = len(guest_socket.frames)
        await guest_socket.send({"type": "offer", "role": "publish", "sdp": "v=0\r\nx"})
        error = await guest_socket.wait("error", after=count)
        assert error["code"] == "publish_forbidden"

        await database_sync_to_async(stage.stage_accept)(user=shopper, room=room)
        guest_pub = WsPublisher(guest_socket, level=200)
        stack.closing.append(guest_pub)
        answer = await guest_pub.start()
        assert answer["role"] == "publish"
        await guest_pub.wait_connected()

        # the viewer is offered the guest's tracks by the relay and decodes both hosts
        offer = await viewer_socket.wait("offer", timeout=8.0)
        assert {t["publisher"] for t in offer["tracks"]} >= {
            f"user:{host.pk}",
            f"user:{shopper.pk}",
        }
        await viewer.wait_frames(5, level=expected_luma(200), timeout=8.0)
        await viewer.wait_frames(5, level=expected_luma(60))

        # revoke: the relay stops the guest now, whatever their browser does
        await database_sync_to_async(stage.stage_revoke)(actor=actor, room=room, user_id=shopper.pk)
        await viewer_socket.wait("publisher.left", identity=f"user:{shopper.pk}", timeout=8.0)
        closed = await guest_socket.wait("closed", role="publish", timeout=5.0)
        assert closed["reason"] == "revoked"
        await asyncio.sleep(0.3)
        guest_frames = _frames_near(viewer, expected_luma(200))
        host_frames = _frames_near(viewer, expected_luma(60))
        await asyncio.sleep(1.0)
        assert _frames_near(viewer, expected_luma(200)) == guest_frames  # stopped
        assert _frames_near(viewer, expected_luma(60)) > host_frames  # the host goes on
        assert (
            f"user:{shopper.pk}"
            not in stack.harness.relay.sessions[f"room:{room.merchant_id}:{room.pk}"].publishers
        )

        # and the guest cannot come back by re-offering
        count = len(guest_socket.frames)
        await guest_socket.send({"type": "offer", "role": "publish", "sdp": "v=0\r\nx"})
        assert (await guest_socket.wait("error", after=count))["code"] == "publish_forbidden"


def test_kick_op_is_a_no_op_for_an_unknown_publisher_and_validated() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            assert await h.client.kick("room:1:1", "user:9") is False
            with pytest.raises(RelayError) as bad:
                await h.client.request("kick", session="room:1:1", identity="bad id!")
            assert bad.value.code == "bad_request"

    run(scenario())


@pytest.fixture
def one_viewer_plan(merchant: Any) -> None:
    merchant.plan.webrtc_viewers_per_room = 1
    merchant.plan.save(update_fields=["webrtc_viewers_per_room"])


@pytest.mark.asyncio
async def test_viewers_past_the_plan_cap_are_sent_to_hls(room, host, tokens, one_viewer_plan):
    async with media_stack() as stack:
        host_socket = await stack.socket("acme", "launch", token=tokens["host"])
        host_pub = WsPublisher(host_socket, level=60)
        stack.closing.append(host_pub)
        await host_pub.start()
        await host_pub.wait_connected()

        first = WsViewer(await stack.socket("acme", "launch"))
        stack.closing.append(first)
        assert (await first.start())["type"] == "answer"
        await first.wait_frames(3, level=expected_luma(60))

        second = WsViewer(await stack.socket("acme", "launch"))
        stack.closing.append(second)
        refused = await second.start()
        assert refused["type"] == "error" and refused["code"] == "viewer_cap"
        assert "hls" in refused  # null until the HLS worker wrote the master playlist
        assert len(stack.harness.relay.sessions[f"room:{room.merchant_id}:{room.pk}"].peers) == 2

        # whoever may publish (the host on a second device) is never capped
        host_viewer = WsViewer(await stack.socket("acme", "launch", token=tokens["host"]))
        stack.closing.append(host_viewer)
        assert (await host_viewer.start())["type"] == "answer"


@pytest.mark.asyncio
async def test_relay_capacity_setting_caps_below_the_plan(room, tokens, settings):
    settings.LIVESHOP_MEDIA_WEBRTC_VIEWER_CAP = 1
    async with media_stack() as stack:
        host_pub = WsPublisher(await stack.socket("acme", "launch", token=tokens["host"]), level=60)
        stack.closing.append(host_pub)
        await host_pub.start()
        first = WsViewer(await stack.socket("acme", "launch"))
        second = WsViewer(await stack.socket("acme", "launch"))
        stack.closing += [first, second]
        assert (await first.start())["type"] == "answer"
        assert (await second.start())["code"] == "viewer_cap"


@pytest.mark.asyncio
async def test_host_stage_api_and_guest_accept_leave(room, host, shopper, tokens):
    from rest_framework.test import APIClient

    def call(token: str | None, method: str, url: str, data: Any = None) -> Any:
        client = APIClient()
        if token:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return getattr(client, method)(url, data, format="json")

    run_sync = database_sync_to_async(call)
    base = "/api/v1/merchants/acme/rooms/launch/stage"
    store = "/api/v1/s/acme/rooms/launch/stage"
    invited = await run_sync(tokens["host"], "post", f"{base}/invites", {"user": shopper.pk})
    assert invited.status_code == 201 and invited.json()["status"] == "invited"
    assert (
        await run_sync(tokens["guest"], "post", f"{base}/invites", {"user": 1})
    ).status_code == 404
    mine = (await run_sync(tokens["guest"], "get", store)).json()
    assert mine["me"]["status"] == "invited" and mine["invited"] == []  # not public
    host_view = (await run_sync(tokens["host"], "get", base)).json()
    assert [u["id"] for u in host_view["invited"]] == [shopper.pk]
    assert (await run_sync(None, "get", store)).json()["me"] is None
    assert (await run_sync(None, "post", f"{store}/accept")).status_code == 401
    accepted = await run_sync(tokens["guest"], "post", f"{store}/accept")
    assert accepted.status_code == 200
    members = accepted.json()["members"]
    assert [(m["role"], m["identity"]) for m in members] == [
        ("host", f"user:{host.pk}"),
        ("guest", f"user:{shopper.pk}"),
    ]
    left = await run_sync(tokens["guest"], "post", f"{store}/leave")
    assert left.status_code == 200 and len(left.json()["members"]) == 1
    assert (await run_sync(tokens["guest"], "post", f"{store}/leave")).status_code == 404
    gone = await run_sync(tokens["host"], "delete", f"{base}/{shopper.pk}")
    assert gone.status_code == 404
