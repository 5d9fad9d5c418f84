"""/docs/realtime/ documents every frame, event and close code with its JSON Schema."""

from __future__ import annotations

import json

import pytest

from rooms import protocol

pytestmark = pytest.mark.django_db


def test_protocol_page_lists_everything(client):
    response = client.get("/docs/realtime/")
    assert response.status_code == 200
    html = response.content.decode()
    for name in [*protocol.CLIENT_FRAMES, *protocol.SERVER_FRAMES, *protocol.EVENTS]:
        assert f'id="{name}"' in html, name
    for code in protocol.CLOSE_CODES:
        assert f"<code>{code}</code>" in html
    # The schemas are the validator's, shown as JSON.
    chat = json.dumps(protocol.CLIENT_FRAMES["chat.send"], indent=2)
    assert chat.replace('"', "&quot;") in html


def test_protocol_page_is_linked(client):
    assert "/docs/realtime/" in client.get("/").content.decode()
    assert "/docs/realtime/" in client.get("/api/schema/").content.decode()


def test_protocol_page_is_get_only(client):
    assert client.post("/docs/realtime/").status_code == 405
