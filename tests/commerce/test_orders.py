"""Orders: placement with reservations, idempotency, the state machine, expiry, drafts,
refunds and emails — through the services and the shopper/merchant API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from commerce import services, stock_gate
from commerce.models import IdempotencyKey, Order, OrderStatus, OrderTransition
from liveshop.errors import Conflict, DomainError
from liveshop.tenancy.scope import tenant_scope
from tests.commerce.conftest import (
    ADDRESS,
    actor_for,
    key,
    order_of,
    refused,
    stock_of,
    variants_of,
)
from tests.conftest import error_code
from tests.factories import ProductFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/s/acme/orders"


def place(merchant, shopper, lines, **kwargs):
    kwargs.setdefault("idempotency_key", key())
    return services.order_place(merchant=merchant, shopper=shopper, lines=lines, **kwargs)


def transitions(order) -> list[tuple[str, str, str]]:
    with tenant_scope(order.merchant_id):
        return list(
            OrderTransition.objects.filter(order_id=order.pk).values_list(
                "from_status", "to_status", "actor_kind"
            )
        )


class TestPlace:
    def test_reserves_stock_and_records_the_placement(self, merchant, shopper, product):
        [variant] = variants_of(product)
        placed = place(merchant, shopper, [{"product": product.pk, "quantity": 3}])
        order = placed.order
        assert not placed.replayed
        assert (order.status, order.total, order.currency) == ("pending_payment", 5700, "USD")
        assert order.reserved_until > timezone.now() + timedelta(minutes=9)
        assert stock_of(variant) == 7
        assert transitions(order) == [("", "pending_payment", "shopper")]

    def test_variant_prices_and_shipping_address(self, merchant, shopper, sized):
        small, medium, _large = variants_of(sized)
        order = place(
            merchant,
            shopper,
            [
                {"product": sized.pk, "variant": small.pk, "quantity": 2},
                {"product": sized.pk, "variant": medium.pk, "quantity": 1},
            ],
            shipping_address={**ADDRESS, "country": "us"},
        ).order
        assert order.total == 2 * 4900 + 2500
        assert order.shipping_address["country"] == "US"

    def test_out_of_stock_names_the_line_and_takes_nothing(self, merchant, shopper, sized, product):
        _small, medium, _large = variants_of(sized)
        [tee] = variants_of(product)
        with refused(Conflict) as info:
            place(
                merchant,
                shopper,
                [
                    {"product": product.pk, "quantity": 1},
                    {"product": sized.pk, "variant": medium.pk, "quantity": 2},
                ],
            )
        exc = info.value
        assert exc.code == "out_of_stock"
        assert exc.extra == {"line": 1, "product": sized.pk, "variant": medium.pk, "available": 1}
        assert "Line 2" in exc.message and "only 1 left" in exc.message
        assert stock_of(tee) == 10 and stock_of(medium) == 1

    def test_sold_out_closes_the_gate_without_a_transaction(self, merchant, shopper, sized):
        _small, medium, _large = variants_of(sized)
        place(merchant, shopper, [{"product": sized.pk, "variant": medium.pk, "quantity": 1}])
        # The committed stock level reaches the gate after commit; in a test, by hand.
        stock_gate.stock_observed(merchant.id, [(medium.pk, 0)])
        with refused(Conflict) as info:
            place(merchant, shopper, [{"product": sized.pk, "variant": medium.pk, "quantity": 1}])
        assert info.value.code == "out_of_stock" and info.value.extra["available"] == 0

    def test_the_gate_is_per_merchant(self, merchant, other_merchant, shopper, product):
        [variant] = variants_of(product)
        stock_gate.stock_observed(other_merchant.id, [(variant.pk, 0)])
        assert place(
            merchant, shopper, [{"product": product.pk, "variant": variant.pk, "quantity": 1}]
        )

    @pytest.mark.parametrize(
        "lines, field",
        [
            ([], "lines"),
            ("1x tee", "lines"),
            ([{"product": 1}], "lines[0].quantity"),
            ([{"product": "1", "quantity": 1}], "lines[0].product"),
            ([{"product": 1, "quantity": 0}], "lines[0].quantity"),
            ([{"product": 1, "quantity": -3}], "lines[0].quantity"),
            ([{"product": 1, "quantity": 10**9}], "lines[0].quantity"),
            ([{"product": 1, "quantity": 1.5}], "lines[0].quantity"),
            ([{"product": 1, "quantity": True}], "lines[0].quantity"),
            ([{"product": 1, "quantity": 1, "price": 1}], "lines[0].price"),
            ([{"product": 1, "quantity": 1}] * 21, "lines"),
        ],
    )
    def test_bad_lines(self, merchant, shopper, lines, field):
        with refused(ValidationError) as info:
            place(merchant, shopper, lines)
        assert field in info.value.message_dict

    def test_unknown_foreign_and_mismatched_products(
        self, merchant, shopper, sized, product, foreign_product
    ):
        [foreign_variant] = variants_of(foreign_product)
        [tee] = variants_of(product)
        cases = [
            ([{"product": 999_999, "quantity": 1}], "lines[0].product"),
            ([{"product": foreign_product.pk, "quantity": 1}], "lines[0].product"),
            (
                [{"product": sized.pk, "variant": foreign_variant.pk, "quantity": 1}],
                "lines[0].variant",
            ),
            ([{"product": sized.pk, "variant": tee.pk, "quantity": 1}], "lines[0].variant"),
            ([{"product": sized.pk, "quantity": 1}], "lines[0].variant"),  # several: choose
        ]
        for lines, field in cases:
            with refused(ValidationError) as info:
                place(merchant, shopper, lines)
            assert field in info.value.message_dict, lines
        assert stock_of(foreign_variant) == 10

    def test_inactive_products_are_not_for_sale(self, merchant, shopper):
        hidden = ProductFactory(merchant=merchant, is_active=False)
        with refused(ValidationError) as info:
            place(merchant, shopper, [{"product": hidden.pk, "quantity": 1}])
        assert "lines[0].product" in info.value.message_dict

    @pytest.mark.parametrize(
        "address, field",
        [
            ({**ADDRESS, "country": "USA"}, "shipping_address.country"),
            ({**ADDRESS, "name": ""}, "shipping_address.name"),
            ({**ADDRESS, "city": 5}, "shipping_address.city"),
            ({**ADDRESS, "phone": "call me"}, "shipping_address.phone"),
            ({**ADDRESS, "line1": "x" * 201}, "shipping_address.line1"),
            ({**ADDRESS, "planet": "Mars"}, "shipping_address.planet"),
            ("1 Main St", "shipping_address"),
            (123456, "shipping_address"),  # not a saved address of this shopper
        ],
    )
    def test_malformed_addresses(self, merchant, shopper, product, address, field):
        with refused(ValidationError) as info:
            place(
                merchant,
                shopper,
                [{"product": product.pk, "quantity": 1}],
                shipping_address=address,
            )
        assert field in info.value.message_dict

    def test_saved_address_is_copied_onto_the_order(self, merchant, shopper, product):
        saved = services.address_save(merchant=merchant, shopper=shopper, data=ADDRESS)
        order = place(
            merchant, shopper, [{"product": product.pk, "quantity": 1}], shipping_address=saved.pk
        ).order
        assert order.shipping_address["line1"] == "1 Main Street"

    def test_another_shoppers_saved_address_is_refused(self, merchant, shopper, product):
        other = UserFactory()
        saved = services.address_save(merchant=merchant, shopper=other, data=ADDRESS)
        with refused(ValidationError):
            place(
                merchant,
                shopper,
                [{"product": product.pk, "quantity": 1}],
                shipping_address=saved.pk,
            )

    def test_room_attribution(self, merchant, shopper, product, host):
        room = RoomFactory(merchant=merchant, slug="launch", host=host)
        order = place(
            merchant, shopper, [{"product": product.pk, "quantity": 1}], room="launch"
        ).order
        assert order_of(order, merchant).room_id == room.pk
        with refused(ValidationError) as info:
            place(merchant, shopper, [{"product": product.pk, "quantity": 1}], room="nope")
        assert "room" in info.value.message_dict

    def test_purchase_limit_per_shopper(self, merchant, shopper, product):
        with tenant_scope(merchant.id):
            product.purchase_limit = 2
            product.save()
        place(merchant, shopper, [{"product": product.pk, "quantity": 2}])
        with refused(Conflict) as info:
            place(merchant, shopper, [{"product": product.pk, "quantity": 1}])
        assert info.value.code == "purchase_limit" and info.value.extra["line"] == 0
        # Someone else may still buy.
        assert place(merchant, UserFactory(), [{"product": product.pk, "quantity": 2}])


class TestIdempotency:
    def test_same_key_same_request_is_the_same_order(self, merchant, shopper, product):
        [variant] = variants_of(product)
        lines = [{"product": product.pk, "quantity": 2}]
        first = place(merchant, shopper, lines, idempotency_key="abc")
        again = place(merchant, shopper, lines, idempotency_key="abc")
        assert again.replayed and again.order.pk == first.order.pk
        assert stock_of(variant) == 8

    def test_same_key_other_request_is_422(self, merchant, shopper, product):
        place(merchant, shopper, [{"product": product.pk, "quantity": 1}], idempotency_key="abc")
        with refused(DomainError) as info:
            place(
                merchant, shopper, [{"product": product.pk, "quantity": 2}], idempotency_key="abc"
            )
        assert (info.value.status, info.value.code) == (422, "idempotency_key_reused")

    def test_keys_are_per_shopper(self, merchant, shopper, product):
        one = place(
            merchant, shopper, [{"product": product.pk, "quantity": 1}], idempotency_key="k"
        )
        two = place(
            merchant, UserFactory(), [{"product": product.pk, "quantity": 1}], idempotency_key="k"
        )
        assert one.order.pk != two.order.pk

    def test_a_replay_of_a_sold_out_item_still_returns_the_order(self, merchant, shopper, sized):
        _s, medium, _l = variants_of(sized)
        lines = [{"product": sized.pk, "variant": medium.pk, "quantity": 1}]
        first = place(merchant, shopper, lines, idempotency_key="last-one")
        stock_gate.stock_observed(merchant.id, [(medium.pk, 0)])
        again = place(merchant, shopper, lines, idempotency_key="last-one")
        assert again.replayed and again.order.pk == first.order.pk

    def test_a_refused_attempt_keeps_no_key(self, merchant, shopper, sized):
        _s, _m, large = variants_of(sized)
        with refused(Conflict):
            place(
                merchant,
                shopper,
                [{"product": sized.pk, "variant": large.pk, "quantity": 1}],
                idempotency_key="k",
            )
        with tenant_scope(merchant.id):
            assert not IdempotencyKey.objects.exists()

    @pytest.mark.parametrize("bad", ["", "has space", "x" * 256, "naïve", None])
    def test_key_is_required_and_sane(self, merchant, shopper, product, bad):
        with refused(DomainError) as info:
            place(merchant, shopper, [{"product": product.pk, "quantity": 1}], idempotency_key=bad)
        assert info.value.code in ("idempotency_key_required", "idempotency_key_invalid")


class TestLifecycle:
    def test_expiry_returns_stock_and_is_recorded(self, merchant, shopper, product):
        [variant] = variants_of(product)
        order = place(merchant, shopper, [{"product": product.pk, "quantity": 4}]).order
        assert services.reservations_expire(now=timezone.now()) == 0
        assert services.reservations_expire(now=timezone.now() + timedelta(minutes=11)) == 1
        assert order_of(order, merchant).status == "expired"
        assert stock_of(variant) == 10
        assert transitions(order)[-1] == ("pending_payment", "expired", "system")
        # Running the sweep again changes nothing.
        assert services.reservations_expire(now=timezone.now() + timedelta(minutes=20)) == 0
        assert stock_of(variant) == 10

    def test_shopper_cancels_unpaid_order(self, merchant, shopper, product):
        [variant] = variants_of(product)
        order = place(merchant, shopper, [{"product": product.pk, "quantity": 4}]).order
        services.order_cancel_by_shopper(merchant=merchant, shopper=shopper, order=order)
        assert order_of(order, merchant).status == "cancelled" and stock_of(variant) == 10
        with refused(Conflict):
            services.order_cancel_by_shopper(merchant=merchant, shopper=shopper, order=order)

    def test_illegal_transitions_are_refused(self, merchant, shopper, owner, product):
        actor = actor_for(owner, merchant, "owner")
        order = place(merchant, shopper, [{"product": product.pk, "quantity": 1}]).order
        with refused(Conflict) as info:
            services.order_fulfil(actor=actor, order=order)
        assert info.value.code == "illegal_transition"
        with refused(Conflict):
            services.order_refund(actor=actor, order=order)
        services.order_cancel(actor=actor, order=order)
        with refused(Conflict):
            services.order_cancel(actor=actor, order=order)
        assert order_of(order, merchant).status == "cancelled"

    def test_transition_table_is_closed(self):
        assert set(services.TRANSITIONS) == set(OrderStatus.values)
        assert services.TRANSITIONS[OrderStatus.REFUNDED] == frozenset()

    def test_staff_roles(self, merchant, shopper, host, agent, product):
        order = place(merchant, shopper, [{"product": product.pk, "quantity": 1}]).order
        for user, role in ((host, "host"), (agent, "agent")):
            with refused(PermissionDenied):
                services.order_cancel(actor=actor_for(user, merchant, role), order=order)


class TestDrafts:
    def test_a_draft_holds_stock_until_sent_then_the_timer_runs(
        self, merchant, agent, shopper, product
    ):
        actor = actor_for(agent, merchant, "agent")
        [variant] = variants_of(product)
        draft = services.order_draft_create(
            actor=actor, shopper=shopper, lines=[{"product": product.pk, "quantity": 2}]
        )
        assert draft.status == "draft" and draft.reserved_until is None and stock_of(variant) == 8
        # Drafts do not expire.
        assert services.reservations_expire(now=timezone.now() + timedelta(days=1)) == 0
        services.order_draft_set_lines(
            actor=actor, order=draft, lines=[{"product": product.pk, "quantity": 5}]
        )
        assert stock_of(variant) == 5 and order_of(draft, merchant).total == 5 * 1900
        sent = services.order_draft_send(actor=actor, order=draft, shipping_address=ADDRESS)
        assert sent.status == "pending_payment" and sent.reserved_until is not None
        assert [t[:2] for t in transitions(draft)] == [("", "draft"), ("draft", "pending_payment")]
        with refused(Conflict):
            services.order_draft_set_lines(actor=actor, order=draft, lines=[])

    def test_abandoning_a_draft_returns_its_stock(self, merchant, agent, shopper, product):
        actor = actor_for(agent, merchant, "agent")
        [variant] = variants_of(product)
        draft = services.order_draft_create(
            actor=actor, shopper=shopper, lines=[{"product": product.pk, "quantity": 3}]
        )
        services.order_draft_abandon(actor=actor, order=draft)
        assert order_of(draft, merchant).status == "cancelled" and stock_of(variant) == 10

    def test_an_empty_draft_cannot_be_sent(self, merchant, agent, shopper):
        actor = actor_for(agent, merchant, "agent")
        draft = services.order_draft_create(actor=actor, shopper=shopper)
        with refused(Conflict) as info:
            services.order_draft_send(actor=actor, order=draft)
        assert info.value.code == "empty_cart"

    def test_hosts_cannot_build_carts(self, merchant, host, shopper):
        with refused(PermissionDenied):
            services.order_draft_create(actor=actor_for(host, merchant, "host"), shopper=shopper)


class TestEmails:
    def pay(self, merchant, shopper, product):
        from commerce.payments.sandbox import sandbox_decide
        from commerce.services.payments import payment_webhook_receive
        from tests.commerce.conftest import event, signed

        order = place(merchant, shopper, [{"product": product.pk, "quantity": 1}]).order
        payment = services.payment_start(
            merchant=merchant, shopper=shopper, order=order, base_url="http://testserver/"
        ).payment
        sandbox_decide(payment_ref=payment.external_id, approve=True)
        body, headers = signed(event(payment.external_id, 1900))
        payment_webhook_receive(gateway="sandbox", headers=headers, body=body)
        return order

    def test_confirmation_on_payment_once(
        self, merchant, shopper, product, django_capture_on_commit_callbacks
    ):
        from commerce.tasks import order_status_email

        with django_capture_on_commit_callbacks(execute=True):
            order = self.pay(merchant, shopper, product)
        # Placing sends nothing (the shopper is paying on the page); paying confirms.
        assert len(mail.outbox) == 1
        assert mail.outbox[0].to == [shopper.email]
        assert order.number in mail.outbox[0].subject and "confirmed" in mail.outbox[0].subject
        with tenant_scope(merchant.id):
            transition = OrderTransition.objects.get(order=order, to_status="paid")
        assert transition.notified_at is not None
        # A redelivered task sends nothing new.
        assert order_status_email(transition.pk, merchant.id) is False
        assert len(mail.outbox) == 1

    def test_a_sent_cart_and_expiry_are_mailed(
        self, merchant, agent, shopper, product, django_capture_on_commit_callbacks
    ):
        actor = actor_for(agent, merchant, "agent")
        with django_capture_on_commit_callbacks(execute=True):
            draft = services.order_draft_create(
                actor=actor, shopper=shopper, lines=[{"product": product.pk, "quantity": 1}]
            )
            services.order_draft_send(actor=actor, order=draft)
        assert len(mail.outbox) == 1 and "awaiting payment" in mail.outbox[0].subject
        with django_capture_on_commit_callbacks(execute=True):
            services.reservations_expire(now=timezone.now() + timedelta(minutes=11))
        assert len(mail.outbox) == 2 and "expired" in mail.outbox[1].subject

    def test_shopper_locale(self, merchant, product, django_capture_on_commit_callbacks):
        shopper = UserFactory(locale="zh-hans")
        with django_capture_on_commit_callbacks(execute=True):
            self.pay(merchant, shopper, product)
        assert len(mail.outbox) == 1  # rendered under zh-hans without error


class TestShopperApi:
    def test_place_order(self, api, shopper, merchant, product):
        [variant] = variants_of(product)
        response = api(shopper).post(
            ORDERS,
            {"lines": [{"product": product.pk, "quantity": 2}], "shipping_address": ADDRESS},
            format="json",
            HTTP_IDEMPOTENCY_KEY="order-1",
        )
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["status"] == "pending_payment" and body["total"] == 3800
        assert body["lines"][0]["variant"] == variant.pk and body["lines"][0]["line_total"] == 3800
        assert body["shipping_address"]["city"] == "Springfield"
        assert stock_of(variant) == 8

    def test_replay_and_conflicting_reuse(self, api, shopper, product):
        client = api(shopper)
        body = {"lines": [{"product": product.pk, "quantity": 1}]}
        first = client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
        again = client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
        assert again["Idempotent-Replayed"] == "true"
        other = client.post(
            ORDERS,
            {"lines": [{"product": product.pk, "quantity": 3}]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k",
        )
        assert other.status_code == 422 and error_code(other) == "idempotency_key_reused"
        assert client.get(ORDERS).json()["count"] == 1

    def test_missing_key_is_400(self, api, shopper, product):
        response = api(shopper).post(
            ORDERS, {"lines": [{"product": product.pk, "quantity": 1}]}, format="json"
        )
        assert response.status_code == 400 and error_code(response) == "idempotency_key_required"

    def test_out_of_stock_is_409_naming_the_line(self, api, shopper, sized):
        _s, _m, large = variants_of(sized)
        response = api(shopper).post(
            ORDERS,
            {"lines": [{"product": sized.pk, "variant": large.pk, "quantity": 1}]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k",
        )
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "out_of_stock"
        assert (error["line"], error["variant"], error["available"]) == (0, large.pk, 0)

    @pytest.mark.parametrize(
        "body",
        [
            {"lines": [{"product": 1, "quantity": -1}]},
            {"lines": [{"product": 1, "quantity": 100000000000}]},
            {"lines": "all of it"},
            {"lines": [{"product": 1, "quantity": 1}], "coupon": "FREE"},
            [1, 2],
            {},
        ],
    )
    def test_bad_input_is_400_envelope(self, api, shopper, merchant, body):
        response = api(shopper).post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 400
        assert error_code(response) == "invalid"

    def test_other_merchants_product_is_400_and_untouched(
        self, api, shopper, merchant, foreign_product
    ):
        [variant] = variants_of(foreign_product)
        response = api(shopper).post(
            ORDERS,
            {"lines": [{"product": foreign_product.pk, "variant": variant.pk, "quantity": 1}]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k",
        )
        assert (
            response.status_code == 400 and "lines[0].product" in response.json()["error"]["fields"]
        )
        assert stock_of(variant) == 10

    def test_anonymous_is_401_and_api_keys_are_not_shoppers(self, api, merchant, owner, product):
        body = {"lines": [{"product": product.pk, "quantity": 1}]}
        assert api().post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 401
        assert api().get(ORDERS).status_code == 401
        from liveshop.tenancy.services import api_key_create

        _key, raw = api_key_create(
            actor=actor_for(owner, merchant, "owner"), name="k", scopes=["orders:write"]
        )
        response = api(key=raw).post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 403

    def test_shoppers_see_only_their_own_orders(self, api, shopper, merchant, product):
        mine = place(merchant, shopper, [{"product": product.pk, "quantity": 1}]).order
        theirs = place(merchant, UserFactory(), [{"product": product.pk, "quantity": 1}]).order
        client = api(shopper)
        assert [o["id"] for o in client.get(ORDERS).json()["results"]] == [mine.pk]
        assert client.get(f"{ORDERS}/{theirs.pk}").status_code == 404
        assert client.post(f"{ORDERS}/{theirs.pk}/pay").status_code == 404
        assert client.post(f"{ORDERS}/{theirs.pk}/cancel").status_code == 404
        assert order_of(theirs, merchant).status == "pending_payment"

    def test_orders_are_per_merchant(self, api, shopper, merchant, other_merchant, product):
        order = place(merchant, shopper, [{"product": product.pk, "quantity": 1}]).order
        client = api(shopper)
        assert client.get(f"/api/v1/s/{other_merchant.slug}/orders/{order.pk}").status_code == 404
        assert client.get(f"/api/v1/s/{other_merchant.slug}/orders").json()["count"] == 0

    def test_addresses(self, api, shopper, merchant):
        client = api(shopper)
        created = client.post("/api/v1/s/acme/addresses", ADDRESS, format="json")
        assert created.status_code == 201
        bad = client.post(
            "/api/v1/s/acme/addresses", {**ADDRESS, "country": "Narnia"}, format="json"
        )
        assert bad.status_code == 400 and "address.country" in bad.json()["error"]["fields"]
        assert client.get("/api/v1/s/acme/addresses").json()["count"] == 1
        assert (
            api(UserFactory())
            .delete(f"/api/v1/s/acme/addresses/{created.json()['id']}")
            .status_code
            == 404
        )
        assert client.delete(f"/api/v1/s/acme/addresses/{created.json()['id']}").status_code == 204


class TestMerchantApi:
    def test_list_filter_detail(self, api, owner, shopper, merchant, product):
        order = place(merchant, shopper, [{"product": product.pk, "quantity": 1}]).order
        client = api(owner)
        assert client.get("/api/v1/merchants/acme/orders", {"status": "paid"}).json()["count"] == 0
        listed = client.get("/api/v1/merchants/acme/orders", {"status": "pending_payment"}).json()
        assert listed["results"][0]["shopper"]["email"] == shopper.email
        detail = client.get(f"/api/v1/merchants/acme/orders/{order.pk}").json()
        assert detail["transitions"][0]["to_status"] == "pending_payment"
        bad = client.get("/api/v1/merchants/acme/orders", {"status": "lost"})
        assert bad.status_code == 400

    def test_cancel_and_roles(self, api, owner, host, agent, shopper, merchant, product):
        order = place(merchant, shopper, [{"product": product.pk, "quantity": 1}]).order
        url = f"/api/v1/merchants/acme/orders/{order.pk}/cancel"
        assert api(host).post(url, {}, format="json").status_code == 403
        assert api(agent).post(url, {}, format="json").status_code == 403
        assert (
            api(owner).post(url, {"reason": "duplicate"}, format="json").json()["status"]
            == "cancelled"
        )
        again = api(owner).post(url, {}, format="json")
        assert again.status_code == 409 and error_code(again) == "illegal_transition"

    def test_outsider_404_for_every_order_endpoint(self, api, outsider, shopper, merchant, product):
        order = place(merchant, shopper, [{"product": product.pk, "quantity": 1}]).order
        client = api(outsider)
        base = f"/api/v1/merchants/acme/orders/{order.pk}"
        assert client.get("/api/v1/merchants/acme/orders").status_code == 404
        assert client.get(base).status_code == 404
        for action in ("fulfil", "cancel", "refund", "send"):
            assert client.post(f"{base}/{action}", {}, format="json").status_code == 404
        assert client.put(f"{base}/lines", {"lines": []}, format="json").status_code == 404
        assert order_of(order, merchant).status == "pending_payment"

    def test_my_order_id_under_my_slug_is_404_for_another_merchant(
        self, api, owner, outsider, shopper, merchant, other_merchant, product
    ):
        order = place(merchant, shopper, [{"product": product.pk, "quantity": 1}]).order
        response = api(outsider).get(f"/api/v1/merchants/{other_merchant.slug}/orders/{order.pk}")
        assert response.status_code == 404

    def test_draft_cart_api(self, api, agent, shopper, merchant, product):
        client = api(agent)
        created = client.post(
            "/api/v1/merchants/acme/orders",
            {"shopper": shopper.email, "lines": [{"product": product.pk, "quantity": 1}]},
            format="json",
        )
        assert created.status_code == 201 and created.json()["status"] == "draft"
        order_id = created.json()["id"]
        updated = client.put(
            f"/api/v1/merchants/acme/orders/{order_id}/lines",
            {"lines": [{"product": product.pk, "quantity": 2}]},
            format="json",
        )
        assert updated.json()["total"] == 3800
        sent = client.post(f"/api/v1/merchants/acme/orders/{order_id}/send", {}, format="json")
        assert sent.json()["status"] == "pending_payment"
        # The shopper now sees it and can pay it.
        assert api(shopper).get(f"{ORDERS}/{order_id}").status_code == 200
        unknown = client.post(
            "/api/v1/merchants/acme/orders", {"shopper": "nobody@example.test"}, format="json"
        )
        assert unknown.status_code == 400


def test_order_model_number():
    assert Order(pk=42).number == "000042"
