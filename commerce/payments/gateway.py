"""The interface every payment gateway implements, and the registry of gateways.

Our side of a payment is `commerce.models.Payment`; a gateway turns it into a checkout the
shopper completes elsewhere (a redirect), reports the outcome by signed webhook, and can
void an open checkout or refund a captured one. Gateways never touch orders: the payment
services do, inside the merchant's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.http import Http404


class PaymentGatewayError(Exception):
    """The gateway refused or failed an operation (refund, void…)."""


@dataclass(frozen=True)
class CheckoutRequest:
    payment_ref: str  # our Payment.external_id, which the gateway echoes in webhooks
    amount: int
    currency: str
    description: str
    merchant_name: str
    return_url: str  # where the shopper goes after deciding


@dataclass(frozen=True)
class GatewayEvent:
    """A verified webhook, normalised: what happened to which payment."""

    webhook_id: str
    type: str  # "payment.succeeded" | "payment.failed" | "payment.refunded"
    payment_ref: str
    amount: int
    currency: str
    payload: dict[str, Any]


class PaymentGateway(Protocol):
    name: str

    def checkout_start(self, request: CheckoutRequest, *, base_url: str) -> str:
        """Open a checkout; returns the URL to send the shopper to."""
        ...

    def checkout_void(self, payment_ref: str) -> bool:
        """Cancel an open checkout. False when it was already decided (the webhook will tell)."""
        ...

    def refund(self, payment_ref: str, amount: int) -> None:
        """Refund a captured payment; raises PaymentGatewayError when it cannot."""
        ...

    def webhook_verify(self, headers: Mapping[str, str], body: bytes) -> GatewayEvent:
        """Verify and parse a webhook; raises WebhookVerificationError (→ 400)."""
        ...


_GATEWAYS: dict[str, PaymentGateway] = {}


def gateway_register(gateway: PaymentGateway) -> None:
    _GATEWAYS[gateway.name] = gateway


def gateway_get(name: str) -> PaymentGateway:
    if not _GATEWAYS:
        from .sandbox import SandboxGateway

        gateway_register(SandboxGateway())
    gateway = _GATEWAYS.get(name)
    if gateway is None:
        raise Http404("Unknown payment gateway.")
    return gateway


DEFAULT_GATEWAY = "sandbox"
