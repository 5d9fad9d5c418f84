"""Flash-sale races on Postgres: many shoppers at once for few sale units sell exactly the
units (never more, never below zero stock), and the waitlist gets released units in the
order it was joined, while a crowd tries to take them. Real threads, each with its own
connection, as the app role (RLS on)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.db.models import Sum

from commerce import services, stock_gate
from commerce.models import Order, OrderLine, OrderStatus
from liveshop.tenancy.access import Actor
from liveshop.tenancy.scope import tenant_scope
from rooms import selling
from rooms.models import FlashSale, RoomOrder, RoomProduct, RoomStatus, WaitlistEntry
from tests.commerce.conftest import key, stock_of, variants_of
from tests.commerce.test_race import run_together
from tests.factories import (
    MembershipFactory,
    MerchantFactory,
    ProductFactory,
    RoomFactory,
    UserFactory,
)

pytestmark = [pytest.mark.pg, pytest.mark.django_db(transaction=True)]


def outcome(result: Any) -> str:
    if isinstance(result, services.PlaceResult):
        return "placed"
    if isinstance(result, services.OutOfStock):
        return result.code
    if isinstance(result, services.PurchaseLimitReached):
        return "limit"
    return f"unexpected {type(result).__name__}: {result}"


@pytest.fixture
def sale_room() -> dict[str, Any]:
    stock_gate.gate_reset()
    cache.clear()
    merchant: Any = MerchantFactory()
    host = UserFactory()
    MembershipFactory(merchant=merchant, user=host, role="host")
    product: Any = ProductFactory(merchant=merchant, price=5000, stock=50)
    room: Any = RoomFactory(merchant=merchant, host=host, status=RoomStatus.LIVE)
    with tenant_scope(merchant.id):
        RoomProduct.objects.create(merchant=merchant, room=room, product=product)
    actor = Actor(merchant=merchant, user=host, role="host")
    return {"merchant": merchant, "product": product, "room": room, "actor": actor}


def buyer(ctx: dict[str, Any], shopper: Any) -> Callable[[], Any]:
    return lambda: services.order_place(
        merchant=ctx["merchant"],
        shopper=shopper,
        lines=[{"product": ctx["product"].pk, "quantity": 1}],
        room=ctx["room"].slug,
        idempotency_key=key(),
    )


def sale_of(ctx: dict[str, Any]) -> FlashSale:
    with tenant_scope(ctx["merchant"].id):
        return FlashSale.objects.get(room=ctx["room"])


def test_a_stampede_sells_exactly_the_sale_units(sale_room):
    ctx = sale_room
    selling.flash_sale_start(
        actor=ctx["actor"],
        room=ctx["room"],
        product_id=ctx["product"].pk,
        price=990,
        units=8,
        duration_s=60,
    )
    shoppers = [UserFactory() for _ in range(40)]
    results = Counter(outcome(r) for r in run_together([buyer(ctx, s) for s in shoppers]))
    assert results == {"placed": 8, "sold_out": 32}, results
    sale = sale_of(ctx)
    assert (sale.sold, sale.held) == (8, 0)
    [variant] = variants_of(ctx["product"])
    assert stock_of(variant) == 42
    with tenant_scope(ctx["merchant"].id):
        assert Order.objects.filter(room=ctx["room"], total=990).count() == 8
        assert RoomOrder.objects.filter(flash_sale=sale, status="active").count() == 8


def test_sale_units_beyond_the_stock_never_oversell(sale_room):
    """A sale of more units than remain (stock taken meanwhile elsewhere): the stock's
    conditional UPDATE stops it at zero, and the sale counts only what sold."""
    ctx = sale_room
    selling.flash_sale_start(
        actor=ctx["actor"],
        room=ctx["room"],
        product_id=ctx["product"].pk,
        price=990,
        units=10,
        duration_s=60,
    )
    [variant] = variants_of(ctx["product"])
    with tenant_scope(ctx["merchant"].id):
        type(variant).objects.filter(pk=variant.pk).update(stock=4)
    shoppers = [UserFactory() for _ in range(20)]
    results = Counter(outcome(r) for r in run_together([buyer(ctx, s) for s in shoppers]))
    assert results["placed"] == 4 and results["placed"] + results["out_of_stock"] == 20, results
    assert stock_of(variant) == 0
    assert sale_of(ctx).sold == 4


def test_the_waitlist_gets_released_units_in_order_against_a_crowd(sale_room):
    ctx = sale_room
    merchant, room = ctx["merchant"], ctx["room"]
    selling.flash_sale_start(
        actor=ctx["actor"],
        room=room,
        product_id=ctx["product"].pk,
        price=990,
        units=3,
        duration_s=60,
    )
    first_buyers = [UserFactory() for _ in range(3)]
    placed = [r.order for r in run_together([buyer(ctx, s) for s in first_buyers])]
    waiters = [UserFactory() for _ in range(5)]
    for w in waiters:  # joined in this order
        selling.waitlist_join(merchant=merchant, shopper=w, room=room)
    owner = UserFactory()
    MembershipFactory(merchant=merchant, user=owner, role="owner")
    staff = Actor(merchant=merchant, user=owner, role="owner")
    # Two buyers give up at the same moment: two units come back.
    run_together(
        [lambda o=o: services.order_cancel(actor=staff, order=o) for o in placed[:2]]  # type: ignore[misc]
    )
    sale = sale_of(ctx)
    assert (sale.sold, sale.held) == (1, 2)
    with tenant_scope(merchant.id):
        offered = list(
            WaitlistEntry.objects.filter(sale=sale, status="offered")
            .order_by("id")
            .values_list("shopper_id", flat=True)
        )
    assert offered == [waiters[0].pk, waiters[1].pk]
    # A crowd (the other waiters and newcomers) and the two offered shoppers buy at once:
    # only the offered two get the units.
    crowd = waiters[2:] + [UserFactory() for _ in range(10)]
    results = run_together([buyer(ctx, s) for s in [*waiters[:2], *crowd]])
    assert [outcome(r) for r in results[:2]] == ["placed", "placed"]
    assert {outcome(r) for r in results[2:]} == {"sold_out"}
    sale = sale_of(ctx)
    assert (sale.sold, sale.held) == (3, 0)
    with tenant_scope(merchant.id):
        sold = OrderLine.objects.filter(
            merchant=merchant, order__room=room, order__status=OrderStatus.PENDING_PAYMENT
        ).aggregate(n=Sum("quantity"))["n"]
    assert sold == 3
