"""The sandbox gateway: a stand-in payment provider that runs inside LiveShop.

`checkout_start` opens a charge and sends the shopper to `/sandbox/pay/<ref>/`, where they
confirm or decline. The decision and its webhook are written in one transaction to the
sandbox's outbox (`SandboxDelivery`); a task delivers it, signed per Standard Webhooks, to
`POST /api/v1/payments/webhook/sandbox`, and a periodic job retries whatever is not yet
delivered. So neither a dead worker nor a dead web process loses a payment: the event stays
in the outbox until the endpoint has committed it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from liveshop.errors import Conflict

from ..models import SandboxCharge, SandboxDelivery
from . import standard_webhooks
from .gateway import CheckoutRequest, GatewayEvent, PaymentGatewayError

log = logging.getLogger("liveshop.payments.sandbox")

EVENT_TYPES = ("payment.succeeded", "payment.failed", "payment.refunded")
# How long a delivery attempt owns an outbox row before another may retry it.
DELIVERY_LEASE = timedelta(seconds=30)
MAX_BACKOFF_S = 600


def sandbox_secret() -> str:
    """The webhook signing secret, `whsec_<base64>`."""
    configured: str = settings.LIVESHOP_SANDBOX_WEBHOOK_SECRET
    if configured:
        return configured
    derived = hmac.new(
        settings.SECRET_KEY.encode(), b"liveshop.sandbox.webhook", hashlib.sha256
    ).digest()
    return standard_webhooks.SECRET_PREFIX + base64.b64encode(derived).decode()


class SandboxGateway:
    name = "sandbox"

    def checkout_start(self, request: CheckoutRequest, *, base_url: str) -> str:
        base = base_url.rstrip("/")
        SandboxCharge.objects.get_or_create(
            payment_ref=request.payment_ref,
            defaults={
                "merchant_name": request.merchant_name[:120],
                "description": request.description[:200],
                "amount": request.amount,
                "currency": request.currency,
                "return_url": request.return_url[:500],
                "webhook_url": base + reverse("api-payment-webhook", kwargs={"gateway": self.name}),
            },
        )
        return base + reverse("sandbox-pay", kwargs={"ref": request.payment_ref})

    def checkout_void(self, payment_ref: str) -> bool:
        return bool(
            SandboxCharge.objects.filter(
                payment_ref=payment_ref, state=SandboxCharge.State.OPEN
            ).update(state=SandboxCharge.State.VOIDED, decided_at=timezone.now())
        )

    def refund(self, payment_ref: str, amount: int) -> None:
        charge = SandboxCharge.objects.select_for_update().filter(payment_ref=payment_ref).first()
        if charge is None or charge.state not in (
            SandboxCharge.State.SUCCEEDED,
            SandboxCharge.State.REFUNDED,
        ):
            raise PaymentGatewayError("The sandbox has no captured charge to refund.")
        if charge.refunded_amount + amount > charge.amount:
            raise PaymentGatewayError("Refund exceeds the captured amount.")
        charge.refunded_amount += amount
        charge.state = SandboxCharge.State.REFUNDED
        charge.save(update_fields=["refunded_amount", "state"])
        _emit(charge, "payment.refunded", amount=amount)

    def webhook_verify(self, headers: Mapping[str, str], body: bytes) -> GatewayEvent:
        verified = standard_webhooks.verify(
            sandbox_secret(), headers, body, tolerance=settings.LIVESHOP_WEBHOOK_TOLERANCE_S
        )
        try:
            payload = json.loads(body)
            data = payload["data"]
            event_type = payload["type"]
            ref, amount, currency = data["payment"], data["amount"], data["currency"]
        except (ValueError, KeyError, TypeError):
            raise standard_webhooks.WebhookVerificationError(
                "The webhook body is not a sandbox event.", "webhook_payload"
            ) from None
        if (
            event_type not in EVENT_TYPES
            or not isinstance(ref, str)
            or not isinstance(amount, int)
            or not isinstance(currency, str)
        ):
            raise standard_webhooks.WebhookVerificationError(
                "Unknown event type or malformed data.", "webhook_payload"
            )
        return GatewayEvent(
            webhook_id=verified.webhook_id,
            type=event_type,
            payment_ref=ref,
            amount=amount,
            currency=currency,
            payload=payload,
        )


# --- the sandbox's own side: the checkout page's decision and the webhook outbox ----------


def sandbox_charge_get(ref: str) -> SandboxCharge | None:
    return SandboxCharge.objects.filter(payment_ref=ref[:100]).first()


def sandbox_decide(*, payment_ref: str, approve: bool) -> SandboxCharge:
    """The shopper confirmed (or declined) on the sandbox page. Raises Conflict when the
    charge was already decided or voided (e.g. the order expired meanwhile)."""
    state = SandboxCharge.State.SUCCEEDED if approve else SandboxCharge.State.DECLINED
    with transaction.atomic():
        updated = SandboxCharge.objects.filter(
            payment_ref=payment_ref, state=SandboxCharge.State.OPEN
        ).update(state=state, decided_at=timezone.now())
        charge = SandboxCharge.objects.get(payment_ref=payment_ref)
        if not updated:
            raise Conflict(
                gettext("This payment is already %(state)s.")
                % {"state": charge.get_state_display().lower()},
                code="payment_decided",
            )
        _emit(charge, "payment.succeeded" if approve else "payment.failed", amount=charge.amount)
    return charge


def _emit(charge: SandboxCharge, event_type: str, *, amount: int) -> SandboxDelivery:
    payload = {
        "type": event_type,
        "timestamp": timezone.now().isoformat(),
        "data": {"payment": charge.payment_ref, "amount": amount, "currency": charge.currency},
    }
    delivery = SandboxDelivery.objects.create(
        webhook_id="msg_" + secrets.token_urlsafe(18),
        event_type=event_type,
        payload=payload,
        url=charge.webhook_url,
    )
    from ..tasks import sandbox_deliver

    transaction.on_commit(lambda: sandbox_deliver.delay(delivery.id))
    return delivery


Post = Callable[[str, dict[str, str], bytes], tuple[int, str]]


def _http_post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    response = httpx.post(url, content=body, headers=headers, timeout=10.0)
    return response.status_code, response.text[:1000]


def _is_replay_answer(status: int, text: str) -> bool:
    # The endpoint already processed this webhook id: delivered, nothing to retry.
    return status == 400 and '"webhook_replayed"' in text


def sandbox_deliver_one(delivery_id: int, *, post: Post | None = None) -> bool:
    """Try to deliver one outbox event. Returns True when it is (now or already) delivered.
    Claims the row with a lease first, so concurrent attempts do not both post."""
    now = timezone.now()
    claimed = SandboxDelivery.objects.filter(
        pk=delivery_id, delivered_at__isnull=True, next_attempt_at__lte=now
    ).update(next_attempt_at=now + DELIVERY_LEASE, attempts=F("attempts") + 1)
    delivery = SandboxDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        return False
    if not claimed:
        return delivery.delivered_at is not None
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = standard_webhooks.headers_for(sandbox_secret(), delivery.webhook_id, body)
    try:
        status, text = (post or _http_post)(delivery.url, headers, body)
        error = "" if 200 <= status < 300 or _is_replay_answer(status, text) else text[:300]
    except Exception as exc:  # network errors, timeouts: retried later
        status, error = 0, f"{type(exc).__name__}: {exc}"[:300]
    done = not error
    fields: dict[str, Any] = {"last_status": status or None, "last_error": error}
    if done:
        fields["delivered_at"] = timezone.now()
    else:
        backoff = min(MAX_BACKOFF_S, 5 * 2 ** max(0, delivery.attempts - 1))
        fields["next_attempt_at"] = timezone.now() + timedelta(seconds=backoff)
        log.warning("sandbox webhook %s not delivered: %s", delivery.webhook_id, error)
    SandboxDelivery.objects.filter(pk=delivery.pk, delivered_at__isnull=True).update(**fields)
    return done


def sandbox_redeliver_due(*, limit: int = 100, post: Post | None = None) -> int:
    """Retry every outbox event that is due (failed earlier, or whose task was lost)."""
    due = list(
        SandboxDelivery.objects.filter(
            delivered_at__isnull=True, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if sandbox_deliver_one(pk, post=post))
