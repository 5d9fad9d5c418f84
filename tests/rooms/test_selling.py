"""Live selling services (rooms/selling.py): pins and their cards, live stock, flash sales
through the order path, the waitlist, "someone just bought X", the host's counters."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from commerce import services as commerce
from commerce.models import Order, OrderStatus
from commerce.services.orders import OutOfStock, PurchaseLimitReached
from liveshop.errors import Conflict
from liveshop.tenancy.access import Actor
from liveshop.tenancy.scope import tenant_scope
from rooms import selling
from rooms.models import (
    FlashSale,
    RoomOrder,
    RoomProduct,
    RoomStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from tests.commerce.conftest import refused, stock_of, variants_of
from tests.factories import ProductFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def actor(user: Any, merchant: Any, role: str = "host") -> Actor:
    return Actor(merchant=merchant, user=user, role=role)


@pytest.fixture(autouse=True)
def _no_watch_cache() -> None:
    cache.clear()


@pytest.fixture
def published(monkeypatch: Any) -> list[tuple[Any, dict[str, Any]]]:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(
        selling, "publish", lambda room, ev: calls.append((getattr(room, "pk", room), dict(ev)))
    )
    return calls


@pytest.fixture
def room(merchant: Any, host: Any, product: Any, sized: Any) -> Any:
    room = RoomFactory.create(merchant=merchant, host=host, slug="show", status=RoomStatus.LIVE)
    with tenant_scope(merchant.id):
        RoomProduct.objects.create(merchant=merchant, room=room, product=product, position=0)
        RoomProduct.objects.create(merchant=merchant, room=room, product=sized, position=1)
    return room


def buy(merchant: Any, shopper: Any, product: Any, room: Any, quantity: int = 1, **kw: Any) -> Any:
    lines = [{"product": product.pk, "quantity": quantity, **kw}]
    return commerce.order_place(
        merchant=merchant,
        shopper=shopper,
        lines=lines,
        room=room.slug,
        idempotency_key=str(uuid.uuid4()),
    ).order


def types(published: list[tuple[Any, dict[str, Any]]]) -> list[str]:
    return [ev["type"] for _room, ev in published]


class TestPins:
    def test_pin_publishes_the_card_and_hello_shows_it(
        self, merchant, host, room, sized, published
    ):
        card = selling.pin_product(actor=actor(host, merchant), room=room, product_id=sized.pk)
        assert card["id"] == sized.pk and card["currency"] == merchant.currency
        assert [(v["name"], v["stock"]) for v in card["variants"]] == [
            ("S", 5),
            ("M", 1),
            ("L", 0),
        ]
        assert card["variants"][1]["price"] == 2500 and card["stock"] == 6
        assert published == [(room.pk, {"type": "product.pinned", "product": card})]
        with tenant_scope(merchant.id):
            assert selling.pinned_card(room) == card

    def test_unpin(self, merchant, host, room, product, published):
        selling.pin_product(actor=actor(host, merchant), room=room, product_id=product.pk)
        selling.unpin_product(actor=actor(host, merchant), room=room)
        assert types(published) == ["product.pinned", "product.unpinned"]
        with tenant_scope(merchant.id):
            assert selling.pinned_card(room) is None

    def test_only_lineup_products_and_only_hosts(
        self, merchant, host, agent, room, foreign_product, published
    ):
        other = ProductFactory.create(merchant=merchant, stock=3)
        with refused(ValidationError):
            selling.pin_product(actor=actor(host, merchant), room=room, product_id=other.pk)
        with refused(ValidationError):
            selling.pin_product(
                actor=actor(host, merchant), room=room, product_id=foreign_product.pk
            )
        with refused(ValidationError):
            selling.pin_product(actor=actor(host, merchant), room=room, product_id="1")
        with refused(Exception):
            selling.pin_product(actor=actor(agent, merchant, "agent"), room=room, product_id=1)
        assert published == []

    def test_another_merchants_staff_cannot_pin_here(
        self, other_merchant, outsider, room, product, published
    ):
        with refused(Http404):
            selling.pin_product(
                actor=actor(outsider, other_merchant, "owner"), room=room, product_id=product.pk
            )
        assert published == []


class TestLiveStock:
    def test_orders_of_a_pinned_product_publish_stock_changed(
        self, merchant, host, shopper, room, product, published, django_capture_on_commit_callbacks
    ):
        selling.pin_product(actor=actor(host, merchant), room=room, product_id=product.pk)
        published.clear()
        with django_capture_on_commit_callbacks(execute=True):
            buy(merchant, shopper, product, room, quantity=2)
        variant = variants_of(product)[0]
        assert published == [
            (
                room.pk,
                {
                    "type": "stock.changed",
                    "product": product.pk,
                    "variant": variant.pk,
                    "stock": 8,
                    "variants": [{"id": variant.pk, "stock": 8}],
                    "total": 8,
                },
            )
        ]

    def test_unpinned_products_publish_nothing(
        self, merchant, shopper, room, product, published, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            buy(merchant, shopper, product, room)
        assert published == []

    def test_staff_stock_edits_reach_the_room(
        self, merchant, owner, host, room, product, published, django_capture_on_commit_callbacks
    ):
        selling.pin_product(actor=actor(host, merchant), room=room, product_id=product.pk)
        published.clear()
        with django_capture_on_commit_callbacks(execute=True):
            commerce.stock_adjust(
                actor=actor(owner, merchant, "owner"), variant=variants_of(product)[0], delta=5
            )
        assert [ev["stock"] for _r, ev in published] == [15]


class TestFlashSale:
    def start(self, merchant, host, room, product, **kw):
        params = {"price": 990, "units": 2, "duration_s": 60, **kw}
        return selling.flash_sale_start(
            actor=actor(host, merchant), room=room, product_id=product.pk, **params
        )

    def test_start_pins_and_announces(self, merchant, host, room, product, published):
        sale = self.start(merchant, host, room, product)
        assert types(published) == ["product.pinned", "flash_sale.started"]
        started = published[-1][1]
        assert started["product"] == product.pk and started["price"] == 990
        assert started["units"] == 2 and started["ends_at"] == int(sale.ends_at.timestamp() * 1000)
        with tenant_scope(merchant.id):
            assert selling.pinned_card(room)["sale"]["remaining"] == 2

    @pytest.mark.parametrize(
        ("kw", "error"),
        [
            ({"duration_s": 9}, ValidationError),
            ({"duration_s": 301}, ValidationError),
            ({"units": 0}, ValidationError),
            ({"price": -1}, ValidationError),
            ({"price": "9"}, ValidationError),
            ({"units": 11}, Conflict),  # more than in stock
        ],
    )
    def test_bad_input(self, merchant, host, room, product, published, kw, error):
        with refused(error):
            self.start(merchant, host, room, product, **kw)
        assert published == []

    def test_one_at_a_time_and_only_live(self, merchant, host, room, product, sized):
        self.start(merchant, host, room, product)
        with refused(Conflict) as info:
            self.start(merchant, host, room, product)
        assert info.value.code == "sale_running"
        ended = RoomFactory.create(merchant=merchant, host=host, status=RoomStatus.ENDED)
        with tenant_scope(merchant.id):
            RoomProduct.objects.create(merchant=merchant, room=ended, product=product)
        with refused(Conflict) as info:
            self.start(merchant, host, ended, product)
        assert info.value.code == "room_not_live"

    def test_several_variants_need_one_named(self, merchant, host, room, sized):
        with refused(ValidationError):
            self.start(merchant, host, room, sized)
        small = variants_of(sized)[0]
        sale = self.start(merchant, host, room, sized, variant_id=small.pk)
        assert sale.variant_id == small.pk

    def test_buyers_pay_the_sale_price_until_sold_out(
        self, merchant, host, room, product, published
    ):
        self.start(merchant, host, room, product)
        a, b, c = (UserFactory.create() for _ in range(3))
        first = buy(merchant, a, product, room)
        assert first.total == 990 and first.room_id == room.pk
        buy(merchant, b, product, room)
        with refused(OutOfStock) as info:
            buy(merchant, c, product, room)
        assert info.value.code == "sold_out" and info.value.extra["waitlist"] is True
        with tenant_scope(merchant.id):
            sale = FlashSale.objects.get()
            assert (sale.sold, sale.held) == (2, 0)
            record = RoomOrder.objects.get(order=first)
            assert record.flash_sale_id == sale.pk and record.pinned_product_id == product.pk
        assert stock_of(variants_of(product)[0]) == 8

    def test_one_sale_order_per_shopper(self, merchant, host, shopper, room, product):
        self.start(merchant, host, room, product)
        buy(merchant, shopper, product, room)
        with refused(PurchaseLimitReached):
            buy(merchant, shopper, product, room)
        with refused(PurchaseLimitReached):
            buy(merchant, UserFactory.create(), product, room, quantity=2)

    def test_orders_without_the_room_pay_full_price(self, merchant, host, shopper, room, product):
        self.start(merchant, host, room, product)
        order = commerce.order_place(
            merchant=merchant,
            shopper=shopper,
            lines=[{"product": product.pk, "quantity": 1}],
            idempotency_key="k1",
        ).order
        assert order.total == 1900

    def test_time_up_ends_the_sale(self, merchant, host, shopper, room, product, published):
        sale = self.start(merchant, host, room, product)
        later = sale.ends_at + timedelta(seconds=1)
        assert selling.flash_sales_tick(now=later)["ended"] == 1
        assert published[-1][1] == {
            "type": "flash_sale.ended",
            "sale": sale.pk,
            "product": product.pk,
            "sold": 0,
            "reason": "time",
        }
        assert selling.flash_sales_tick(now=later)["ended"] == 0

    def test_ending_the_show_ends_the_sale(self, merchant, host, room, product, published):
        from rooms.services import room_end

        self.start(merchant, host, room, product)
        room_end(actor=actor(host, merchant), room=room)
        assert published[-1][1]["type"] == "flash_sale.ended"
        assert published[-1][1]["reason"] == "room_ended"


class TestWaitlist:
    @pytest.fixture
    def sold_out(self, merchant, host, room, product):
        sale = selling.flash_sale_start(
            actor=actor(host, merchant),
            room=room,
            product_id=product.pk,
            price=990,
            units=1,
            duration_s=60,
        )
        buyer = UserFactory.create()
        order = buy(merchant, buyer, product, room)
        return sale, order

    def test_join_only_when_sold_out(self, merchant, host, shopper, room, product):
        with refused(Conflict) as info:
            selling.waitlist_join(merchant=merchant, shopper=shopper, room=room)
        assert info.value.code == "no_sale"
        selling.flash_sale_start(
            actor=actor(host, merchant),
            room=room,
            product_id=product.pk,
            price=990,
            units=1,
            duration_s=60,
        )
        with refused(Conflict) as info:
            selling.waitlist_join(merchant=merchant, shopper=shopper, room=room)
        assert info.value.code == "not_sold_out"
        with tenant_scope(merchant.id):
            FlashSale.objects.update(ends_at=timezone.now() - timedelta(seconds=1))
        with refused(Conflict) as info:
            selling.waitlist_join(merchant=merchant, shopper=shopper, room=room)
        assert info.value.code == "sale_ended"

    def test_released_units_go_to_the_waitlist_in_order(
        self, merchant, owner, room, product, sold_out
    ):
        sale, order = sold_out
        first, second = UserFactory.create(), UserFactory.create()
        for user in (first, second):
            selling.waitlist_join(merchant=merchant, shopper=user, room=room)
        # Joining twice keeps one place.
        assert selling.waitlist_join(merchant=merchant, shopper=second, room=room)["position"] == 2
        # Nobody may take the sale price meanwhile.
        with refused(OutOfStock):
            buy(merchant, second, product, room)
        commerce.order_cancel(actor=actor(owner, merchant, "owner"), order=order)
        view = selling.waitlist_status(merchant=merchant, shopper=first, room=room)
        assert view["status"] == "offered" and view["offer_expires_at"] is not None
        assert selling.waitlist_status(merchant=merchant, shopper=second, room=room) == {
            "sale": view["sale"],
            "status": "waiting",
            "position": 1,
            "offer_expires_at": None,
        }
        with refused(OutOfStock):
            buy(merchant, second, product, room)  # the unit is held for the first
        got = buy(merchant, first, product, room)
        assert got.total == 990
        with tenant_scope(merchant.id):
            sale.refresh_from_db()
            assert (sale.sold, sale.held) == (1, 0)
            assert WaitlistEntry.objects.get(shopper=first).status == WaitlistStatus.BOUGHT

    def test_buyers_of_the_sale_do_not_wait_for_more(self, merchant, room, sold_out):
        _sale, order = sold_out
        with refused(Conflict) as info:
            selling.waitlist_join(merchant=merchant, shopper=order.shopper, room=room)
        assert info.value.code == "purchase_limit"

    def test_a_lapsed_offer_passes_to_the_next(self, merchant, owner, room, product, sold_out):
        sale, order = sold_out
        first, second = UserFactory.create(), UserFactory.create()
        for user in (first, second):
            selling.waitlist_join(merchant=merchant, shopper=user, room=room)
        commerce.order_cancel(actor=actor(owner, merchant, "owner"), order=order)
        later = timezone.now() + timedelta(hours=0, seconds=1000)
        with tenant_scope(merchant.id):
            FlashSale.objects.filter(pk=sale.pk).update(waitlist_until=later + timedelta(hours=1))
        assert selling.flash_sales_tick(now=later)["lapsed"] == 1
        assert selling.waitlist_status(merchant=merchant, shopper=first, room=room)["status"] == (
            "lapsed"
        )
        assert selling.waitlist_status(merchant=merchant, shopper=second, room=room)["status"] == (
            "offered"
        )

    def test_expired_reservations_release_units(self, merchant, room, product, sold_out):
        sale, order = sold_out
        waiting = UserFactory.create()
        selling.waitlist_join(merchant=merchant, shopper=waiting, room=room)
        commerce.reservations_expire(now=timezone.now() + timedelta(days=1))
        with tenant_scope(merchant.id):
            assert Order.objects.get(pk=order.pk).status == OrderStatus.EXPIRED
            sale.refresh_from_db()
            assert (sale.sold, sale.held) == (0, 1)
        assert selling.waitlist_status(merchant=merchant, shopper=waiting, room=room)["status"] == (
            "offered"
        )


class TestPurchaseEvents:
    def pay(self, merchant, shopper, order):
        from commerce.payments.sandbox import sandbox_decide
        from commerce.services.payments import payment_webhook_receive
        from tests.commerce.conftest import event, signed

        payment = commerce.payment_start(
            merchant=merchant, shopper=shopper, order=order, base_url="http://testserver/"
        ).payment
        sandbox_decide(payment_ref=payment.external_id, approve=True)
        body, headers = signed(event(payment.external_id, order.total))
        payment_webhook_receive(gateway="sandbox", headers=headers, body=body)

    def test_paid_room_orders_are_announced_anonymously(
        self, merchant, shopper, room, product, published
    ):
        order = commerce.order_place(
            merchant=merchant,
            shopper=shopper,
            lines=[{"product": product.pk, "quantity": 1}],
            room=room.slug,
            idempotency_key="k",
            shipping_address={"name": "Sam", "line1": "1 Rd", "city": "Hangzhou", "country": "CN"},
        ).order
        self.pay(merchant, shopper, order)
        assert published == [
            (
                room.pk,
                {"type": "purchase", "product": product.pk, "name": "Tee", "city": "Hangzhou"},
            )
        ]

    def test_the_room_switch_turns_them_off(
        self, merchant, owner, shopper, room, product, published
    ):
        selling.room_purchase_events_set(
            actor=actor(owner, merchant, "owner"), room=room, enabled=False
        )
        self.pay(merchant, shopper, buy(merchant, shopper, product, room))
        assert published == []

    def test_a_burst_of_payments_is_announced_a_few_times(
        self, merchant, shopper, room, product, published
    ):
        for _ in range(5):
            self.pay(merchant, shopper, buy(merchant, shopper, product, room))
        assert types(published) == ["purchase"] * 3  # LIVESHOP_ROOM_PURCHASE_EVENT_RATE


class TestStats:
    def test_counts_this_shows_paid_orders(self, merchant, shopper, room, product):
        with tenant_scope(merchant.id):
            room.started_at = timezone.now() - timedelta(minutes=5)
            room.save()
        order = buy(merchant, shopper, product, room, quantity=2)
        TestPurchaseEvents().pay(merchant, shopper, order)
        buy(merchant, UserFactory.create(), product, room)  # unpaid: not counted
        with tenant_scope(merchant.id):
            stats = selling.room_stats(merchant=merchant, room=room)
        assert stats == {
            "viewers": 0,
            "likes": 0,
            "gifts": 0,
            "coins": 0,
            "orders": 1,
            "gmv": 3800,
            "currency": merchant.currency,
        }


def test_stats_read_the_engines_live_viewers_and_likes(merchant, room, monkeypatch, settings):
    """The console's viewers and likes are the room's live counters (Redis in the Postgres
    pass, process memory in the embedded one), like the batches' stats."""
    import asyncio

    from rooms.realtime import engine as engine_module
    from rooms.realtime.config import RealtimeConfig
    from rooms.realtime.engine import RealtimeEngine
    from rooms.realtime.persist import MemoryEventSink
    from rooms.realtime.presence import MemoryWatchSink

    eng = RealtimeEngine.build(
        RealtimeConfig(),
        sink=MemoryEventSink(),
        watch_sink=MemoryWatchSink(),
        redis_url=settings.REDIS_URL,
        prefix=f"{settings.LIVESHOP_REDIS_PREFIX}:s{uuid.uuid4().hex[:8]}",
    )
    monkeypatch.setattr(engine_module, "_engine", eng)

    async def watch() -> None:
        for viewer in ("u:1", "u:2", "d:abc"):
            await eng.presence.connect(str(room.pk), viewer)
        eng.likes.add(str(room.pk), 7)
        await eng.likes.flush()
        for part in (eng.likes, eng.presence, eng.stream):
            closer = getattr(part, "aclose", None)
            if closer is not None:
                await closer()

    asyncio.run(watch())
    with tenant_scope(merchant.id):
        stats = selling.room_stats(merchant=merchant, room=room)
    assert (stats["viewers"], stats["likes"]) == (3, 7)


def test_the_periodic_job_is_scheduled_and_runs(merchant, host, room, product):
    from django.conf import settings as django_settings

    from rooms.tasks import flash_sales_tick

    entry = django_settings.CELERY_BEAT_SCHEDULE["rooms-flash-sales"]
    assert entry["task"] == flash_sales_tick.name and entry["schedule"] <= 1.0
    sale = selling.flash_sale_start(
        actor=actor(host, merchant),
        room=room,
        product_id=product.pk,
        price=1,
        units=1,
        duration_s=10,
    )
    with tenant_scope(merchant.id):
        FlashSale.objects.filter(pk=sale.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert flash_sales_tick.delay().get()["ended"] == 1
