"""Storefront and dashboard pages: what a shopper and staff see and can do, in both languages,
with the outsider, anonymous and wrong-role cases."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from commerce import services
from commerce.models import Address, Order, SandboxCharge
from liveshop.tenancy.scope import tenant_scope
from tests.commerce.conftest import (
    ADDRESS,
    event,
    http_headers,
    isolated,
    key,
    order_of,
    signed,
    stock_of,
    variants_of,
)
from tests.factories import PASSWORD, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    assert client.login(username=user.email, password=PASSWORD)
    return client


def checkout_key(page) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]+)"', page.content.decode())
    assert match is not None
    return match.group(1)


ADDRESS_FORM = {f"ship-{k}": v for k, v in ADDRESS.items()}


class TestStorefront:
    def test_home_shows_live_rooms_and_products(self, client, merchant, product, host):
        RoomFactory(
            merchant=merchant, slug="launch", title="Launch night", host=host, status="live"
        )
        RoomFactory(merchant=merchant, slug="later", title="Next drop", host=host)
        page = client.get("/s/acme/")
        html = page.content.decode()
        assert page.status_code == 200
        assert 'href="/s/acme/live/launch/"' in html and "Next drop" in html
        assert f'data-product-id="{product.pk}"' in html and "$19.00" in html

    def test_home_in_chinese_uses_chinese_names(self, client, merchant, product):
        with tenant_scope(merchant.id):
            product.name_zh = "经典T恤"
            product.save()
        page = client.get("/s/acme/", HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert "经典T恤" in page.content.decode()

    def test_product_page_has_the_variant_picker(self, client, merchant, sized):
        _small, _medium, large = variants_of(sized)
        html = client.get(f"/s/acme/p/{sized.pk}/").content.decode()
        assert html.count('data-test="variant-option"') == 3
        assert re.search(rf'value="{large.pk}"[^>]*disabled', html)  # sold out
        assert 'data-test="buy-now"' in html

    def test_unknown_and_foreign_products_are_404(self, client, merchant, foreign_product):
        assert isolated(client.get, "/s/acme/p/999999/").status_code == 404
        assert isolated(client.get, f"/s/acme/p/{foreign_product.pk}/").status_code == 404
        assert isolated(client.get, "/s/nope/").status_code == 404

    def test_buy_a_variant_pay_in_the_sandbox_and_see_it_in_my_orders(
        self, merchant, shopper, sized, django_capture_on_commit_callbacks
    ):
        small, _medium, _large = variants_of(sized)
        client = login(shopper)
        added = client.post(
            "/s/acme/cart/",
            {"product": sized.pk, "variant": small.pk, "quantity": 2, "buy_now": "1"},
        )
        assert added["Location"] == "/s/acme/checkout/"
        page = client.get("/s/acme/checkout/")
        form = {
            "idempotency_key": checkout_key(page),
            "address": "new",
            "save_address": "1",
            **ADDRESS_FORM,
        }
        placed = client.post("/s/acme/checkout/", form)
        assert placed.status_code == 302 and "/sandbox/pay/sbx_pay_" in placed["Location"]
        assert stock_of(small) == 3
        # A double submit of the same form places nothing more.
        again = client.post("/s/acme/checkout/", form)
        with tenant_scope(merchant.id):
            assert Order.objects.count() == 1
            assert Address.objects.filter(shopper=shopper).count() == 1
        del again
        sandbox_url = placed["Location"].replace("http://testserver", "")
        sandbox_page = client.get(sandbox_url)
        assert 'data-test="sandbox-confirm"' in sandbox_page.content.decode()
        assert "$98.00" in sandbox_page.content.decode()
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            confirmed = client.post(sandbox_url, {"decision": "confirm"})
        assert confirmed.status_code == 302 and "?from=checkout" in confirmed["Location"]
        assert len(callbacks) == 1  # the webhook delivery, queued after commit
        order = Order.objects.none()
        with tenant_scope(merchant.id):
            order = Order.objects.get()
        waiting = client.get(f"/s/acme/orders/{order.pk}/?from=checkout").content.decode()
        assert 'data-test="payment-confirming"' in waiting
        # The gateway's webhook arrives (delivered here without a socket).
        charge = SandboxCharge.objects.get()
        body, headers = signed(event(charge.payment_ref, 9800))
        Client().post(
            "/api/v1/payments/webhook/sandbox",
            body,
            content_type="application/json",
            **http_headers(headers),
        )
        done = client.get(f"/s/acme/orders/{order.pk}/?from=checkout").content.decode()
        assert 'data-status="paid"' in done and 'data-test="order-confirmed"' in done
        mine = client.get("/s/acme/orders/").content.decode()
        assert f'data-order-id="{order.pk}"' in mine and 'data-status="paid"' in mine

    def test_checkout_refusal_shows_the_line(self, merchant, shopper, sized):
        _small, medium, _large = variants_of(sized)
        client = login(shopper)
        client.post("/s/acme/cart/", {"product": sized.pk, "variant": medium.pk, "quantity": 1})
        page = client.get("/s/acme/checkout/")
        services.order_place(
            merchant=merchant,
            shopper=UserFactory(),
            lines=[{"product": sized.pk, "variant": medium.pk, "quantity": 1}],
            idempotency_key=key(),
        )
        refused = client.post(
            "/s/acme/checkout/",
            {"idempotency_key": checkout_key(page), "address": "new", **ADDRESS_FORM},
        )
        assert refused.status_code == 400
        assert "sold out" in refused.content.decode()

    def test_checkout_address_errors(self, merchant, shopper, product):
        client = login(shopper)
        client.post(
            "/s/acme/cart/",
            {"product": product.pk, "variant": variants_of(product)[0].pk, "quantity": 1},
        )
        page = client.get("/s/acme/checkout/")
        bad = client.post(
            "/s/acme/checkout/",
            {
                "idempotency_key": checkout_key(page),
                "address": "new",
                **ADDRESS_FORM,
                "ship-country": "ZZZ",
            },
        )
        assert bad.status_code == 200 and "errorlist" in bad.content.decode()
        with tenant_scope(merchant.id):
            assert not Order.objects.exists()

    def test_cart_refuses_junk(self, merchant, shopper, product, sized):
        client = login(shopper)
        no_variant = client.post("/s/acme/cart/", {"product": sized.pk, "quantity": 1})
        assert no_variant.status_code == 302 and no_variant["Location"].endswith(f"/p/{sized.pk}/")
        huge = client.post(
            "/s/acme/cart/",
            {"product": product.pk, "variant": variants_of(product)[0].pk, "quantity": 10**6},
        )
        assert huge.status_code == 302
        assert client.get("/s/acme/cart/").context["count"] == 0
        foreign = isolated(
            client.post, "/s/acme/cart/", {"product": 999999, "variant": 1, "quantity": 1}
        )
        assert foreign.status_code == 404

    def test_my_orders_needs_login_and_hides_others(self, client, merchant, shopper, product):
        assert client.get("/s/acme/orders/")["Location"].startswith("/accounts/login/")
        assert client.get("/s/acme/checkout/")["Location"].startswith("/accounts/login/")
        theirs = services.order_place(
            merchant=merchant,
            shopper=UserFactory(),
            lines=[{"product": product.pk, "quantity": 1}],
            idempotency_key=key(),
        ).order
        me = login(shopper)
        assert isolated(me.get, f"/s/acme/orders/{theirs.pk}/").status_code == 404
        assert isolated(me.post, f"/s/acme/orders/{theirs.pk}/cancel/").status_code == 404
        assert isolated(me.post, f"/s/acme/orders/{theirs.pk}/pay/").status_code == 404
        assert order_of(theirs, merchant).status == "pending_payment"

    def test_pay_and_cancel_from_the_order_page(self, merchant, shopper, product):
        order = services.order_place(
            merchant=merchant,
            shopper=shopper,
            lines=[{"product": product.pk, "quantity": 1}],
            idempotency_key=key(),
        ).order
        client = login(shopper)
        html = client.get(f"/s/acme/orders/{order.pk}/").content.decode()
        assert 'data-test="pay-order"' in html
        pay = client.post(f"/s/acme/orders/{order.pk}/pay/")
        assert "/sandbox/pay/" in pay["Location"]
        client.post(f"/s/acme/orders/{order.pk}/cancel/")
        assert order_of(order, merchant).status == "cancelled"

    def test_sandbox_decline_and_decided_charges(self, client, merchant, shopper, product):
        order = services.order_place(
            merchant=merchant,
            shopper=shopper,
            lines=[{"product": product.pk, "quantity": 1}],
            idempotency_key=key(),
        ).order
        payment = services.payment_start(
            merchant=merchant, shopper=shopper, order=order, base_url="http://testserver/"
        ).payment
        url = f"/sandbox/pay/{payment.external_id}/"
        assert client.post(url, {"decision": "decline"}).status_code == 302
        assert SandboxCharge.objects.get().state == "declined"
        again = client.post(url, {"decision": "confirm"})
        assert again.status_code == 409
        assert client.get("/sandbox/pay/sbx_pay_unknown/").status_code == 404


class TestDashboard:
    def test_products_pages_for_owner(self, merchant, owner, product):
        client = login(owner)
        assert 'data-test="product-new"' in client.get("/dashboard/acme/products/").content.decode()
        created = client.post(
            "/dashboard/acme/products/new/",
            {"name": "Scarf", "price": "12.50", "stock": 4, "is_active": "on"},
        )
        assert created.status_code == 302
        with tenant_scope(merchant.id):
            from commerce.models import Product

            scarf = Product.objects.get(name="Scarf")
        assert scarf.price == 1250
        [variant] = variants_of(scarf)
        saved = client.post(
            f"/dashboard/acme/products/{scarf.pk}/variants/{variant.pk}/",
            {"color": "red", "size": "", "sku": "", "stock": 9, "price": "", "is_active": "on"},
        )
        assert saved.status_code == 302 and stock_of(variant) == 9
        client.post(
            f"/dashboard/acme/products/{scarf.pk}/variants/{variant.pk}/",
            {"action": "adjust", "delta": "-4"},
        )
        assert stock_of(variant) == 5
        detail = client.get(f"/dashboard/acme/products/{scarf.pk}/").content.decode()
        assert 'data-test="variant-row"' in detail and "5 in stock" in detail

    def test_bad_price_is_a_form_error(self, merchant, owner):
        page = login(owner).post(
            "/dashboard/acme/products/new/", {"name": "X", "price": "12.345", "stock": 1}
        )
        assert page.status_code == 200 and "errorlist" in page.content.decode()

    def test_host_sees_products_but_cannot_edit(self, merchant, host, product):
        client = login(host)
        html = client.get(f"/dashboard/acme/products/{product.pk}/").content.decode()
        assert 'data-test="variant-save"' not in html
        assert client.get("/dashboard/acme/products/new/").status_code == 403
        [variant] = variants_of(product)
        assert (
            client.post(
                f"/dashboard/acme/products/{product.pk}/variants/{variant.pk}/", {"stock": 0}
            ).status_code
            == 403
        )
        assert stock_of(variant) == 10

    def test_outsider_and_anonymous(self, client, merchant, outsider, product):
        assert client.get("/dashboard/acme/products/")["Location"].startswith("/accounts/login/")
        other = login(outsider)
        for url in (
            "/dashboard/acme/products/",
            f"/dashboard/acme/products/{product.pk}/",
            "/dashboard/acme/orders/",
        ):
            assert isolated(other.get, url).status_code == 404

    def test_orders_page_filters_and_refund(self, api, merchant, owner, shopper, product):
        order = services.order_place(
            merchant=merchant,
            shopper=shopper,
            lines=[{"product": product.pk, "quantity": 2}],
            idempotency_key=key(),
        ).order
        payment = services.payment_start(
            merchant=merchant, shopper=shopper, order=order, base_url="http://testserver/"
        ).payment
        from commerce.payments.sandbox import sandbox_decide

        sandbox_decide(payment_ref=payment.external_id, approve=True)
        body, headers = signed(event(payment.external_id, 3800))
        Client().post(
            "/api/v1/payments/webhook/sandbox",
            body,
            content_type="application/json",
            **http_headers(headers),
        )
        client = login(owner)
        listed = client.get("/dashboard/acme/orders/", {"status": "paid"}).content.decode()
        assert f'data-order-id="{order.pk}"' in listed
        assert (
            f'data-order-id="{order.pk}"'
            not in client.get("/dashboard/acme/orders/", {"status": "expired"}).content.decode()
        )
        detail = client.get(f"/dashboard/acme/orders/{order.pk}/").content.decode()
        assert 'data-status="paid"' in detail and 'data-test="refund-button"' in detail
        client.post(
            f"/dashboard/acme/orders/{order.pk}/action/", {"action": "refund", "restock": "1"}
        )
        assert order_of(order, merchant).status == "refunded"
        assert stock_of(variants_of(product)[0]) == 10
        after = client.get(f"/dashboard/acme/orders/{order.pk}/").content.decode()
        assert 'data-status="refunded"' in after and 'data-test="refund-button"' not in after

    def test_agent_sees_orders_but_no_actions(self, merchant, agent, shopper, product):
        order = services.order_place(
            merchant=merchant,
            shopper=shopper,
            lines=[{"product": product.pk, "quantity": 1}],
            idempotency_key=key(),
        ).order
        client = login(agent)
        html = client.get(f"/dashboard/acme/orders/{order.pk}/").content.decode()
        assert 'data-test="cancel-button"' not in html
        assert (
            client.post(
                f"/dashboard/acme/orders/{order.pk}/action/", {"action": "cancel"}
            ).status_code
            == 403
        )
        assert order_of(order, merchant).status == "pending_payment"

    def test_overview_cards_and_nav(self, merchant, owner, product):
        html = login(owner).get("/dashboard/acme/").content.decode()
        assert "/dashboard/acme/products/" in html and "/dashboard/acme/orders/" in html
        assert "/dashboard/acme/rooms/" in html
