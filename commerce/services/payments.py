"""Payments: starting a checkout for an order and taking the gateway's signed webhooks.

The webhook handler is one transaction: the `WebhookEvent` row (unique per gateway and
webhook id), the payment's new status and the order's transition commit together or not at
all. A process that dies half-way leaves nothing behind, the gateway retries (the sandbox's
outbox does), and the retry is processed as if it were the first delivery; a delivery of an
already committed webhook id is a replay and changes nothing.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from liveshop.errors import Conflict, DomainError
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.scope import rls_bypass, tenant_scope

from ..models import Order, OrderStatus, Payment, PaymentStatus, WebhookEvent
from ..payments.gateway import (
    DEFAULT_GATEWAY,
    CheckoutRequest,
    GatewayEvent,
    PaymentGatewayError,
    gateway_get,
)
from ..payments.standard_webhooks import WebhookVerificationError
from .common import shopper_scope
from .orders import (
    SCOPE_PAY,
    _claim,
    _lock,
    fingerprint,
    idempotency_key_check,
    order_mark_paid,
)

log = logging.getLogger("liveshop.commerce.payments")


@dataclass(frozen=True)
class PaymentStarted:
    payment: Payment
    replayed: bool


def payment_start(
    *,
    merchant: Merchant,
    shopper: Any,
    order: Order,
    base_url: str,
    idempotency_key: str | None = None,
    gateway: str = DEFAULT_GATEWAY,
    return_path: str | None = None,
    description: str | None = None,
) -> PaymentStarted:
    """Open a checkout for an unpaid order and return the payment with its `redirect_url`.
    Paying twice returns the open checkout; with an Idempotency-Key the same key returns the
    same payment (another order under the same key → 422). The gateway sends the shopper
    back to the order's page, or to `return_path` (a path on this site, e.g. the wallet)."""
    gw = gateway_get(gateway)
    with shopper_scope(merchant, shopper):
        key_id = None
        if idempotency_key is not None:
            key = idempotency_key_check(idempotency_key)
            key_id, existing = _claim(
                merchant, shopper, SCOPE_PAY, key, fingerprint({"order": order.pk})
            )
            if existing is not None:
                replay = Payment.objects.filter(merchant=merchant, idempotency_key=existing).first()
                if replay is None:
                    raise Conflict(
                        _("This Idempotency-Key belongs to another operation."),
                        code="idempotency_key_reused",
                    )
                return PaymentStarted(replay, True)
        order = _lock(merchant, order)
        if order.shopper_id != shopper.pk:
            from django.http import Http404

            raise Http404
        if order.status != OrderStatus.PENDING_PAYMENT:
            raise Conflict(
                _("This order is %(status)s and cannot be paid.")
                % {"status": OrderStatus(order.status).label.lower()},
                code="order_not_payable",
                status_now=order.status,
            )
        if order.reserved_until is not None and order.reserved_until <= timezone.now():
            raise Conflict(
                _("The reservation for this order has run out. Place it again."),
                code="reservation_expired",
            )
        open_payment = Payment.objects.filter(
            merchant=merchant, order=order, status=PaymentStatus.PENDING
        ).first()
        if open_payment is not None:
            return PaymentStarted(open_payment, False)
        payment = Payment.objects.create(
            merchant=merchant,
            order=order,
            gateway=gw.name,
            external_id=f"sbx_pay_{secrets.token_urlsafe(18)}",
            amount=order.total,
            currency=order.currency,
            idempotency_key_id=key_id,
        )
        base = base_url.rstrip("/")
        if return_path is not None and return_path.startswith("/") and "//" not in return_path:
            return_url = base + return_path
        else:
            return_url = (
                base
                + reverse("storefront:order", kwargs={"m": merchant.slug, "order_id": order.pk})
                + "?from=checkout"
            )
        payment.redirect_url = gw.checkout_start(
            CheckoutRequest(
                payment_ref=payment.external_id,
                amount=payment.amount,
                currency=payment.currency,
                description=description or _("Order %(number)s") % {"number": order.number},
                merchant_name=merchant.name,
                return_url=return_url,
            ),
            base_url=base,
        )[:500]
        payment.save(update_fields=["redirect_url"])
    return PaymentStarted(payment, False)


class WebhookRejected(DomainError):
    status = 400
    code = "webhook_invalid"


@dataclass(frozen=True)
class WebhookOutcome:
    payment: str
    event: str
    order_status: str
    note: str = ""


