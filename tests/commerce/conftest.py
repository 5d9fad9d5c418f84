"""Commerce fixtures: a product with stock, a product with variants, helpers to place and
pay orders the way the API does."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import transaction

from commerce import stock_gate
from commerce.models import Order, Product, Variant
from commerce.payments import standard_webhooks
from commerce.payments.sandbox import sandbox_secret
from liveshop.tenancy.access import Actor
from liveshop.tenancy.scope import tenant_scope
from tests.factories import ProductFactory


@pytest.fixture(autouse=True)
def _fresh_gate() -> Iterator[None]:
    stock_gate.gate_reset()
    yield
    stock_gate.gate_reset()


@pytest.fixture
def product(merchant: Any) -> Product:
    """One default variant, 10 units at 19.00."""
    return ProductFactory.create(merchant=merchant, name="Tee", price=1900, stock=10)


@pytest.fixture
def sized(merchant: Any) -> Product:
    """Three sizes: S (5 units), M (1 unit, own price 2500), L (sold out)."""
    return ProductFactory.create(
        merchant=merchant,
        name="Hoodie",
        price=4900,
        variants=[
            {"options": {"size": "S"}, "stock": 5},
            {"options": {"size": "M"}, "stock": 1, "price": 2500},
            {"options": {"size": "L"}, "stock": 0},
        ],
    )


@pytest.fixture
def foreign_product(other_merchant: Any) -> Product:
    return ProductFactory.create(merchant=other_merchant, name="Rival boots", stock=10)


def variants_of(product: Product) -> list[Variant]:
    with tenant_scope(product.merchant_id):
        return list(Variant.objects.filter(product=product).order_by("position", "id"))


def stock_of(variant: Variant) -> int:
    with tenant_scope(variant.merchant_id):
        return Variant.objects.get(pk=variant.pk).stock


def order_of(order_or_id: Any, merchant: Any) -> Order:
    pk = getattr(order_or_id, "pk", order_or_id)
    with tenant_scope(merchant.id):
        return Order.objects.get(pk=pk)


def actor_for(user: Any, merchant: Any, role: str) -> Actor:
    return Actor(merchant=merchant, user=user, role=role)


def key() -> str:
    return str(uuid.uuid4())


ADDRESS = {
    "name": "Sam Shopper",
    "line1": "1 Main Street",
    "city": "Springfield",
    "postal_code": "12345",
    "country": "US",
    "phone": "+1 555 0100",
}


def signed(
    payload: dict[str, Any],
    *,
    webhook_id: str | None = None,
    timestamp: int | None = None,
    secret: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A sandbox webhook body and its Standard Webhooks headers (as HTTP_* for the client)."""
    body = json.dumps(payload).encode()
    headers = standard_webhooks.headers_for(
        secret or sandbox_secret(), webhook_id or f"msg_{uuid.uuid4().hex}", body, timestamp
    )
    return body, headers


def http_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        "HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items() if k != "content-type"
    }


def event(
    payment_ref: str, amount: int, type_: str = "payment.succeeded", currency: str = "USD"
) -> dict[str, Any]:
    return {
        "type": type_,
        "timestamp": "2026-11-25T00:00:00Z",
        "data": {"payment": payment_ref, "amount": amount, "currency": currency},
    }


@contextmanager
def refused(exc_type: Any) -> Iterator[Any]:
    """`pytest.raises` around a savepoint: a service that refuses marks its (savepoint-less)
    tenant transaction for rollback, and the test goes on using the database."""
    with pytest.raises(exc_type) as info, transaction.atomic():
        yield info


def isolated(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Make one test-client request in its own savepoint. A real request is its own
    transaction; inside a test's wrapping transaction, a 404 raised within a tenant scope
    would otherwise spoil the rest of the test."""
    with transaction.atomic():
        return call(*args, **kwargs)
