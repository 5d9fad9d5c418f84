"""Payments: the sandbox checkout, Standard Webhooks verification, the webhook handler's
state changes (and refusals that change nothing), late payments and refunds."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from commerce import services
from commerce.models import (
    OrderTransition,
    Payment,
    SandboxCharge,
    SandboxDelivery,
    WebhookEvent,
)
from commerce.payments import standard_webhooks
from commerce.payments.sandbox import sandbox_decide, sandbox_deliver_one, sandbox_redeliver_due
from liveshop.errors import Conflict
from liveshop.tenancy.scope import tenant_scope
from tests.commerce.conftest import (
    actor_for,
    event,
    http_headers,
    key,
    order_of,
    refused,
    signed,
    stock_of,
    variants_of,
)
from tests.conftest import error_code
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

WEBHOOK = "/api/v1/payments/webhook/sandbox"
BASE = "http://testserver/"


def unpaid_order(merchant, shopper, product, quantity=1):
    return services.order_place(
        merchant=merchant,
        shopper=shopper,
        lines=[{"product": product.pk, "quantity": quantity}],
        idempotency_key=key(),
    ).order


def start(merchant, shopper, order, **kwargs):
    return services.payment_start(
        merchant=merchant, shopper=shopper, order=order, base_url=BASE, **kwargs
    ).payment


def post_webhook(api, payload, **kwargs):
    body, headers = signed(payload, **kwargs)
    return api().post(WEBHOOK, body, content_type="application/json", **http_headers(headers))


def paid_transitions(order) -> int:
    with tenant_scope(order.merchant_id):
        return OrderTransition.objects.filter(order_id=order.pk, to_status="paid").count()


class TestStandardWebhooks:
    def test_reference_vector(self):
        # From the Standard Webhooks reference libraries' test suite.
        secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        signature = standard_webhooks.sign(
            secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
        )
        assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

    def test_verify_accepts_any_matching_signature_and_checks_time(self):
        secret = "whsec_" + "QUJD" * 8
        body = b"{}"
        headers = standard_webhooks.headers_for(secret, "msg_1", body, timestamp=1000)
        headers["webhook-signature"] = "v1,bogus " + headers["webhook-signature"]
        assert standard_webhooks.verify(secret, headers, body, now=1200).webhook_id == "msg_1"
        with pytest.raises(standard_webhooks.WebhookVerificationError) as stale:
            standard_webhooks.verify(secret, headers, body, now=1301)
        assert stale.value.code == "webhook_timestamp"
        with pytest.raises(standard_webhooks.WebhookVerificationError):
            standard_webhooks.verify(secret, headers, b'{"x":1}', now=1000)


class TestPaymentStart:
    def test_opens_a_sandbox_checkout(self, merchant, shopper, product):
        order = unpaid_order(merchant, shopper, product)
        payment = start(merchant, shopper, order)
        assert payment.redirect_url == f"http://testserver/sandbox/pay/{payment.external_id}/"
        charge = SandboxCharge.objects.get(payment_ref=payment.external_id)
        assert (charge.amount, charge.currency, charge.state) == (1900, "USD", "open")
        assert charge.webhook_url == "http://testserver" + WEBHOOK
        # Paying again returns the open checkout.
        assert start(merchant, shopper, order).pk == payment.pk

    def test_idempotency_key_replays_and_refuses_other_orders(self, merchant, shopper, product):
        one = unpaid_order(merchant, shopper, product)
        two = unpaid_order(merchant, shopper, product)
        first = services.payment_start(
            merchant=merchant, shopper=shopper, order=one, base_url=BASE, idempotency_key="pay-1"
        )
        again = services.payment_start(
            merchant=merchant, shopper=shopper, order=one, base_url=BASE, idempotency_key="pay-1"
        )
        assert again.replayed and again.payment.pk == first.payment.pk
        with refused(Exception) as info:
            services.payment_start(
                merchant=merchant,
                shopper=shopper,
                order=two,
                base_url=BASE,
                idempotency_key="pay-1",
            )
        assert info.value.code == "idempotency_key_reused"

    def test_only_unpaid_unexpired_orders(self, merchant, shopper, product):
        order = unpaid_order(merchant, shopper, product)
        with tenant_scope(merchant.id):
            type(order).objects.filter(pk=order.pk).update(
                reserved_until=timezone.now() - timedelta(seconds=1)
            )
        with refused(Conflict) as info:
            start(merchant, shopper, order_of(order, merchant))
        assert info.value.code == "reservation_expired"
        services.reservations_expire()
        with refused(Conflict) as info:
            start(merchant, shopper, order_of(order, merchant))
        assert info.value.code == "order_not_payable"

    def test_pay_api(self, api, merchant, shopper, product):
        order = unpaid_order(merchant, shopper, product)
        response = api(shopper).post(f"/api/v1/s/acme/orders/{order.pk}/pay")
        assert response.status_code == 201
        assert response.json()["redirect_url"].endswith(
            f"/sandbox/pay/{response.json()['payment']['external_id']}/"
        )
        assert api().post(f"/api/v1/s/acme/orders/{order.pk}/pay").status_code == 401
        assert api(UserFactory()).post(f"/api/v1/s/acme/orders/{order.pk}/pay").status_code == 404


class TestWebhook:
    def test_success_marks_the_order_paid(self, api, merchant, shopper, product):
        order = unpaid_order(merchant, shopper, product)
        payment = start(merchant, shopper, order)
        response = post_webhook(api, event(payment.external_id, 1900))
        assert response.status_code == 200, response.json()
        assert response.json()["order_status"] == "paid"
        paid = order_of(order, merchant)
        assert paid.status == "paid" and paid.paid_at is not None
        with tenant_scope(merchant.id):
            assert Payment.objects.get(pk=payment.pk).status == "succeeded"
            actor_kind = OrderTransition.objects.filter(order=order).last().actor_kind
        assert actor_kind == "gateway:sandbox"

    @pytest.mark.parametrize(
        "tamper",
        ["signature", "secret", "stale", "future", "headers", "body"],
    )
    def test_bad_requests_change_nothing(self, api, merchant, shopper, product, tamper):
        order = unpaid_order(merchant, shopper, product)
        payment = start(merchant, shopper, order)
        payload = event(payment.external_id, 1900)
        kwargs = {}
        if tamper == "secret":
            kwargs["secret"] = "whsec_" + "QUJD" * 8
        elif tamper == "stale":
            kwargs["timestamp"] = int(time.time()) - 360
        elif tamper == "future":
            kwargs["timestamp"] = int(time.time()) + 360
        body, headers = signed(payload, **kwargs)
        if tamper == "signature":
            headers["webhook-signature"] = "v1," + "A" * 44
        elif tamper == "headers":
            del headers["webhook-id"]
        elif tamper == "body":
            body = body.replace(b"1900", b"9999")
        response = api().post(
            WEBHOOK, body, content_type="application/json", **http_headers(headers)
        )
        assert response.status_code == 400
        assert error_code(response).startswith("webhook_")
        assert order_of(order, merchant).status == "pending_payment"
        with tenant_scope(merchant.id):
            assert not WebhookEvent.objects.exists()

    def test_replay_is_400_and_changes_nothing(self, api, merchant, shopper, product):
        order = unpaid_order(merchant, shopper, product)
        payment = start(merchant, shopper, order)
        body, headers = signed(event(payment.external_id, 1900), webhook_id="msg_once")
        first = api().post(WEBHOOK, body, content_type="application/json", **http_headers(headers))
        again = api().post(WEBHOOK, body, content_type="application/json", **http_headers(headers))
        assert first.status_code == 200
        assert again.status_code == 400 and error_code(again) == "webhook_replayed"
        assert paid_transitions(order) == 1

    def test_unknown_payment_and_gateway(self, api, merchant):
        response = post_webhook(api, event("sbx_pay_nope", 100))
        assert response.status_code == 400 and error_code(response) == "unknown_payment"
        assert (
            api()
            .post("/api/v1/payments/webhook/paypal", b"{}", content_type="application/json")
            .status_code
            == 404
        )

    def test_not_a_sandbox_event(self, api, merchant):
        response = post_webhook(api, {"hello": "world"})
        assert response.status_code == 400 and error_code(response) == "webhook_payload"

    def test_amount_mismatch_fails_the_payment(self, api, merchant, shopper, product):
        order = unpaid_order(merchant, shopper, product)
        payment = start(merchant, shopper, order)
        assert post_webhook(api, event(payment.external_id, 1)).status_code == 200
        assert order_of(order, merchant).status == "pending_payment"
        with tenant_scope(merchant.id):
            assert Payment.objects.get(pk=payment.pk).status == "failed"

    def test_declined_payment_leaves_the_order_payable(self, api, merchant, shopper, product):
        order = unpaid_order(merchant, shopper, product)
        payment = start(merchant, shopper, order)
        post_webhook(api, event(payment.external_id, 1900, "payment.failed"))
        assert order_of(order, merchant).status == "pending_payment"
        retry = start(merchant, shopper, order_of(order, merchant))
        assert retry.pk != payment.pk

    def test_late_payment_is_sold_when_stock_remains(self, api, merchant, shopper, product):
        [variant] = variants_of(product)
        order = unpaid_order(merchant, shopper, product, quantity=2)
        payment = start(merchant, shopper, order)
        sandbox_decide(payment_ref=payment.external_id, approve=True)  # confirmed in time…
        services.reservations_expire(now=timezone.now() + timedelta(minutes=11))  # …webhook late
        assert stock_of(variant) == 10
        assert post_webhook(api, event(payment.external_id, 3800)).status_code == 200
        assert order_of(order, merchant).status == "paid" and stock_of(variant) == 8

    def test_late_payment_without_stock_is_refunded(self, api, merchant, owner, shopper, product):
        [variant] = variants_of(product)
        order = unpaid_order(merchant, shopper, product, quantity=2)
        payment = start(merchant, shopper, order)
        sandbox_decide(payment_ref=payment.external_id, approve=True)
        services.reservations_expire(now=timezone.now() + timedelta(minutes=11))
        services.stock_adjust(actor=actor_for(owner, merchant, "owner"), variant=variant, delta=-9)
        response = post_webhook(api, event(payment.external_id, 3800))
        assert response.status_code == 200
        assert order_of(order, merchant).status == "expired" and stock_of(variant) == 1
        with tenant_scope(merchant.id):
            assert Payment.objects.get(pk=payment.pk).status == "refunded"
        assert SandboxCharge.objects.get(payment_ref=payment.external_id).state == "refunded"

    def test_expiry_voids_an_undecided_checkout(self, merchant, shopper, product):
        order = unpaid_order(merchant, shopper, product)
        payment = start(merchant, shopper, order)
        services.reservations_expire(now=timezone.now() + timedelta(minutes=11))
        assert SandboxCharge.objects.get(payment_ref=payment.external_id).state == "voided"
        with refused(Conflict):
            sandbox_decide(payment_ref=payment.external_id, approve=True)


class TestRefund:
    def pay(self, api, merchant, shopper, product, quantity=1):
        order = unpaid_order(merchant, shopper, product, quantity)
        payment = start(merchant, shopper, order)
        sandbox_decide(payment_ref=payment.external_id, approve=True)
        assert post_webhook(api, event(payment.external_id, 1900 * quantity)).status_code == 200
        return order_of(order, merchant), payment

    def test_refund_with_restock(self, api, merchant, owner, shopper, product):
        [variant] = variants_of(product)
        order, payment = self.pay(api, merchant, shopper, product, quantity=3)
        assert stock_of(variant) == 7
        response = api(owner).post(
            f"/api/v1/merchants/acme/orders/{order.pk}/refund", {"restock": True}, format="json"
        )
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == "refunded"
        assert response.json()["refunded_amount"] == 5700
        assert stock_of(variant) == 10
        assert SandboxCharge.objects.get(payment_ref=payment.external_id).state == "refunded"
        again = api(owner).post(
            f"/api/v1/merchants/acme/orders/{order.pk}/refund", {}, format="json"
        )
        assert again.status_code == 409

    def test_refund_without_restock_after_fulfilment(self, api, merchant, owner, shopper, product):
        [variant] = variants_of(product)
        order, _payment = self.pay(api, merchant, shopper, product)
        client = api(owner)
        assert (
            client.post(
                f"/api/v1/merchants/acme/orders/{order.pk}/fulfil", {}, format="json"
            ).json()["status"]
            == "fulfilled"
        )
        assert (
            client.post(
                f"/api/v1/merchants/acme/orders/{order.pk}/refund", {}, format="json"
            ).json()["status"]
            == "refunded"
        )
        assert stock_of(variant) == 9

    def test_refund_webhook_afterwards_is_harmless(self, api, merchant, owner, shopper, product):
        order, _payment = self.pay(api, merchant, shopper, product)
        services.order_refund(actor=actor_for(owner, merchant, "owner"), order=order)
        delivery = SandboxDelivery.objects.get(event_type="payment.refunded")
        body, headers = signed(delivery.payload, webhook_id=delivery.webhook_id)
        response = api().post(
            WEBHOOK, body, content_type="application/json", **http_headers(headers)
        )
        assert response.status_code == 200 and response.json()["order_status"] == "refunded"

    def test_refund_needs_manage_orders(self, api, merchant, agent, host, shopper, product):
        order, _payment = self.pay(api, merchant, shopper, product)
        for user in (agent, host):
            response = api(user).post(
                f"/api/v1/merchants/acme/orders/{order.pk}/refund", {}, format="json"
            )
            assert response.status_code == 403
        assert order_of(order, merchant).status == "paid"


class TestSandboxOutbox:
    def test_delivery_through_a_post_function_and_retry(self, client, merchant, shopper, product):
        """The outbox retries until the endpoint takes the event; the endpoint is the real
        view, called through Django's test client instead of a socket."""
        order = unpaid_order(merchant, shopper, product)
        payment = start(merchant, shopper, order)
        sandbox_decide(payment_ref=payment.external_id, approve=True)
        delivery = SandboxDelivery.objects.get()
        calls = []

        def down(url, headers, body):
            calls.append(url)
            raise ConnectionError("refused")

        def up(url, headers, body):
            calls.append(url)
            response = client.post(
                url.replace("http://testserver", ""),
                body,
                content_type="application/json",
                **http_headers(headers),
            )
            return response.status_code, response.content.decode()

        assert sandbox_deliver_one(delivery.pk, post=down) is False
        delivery.refresh_from_db()
        assert delivery.attempts == 1 and delivery.next_attempt_at > timezone.now()
        assert sandbox_redeliver_due(post=up) == 0  # not due yet: backoff
        SandboxDelivery.objects.update(next_attempt_at=timezone.now())
        assert sandbox_redeliver_due(post=up) == 1
        assert order_of(order, merchant).status == "paid"
        delivery.refresh_from_db()
        assert delivery.delivered_at is not None and delivery.attempts == 2
        # A second, late attempt of the same event is a replay: counted delivered, no change.
        SandboxDelivery.objects.update(delivered_at=None, next_attempt_at=timezone.now())
        assert sandbox_deliver_one(delivery.pk, post=up) is True
        assert paid_transitions(order) == 1
        assert calls == ["http://testserver" + WEBHOOK] * 3
