"""The economy API: wallet and top-ups (shopper), gift catalog and gift.send over HTTP,
leaderboard; the merchant's gift catalog, room gift totals, top-up list and refunds — each
with the outsider (404), anonymous (401), the wrong role (403) and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from liveshop.tenancy.scope import tenant_scope
from rooms import economy
from rooms.models import Gift, TopUp, Wallet
from tests.commerce.conftest import isolated
from tests.conftest import error_code
from tests.factories import RoomFactory, UserFactory
from tests.rooms.test_economy import paid_topup

pytestmark = pytest.mark.django_db

S = "/api/v1/s/acme"
M = "/api/v1/merchants/acme"


@pytest.fixture(autouse=True)
def _demo_coins(settings: Any) -> None:
    settings.LIVESHOP_DEMO_COINS = 100


@pytest.fixture
def gifts(merchant: Any) -> None:
    with tenant_scope(merchant.id):
        Gift.objects.create(merchant=merchant, code="rose", name="Rose", coins=1, position=0)
        Gift.objects.create(merchant=merchant, code="rocket", name="Rocket", coins=40, position=1)
        Gift.objects.create(
            merchant=merchant, code="gone", name="Gone", coins=1, position=2, is_active=False
        )


@pytest.fixture
def room(merchant: Any, host: Any) -> Any:
    return RoomFactory(merchant=merchant, host=host, slug="show", status="live")


class TestWallet:
    def test_balance_history_and_packages(self, api, merchant, shopper):
        response = api(shopper).get(f"{S}/wallet")
        assert response.status_code == 200
        body = response.json()
        assert body["balance"] == 100 and body["currency"] == "USD"
        assert [(e["kind"], e["amount"]) for e in body["entries"]] == [("grant", 100)]
        assert body["packages"][0] == {"coins": 60, "price": 600}
        assert api().get(f"{S}/wallet").status_code == 401
        entry = body["entries"][0]["id"]
        assert api(shopper).get(f"{S}/wallet?before={entry}").json()["entries"] == []

    def test_unknown_merchant_is_404(self, api, shopper):
        assert api(shopper).get("/api/v1/s/nope/wallet").status_code == 404

    def test_topup_returns_the_checkout(self, api, merchant, shopper):
        response = api(shopper).post(f"{S}/wallet/topups", {"coins": 300}, format="json")
        assert response.status_code == 201, response.json()
        body = response.json()
        assert (body["coins"], body["price"], body["currency"], body["status"]) == (
            300,
            3000,
            "USD",
            "pending",
        )
        assert body["order"] and "/sandbox/pay/sbx_pay_" in body["pay_url"]
        # The order is the shopper's: they see it among their orders.
        orders = api(shopper).get(f"{S}/orders").json()["results"]
        assert [o["id"] for o in orders] == [body["order"]]

    def test_topup_idempotency_key(self, api, merchant, shopper):
        client = api(shopper)
        first = client.post(
            f"{S}/wallet/topups", {"coins": 60}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
        )
        again = client.post(
            f"{S}/wallet/topups", {"coins": 60}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
        )
        assert first.status_code == 201 and again.status_code == 200
        assert again["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        other = client.post(
            f"{S}/wallet/topups", {"coins": 300}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
        )
        assert other.status_code == 422

    @pytest.mark.parametrize(
        "body", [{}, {"coins": 0}, {"coins": "60"}, {"coins": 10**9}, {"coins": 60, "price": 1}, []]
    )
    def test_bad_topups(self, api, merchant, shopper, body):
        response = api(shopper).post(f"{S}/wallet/topups", body, format="json")
        assert response.status_code == 400
        assert "error" in response.json()
        with tenant_scope(merchant.id):
            assert not TopUp.objects.exists()

    def test_topups_need_a_shopper(self, api, merchant, owner):
        assert api().post(f"{S}/wallet/topups", {"coins": 60}, format="json").status_code == 401
        from liveshop.tenancy.services import api_key_create
        from tests.commerce.conftest import actor_for

        _key, raw = api_key_create(
            actor=actor_for(owner, merchant, "owner"), name="k", scopes=["orders:read"]
        )
        response = api(key=raw).post(f"{S}/wallet/topups", {"coins": 60}, format="json")
        assert response.status_code == 403


class TestGifts:
    def test_public_catalog(self, api, merchant, gifts):
        response = api().get(f"{S}/gifts")
        assert response.status_code == 200
        assert [g["code"] for g in response.json()["results"]] == ["rose", "rocket"]
        assert set(response.json()["results"][0]) == {"code", "name", "coins", "animation"}

    def test_send_over_http(self, api, merchant, shopper, gifts, room):
        client = api(shopper)
        url = f"{S}/rooms/show/gifts"
        first = client.post(url, {"gift": "rocket", "count": 2, "nonce": "a"}, format="json")
        assert first.status_code == 201, first.json()
        assert (first.json()["coins"], first.json()["balance"]) == (80, 20)
        again = client.post(url, {"gift": "rocket", "count": 2, "nonce": "a"}, format="json")
        assert again.status_code == 200 and again.json()["replayed"] is True
        poor = client.post(url, {"gift": "rocket", "nonce": "b"}, format="json")
        assert poor.status_code == 409 and error_code(poor) == "insufficient_coins"
        unknown = client.post(url, {"gift": "gone", "nonce": "c"}, format="json")
        assert unknown.status_code == 400 and error_code(unknown) == "unknown_gift"
        assert api().post(url, {"gift": "rose", "nonce": "d"}, format="json").status_code == 401
        bad = client.post(url, {"gift": "rose", "nonce": "e", "amount": 1}, format="json")
        assert bad.status_code == 400
        assert client.post(url, {"gift": "rose"}, format="json").status_code == 400
        assert (
            client.post(f"{S}/rooms/nope/gifts", {"gift": "rose", "nonce": "f"}, format="json")
        ).status_code == 404

    def test_muted_or_banned_cannot_gift(self, api, merchant, host, shopper, gifts, room):
        from rooms.models import Restriction

        with tenant_scope(merchant.id):
            Restriction.objects.create(
                merchant=merchant, room=room, user=shopper, kind="mute", created_by=host
            )
        response = api(shopper).post(
            f"{S}/rooms/show/gifts", {"gift": "rose", "nonce": "m"}, format="json"
        )
        assert response.status_code == 403 and error_code(response) == "muted"
        with tenant_scope(merchant.id):
            assert not Wallet.objects.filter(user=shopper).exists()

    def test_a_foreign_room_is_404(self, api, merchant, other_merchant, shopper, gifts):
        RoomFactory(merchant=other_merchant, host=UserFactory(), slug="theirs", status="live")
        response = isolated(
            api(shopper).post,
            f"{S}/rooms/theirs/gifts",
            {"gift": "rose", "nonce": "x"},
            format="json",
        )
        assert response.status_code == 404

    def test_leaderboard(self, api, merchant, gifts, room):
        alice, bob = UserFactory(display_name="Alice"), UserFactory(display_name="Bob")
        for user, code in ((alice, "rose"), (bob, "rocket")):
            economy.gift_send(merchant=merchant, room=room, user=user, gift_code=code, nonce="1")
        response = api().get(f"{S}/rooms/show/leaderboard")
        assert response.status_code == 200
        assert response.json() == {
            "results": [
                {"user": {"id": bob.pk, "name": "Bob"}, "coins": 40},
                {"user": {"id": alice.pk, "name": "Alice"}, "coins": 1},
            ]
        }
        assert len(api().get(f"{S}/rooms/show/leaderboard?limit=1").json()["results"]) == 1
        later = api().get(f"{S}/rooms/show/leaderboard?since=2999-01-01T00:00:00Z")
        assert later.json() == {"results": []}
        assert api().get(f"{S}/rooms/show/leaderboard?since=soon").status_code == 400
        assert api().get(f"{S}/rooms/nope/leaderboard").status_code == 404


class TestStaffGifts:
    def test_list_create_update_delete(self, api, merchant, owner, gifts):
        client = api(owner)
        listed = client.get(f"{M}/gifts").json()
        assert [g["code"] for g in listed["results"]] == ["rose", "rocket", "gone"]
        created = client.post(
            f"{M}/gifts",
            {"code": "star", "name": "Star", "coins": 9, "animation": "rain"},
            format="json",
        )
        assert created.status_code == 201, created.json()
        assert created.json()["is_active"] is True
        patched = client.patch(f"{M}/gifts/star", {"coins": 12, "is_active": False}, format="json")
        assert patched.status_code == 200
        assert (patched.json()["coins"], patched.json()["is_active"]) == (12, False)
        assert client.get(f"{M}/gifts/star").json()["coins"] == 12
        assert client.delete(f"{M}/gifts/star").status_code == 204
        assert isolated(client.get, f"{M}/gifts/star").status_code == 404

    def test_bad_input_is_an_error_envelope(self, api, merchant, owner, gifts):
        client = api(owner)
        for body in (
            {"code": "rose", "name": "Dup", "coins": 1},
            {"code": "X!", "name": "x", "coins": 1},
            {"code": "ok", "name": "x", "coins": -1},
            {"code": "ok", "name": "x", "coins": 1, "merchant": 99},
        ):
            response = client.post(f"{M}/gifts", body, format="json")
            assert response.status_code == 400, body
            assert "error" in response.json()
        response = client.patch(f"{M}/gifts/rose", {"code": "tulip"}, format="json")
        assert response.status_code == 400

    def test_roles(self, api, merchant, host, agent, gifts):
        for user in (host, agent):
            client = api(user)
            assert client.get(f"{M}/gifts").status_code == 200
            create = client.post(
                f"{M}/gifts", {"code": "x", "name": "X", "coins": 1}, format="json"
            )
            assert create.status_code == 403
            assert client.patch(f"{M}/gifts/rose", {"coins": 2}, format="json").status_code == 403
            assert client.delete(f"{M}/gifts/rose").status_code == 403

    def test_outsider_shopper_anonymous(self, api, merchant, outsider, shopper, gifts):
        for client, expected in ((api(outsider), 404), (api(shopper), 404), (api(), 401)):
            assert isolated(client.get, f"{M}/gifts").status_code == expected
            assert (
                isolated(
                    client.post, f"{M}/gifts", {"code": "x", "name": "X", "coins": 1}, format="json"
                )
            ).status_code == expected
            assert (
                isolated(client.patch, f"{M}/gifts/rose", {}, format="json").status_code == expected
            )
            assert isolated(client.delete, f"{M}/gifts/rose").status_code == expected
        with tenant_scope(merchant.id):
            assert Gift.objects.get(code="rose").coins == 1


class TestRoomTotalsAndTopUps:
    def test_room_gift_totals(self, api, merchant, host, outsider, shopper, gifts, room):
        economy.gift_send(
            merchant=merchant, room=room, user=shopper, gift_code="rocket", count=2, nonce="1"
        )
        response = api(host).get(f"{M}/rooms/show/gifts")
        assert response.status_code == 200
        body = response.json()
        assert (body["gifts"], body["coins"], body["senders"]) == (2, 80, 1)
        assert body["top"] == [{"user": {"id": shopper.pk, "name": "Sam Shopper"}, "coins": 80}]
        later = api(host).get(f"{M}/rooms/show/gifts?since=2999-01-01T00:00:00Z").json()
        assert later["coins"] == 0
        assert api(host).get(f"{M}/rooms/show/gifts?since=yesterday").status_code == 400
        assert isolated(api(outsider).get, f"{M}/rooms/show/gifts").status_code == 404
        assert isolated(api(shopper).get, f"{M}/rooms/show/gifts").status_code == 404

    def test_topup_list_and_refund(self, api, client, merchant, owner, host, shopper):
        topup = paid_topup(client, merchant, shopper, 300)
        listed = api(host).get(f"{M}/topups")
        assert listed.status_code == 200
        row = listed.json()["results"][0]
        assert (row["id"], row["status"], row["user"]["id"]) == (topup.pk, "credited", shopper.pk)
        assert api(host).get(f"{M}/topups?status=nope").status_code == 400
        url = f"{M}/topups/{topup.pk}/refund"
        assert api(host).post(url, {}, format="json").status_code == 403
        assert api(owner).post(url, {"force": "yes"}, format="json").status_code == 400
        refunded = api(owner).post(url, {"reason": "asked"}, format="json")
        assert refunded.status_code == 200, refunded.json()
        assert refunded.json()["status"] == "refunded"
        with tenant_scope(merchant.id):
            assert Wallet.objects.get(user=shopper).balance == 100
        again = api(owner).post(url, {}, format="json")
        assert again.status_code == 409 and error_code(again) == "not_refundable"

    def test_spent_coins(self, api, client, merchant, owner, shopper, gifts, room):
        topup = paid_topup(client, merchant, shopper, 60)
        economy.gift_send(
            merchant=merchant, room=room, user=shopper, gift_code="rocket", count=4, nonce="1"
        )
        url = f"{M}/topups/{topup.pk}/refund"
        spent = api(owner).post(url, {}, format="json")
        assert spent.status_code == 409 and error_code(spent) == "coins_spent"
        forced = api(owner).post(url, {"force": True}, format="json")
        assert forced.status_code == 200
        with tenant_scope(merchant.id):
            assert Wallet.objects.get(user=shopper).balance == 0

    def test_outsider(self, api, client, merchant, outsider, shopper):
        topup = paid_topup(client, merchant, shopper, 60)
        assert isolated(api(outsider).get, f"{M}/topups").status_code == 404
        response = isolated(api(outsider).post, f"{M}/topups/{topup.pk}/refund", {}, format="json")
        assert response.status_code == 404
        with tenant_scope(merchant.id):
            assert economy.topup_get(merchant=merchant, topup_id=topup.pk).status == "credited"
