"""PK between two live rooms of two merchants: invite, accept in the other tenant, score from
paid orders and gift coins in the window (with an auditable breakdown), winner, and the
cross-tenant rule (only names, titles and scores cross)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from commerce.models import Order, OrderStatus
from liveshop.errors import DomainError
from liveshop.tenancy.access import access_merchant
from liveshop.tenancy.scope import tenant_scope
from media import pk
from media.models import PKBattle, PKStatus
from rooms import economy
from rooms.models import Gift, Room, RoomStatus
from tests.factories import MembershipFactory, MerchantFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _coins(settings: Any) -> None:
    settings.LIVESHOP_DEMO_COINS = 100


@pytest.fixture
def events(monkeypatch: Any) -> list[tuple[Any, dict[str, Any]]]:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(pk, "publish", lambda room, ev: calls.append((room, dict(ev))))
    monkeypatch.setattr(economy, "publish", lambda room, ev: None)
    return calls


@pytest.fixture
def room_a(merchant: Any, host: Any) -> Room:
    return RoomFactory(
        merchant=merchant, host=host, slug="launch", title="Acme launch", status=RoomStatus.LIVE
    )


@pytest.fixture
def room_b(other_merchant: Any, outsider: Any) -> Room:
    return RoomFactory(
        merchant=other_merchant,
        host=outsider,
        slug="rival",
        title="Rival show",
        status=RoomStatus.LIVE,
    )


def _order(room: Room, total: int, *, status: str = OrderStatus.PAID, at: Any = None) -> Order:
    with tenant_scope(room.merchant_id):
        return Order.objects.create(
            merchant_id=room.merchant_id,
            shopper=UserFactory(),
            status=status,
            currency="USD",
            subtotal=total,
            total=total,
            room=room,
            paid_at=at or timezone.now(),
        )


def _start(host: Any, outsider: Any, room_a: Room, duration: int = 300) -> PKBattle:
    battle = pk.pk_invite(
        actor=access_merchant(principal=host, slug="acme"),
        room=room_a,
        merchant_slug="rivalco",
        room_slug="rival",
        duration_s=duration,
    )
    return pk.pk_accept(actor=access_merchant(principal=outsider, slug="rivalco"), pk_id=battle.pk)


def test_score_counts_paid_orders_and_gifts_in_the_window(
    events, room_a, room_b, host, outsider, shopper
):
    _order(room_a, 9_999, at=timezone.now() - timedelta(minutes=5))  # before the PK
    battle = _start(host, outsider, room_a)
    assert battle.status == PKStatus.LIVE and battle.ends_at is not None
    assert [e["type"] for _, e in events] == [
        "pk.invited",
        "pk.invited",
        "pk.started",
        "pk.started",
    ]
    assert {room for room, _ in events} == {room_a.pk, room_b.pk}

    paid = _order(room_a, 2_550)  # 25.50 USD → 25 points
    _order(room_a, 7_000, status=OrderStatus.PENDING_PAYMENT)  # unpaid: no points
    _order(room_a, 4_000, status=OrderStatus.REFUNDED)  # refunded: no points
    with tenant_scope(room_b.merchant_id):
        Gift.objects.create(merchant_id=room_b.merchant_id, code="rocket", name="R", coins=40)
    economy.gift_send(
        merchant=room_b.merchant, room=room_b, user=shopper, gift_code="rocket", count=1, nonce="n1"
    )

    battle = pk.pk_refresh(battle)
    assert (battle.score_a, battle.score_b) == (25, 40)
    assert events[-1][1] == {"type": "pk.score", "pk": battle.pk, "a": 25, "b": 40}

    # A's staff see their own orders; of B only the score
    mine = pk.pk_breakdown(merchant=room_a.merchant, battle=battle)
    assert mine["side"] == "a"
    assert [o["id"] for o in mine["a"]["order_list"]] == [paid.pk]
    assert mine["a"]["gmv"] == 2_550 and mine["a"]["coins"] == 0 and mine["a"]["points"] == 25
    assert mine["b"] == {"points": 40}
    theirs = pk.pk_breakdown(merchant=room_b.merchant, battle=battle)
    assert theirs["b"]["coins"] == 40 and theirs["b"]["gifts"] == 1
    assert len(theirs["b"]["gift_list"]) == 1 and theirs["a"] == {"points": 25}

    # either host ends it: the result is stored
    ended = pk.pk_end(actor=access_merchant(principal=outsider, slug="rivalco"), pk_id=battle.pk)
    ended.refresh_from_db()
    assert ended.status == PKStatus.ENDED and ended.winner == "b" and ended.ended_by == "b"
    assert ended.breakdown["a"]["points"] == 25 and ended.breakdown["b"]["points"] == 40
    assert events[-2][1]["type"] == "pk.ended" and events[-2][1]["pk"]["winner"] == "b"
    # orders after the end do not change the stored result
    _order(room_a, 100_000)
    assert pk.pk_refresh(ended).score_a == 25


def test_timer_settles_a_pk_whose_time_is_up(events, room_a, room_b, host, outsider):
    battle = _start(host, outsider, room_a, duration=180)
    _order(room_a, 500)
    PKBattle.objects.filter(pk=battle.pk).update(
        started_at=timezone.now() - timedelta(minutes=4),
        ends_at=timezone.now() - timedelta(minutes=1),
    )
    late = _order(room_a, 50_000)  # paid after ends_at: out of the window
    assert late.paid_at is not None
    assert pk.pk_tick() == 1
    battle.refresh_from_db()
    assert battle.status == PKStatus.ENDED and battle.ended_by == "timer"
    assert battle.winner == "draw" and battle.score_a == 0  # the 5.00 order was before start


def test_invite_rules(events, room_a, room_b, host, outsider, merchant):
    actor = access_merchant(principal=host, slug="acme")
    with pytest.raises(DomainError) as short:
        pk.pk_invite(
            actor=actor, room=room_a, merchant_slug="rivalco", room_slug="rival", duration_s=60
        )
    assert short.value.code == "invalid"
    with pytest.raises(DomainError) as missing:
        pk.pk_invite(
            actor=actor, room=room_a, merchant_slug="rivalco", room_slug="nope", duration_s=300
        )
    assert missing.value.code == "not_found"
    battle = pk.pk_invite(
        actor=actor, room=room_a, merchant_slug="rivalco", room_slug="rival", duration_s=300
    )
    # the inviter cannot accept for the other side; a third merchant cannot see it at all
    with pytest.raises(DomainError) as own:
        pk.pk_accept(actor=actor, pk_id=battle.pk)
    assert own.value.code == "forbidden"
    third = MerchantFactory(slug="third")
    third_owner = MembershipFactory(merchant=third, role="owner", user=UserFactory()).user
    with pytest.raises(DomainError) as hidden:
        pk.pk_accept(actor=access_merchant(principal=third_owner, slug="third"), pk_id=battle.pk)
    assert hidden.value.code == "not_found"
    # one PK per room at a time
    with pytest.raises(DomainError) as busy:
        pk.pk_invite(
            actor=actor, room=room_a, merchant_slug="rivalco", room_slug="rival", duration_s=300
        )
    assert busy.value.code == "pk_busy"
    declined = pk.pk_decline(
        actor=access_merchant(principal=outsider, slug="rivalco"), pk_id=battle.pk
    )
    assert declined.status == PKStatus.DECLINED


def test_api_public_view_and_breakdowns(api, events, room_a, room_b, host, outsider):
    made = api(host).post(
        "/api/v1/merchants/acme/rooms/launch/pk",
        {"merchant": "rivalco", "room": "rival", "duration_s": 240},
        format="json",
    )
    assert made.status_code == 201, made.content
    pk_id = made.json()["pk"]["id"]
    # B sees the invite on its own room and accepts in its own tenant
    incoming = api(outsider).get("/api/v1/merchants/rivalco/rooms/rival/pk").json()
    assert incoming["side"] == "b" and incoming["pk"]["status"] == "invited"
    assert api(host).post(f"/api/v1/merchants/acme/pk/{pk_id}/accept").status_code == 403
    accepted = api(outsider).post(f"/api/v1/merchants/rivalco/pk/{pk_id}/accept")
    assert accepted.status_code == 200 and accepted.json()["pk"]["status"] == "live"
    _order(room_a, 1_000)

    stale = api(None).get("/api/v1/s/rivalco/rooms/rival/pk").json()["pk"]
    assert stale["a"]["score"] == 0  # viewers read what the tick stored: no queries per poll
    assert pk.pk_tick() == 1
    public = api(None).get("/api/v1/s/rivalco/rooms/rival/pk").json()["pk"]
    assert public["a"]["score"] == 10 and public["b"]["score"] == 0
    assert public["a"]["room"] == "Acme launch" and public["a"]["merchant"] == "Acme Live"
    assert set(public["a"]) == {
        "merchant",
        "merchant_slug",
        "room",
        "room_slug",
        "host",
        "identity",
        "score",
    }
    assert 0 < public["remaining_s"] <= 240

    mine = api(host).get(f"/api/v1/merchants/acme/pk/{pk_id}/breakdown").json()
    assert mine["side"] == "a" and mine["a"]["orders"] == 1 and mine["b"] == {"points": 0}
    theirs = api(outsider).get(f"/api/v1/merchants/rivalco/pk/{pk_id}/breakdown").json()
    assert theirs["side"] == "b" and theirs["a"] == {"points": 10}  # no orders of A
    # a merchant outside the PK gets 404, a bad duration 400
    third = MerchantFactory(slug="third")
    stranger = MembershipFactory(merchant=third, role="owner", user=UserFactory()).user
    assert api(stranger).get(f"/api/v1/merchants/third/pk/{pk_id}/breakdown").status_code == 404
    bad = api(host).post(
        "/api/v1/merchants/acme/rooms/launch/pk",
        {"merchant": "rivalco", "room": "rival", "duration_s": 1000},
        format="json",
    )
    assert bad.status_code == 400
    ended = api(host).post(f"/api/v1/merchants/acme/pk/{pk_id}/end")
    assert ended.json()["pk"]["status"] == "ended" and ended.json()["pk"]["winner"] == "a"
