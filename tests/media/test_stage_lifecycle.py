"""Go-live starts the room's HLS broadcast when HLS is on (crowds are switched to it); ending
the show stops it, ends every stage grant and closes the relay session."""

from __future__ import annotations

from typing import Any

import pytest

from liveshop.tenancy.access import access_merchant
from liveshop.tenancy.scope import tenant_scope
from media import stage
from media.hls.models import Broadcast, BroadcastStatus
from media.models import StageGrant
from rooms import services
from rooms.models import RoomStatus
from tests.factories import RoomFactory

pytestmark = pytest.mark.django_db


def test_go_live_starts_hls_and_end_stops_it_and_the_stage(
    settings: Any, tmp_path: Any, merchant: Any, host: Any, shopper: Any, monkeypatch: Any
) -> None:
    settings.LIVESHOP_HLS = {"ENABLED": True, "ROOT": str(tmp_path)}
    closed: list[Any] = []
    monkeypatch.setattr("media.services.room_video_close", lambda *, room: closed.append(room))
    room = RoomFactory(merchant=merchant, host=host, slug="launch", status=RoomStatus.SCHEDULED)
    actor = access_merchant(principal=host, slug="acme")
    room = services.room_go_live(actor=actor, room=room)
    with tenant_scope(merchant.id):
        broadcast = Broadcast.objects.get(room=room)
    assert broadcast.status == BroadcastStatus.ACTIVE and broadcast.record is False

    stage.stage_invite(actor=actor, room=room, user_id=shopper.pk)
    stage.stage_accept(user=shopper, room=room)
    services.room_end(actor=actor, room=room)
    with tenant_scope(merchant.id):
        broadcast.refresh_from_db()
        assert broadcast.status == BroadcastStatus.STOPPING
        assert not StageGrant.objects.filter(room=room, revoked_at__isnull=True).exists()
    assert [r.pk for r in closed] == [room.pk]


def test_a_merchant_that_records_shows_gets_a_recording_broadcast(
    settings: Any, tmp_path: Any, merchant: Any, host: Any, owner: Any
) -> None:
    from liveshop.tenancy.services import merchant_update

    settings.LIVESHOP_HLS = {"ENABLED": True, "ROOT": str(tmp_path)}
    merchant_update(actor=access_merchant(principal=owner, slug="acme"), record_shows=True)
    room = RoomFactory(merchant=merchant, host=host, slug="launch", status=RoomStatus.SCHEDULED)
    room = services.room_go_live(actor=access_merchant(principal=host, slug="acme"), room=room)
    with tenant_scope(merchant.id):
        assert Broadcast.objects.get(room=room).record is True


def test_go_live_without_hls_renders_nothing(merchant: Any, host: Any) -> None:
    room = RoomFactory(merchant=merchant, host=host, slug="launch", status=RoomStatus.SCHEDULED)
    services.room_go_live(actor=access_merchant(principal=host, slug="acme"), room=room)
    with tenant_scope(merchant.id):
        assert not Broadcast.objects.filter(room=room).exists()


def test_stage_is_limited_to_four_with_the_host(merchant: Any, host: Any) -> None:
    from liveshop.errors import DomainError
    from tests.factories import UserFactory

    room = RoomFactory(merchant=merchant, host=host, slug="launch", status=RoomStatus.LIVE)
    actor = access_merchant(principal=host, slug="acme")
    guests = [UserFactory() for _ in range(4)]
    for guest in guests:
        stage.stage_invite(actor=actor, room=room, user_id=guest.pk)
    for guest in guests[:3]:
        stage.stage_accept(user=guest, room=room)
    with pytest.raises(DomainError) as full:
        stage.stage_accept(user=guests[3], room=room)
    assert full.value.code == "stage_full"
    with tenant_scope(merchant.id):
        assert len(stage.stage_members(room=room)) == 4
    with pytest.raises(DomainError) as self_invite:
        stage.stage_invite(actor=actor, room=room, user_id=host.pk)
    assert self_invite.value.code == "stage_host"
