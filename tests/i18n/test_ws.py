"""WebSocket error frames speak the socket's language: the user's locale, else the language
cookie, else Accept-Language (as pages decide)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from liveshop.accounts.services import token_issue
from tests.test_ws_base import app

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("compiled_messages"),
]

REFUSED_ZH = "请发送 JSON 文本帧。"
REFUSED_EN = "Send JSON text frames."


async def refusal(headers: list[tuple[bytes, bytes]], token: str | None = None) -> str:
    communicator = WebsocketCommunicator(app, "/ws/echo/acme/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    if token:
        await communicator.send_json_to({"type": "auth", "token": token})
        assert (await communicator.receive_json_from())["type"] == "auth.ok"
    await communicator.send_to(bytes_data=b"\x00")  # refused: binary frame
    error = await communicator.receive_json_from()
    await communicator.disconnect()
    assert error["type"] == "error" and error["code"] == "bad_frame"
    return str(error["message"])


async def test_accept_language(merchant):
    assert await refusal([(b"accept-language", b"zh-CN,zh;q=0.9")]) == REFUSED_ZH
    assert await refusal([(b"accept-language", b"en-GB,en;q=0.9")]) == REFUSED_EN
    assert await refusal([]) == REFUSED_EN


async def test_language_cookie_beats_accept_language(merchant):
    headers = [(b"accept-language", b"en"), (b"cookie", b"django_language=zh-hans")]
    assert await refusal(headers) == REFUSED_ZH


async def test_token_users_locale(merchant, shopper):
    shopper.locale = "zh-hans"
    await database_sync_to_async(shopper.save)(update_fields=["locale"])
    _token, raw = await database_sync_to_async(token_issue)(user=shopper)
    assert await refusal([(b"accept-language", b"en")], token=raw) == REFUSED_ZH