def payment_webhook_receive(
    *, gateway: str, headers: Mapping[str, str], body: bytes
) -> WebhookOutcome:
    """Verify a gateway webhook and apply it. Bad signature, stale timestamp, unknown payment
    or a replayed webhook id → WebhookRejected (400), with no state change."""
    gw = gateway_get(gateway)
    try:
        event = gw.webhook_verify(headers, body)
    except WebhookVerificationError as exc:
        raise WebhookRejected(str(exc), code=exc.code) from None
    # The payment names its merchant; until it is found no tenant is known.
    with rls_bypass("payment-webhook"):
        found = (
            Payment.objects.filter(gateway=gw.name, external_id=event.payment_ref)
            .values_list("merchant_id", "id", "order_id")
            .first()
        )
    if found is None:
        raise WebhookRejected(_("Unknown payment."), code="unknown_payment")
    merchant_id, payment_id, order_id = found
    with tenant_scope(merchant_id):
        table = WebhookEvent._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (merchant_id, gateway, webhook_id, event_type, payment_id,"
                " payload, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (gateway, webhook_id) DO NOTHING RETURNING id",
                [
                    merchant_id,
                    gw.name,
                    event.webhook_id,
                    event.type,
                    payment_id,
                    _json(event.payload),
                    timezone.now(),
                ],
            )
            if cursor.fetchone() is None:
                raise WebhookRejected(
                    _("This webhook was already processed."), code="webhook_replayed"
                )
        # Orders are locked before payments everywhere (refunds too): no deadlocks.
        order = Order.objects.select_for_update().get(pk=order_id, merchant_id=merchant_id)
        payment = Payment.objects.select_for_update().get(pk=payment_id, merchant_id=merchant_id)
        note = _apply(gw.name, event, payment, order)
    log.info(
        "webhook %s %s payment=%s order=%s→%s %s",
        gw.name,
        event.type,
        payment.external_id,
        order.pk,
        order.status,
        note,
    )
    return WebhookOutcome(payment.external_id, event.type, order.status, note)


def _json(payload: dict[str, Any]) -> str:
    import json

    return json.dumps(payload, separators=(",", ":"))


def _apply(gateway: str, event: GatewayEvent, payment: Payment, order: Order) -> str:
    if event.type == "payment.succeeded":
        if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
            return "already captured"
        if event.amount != payment.amount or event.currency != payment.currency:
            _payment_set(payment, PaymentStatus.FAILED, "amount or currency mismatch")
            return "amount mismatch"
        _payment_set(payment, PaymentStatus.SUCCEEDED)
        if order_mark_paid(order=order, gateway=gateway):
            return "order paid"
        # Captured, but the order cannot take it (stock gone after expiry, or already paid
        # by another payment): give the money back at once.
        try:
            gateway_get(payment.gateway).refund(payment.external_id, payment.amount)
        except PaymentGatewayError:
            log.exception("automatic refund of %s failed", payment.external_id)
            return "captured for an order that cannot be sold: refund it by hand"
        _payment_set(
            payment,
            PaymentStatus.REFUNDED,
            f"order was {order.status}: refunded automatically",
            refunded_amount=payment.amount,
        )
        return "refunded automatically"
    if event.type == "payment.failed":
        if payment.status == PaymentStatus.PENDING:
            _payment_set(payment, PaymentStatus.FAILED, "declined")
            return "declined"
        return "ignored"
    if event.type == "payment.refunded":
        if payment.status == PaymentStatus.SUCCEEDED:
            _payment_set(payment, PaymentStatus.REFUNDED, refunded_amount=payment.amount)
            if order.status in (OrderStatus.PAID, OrderStatus.FULFILLED):
                from .common import Who
                from .orders import _transition

                _transition(
                    order,
                    OrderStatus.REFUNDED,
                    Who(f"gateway:{gateway}", None, gateway),
                    reason="refunded at the gateway",
                    refunded_amount=order.total,
                )
            return "refunded"
        return "already refunded"
    return "ignored"


def _payment_set(payment: Payment, status: str, reason: str = "", **fields: Any) -> None:
    payment.status = status
    if reason:
        payment.failure_reason = reason[:300]
    payment.updated_at = timezone.now()
    for key, value in fields.items():
        setattr(payment, key, value)
    payment.save(update_fields=["status", "failure_reason", "updated_at", *fields])
