"""`/api/v1/merchants/<m>/rooms/<slug>/stream-key`: made and shown once, revoked, and only to
the merchant's staff who may host."""

from __future__ import annotations

from typing import Any

import pytest

from liveshop.tenancy.scope import tenant_scope
from media.models import StreamKey
from rooms.models import Room
from tests.conftest import error_code
from tests.factories import RoomFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/merchants/acme/rooms/launch/stream-key"


@pytest.fixture
def room(merchant: Any, host: Any) -> Room:
    return RoomFactory(merchant=merchant, host=host, slug="launch")


def live_keys(room: Room) -> list[StreamKey]:
    with tenant_scope(room.merchant_id):
        return list(StreamKey.objects.filter(room=room, revoked_at__isnull=True))


def test_host_makes_a_key_that_is_shown_once(api, room, host):
    client = api(host)
    before = client.get(URL)
    assert before.status_code == 200
    assert before.json() == {
        "whip_url": "http://testserver/whip/acme/launch",
        "prefix": None,
        "created_at": None,
        "last_used_at": None,
    }
    made = client.post(URL)
    assert made.status_code == 201
    key = made.json()["key"]
    assert key.startswith("lsw_") and made.json()["prefix"] == key[:12]
    shown = client.get(URL).json()
    assert shown["prefix"] == key[:12] and "key" not in shown and key not in str(shown)


def test_a_new_key_revokes_the_old_one(api, room, owner):
    client = api(owner)
    first = client.post(URL).json()["key"]
    second = client.post(URL).json()["key"]
    assert first != second
    [live] = live_keys(room)
    assert live.prefix == second[:12]


def test_revoke(api, room, host):
    client = api(host)
    client.post(URL)
    assert client.delete(URL).status_code == 204
    assert live_keys(room) == []
    assert client.delete(URL).status_code == 204  # revoking nothing is fine
    assert client.get(URL).json()["prefix"] is None


def test_outsider_gets_404_for_every_method(api, room, outsider):
    client = api(outsider)
    for method in ("get", "post", "delete", "put", "patch"):
        assert getattr(client, method)(URL).status_code == 404, method
    assert live_keys(room) == []


def test_unknown_room_is_404(api, room, host):
    assert api(host).post("/api/v1/merchants/acme/rooms/nope/stream-key").status_code == 404


def test_anonymous_401_and_agent_403(api, room, agent, shopper):
    assert api().post(URL).status_code == 401
    denied = api(agent).post(URL)
    assert denied.status_code == 403 and error_code(denied) == "permission_denied"
    assert api(shopper).get(URL).status_code == 404  # not staff of acme
    assert live_keys(room) == []
