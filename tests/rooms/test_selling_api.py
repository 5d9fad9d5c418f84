"""Selling over HTTP: pin/unpin, flash sales, moderation and counters for staff; the
waitlist for shoppers; and the dashboard pages (moderation settings, the room's card)."""

from __future__ import annotations

from typing import Any

import pytest

from liveshop.tenancy.scope import tenant_scope
from rooms import moderation
from rooms.models import (
    FlashSale,
    ModerationSettings,
    Restriction,
    RoomModerator,
    RoomProduct,
    RoomSelling,
    RoomStatus,
)
from tests.commerce.conftest import isolated
from tests.conftest import cache_clear_ours, error_code
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh() -> None:
    cache_clear_ours()
    moderation.chat_rules_forget()


@pytest.fixture
def room(merchant: Any, host: Any, product: Any) -> Any:
    room = RoomFactory.create(merchant=merchant, host=host, slug="show", status=RoomStatus.LIVE)
    with tenant_scope(merchant.id):
        RoomProduct.objects.create(merchant=merchant, room=room, product=product)
    return room


def url(room: Any, tail: str, m: str | None = None) -> str:
    return f"/api/v1/merchants/{m or room.merchant.slug}/rooms/{room.slug}/{tail}"


class TestPin:
    def test_host_pins_and_unpins(self, api, host, room, product):
        response = api(host).post(url(room, "pin"), {"product": product.pk}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["id"] == product.pk
        with tenant_scope(room.merchant_id):
            assert RoomSelling.objects.get(room=room).pinned_product_id == product.pk
        assert api(host).delete(url(room, "pin")).status_code == 204
        with tenant_scope(room.merchant_id):
            assert RoomSelling.objects.get(room=room).pinned_product_id is None

    def test_refusals(self, api, agent, outsider, shopper, room, product, foreign_product):
        body = {"product": product.pk}
        assert api().post(url(room, "pin"), body, format="json").status_code == 401
        assert isolated(api(shopper).post, url(room, "pin"), body, format="json").status_code == 404
        assert (
            isolated(api(outsider).post, url(room, "pin"), body, format="json").status_code == 404
        )
        assert api(agent).post(url(room, "pin"), body, format="json").status_code == 403

    @pytest.mark.parametrize("body", [{}, {"product": "x"}, {"product": 0}, [], {"product": 99999}])
    def test_bad_input(self, api, host, room, body):
        response = isolated(api(host).post, url(room, "pin"), body, format="json")
        assert response.status_code == 400 and "error" in response.json()

    def test_another_merchants_product_is_not_in_the_lineup(self, api, host, room, foreign_product):
        response = isolated(
            api(host).post, url(room, "pin"), {"product": foreign_product.pk}, format="json"
        )
        assert response.status_code == 400


class TestFlashSale:
    def test_start_and_stop(self, api, host, room, product):
        body = {"product": product.pk, "price": 500, "units": 2, "duration_s": 30}
        response = api(host).post(url(room, "flash-sale"), body, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["remaining"] == 2 and response.json()["status"] == "running"
        again = isolated(api(host).post, url(room, "flash-sale"), body, format="json")
        assert again.status_code == 409 and error_code(again) == "sale_running"
        assert api(host).delete(url(room, "flash-sale")).status_code == 204
        with tenant_scope(room.merchant_id):
            assert FlashSale.objects.get().status == "ended"

    @pytest.mark.parametrize(
        "body",
        [
            {"price": 500, "units": 2, "duration_s": 30},
            {"product": 1, "price": 500, "units": 2, "duration_s": 301},
            {"product": 1, "price": -1, "units": 2, "duration_s": 30},
            {"product": 1, "price": 500, "units": 0, "duration_s": 30},
        ],
    )
    def test_bad_input(self, api, host, room, body):
        response = isolated(api(host).post, url(room, "flash-sale"), body, format="json")
        assert response.status_code == 400

    def test_outsider(self, api, outsider, room, product):
        body = {"product": product.pk, "price": 500, "units": 2, "duration_s": 30}
        response = isolated(api(outsider).post, url(room, "flash-sale"), body, format="json")
        assert response.status_code == 404


class TestModerationAndStats:
    def test_mute_over_http(self, api, host, room, shopper):
        response = api(host).post(
            url(room, "moderation"),
            {"action": "mute", "user": shopper.pk, "seconds": 60},
            format="json",
        )
        assert response.status_code == 204, response.content
        with tenant_scope(room.merchant_id):
            assert Restriction.objects.get().user_id == shopper.pk

    def test_promote(self, api, host, room, shopper):
        response = api(host).post(
            url(room, "moderation"), {"action": "promote", "user": shopper.pk}, format="json"
        )
        assert response.status_code == 204
        with tenant_scope(room.merchant_id):
            assert RoomModerator.objects.filter(room=room, user=shopper).exists()

    def test_refusals_and_bad_input(self, api, agent, outsider, host, room, shopper):
        body = {"action": "mute", "user": shopper.pk}
        assert api(agent).post(url(room, "moderation"), body, format="json").status_code == 403
        assert (
            isolated(api(outsider).post, url(room, "moderation"), body, format="json").status_code
            == 404
        )
        for bad in ({"action": "explode"}, {"action": "mute"}, {}, {"action": "delete"}):
            response = isolated(api(host).post, url(room, "moderation"), bad, format="json")
            assert response.status_code == 400, bad

    def test_stats(self, api, host, outsider, room, merchant):
        response = api(host).get(url(room, "stats"))
        assert response.status_code == 200
        assert response.json() == {
            "viewers": 0,
            "likes": 0,
            "gifts": 0,
            "coins": 0,
            "orders": 0,
            "gmv": 0,
            "currency": merchant.currency,
        }
        assert isolated(api(outsider).get, url(room, "stats")).status_code == 404
        assert api().get(url(room, "stats")).status_code == 401


class TestWaitlistAPI:
    def waitlist(self, room: Any, m: str | None = None) -> str:
        return f"/api/v1/s/{m or room.merchant.slug}/rooms/{room.slug}/waitlist"

    def test_join_a_sold_out_sale(self, api, host, shopper, room, product):
        from commerce import services as commerce

        api(host).post(
            url(room, "flash-sale"),
            {"product": product.pk, "price": 500, "units": 1, "duration_s": 30},
            format="json",
        )
        empty = api(shopper).get(self.waitlist(room))
        assert empty.status_code == 200 and empty.json()["status"] == "none"
        early = isolated(api(shopper).post, self.waitlist(room))
        assert early.status_code == 409 and error_code(early) == "not_sold_out"
        commerce.order_place(
            merchant=room.merchant,
            shopper=UserFactory.create(),
            lines=[{"product": product.pk, "quantity": 1}],
            room=room.slug,
            idempotency_key="k",
        )
        joined = api(shopper).post(self.waitlist(room))
        assert joined.status_code == 200, joined.content
        assert joined.json()["status"] == "waiting" and joined.json()["position"] == 1

    def test_anonymous_and_unknown_room(self, api, shopper, room, other_merchant):
        assert api().post(self.waitlist(room)).status_code == 401
        assert isolated(api(shopper).get, self.waitlist(room, other_merchant.slug)).status_code == (
            404
        )


class TestPages:
    def test_moderation_settings_page(self, client, owner, merchant):
        client.force_login(owner)
        page = f"/dashboard/{merchant.slug}/moderation/"
        assert client.get(page).status_code == 200
        response = client.post(
            page, {"keywords": "竞品店\ncheaper\n", "use_defaults": "on", "slow_mode_s": "5"}
        )
        assert response.status_code == 302
        with tenant_scope(merchant.id):
            saved = ModerationSettings.objects.get(merchant=merchant)
        assert saved.keywords == "竞品店\ncheaper" and saved.slow_mode_s == 5
        bad = isolated(client.post, page, {"keywords": "x", "slow_mode_s": "5"})
        assert bad.status_code == 200  # re-rendered with the error

    def test_moderation_page_refusals(self, client, host, agent, outsider, merchant):
        page = f"/dashboard/{merchant.slug}/moderation/"
        assert client.get(page).status_code == 302  # to the login page
        client.force_login(agent)
        assert isolated(client.get, page).status_code == 403
        client.force_login(outsider)
        assert isolated(client.get, page).status_code == 404
        client.force_login(host)
        assert client.get(page).status_code == 200
        assert isolated(client.post, page, {"keywords": "", "slow_mode_s": "0"}).status_code == 403

    def test_room_card_switches_purchase_events(self, client, owner, merchant, room, shopper):
        client.force_login(owner)
        detail = f"/dashboard/{merchant.slug}/rooms/{room.slug}/"
        assert b"room-selling" in client.get(detail).content
        post = f"/dashboard/{merchant.slug}/rooms/{room.slug}/selling/"
        assert client.post(post, {"action": "settings", "slow_mode_s": "10"}).status_code == 302
        with tenant_scope(merchant.id):
            row = RoomSelling.objects.get(room=room)
        assert row.purchase_events is False and row.slow_mode_s == 10
        client.post(post, {"action": "promote", "email": shopper.email})
        with tenant_scope(merchant.id):
            assert RoomModerator.objects.filter(room=room, user=shopper).exists()
        client.post(post, {"action": "demote", "user": str(shopper.pk)})
        with tenant_scope(merchant.id):
            assert not RoomModerator.objects.filter(room=room, user=shopper).exists()

    def test_room_card_outsider(self, client, outsider, merchant, room):
        client.force_login(outsider)
        post = f"/dashboard/{merchant.slug}/rooms/{room.slug}/selling/"
        assert isolated(client.post, post, {"action": "settings"}).status_code == 404
