"""The consult socket: join tokens (only the consult's parties; expiry, reuse, another
consult, another merchant), the queue frames, every in-call frame with bad input and the
wrong party, the end, and signalling through a real in-process relay."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from consults import consumers, services
from liveshop.routing import websocket_urlpatterns
from tests.consults.conftest import actor_of, reload, shopper_named

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

app = AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
db = database_sync_to_async


class Party:
    """One socket of a consult, as a browser drives it."""

    def __init__(self, comm: WebsocketCommunicator) -> None:
        self.comm = comm
        self.frames: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        await self.comm.send_json_to(frame)

    async def next(self, timeout: float = 3.0) -> dict[str, Any]:
        frame = await self.comm.receive_json_from(timeout=timeout)
        self.frames.append(frame)
        return frame

    async def expect(self, kind: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} {match}; got {[f['type'] for f in self.frames]}")
            try:
                frame = await self.next(timeout=left)
            except TimeoutError:
                continue
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def closed_with(self, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            message = await self.comm.receive_output(timeout=max(0.1, deadline - time.monotonic()))
            if message["type"] == "websocket.close":
                return int(message["code"])
            if message["type"] == "websocket.send":
                self.frames.append(json.loads(message["text"]))

    async def close(self) -> None:
        await self.comm.disconnect()


async def open_socket(consult_id: str, slug: str = "acme", headers: Any = None) -> Party:
    comm = WebsocketCommunicator(app, f"/ws/consults/{slug}/{consult_id}/", headers=headers or [])
    connected, _ = await comm.connect()
    assert connected
    return Party(comm)


async def join(consult_id: str, token: str, slug: str = "acme") -> Party:
    party = await open_socket(consult_id, slug)
    await party.send({"type": "auth", "token": token})
    ok = await party.next()
    assert ok["type"] == "auth.ok", ok
    state = await party.next()
    assert state["type"] == "consult.state", state
    return party


@db
def ask(merchant: Any, shopper: Any, **kw: Any) -> Any:
    return services.consult_request(merchant=merchant, shopper=shopper, **kw)


@db
def accept(merchant: Any, agent: Any, consult: Any = None) -> Any:
    return services.consult_accept(actor=actor_of(agent, merchant), consult=consult)


@db
def go_online(merchant: Any, agent: Any, **kw: Any) -> Any:
    return services.agent_presence_set(actor=actor_of(agent, merchant), status="online", **kw)


@pytest.fixture
def fast_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumers, "AUTH_TIMEOUT_S", 0.5)


async def in_call(merchant: Any, shopper: Any, agent: Any) -> tuple[Any, Party, Party]:
    await go_online(merchant, agent)
    requested = await ask(merchant, shopper)
    consult = requested.consult
    shopper_socket = await join(consult.public_id, requested.join.token)
    accepted = await accept(merchant, agent)
    await shopper_socket.expect("consult.accepted")
    agent_socket = await join(consult.public_id, accepted.join.token)
    return accepted.consult, shopper_socket, agent_socket


# --- joining ---------------------------------------------------------------------------------


async def test_the_shopper_joins_and_sees_the_queue(merchant, shopper, agent):
    await go_online(merchant, agent)
    requested = await ask(merchant, shopper, question="Hello?")
    party = await open_socket(requested.consult.public_id)
    await party.send({"type": "auth", "token": requested.join.token})
    ok = await party.next()
    assert ok == {"type": "auth.ok", "user": {"id": shopper.pk, "name": shopper.display_name}}
    state = await party.next()
    assert state["type"] == "consult.state"
    assert state["you"]["party"] == "shopper"
    assert state["consult"]["status"] == "offered"
    assert [m["text"] for m in state["consult"]["messages"]] == ["Hello?"]
    queue = await party.next()
    assert queue == {"type": "queue", "position": 1, "eta_s": 10}
    await party.close()


async def test_frames_before_auth_are_refused(merchant, shopper, agent):
    await go_online(merchant, agent)
    requested = await ask(merchant, shopper)
    party = await open_socket(requested.consult.public_id)
    await party.send({"type": "chat.send", "text": "hi"})
    assert (await party.next())["code"] == "auth_required"
    assert await party.closed_with() == 4401


async def test_no_auth_in_time_closes_4401(merchant, shopper, agent, fast_auth):
    await go_online(merchant, agent)
    requested = await ask(merchant, shopper)
    party = await open_socket(requested.consult.public_id)
    assert await party.closed_with(timeout=3) == 4401


async def test_a_session_cookie_alone_admits_nobody(merchant, shopper, agent, client):
    await go_online(merchant, agent)
    requested = await ask(merchant, shopper)
    await db(client.force_login)(shopper)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    party = await open_socket(requested.consult.public_id, headers=[(b"cookie", cookie)])
    await party.send({"type": "chat.send", "text": "hi", "nonce": "n"})
    assert (await party.next())["code"] == "auth_required"
    assert await party.closed_with() == 4401


async def test_a_token_works_once(merchant, shopper, agent):
    await go_online(merchant, agent)
    requested = await ask(merchant, shopper)
    first = await join(requested.consult.public_id, requested.join.token)
    again = await open_socket(requested.consult.public_id)
    await again.send({"type": "auth", "token": requested.join.token})
    assert (await again.next())["code"] == "auth_failed"
    assert await again.closed_with() == 4401
    await first.close()


async def test_a_token_is_for_one_consult_of_one_merchant(merchant, other_merchant, shopper, agent):
    await go_online(merchant, agent)
    mine = await ask(merchant, shopper)
    theirs = await ask(merchant, await db(shopper_named)("other"))
    for slug, consult_id in (
        ("acme", theirs.consult.public_id),
        ("rivalco", mine.consult.public_id),
    ):
        party = await open_socket(consult_id, slug)
        await party.send({"type": "auth", "token": mine.join.token})
        assert (await party.next())["code"] == "auth_failed"
        assert await party.closed_with() == 4401


async def test_an_expired_token_is_refused(merchant, shopper, agent, settings):
    settings.LIVESHOP_CONSULTS = {**settings.LIVESHOP_CONSULTS, "JOIN_TOKEN_TTL_S": 1}
    await go_online(merchant, agent)
    requested = await ask(merchant, shopper)
    await asyncio.sleep(2.1)
    party = await open_socket(requested.consult.public_id)
    await party.send({"type": "auth", "token": requested.join.token})
    assert (await party.next())["code"] == "auth_failed"
    assert await party.closed_with() == 4401


@pytest.mark.parametrize("token", ["", "nope", 5, "x" * 5000])
async def test_garbage_tokens(merchant, shopper, agent, token):
    await go_online(merchant, agent)
    requested = await ask(merchant, shopper)
    party = await open_socket(requested.consult.public_id)
    await party.send({"type": "auth", "token": token})
    assert (await party.next())["code"] == "auth_failed"
    assert await party.closed_with() == 4401


async def test_unknown_merchant_4404_and_foreign_origin_4403(merchant, shopper, agent):
    party = await open_socket("A" * 22, slug="nope")
    assert await party.closed_with() == 4404
    comm = WebsocketCommunicator(
        app, f"/ws/consults/acme/{'A' * 22}/", headers=[(b"origin", b"https://evil.example")]
    )
    await comm.connect()
    assert await Party(comm).closed_with() == 4403


async def test_an_agent_token_needs_the_accepted_call(merchant, shopper, agent, agent2):
    consult, shopper_socket, agent_socket = await in_call(merchant, shopper, agent)
    # another agent cannot get a token (API refuses) and a shopper's token names the shopper
    from liveshop.errors import Conflict

    actor = await db(actor_of)(agent2, merchant)
    with pytest.raises(Conflict):
        await db(services.staff_join_token)(actor=actor, consult=consult)
    await shopper_socket.close()
    await agent_socket.close()


# --- the queue ---------------------------------------------------------------------------------


async def test_queue_positions_update_live(merchant, agent):
    await go_online(merchant, agent)
    first = await ask(merchant, await db(shopper_named)("q1"))
    second = await ask(merchant, await db(shopper_named)("q2"))
    one = await join(first.consult.public_id, first.join.token)
    two = await join(second.consult.public_id, second.join.token)
    assert (await one.expect("queue"))["position"] == 1
    assert (await two.expect("queue"))["position"] == 2
    await accept(merchant, agent)
    accepted = await one.expect("consult.accepted")
    assert accepted["agent"] == {"id": agent.pk, "name": agent.display_name}
    assert (await two.expect("queue", position=1))["eta_s"] > 0
    await one.close()
    await two.close()


async def test_cancel_ends_the_socket(merchant, shopper, agent):
    await go_online(merchant, agent)
    requested = await ask(merchant, shopper)
    party = await join(requested.consult.public_id, requested.join.token)
    await db(services.consult_cancel)(merchant=merchant, shopper=shopper, consult=requested.consult)
    assert (await party.expect("consult.ended"))["reason"] == "cancelled"
    assert await party.closed_with() == 1000


# --- in the call ----------------------------------------------------------------------------------


async def test_chat_both_ways_with_nonce_and_bad_input(merchant, shopper, agent):
    _consult, s, a = await in_call(merchant, shopper, agent)
    await s.send({"type": "chat.send", "text": "Does it come in blue?", "nonce": "n1"})
    echo = await s.expect("chat.message")
    assert echo["nonce"] == "n1" and echo["party"] == "shopper"
    heard = await a.expect("chat.message")
    assert heard["text"] == "Does it come in blue?" and heard["user"]["id"] == shopper.pk
    await a.send({"type": "chat.send", "text": "It does!", "nonce": 7})
    assert (await s.expect("chat.message"))["text"] == "It does!"
    await s.send({"type": "chat.send", "text": "x" * 1001, "nonce": "big"})
    error = await s.expect("error")
    assert error["code"] == "text_too_long" and error["nonce"] == "big"
    await s.send({"type": "chat.send", "text": "   "})
    assert (await s.expect("error"))["code"] == "invalid"
    await s.send({"type": "dance"})
    assert (await s.expect("error"))["code"] == "unknown_type"
    await s.comm.send_to(text_data="{not json")
    assert (await s.expect("error"))["code"] == "bad_json"
    await s.comm.send_to(text_data=json.dumps({"type": "chat.send", "text": "y" * 70_000}))
    assert await s.closed_with() == 1009
    await a.close()


async def test_chat_is_rate_limited(merchant, shopper, agent, settings):
    settings.LIVESHOP_CONSULTS = {**settings.LIVESHOP_CONSULTS, "CHAT_RATE": "3/10s"}
    _consult, s, a = await in_call(merchant, shopper, agent)
    for n in range(3):
        await s.send({"type": "chat.send", "text": f"m{n}"})
    await s.send({"type": "chat.send", "text": "one too many", "nonce": "x"})
    assert (await s.expect("error"))["code"] == "rate_limited"
    await s.close()
    await a.close()


async def test_frame_floods_close_4429(merchant, shopper, agent, settings):
    settings.LIVESHOP_CONSULTS = {**settings.LIVESHOP_CONSULTS, "FRAME_RATE": "5/10s"}
    _consult, s, a = await in_call(merchant, shopper, agent)
    for _ in range(6):
        await s.send({"type": "media.state", "video": "camera", "audio": True})
    assert await s.closed_with() == 4429
    await a.close()


async def test_products_pushed_by_the_agent_only(merchant, shopper, agent, product):
    _consult, s, a = await in_call(merchant, shopper, agent)
    await a.send({"type": "product.push", "product": product.pk, "nonce": "p"})
    card = await s.expect("product.pushed")
    assert card["product"]["id"] == product.pk and card["product"]["price"] == 4500
    assert card["product"]["variants"][0]["stock"] == 10
    await a.send({"type": "product.push", "product": 999_999, "nonce": "q"})
    error = await a.expect("error")
    assert error["code"] == "invalid" and "product" in error["message"]
    await s.send({"type": "product.push", "product": product.pk})
    assert (await s.expect("error"))["code"] == "forbidden"
    await s.close()
    await a.close()


async def test_cart_updates_reach_both_parties(merchant, shopper, agent, product):
    consult, s, a = await in_call(merchant, shopper, agent)
    actor = await db(actor_of)(agent, merchant)
    await db(services.cart_set)(
        actor=actor, consult=consult, lines=[{"product": product.pk, "quantity": 2}]
    )
    for party in (s, a):
        update = await party.expect("cart.updated")
        assert update["order"]["status"] == "draft" and update["order"]["total"] == 9000
    await db(services.cart_send)(actor=actor, consult=consult)
    assert (await s.expect("cart.updated"))["order"]["status"] == "pending_payment"
    await s.close()
    await a.close()


async def test_recording_consent_and_media_state(merchant, shopper, agent):
    _consult, s, a = await in_call(merchant, shopper, agent)
    await s.send({"type": "recording.consent", "granted": True})
    first = await a.expect("recording.consent")
    assert (first["party"], first["granted"], first["recording"]) == ("shopper", True, False)
    await a.send({"type": "recording.consent", "granted": True})
    both = await s.expect("recording.consent", party="agent")
    assert both["recording"] is True
    await a.send({"type": "recording.consent", "granted": False})
    assert (await s.expect("recording.consent", granted=False))["recording"] is False
    await s.send({"type": "recording.consent", "granted": "yes"})
    assert (await s.expect("error"))["code"] == "invalid"
    await a.send({"type": "media.state", "video": "screen", "audio": True})
    assert await s.expect("media.state", party="agent", video="screen")
    await a.send({"type": "media.state", "video": "hologram", "audio": True})
    assert (await a.expect("error"))["code"] == "invalid"
    await s.close()
    await a.close()


async def test_the_end_reaches_both_and_closes(merchant, shopper, agent):
    consult, s, a = await in_call(merchant, shopper, agent)
    actor = await db(actor_of)(agent, merchant)
    await db(services.consult_end_by_staff)(actor=actor, consult=consult)
    for party in (s, a):
        assert (await party.expect("consult.ended"))["reason"] == "agent_ended"
        assert await party.closed_with() == 1000
    assert (await db(reload)(consult)).status == "ended"


async def test_a_supervisor_listens_silently(merchant, shopper, agent, owner):
    consult, s, a = await in_call(merchant, shopper, agent)
    actor = await db(actor_of)(owner, merchant)
    token = await db(services.staff_join_token)(actor=actor, consult=consult)
    boss = await join(consult.public_id, token.token)
    await s.send({"type": "chat.send", "text": "hi"})
    assert (await boss.expect("chat.message"))["text"] == "hi"
    await boss.send({"type": "chat.send", "text": "I am here"})
    assert (await boss.expect("error"))["code"] == "forbidden"
    await boss.send({"type": "offer", "role": "publish", "sdp": "v=0\r\n"})
    assert (await boss.expect("error"))["code"] == "publish_forbidden"
    for party in (s, a, boss):
        await party.close()


# --- signalling ---------------------------------------------------------------------------------


async def test_signalling_needs_the_call_and_valid_sdp(merchant, shopper, agent):
    await go_online(merchant, agent)
    requested = await ask(merchant, shopper)
    s = await join(requested.consult.public_id, requested.join.token)
    await s.send({"type": "offer", "role": "publish", "sdp": "v=0\r\n"})
    assert (await s.expect("error"))["code"] == "not_in_call"
    accepted = await accept(merchant, agent)
    await s.expect("consult.accepted")
    for frame, code in (
        ({"type": "offer", "role": "publish", "sdp": "hello"}, "sdp_invalid"),
        ({"type": "offer", "role": "publish", "sdp": 5}, "sdp_invalid"),
        ({"type": "offer", "role": "broadcast", "sdp": "v=0\r\n"}, "bad_frame"),
        ({"type": "answer", "sdp": "v=0\r\n"}, "no_connection"),
        ({"type": "ice", "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}, "no_connection"),
        ({"type": "ice", "candidate": "not a candidate"}, "ice_invalid"),
    ):
        await s.send(frame)
        assert (await s.expect("error"))["code"] == code, frame
    assert (await db(reload)(accepted.consult)).status == "active"  # state unchanged
    await s.close()


@pytest.fixture
def relay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An in-process relay on loopback ICE; the consumer's relay pool points at it."""
    from media.relay import passthrough

    was = passthrough.loopback_ice_enabled()
    passthrough.enable_loopback_ice()
    yield monkeypatch
    if not was:
        passthrough.disable_loopback_ice()


