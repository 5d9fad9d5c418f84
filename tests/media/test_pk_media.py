"""PK video: accepting a PK makes each room's relay pull the other room's host (a cascade
between two relays, or a relay pulling from itself), so a viewer of room A decodes room B's
host next to its own; ending it takes the partner away again. Real consumer, aiortc clients,
loopback ICE."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async

from liveshop.accounts.services import token_issue
from liveshop.tenancy.access import access_merchant
from media import pk
from media.consumers import RoomMediaConsumer
from media.relay import registry
from media.relay.registry import RelayPool
from rooms.models import Room, RoomStatus
from tests.factories import RoomFactory
from tests.media.clients import relay_harness
from tests.media.ws_clients import Stack, WsPublisher, WsViewer, expected_luma

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


class MapDirectory:
    """Sessions of room B on the second relay, everything else on the first."""

    def __init__(self, first: str, second: str, on_second: str) -> None:
        self.first, self.second, self.on_second = first, second, on_second

    async def address_for(self, session: str) -> str:
        return self.second if session == self.on_second else self.first

    async def close(self) -> None:
        return None


@contextlib.asynccontextmanager
async def two_relay_stack(session_b: str, *, same: bool) -> AsyncIterator[Stack]:
    async with relay_harness() as one, relay_harness() as two:
        second = one.address if same else two.address

        def directory() -> MapDirectory:
            return MapDirectory(one.address, second, session_b)

        pool = RelayPool(directory())
        saved = (RoomMediaConsumer.media_pool, registry.directory_from_settings)
        RoomMediaConsumer.media_pool = lambda self: pool  # type: ignore[method-assign]
        registry.directory_from_settings = directory  # type: ignore[assignment]
        stack = Stack(one, pool)
        stack.closing.append(two)  # kept for the assertions below
        try:
            yield stack
        finally:
            for thing in reversed(stack.closing[1:]):
                with contextlib.suppress(Exception):
                    await thing.close()
            for sock in stack.sockets:
                await sock.disconnect()
            RoomMediaConsumer.media_pool = saved[0]  # type: ignore[method-assign]
            registry.directory_from_settings = saved[1]
            await asyncio.sleep(0.05)
            await pool.close()


@pytest.fixture
def rooms(merchant: Any, other_merchant: Any, host: Any, outsider: Any) -> tuple[Room, Room]:
    a = RoomFactory(merchant=merchant, host=host, slug="launch", status=RoomStatus.LIVE)
    b = RoomFactory(merchant=other_merchant, host=outsider, slug="rival", status=RoomStatus.LIVE)
    return a, b


@pytest.fixture
def tokens(host: Any, outsider: Any) -> dict[str, str]:
    return {"a": token_issue(user=host)[1], "b": token_issue(user=outsider)[1]}


@pytest.fixture
def actors(host: Any, outsider: Any) -> tuple[Any, Any]:
    return (
        access_merchant(principal=host, slug="acme"),
        access_merchant(principal=outsider, slug="rivalco"),
    )


@pytest.mark.parametrize("same", [False, True], ids=["cascade", "same-relay"])
async def test_viewer_of_room_a_receives_room_b_host_during_a_pk(
    same, rooms, tokens, actors, host, outsider
):
    room_a, room_b = rooms
    session_b = f"room:{room_b.merchant_id}:{room_b.pk}"
    async with two_relay_stack(session_b, same=same) as stack:
        pub_a = WsPublisher(await stack.socket("acme", "launch", token=tokens["a"]), level=40)
        pub_b = WsPublisher(await stack.socket("rivalco", "rival", token=tokens["b"]), level=200)
        stack.closing += [pub_a, pub_b]
        for publisher in (pub_a, pub_b):
            await publisher.start()
            await publisher.wait_connected()
        viewer_socket = await stack.socket("acme", "launch")
        viewer = WsViewer(viewer_socket)
        stack.closing.append(viewer)
        await viewer.start()
        await viewer.wait_frames(5, level=expected_luma(40))

        battle = await database_sync_to_async(pk.pk_invite)(
            actor=actors[0], room=room_a, merchant_slug="rivalco", room_slug="rival", duration_s=180
        )
        await database_sync_to_async(pk.pk_accept)(actor=actors[1], pk_id=battle.pk)

        offer = await viewer_socket.wait("offer", timeout=10.0)
        assert f"user:{outsider.pk}" in {t["publisher"] for t in offer["tracks"]}
        await viewer.wait_frames(5, level=expected_luma(200), timeout=10.0)  # B's host
        await viewer.wait_frames(5, level=expected_luma(40))  # and A's own

        # room B's viewers get A's host the same way
        viewer_b_socket = await stack.socket("rivalco", "rival")
        viewer_b = WsViewer(viewer_b_socket)
        stack.closing.append(viewer_b)
        await viewer_b.start()
        await viewer_b.wait_frames(5, level=expected_luma(40), timeout=10.0)

        await database_sync_to_async(pk.pk_end)(actor=actors[0], pk_id=battle.pk)
        await viewer_socket.wait("publisher.left", identity=f"user:{outsider.pk}", timeout=8.0)
        session_a = f"room:{room_a.merchant_id}:{room_a.pk}"
        assert set(stack.harness.relay.sessions[session_a].publishers) == {f"user:{host.pk}"}
