"""The WebSocket base: JSON frames, size limit, merchant, Origin and auth rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path

from liveshop.accounts.services import token_issue
from liveshop.ws import TenantConsumer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


class EchoConsumer(TenantConsumer):
    async def on_open(self) -> None:
        await self.send_json({"type": "hello", "user": self.user.pk if self.user else None})

    async def on_frame(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "whoami":
            user = self.require_user()
            await self.send_json({"type": "you", "id": user.pk})
            return
        await super().on_frame(frame)


app = AuthMiddlewareStack(URLRouter([path("ws/echo/<slug:m>/", EchoConsumer.as_asgi())]))


async def connect(
    slug: str = "acme", origin: str | None = None
) -> tuple[WebsocketCommunicator, Any]:
    headers = [(b"origin", origin.encode())] if origin else []
    communicator = WebsocketCommunicator(app, f"/ws/echo/{slug}/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator, None


async def closed_with(communicator: WebsocketCommunicator) -> int:
    while True:
        message = await communicator.receive_output(timeout=2)
        if message["type"] == "websocket.close":
            return int(message["code"])


async def test_unknown_merchant_closes_4404(merchant):
    communicator, _ = await connect("nope")
    assert await closed_with(communicator) == 4404


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8000", "https://acme.example", None])
async def test_allowed_origins(merchant, origin):
    communicator, _ = await connect(origin=origin)
    assert (await communicator.receive_json_from())["type"] == "hello"
    await communicator.disconnect()


async def test_foreign_origin_closes_4403(merchant):
    communicator, _ = await connect(origin="https://evil.example")
    error = await communicator.receive_json_from()
    assert error == {"type": "error", "code": "origin_refused", "message": error["message"]}
    assert await closed_with(communicator) == 4403


async def test_token_auth_frame(merchant, shopper):
    from channels.db import database_sync_to_async

    _token, raw = await database_sync_to_async(token_issue)(user=shopper)
    communicator, _ = await connect()
    await communicator.receive_json_from()
    await communicator.send_json_to({"type": "auth", "token": raw})
    ok = await communicator.receive_json_from()
    assert ok == {"type": "auth.ok", "user": {"id": shopper.pk, "name": shopper.display_name}}
    await communicator.send_json_to({"type": "whoami"})
    assert await communicator.receive_json_from() == {"type": "you", "id": shopper.pk}
    await communicator.disconnect()


@pytest.mark.parametrize("token", ["lst_wrong", 12, "x" * 5000])
async def test_bad_token_closes_4401(merchant, token):
    communicator, _ = await connect()
    await communicator.receive_json_from()
    await communicator.send_json_to({"type": "auth", "token": token})
    assert (await communicator.receive_json_from())["code"] == "auth_failed"
    assert await closed_with(communicator) == 4401


async def test_auth_must_be_the_first_frame(merchant, shopper):
    communicator, _ = await connect()
    await communicator.receive_json_from()
    await communicator.send_json_to({"type": "whoami"})
    assert (await communicator.receive_json_from())["code"] == "auth_required"
    await communicator.send_json_to({"type": "auth", "token": "lst_x"})
    await communicator.receive_json_from()
    assert await closed_with(communicator) == 4401


async def test_bad_frames_get_error_frames_and_the_socket_stays(merchant):
    communicator, _ = await connect()
    await communicator.receive_json_from()
    for raw, code in [
        ("{nope", "bad_json"),
        ("[1,2]", "bad_frame"),
        ('{"type": 5}', "bad_frame"),
        ('{"type": "dance", "nonce": "n1"}', "unknown_type"),
    ]:
        await communicator.send_to(text_data=raw)
        error = await communicator.receive_json_from()
        assert error["type"] == "error" and error["code"] == code
    assert error["nonce"] == "n1"
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await communicator.receive_json_from())["code"] == "bad_frame"
    await communicator.disconnect()


async def test_frames_over_64_kib_close_1009(merchant):
    communicator, _ = await connect()
    await communicator.receive_json_from()
    await communicator.send_to(text_data=json.dumps({"type": "chat.send", "text": "x" * 70_000}))
    assert await closed_with(communicator) == 1009


async def test_nul_in_a_frame_is_refused(merchant):
    communicator, _ = await connect()
    await communicator.receive_json_from()
    await communicator.send_to(text_data='{"type": "chat.send", "text": "a\\u0000b"}')
    assert (await communicator.receive_json_from())["code"] == "bad_frame"
    await communicator.disconnect()