async def test_both_parties_see_each_other_through_the_relay(merchant, shopper, agent, relay):
    from aiortc import RTCSessionDescription

    from consults import consumers as consult_consumers
    from media.relay.registry import LocalDirectory, RelayPool
    from tests.media.clients import SilentishAudio, SyntheticVideo, luma, new_pc, relay_harness

    async with relay_harness() as h:
        pool = RelayPool(LocalDirectory(h.address))
        relay.setattr(consult_consumers, "pool_factory", lambda: pool)
        _consult, s, a = await in_call(merchant, shopper, agent)
        peers: list[Any] = []
        readers: list[asyncio.Future[Any]] = []
        seen: dict[str, list[float]] = {"shopper": [], "agent": []}

        async def publish(party: Party, level: int) -> None:
            pc = new_pc()
            peers.append(pc)
            pc.addTrack(SilentishAudio())
            pc.addTransceiver(SyntheticVideo(level), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            await party.send({"type": "offer", "role": "publish", "sdp": pc.localDescription.sdp})
            answer = await party.expect("answer", role="publish")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

        async def subscribe(party: Party, name: str) -> Any:
            pc = new_pc()
            peers.append(pc)
            pc.addTransceiver("audio", direction="recvonly")
            pc.addTransceiver("video", direction="recvonly")

            @pc.on("track")
            def on_track(track: Any) -> None:
                async def consume() -> None:
                    while True:
                        frame = await track.recv()
                        if track.kind == "video":
                            seen[name].append(luma(frame))

                readers.append(asyncio.ensure_future(consume()))

            await pc.setLocalDescription(await pc.createOffer())
            await party.send({"type": "offer", "role": "subscribe", "sdp": pc.localDescription.sdp})
            answer = await party.expect("answer", role="subscribe")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
            return pc

        async def renegotiate(party: Party, pc: Any) -> None:
            # the relay offers again when the other party's tracks arrive
            offer = await party.expect("offer", timeout=10)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await party.send({"type": "answer", "sdp": pc.localDescription.sdp})

        started = time.monotonic()
        await publish(s, level=50)
        shopper_view = await subscribe(s, "shopper")  # before the agent publishes
        await publish(a, level=180)
        await subscribe(a, "agent")
        await renegotiate(s, shopper_view)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (len(seen["shopper"]) < 5 or len(seen["agent"]) < 5):
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        # each side decodes the OTHER one's picture (levels 50 and 180, plus a white bar)
        assert len(seen["shopper"]) >= 5 and len(seen["agent"]) >= 5, seen
        assert abs(seen["shopper"][-1] - 180) < 40
        assert abs(seen["agent"][-1] - 50) < 40
        assert elapsed < 10
        # a party's `leave` ends their legs; the relay's session stays for the other
        await s.send({"type": "leave"})
        await a.expect("publisher.left", timeout=10, party="shopper")
        for reader in readers:
            reader.cancel()
        for pc in peers:
            await pc.close()
        await s.close()
        await a.close()
        await pool.close()


async def test_a_reconnect_within_the_grace_keeps_the_call(merchant, shopper, agent):
    consult, s, a = await in_call(merchant, shopper, agent)
    await s.close()  # the shopper's network drops
    token = await db(services.shopper_join_token)(
        merchant=merchant, shopper=shopper, consult=consult
    )
    back = await open_socket(consult.public_id)
    await back.send({"type": "auth", "token": token.token})
    assert (await back.next())["type"] == "auth.ok"
    state = await back.next()
    assert state["consult"]["status"] == "active"
    assert state["consult"]["agent"]["id"] == agent.pk
    await a.send({"type": "chat.send", "text": "Welcome back"})
    assert (await back.expect("chat.message"))["text"] == "Welcome back"
    assert (await db(reload)(consult)).status == "active"
    await back.close()
    await a.close()
