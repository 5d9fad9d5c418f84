"""The sold-out gate in front of Django (commerce/fastpath.py) and the ASGI handler, driven
through the real ASGI application. The gate only acts on Postgres, so most cases run there;
whatever it does not answer must behave exactly as the full path."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from django.test import override_settings

from commerce import fastpath, stock_gate
from liveshop.accounts.models import AuthToken
from liveshop.accounts.services import token_issue, token_revoke
from tests.commerce.conftest import stock_of, variants_of
from tests.factories import MerchantFactory, ProductFactory, UserFactory


def call(requests: list[tuple[str, str, dict[str, str], Any]]) -> list[httpx.Response]:
    """Send requests concurrently to liveshop.asgi.application, as uvicorn would."""
    from liveshop.asgi import application

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=application)
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1"
            ) as client:
                return await asyncio.gather(
                    *(
                        client.request(method, url, headers=headers, content=body)
                        for method, url, headers, body in requests
                    )
                )
        finally:
            await fastpath.pool_close()  # its connections belong to this event loop

    return asyncio.run(run())


def order(token: str, product: int, key: str | None = None, quantity: int = 1):
    body = json.dumps({"lines": [{"product": product, "quantity": quantity}]})
    headers = {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": key or uuid.uuid4().hex,
        "Content-Type": "application/json",
    }
    return ("POST", "/api/v1/s/flash/orders", headers, body)


@pytest.fixture
def sale(db: Any):
    stock_gate.gate_reset()
    fastpath.forget_all()
    merchant = MerchantFactory(slug="flash")
    product = ProductFactory(merchant=merchant, name="Limited tee", stock=1)
    buyers: list[Any] = [UserFactory() for _ in range(4)]
    tokens = [token_issue(user=u)[1] for u in buyers]
    yield merchant, product, buyers, tokens
    stock_gate.gate_reset()
    fastpath.forget_all()


@pytest.mark.django_db(transaction=True)
def test_asgi_handler_serves_pages_and_api():
    [health] = call([("GET", "/healthz", {}, None)])
    assert health.status_code == 200 and health.json()["ok"] is True
    [missing] = call([("GET", "/api/v1/s/nope/products", {}, None)])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.pg
@pytest.mark.django_db(transaction=True)
def test_gate_refuses_after_sell_out_and_hands_everything_else_to_django(sale):
    _merchant, product, buyers, tokens = sale
    winner_key = "winner-key"
    [won] = call([order(tokens[0], product.pk, winner_key)])
    assert won.status_code == 201
    before = dict(fastpath.STATS)
    [refused] = call([order(tokens[1], product.pk)])
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert (error["code"], error["line"], error["product"]) == ("out_of_stock", 0, product.pk)
    assert "Limited tee" in error["message"]
    assert fastpath.STATS["refused"] == before["refused"] + 1  # answered by the gate
    # Not the gate's to answer: anonymous, revoked token, a replay, bad input.
    token_revoke(token=AuthToken.objects.get(user=buyers[2]))
    anonymous, revoked, replay, bad = call(
        [
            ("POST", "/api/v1/s/flash/orders", {"Content-Type": "application/json"}, "{}"),
            order(tokens[2], product.pk),
            order(tokens[0], product.pk, winner_key),
            ("POST", "/api/v1/s/flash/orders", order(tokens[3], 1)[2], '{"lines": "all"}'),
        ]
    )
    assert anonymous.status_code == 401
    assert revoked.status_code == 401
    assert replay.status_code == 201 and replay.json()["id"] == won.json()["id"]
    assert bad.status_code == 400
    assert fastpath.STATS["refused"] == before["refused"] + 1  # none of those by the gate
    # And the gate keeps answering for live tokens (each asyncio.run is a new event loop).
    [again] = call([order(tokens[3], product.pk)])
    assert again.status_code == 409 and fastpath.STATS["refused"] == before["refused"] + 2
    [variant] = variants_of(product)
    assert stock_of(variant) == 0


@pytest.mark.pg
@pytest.mark.django_db(transaction=True)
def test_gate_respects_the_rate_limit(sale):
    _merchant, product, _buyers, tokens = sale
    assert call([order(tokens[0], product.pk)])[0].status_code == 201
    before = fastpath.STATS["refused"]
    with override_settings(LIVESHOP_THROTTLES={"user": "1/min", "anon": "100/min"}):
        first, second = call([order(tokens[1], product.pk)]), call([order(tokens[1], product.pk)])
    assert first[0].status_code == 409 and fastpath.STATS["refused"] == before + 1
    assert second[0].status_code == 429  # over the limit: Django answers, with Retry-After
    assert "Retry-After" in second[0].headers


@pytest.mark.pg
@pytest.mark.django_db(transaction=True)
def test_admission_control_under_a_stampede(sale):
    _merchant, product, _buyers, tokens = sale
    more = [token_issue(user=UserFactory())[1] for _ in range(16)]
    with override_settings(LIVESHOP_ORDER_CONCURRENCY=2):
        responses = call([order(t, product.pk) for t in tokens + more])
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 19
    [variant] = variants_of(product)
    assert stock_of(variant) == 0
