"""Races on Postgres: many concurrent buyers for few units sell exactly the stock; concurrent
replays of one Idempotency-Key place one order. Real threads, each with its own database
connection, as the app role (RLS on)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.db.models import Sum

from commerce import services, stock_gate
from commerce.models import Order, OrderLine
from liveshop.tenancy.scope import tenant_scope
from tests.commerce.conftest import key, stock_of, variants_of
from tests.factories import MerchantFactory, ProductFactory, UserFactory

pytestmark = [pytest.mark.pg, pytest.mark.django_db(transaction=True)]


def run_together(workers: list[Callable[[], Any]]) -> list[Any]:
    """Start every worker at the same moment (a barrier) and collect what each returned or
    raised. Each thread gives its connection back to the pool when done."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(i: int, work: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work()
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


def outcome(result: Any) -> str:
    if isinstance(result, services.PlaceResult):
        return "placed"
    if isinstance(result, services.OutOfStock):
        return "out_of_stock"
    return f"unexpected {type(result).__name__}: {result}"


def test_many_buyers_for_few_units_sell_exactly_the_stock():
    merchant = MerchantFactory()
    product = ProductFactory(merchant=merchant, stock=10)
    [variant] = variants_of(product)
    buyers = [UserFactory() for _ in range(60)]

    def buy(shopper: Any) -> Callable[[], Any]:
        return lambda: services.order_place(
            merchant=merchant,
            shopper=shopper,
            lines=[{"product": product.pk, "quantity": 1}],
            idempotency_key=key(),
        )

    results = Counter(outcome(r) for r in run_together([buy(b) for b in buyers]))
    assert results == {"placed": 10, "out_of_stock": 50}
    assert stock_of(variant) == 0
    with tenant_scope(merchant.id):
        assert Order.objects.filter(merchant=merchant).count() == 10


def test_multi_line_orders_in_any_order_neither_deadlock_nor_oversell():
    """Buyers take two variants, listed in random order, 1–3 units each: no deadlock, and
    units sold + units left = units there were, per variant."""
    stock_gate.gate_reset()
    merchant = MerchantFactory()
    product = ProductFactory(
        merchant=merchant,
        variants=[{"options": {"size": "S"}, "stock": 15}, {"options": {"size": "M"}, "stock": 15}],
    )
    small, medium = variants_of(product)
    rng = random.Random(7)
    buyers = [UserFactory() for _ in range(30)]

    def buy(shopper: Any) -> Callable[[], Any]:
        lines = [
            {"product": product.pk, "variant": small.pk, "quantity": rng.randint(1, 3)},
            {"product": product.pk, "variant": medium.pk, "quantity": rng.randint(1, 3)},
        ]
        rng.shuffle(lines)
        return lambda: services.order_place(
            merchant=merchant, shopper=shopper, lines=lines, idempotency_key=key()
        )

    results = run_together([buy(b) for b in buyers])
    assert all(outcome(r) in ("placed", "out_of_stock") for r in results), results
    with tenant_scope(merchant.id):
        sold = dict(
            OrderLine.objects.filter(merchant=merchant)
            .values("variant_id")
            .annotate(units=Sum("quantity"))
            .values_list("variant_id", "units")
        )
    for variant in (small, medium):
        left = stock_of(variant)
        assert left >= 0
        assert sold.get(variant.pk, 0) + left == 15


def test_concurrent_replays_of_one_key_place_one_order():
    merchant = MerchantFactory()
    product = ProductFactory(merchant=merchant, stock=10)
    [variant] = variants_of(product)
    shopper = UserFactory()

    def attempt() -> Any:
        return services.order_place(
            merchant=merchant,
            shopper=shopper,
            lines=[{"product": product.pk, "quantity": 2}],
            idempotency_key="same-key",
        )

    results = run_together([attempt for _ in range(12)])
    assert all(isinstance(r, services.PlaceResult) for r in results), results
    assert len({r.order.pk for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert stock_of(variant) == 8
