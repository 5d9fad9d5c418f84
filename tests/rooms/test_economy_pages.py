"""Economy pages: the shopper's wallet (balance, history, top-up → sandbox → back with the
credited balance) and the dashboard's gift catalog, top-up refunds and room gift totals."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from commerce.models import Payment
from liveshop.tenancy.scope import tenant_scope
from rooms import economy
from rooms.models import Gift, TopUp
from tests.commerce.conftest import isolated
from tests.factories import PASSWORD, RoomFactory
from tests.rooms.test_economy import paid_topup

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _demo_coins(settings: Any) -> None:
    settings.LIVESHOP_DEMO_COINS = 100


def login(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.email, password=PASSWORD)
    return client


@pytest.fixture
def gifts(merchant: Any) -> None:
    with tenant_scope(merchant.id):
        Gift.objects.create(merchant=merchant, code="rose", name="Rose", coins=1)
        Gift.objects.create(merchant=merchant, code="rocket", name="Rocket", coins=40)


class TestWalletPage:
    def test_anonymous_goes_to_login(self, merchant):
        response = Client().get("/s/acme/wallet/")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    def test_balance_history_and_packages(self, merchant, shopper):
        response = login(shopper).get("/s/acme/wallet/")
        assert response.status_code == 200
        html = response.content.decode()
        assert 'data-balance="100"' in html
        assert 'data-kind="grant"' in html
        assert 'data-coins="60"' in html and "$6.00" in html

    def test_topup_through_the_sandbox_and_back(self, merchant, shopper):
        client = login(shopper)
        response = client.post("/s/acme/wallet/", {"coins": "300", "idempotency_key": "page-1"})
        assert response.status_code == 302
        pay_url = response["Location"]
        assert "/sandbox/pay/sbx_pay_" in pay_url
        # A double submit of the same form opens no second top-up.
        again = client.post("/s/acme/wallet/", {"coins": "300", "idempotency_key": "page-1"})
        assert again["Location"] == pay_url
        with tenant_scope(merchant.id):
            topup = TopUp.objects.get()
        # Confirm on the sandbox page: it sends the shopper back to the wallet.
        decided = client.post(pay_url.replace("http://testserver", ""), {"decision": "confirm"})
        assert decided.status_code == 302
        assert decided["Location"] == f"http://testserver/s/acme/wallet/?topup={topup.pk}"
        waiting = client.get(f"/s/acme/wallet/?topup={topup.pk}")
        assert 'data-test="topup-confirming"' in waiting.content.decode()
        # The webhook arrives (the outbox's task does not run inside a test transaction).
        from commerce.models import SandboxDelivery
        from commerce.payments.sandbox import sandbox_deliver_one
        from tests.commerce.conftest import http_headers

        def post(url, headers, body):
            r = client.post(
                url.replace("http://testserver", ""),
                body,
                content_type="application/json",
                **http_headers(headers),
            )
            return r.status_code, r.content.decode()

        assert sandbox_deliver_one(SandboxDelivery.objects.get().pk, post=post)
        back = client.get(f"/s/acme/wallet/?topup={topup.pk}").content.decode()
        assert 'data-test="topup-credited"' in back
        assert 'data-balance="400"' in back

    def test_gives_up_confirming_after_a_while(self, merchant, shopper):
        client = login(shopper)
        client.post("/s/acme/wallet/", {"coins": "60", "idempotency_key": "p"})
        with tenant_scope(merchant.id):
            topup = TopUp.objects.get()
        html = client.get(f"/s/acme/wallet/?topup={topup.pk}&try=10").content.decode()
        assert 'data-test="topup-waiting"' in html and "topup-confirming" not in html

    def test_bad_amount_shows_an_error(self, merchant, shopper):
        response = login(shopper).post("/s/acme/wallet/", {"custom": "5"})
        assert response.status_code == 400
        assert 'data-test="topup-error"' in response.content.decode()

    def test_pay_a_waiting_topup_again(self, merchant, shopper, other_merchant):
        client = login(shopper)
        first = client.post("/s/acme/wallet/", {"coins": "60", "idempotency_key": "p"})
        with tenant_scope(merchant.id):
            topup = TopUp.objects.get()
        again = client.post(f"/s/acme/wallet/topups/{topup.pk}/pay/")
        assert again["Location"] == first["Location"]
        from tests.factories import UserFactory

        other = login(UserFactory())
        assert isolated(other.post, f"/s/acme/wallet/topups/{topup.pk}/pay/").status_code == 404

    def test_someone_elses_topup_is_not_shown(self, merchant, shopper, client):
        from tests.factories import UserFactory

        topup = paid_topup(client, merchant, shopper, 60)
        html = login(UserFactory()).get(f"/s/acme/wallet/?topup={topup.pk}").content.decode()
        assert "topup-credited" not in html


class TestGiftDashboard:
    def test_owner_manages_the_catalog(self, merchant, owner, gifts):
        client = login(owner)
        page = client.get("/dashboard/acme/gifts/")
        assert page.status_code == 200
        html = page.content.decode()
        assert 'data-code="rose"' in html and 'data-test="gift-form"' in html
        assert "Gifts &amp; coins" in html  # the sidebar entry
        created = client.post(
            "/dashboard/acme/gifts/",
            {"code": "star", "name": "Star", "coins": "9", "animation": "rain", "is_active": "on"},
        )
        assert created.status_code == 302
        bad = client.post(
            "/dashboard/acme/gifts/",
            {"code": "rose", "name": "Dup", "coins": "1", "animation": "float"},
        )
        assert bad.status_code == 400 and "exists" in bad.content.decode()
        edit = client.get("/dashboard/acme/gifts/star/")
        assert edit.status_code == 200
        saved = client.post(
            "/dashboard/acme/gifts/star/",
            {
                "name": "Big star",
                "coins": "15",
                "animation": "zoom",
                "position": "3",
                "is_active": "on",
            },
        )
        assert saved.status_code == 302
        client.post("/dashboard/acme/gifts/star/", {"action": "deactivate"})
        with tenant_scope(merchant.id):
            star = Gift.objects.get(code="star")
        assert (star.name, star.coins, star.animation, star.is_active) == (
            "Big star",
            15,
            "zoom",
            False,
        )
        client.post("/dashboard/acme/gifts/star/", {"action": "delete"})
        with tenant_scope(merchant.id):
            assert not Gift.objects.filter(code="star").exists()

    def test_host_reads_but_cannot_change(self, merchant, host, gifts):
        client = login(host)
        html = client.get("/dashboard/acme/gifts/").content.decode()
        assert 'data-code="rose"' in html and 'data-test="gift-form"' not in html
        response = client.post(
            "/dashboard/acme/gifts/", {"code": "x", "name": "X", "coins": "1", "animation": "float"}
        )
        assert response.status_code == 403
        assert client.post("/dashboard/acme/gifts/rose/", {"action": "delete"}).status_code == 403

    def test_outsider_and_shopper(self, merchant, outsider, shopper, gifts):
        for user in (outsider, shopper):
            client = login(user)
            assert isolated(client.get, "/dashboard/acme/gifts/").status_code == 404
            assert isolated(client.get, "/dashboard/acme/gifts/rose/").status_code == 404
        assert Client().get("/dashboard/acme/gifts/").status_code == 302

    def test_refund_a_topup_from_the_page(self, merchant, owner, host, shopper, client):
        topup = paid_topup(client, merchant, shopper, 60)
        html = login(owner).get("/dashboard/acme/gifts/").content.decode()
        assert f'data-topup-id="{topup.pk}"' in html and 'data-test="topup-refund"' in html
        assert login(host).post(f"/dashboard/acme/topups/{topup.pk}/refund/").status_code == 403
        response = login(owner).post(f"/dashboard/acme/topups/{topup.pk}/refund/")
        assert response.status_code == 302
        with tenant_scope(merchant.id):
            assert economy.topup_get(merchant=merchant, topup_id=topup.pk).status == "refunded"
            assert Payment.objects.get(order_id=topup.order_id).status == "refunded"

    def test_room_page_shows_gift_totals(self, merchant, host, shopper, gifts):
        room = RoomFactory(merchant=merchant, host=host, slug="show", status="live")
        economy.gift_send(
            merchant=merchant, room=room, user=shopper, gift_code="rocket", count=2, nonce="1"
        )
        html = login(host).get("/dashboard/acme/rooms/show/").content.decode()
        assert 'data-test="room-gift-totals"' in html
        assert 'data-test="room-gift-coins">80<' in html
        assert "Sam Shopper" in html


def test_seed_demo_gives_every_catalog_a_rose():
    from django.core.management import call_command

    from liveshop.tenancy.models import Merchant
    from tests.factories import plan_default

    plan_default()
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    for slug in ("demo", "rival"):
        merchant = Merchant.objects.get(slug=slug)
        assert [g["code"] for g in economy.gift_catalog(merchant)][:1] == ["rose"]
        with tenant_scope(merchant.id):
            assert Gift.objects.filter(merchant=merchant).count() == 5
    client = Client()
    assert client.login(username="shopper1@example.test", password="liveshop-demo")
    assert client.get("/s/demo/wallet/").status_code == 200


def test_topup_orders_say_what_they_bought(merchant, owner, shopper, client):
    topup = paid_topup(client, merchant, shopper, 60)
    shopper_client = login(shopper)
    assert "60 coins" in shopper_client.get("/s/acme/orders/").content.decode()
    html = shopper_client.get(f"/s/acme/orders/{topup.order_id}/").content.decode()
    assert 'data-test="order-topup"' in html
    html = login(owner).get(f"/dashboard/acme/orders/{topup.order_id}/").content.decode()
    assert 'data-test="order-topup"' in html and "60 coins" in html


def test_history_pages_back(merchant, shopper, gifts, monkeypatch):
    from rooms import economy_views

    monkeypatch.setattr(economy_views, "PAGE", 2)
    room = RoomFactory(merchant=merchant, host=shopper, slug="show", status="live")
    for i in range(3):
        economy.gift_send(
            merchant=merchant, room=room, user=shopper, gift_code="rose", nonce=str(i)
        )
    client = login(shopper)
    html = client.get("/s/acme/wallet/").content.decode()
    assert html.count('data-test="ledger-entry"') == 2 and 'data-test="wallet-older"' in html
    with tenant_scope(merchant.id):
        from rooms.models import LedgerEntry

        ids = list(LedgerEntry.objects.order_by("-id").values_list("id", flat=True))
    older = client.get(f"/s/acme/wallet/?before={ids[1]}").content.decode()
    assert older.count('data-test="ledger-entry"') == 2
    assert 'data-kind="grant"' in older and 'data-test="wallet-older"' not in older
