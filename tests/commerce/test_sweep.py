"""Cross-tenant sweep over the OpenAPI schema: every commerce and rooms endpoint under
`/api/v1/merchants/<m>/…`, every method, called by another merchant's owner with this
merchant's slug and real ids, answers 404 and changes nothing; staff of the merchant never
get a 5xx from an empty body."""

from __future__ import annotations

import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from commerce import services
from commerce.models import Order
from liveshop.tenancy.scope import tenant_scope
from tests.commerce.conftest import key, stock_of, variants_of
from tests.factories import RoomFactory

pytestmark = pytest.mark.django_db

OURS = ("/products", "/orders", "/rooms")


def merchant_paths() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found: list[tuple[str, str]] = []
    for path, operations in schema["paths"].items():
        if path.startswith("/api/v1/merchants/{m}/") and any(p in path for p in OURS):
            found.extend((path, method.upper()) for method in operations if method != "parameters")
    return found


def test_the_sweep_covers_the_endpoints():
    paths = {p for p, _ in merchant_paths()}
    assert "/api/v1/merchants/{m}/orders/{order_id}/refund" in paths
    assert "/api/v1/merchants/{m}/rooms/{slug}/go-live" in paths
    assert len(paths) >= 15


def fill(path: str, ids: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


def test_outsider_gets_404_from_every_merchant_endpoint(
    api, merchant, outsider, shopper, host, product
):
    [variant] = variants_of(product)
    room = RoomFactory(merchant=merchant, slug="launch", host=host)
    order = services.order_place(
        merchant=merchant,
        shopper=shopper,
        lines=[{"product": product.pk, "quantity": 1}],
        idempotency_key=key(),
    ).order
    ids = {
        "m": merchant.slug,
        "product_id": product.pk,
        "variant_id": variant.pk,
        "order_id": order.pk,
        "slug": room.slug,
    }
    client = api(outsider)
    for path, method in merchant_paths():
        response = getattr(client, method.lower())(fill(path, ids), {}, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
    assert stock_of(variant) == 9
    with tenant_scope(merchant.id):
        assert Order.objects.get(pk=order.pk).status == "pending_payment"
        room.refresh_from_db()
        assert room.status == "scheduled"


def test_owner_never_gets_a_5xx_for_an_empty_body(api, merchant, owner, shopper, host, product):
    [variant] = variants_of(product)
    room = RoomFactory(merchant=merchant, slug="launch", host=host)
    order = services.order_place(
        merchant=merchant,
        shopper=shopper,
        lines=[{"product": product.pk, "quantity": 1}],
        idempotency_key=key(),
    ).order
    ids = {
        "m": merchant.slug,
        "product_id": product.pk,
        "variant_id": variant.pk,
        "order_id": order.pk,
        "slug": room.slug,
    }
    client = api(owner)
    for path, method in merchant_paths():
        if method == "DELETE":
            continue
        response = getattr(client, method.lower())(fill(path, ids), {}, format="json")
        assert response.status_code < 500, (method, path, response.content[:200])
