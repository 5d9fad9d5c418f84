""" "You may also like": co-buying (cosine, so best sellers do not win everything), co-viewing
from the room engine's watch records, cold start from line-ups and categories; never out of
stock, never the seeds, never another merchant's products."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from assistant import recommend
from assistant.recommend import (
    ShownInterval,
    ViewSession,
    coview_scores,
    sessions_from_records,
    viewed_products,
)
from commerce.models import Order, OrderLine, OrderStatus, Variant
from liveshop.tenancy.scope import tenant_scope
from rooms.models import RoomProduct
from rooms.realtime.presence import WatchRecord
from tests.factories import ProductFactory, RoomFactory, UserFactory

_orders = count(1)


def buy(merchant: Any, *products: Any, status: str = OrderStatus.PAID) -> None:
    """An order holding these products (rows written directly: the ranking reads order lines)."""
    shopper = UserFactory.create()
    with tenant_scope(merchant.id):
        order = Order.objects.create(
            merchant=merchant, shopper=shopper, status=status, currency="USD", total=0
        )
        for p in products:
            variant = Variant.objects.filter(product=p).first()
            OrderLine.objects.create(
                merchant=merchant,
                order=order,
                product=p,
                variant=variant,
                name=p.name,
                quantity=1,
                unit_price=p.price,
            )


def names(products: list[Any]) -> list[str]:
    return [p.name for p in products]


def ids(*products: Any) -> list[int]:
    return [p.pk for p in products]


def ranked(merchant: Any, seeds: list[int], **kw: Any) -> list[str]:
    with tenant_scope(merchant.id):
        return names(recommend.recommend(merchant=merchant, seeds=seeds, **kw))


@pytest.mark.django_db
class TestRanking:
    @pytest.fixture
    def catalog(self, merchant: Any) -> dict[str, Any]:
        make = lambda name, **kw: ProductFactory.create(merchant=merchant, name=name, **kw)  # noqa: E731
        return {
            "tee": make("Tee", category="tops"),
            "jeans": make("Jeans", category="bottoms"),
            "socks": make("Socks", category="accessories"),
            "scarf": make("Scarf", category="accessories", stock=0),
            "hoodie": make("Hoodie", category="tops"),
            "cap": make("Cap", category="accessories"),
        }

    def test_cobuying_beats_popularity(self, merchant, catalog):
        c = catalog
        buy(merchant, c["tee"], c["jeans"])
        buy(merchant, c["tee"], c["jeans"])
        buy(merchant, c["tee"], c["socks"])
        for _ in range(8):  # socks sell on their own all the time
            buy(merchant, c["socks"])
        result = ranked(merchant, ids(c["tee"]))
        assert result[:2] == ["Jeans", "Socks"]
        assert "Tee" not in result

    def test_out_of_stock_and_inactive_are_never_recommended(self, merchant, catalog):
        c = catalog
        buy(merchant, c["tee"], c["scarf"])
        buy(merchant, c["tee"], c["cap"])
        with tenant_scope(merchant.id):
            c["cap"].is_active = False
            c["cap"].save()
        result = ranked(merchant, ids(c["tee"]))
        assert "Scarf" not in result and "Cap" not in result

    def test_drafts_and_cancelled_orders_do_not_count(self, merchant, catalog):
        c = catalog
        buy(merchant, c["tee"], c["cap"], status=OrderStatus.CANCELLED)
        buy(merchant, c["tee"], c["cap"], status=OrderStatus.DRAFT)
        buy(merchant, c["tee"], c["jeans"])
        assert ranked(merchant, ids(c["tee"]))[0] == "Jeans"

    def test_cold_start_from_the_line_up_then_the_category(self, merchant, host, catalog):
        c = catalog
        room = RoomFactory.create(merchant=merchant, host=host)
        with tenant_scope(merchant.id):
            for i, p in enumerate([c["socks"], c["tee"]]):
                RoomProduct.objects.create(merchant=merchant, room=room, product=p, position=i)
        result = ranked(merchant, ids(c["tee"]))
        assert result[0] == "Socks"  # shown with the tee
        assert result[1] == "Hoodie"  # same category
        # A room page with no seed: its own line-up first, in the host's order.
        assert ranked(merchant, [], room=room)[:2] == ["Socks", "Tee"]

    def test_never_another_merchants_products(self, merchant, other_merchant, catalog):
        theirs = ProductFactory.create(merchant=other_merchant, name="Rival tee", category="tops")
        buy(other_merchant, theirs)
        result = ranked(merchant, ids(catalog["tee"], theirs), limit=24)
        assert "Rival tee" not in result
        assert ranked(merchant, ids(theirs)) == []  # their product tells us nothing

    def test_limit(self, merchant, catalog):
        assert len(ranked(merchant, ids(catalog["tee"]), limit=1)) == 1


class TestCoViewing:
    def test_watch_records_pair_into_sessions(self):
        records = [
            WatchRecord("start", "7", "u:1", 100.0),
            WatchRecord("stop", "7", "u:1", 160.0, 60.0),
            WatchRecord("stop", "7", "u:2", 200.0, 50.0),  # its start was flushed earlier
            WatchRecord("start", "8", "u:3", 300.0),  # still watching: no session yet
        ]
        assert sessions_from_records(records) == [
            ViewSession("7", "u:1", 100.0, 160.0),
            ViewSession("7", "u:2", 150.0, 200.0),
        ]

    def test_viewers_saw_what_was_shown_while_they_watched(self):
        sessions = [ViewSession("7", "u:1", 0, 100), ViewSession("7", "u:2", 90, 300)]
        shown = [
            ShownInterval("7", 1, 0, 60),
            ShownInterval("7", 2, 60, 120),
            ShownInterval("7", 3, 120, 400),
        ]
        baskets = viewed_products(sessions, shown=shown)
        assert baskets == {"u:1": {1, 2}, "u:2": {2, 3}}  # u:2 saw product 1 for 0 s

    def test_rooms_without_pins_count_their_line_up(self):
        sessions = [ViewSession("9", "u:1", 0, 5), ViewSession("9", "u:2", 0, 500)]
        assert viewed_products(sessions, lineups={"9": [4, 5]}) == {"u:2": {4, 5}}

    def test_coview_scores_are_cosine(self):
        baskets = {"a": {1, 2}, "b": {1, 2}, "c": {1, 3}, "d": {3}, "e": {3}, "f": {3}}
        scores = coview_scores(baskets, [1])
        assert scores[2] > scores[3] > 0 and 1 not in scores
        assert coview_scores(baskets, [99]) == {}


@pytest.mark.django_db
class TestApi:
    def test_recommendations_endpoint(self, merchant, api):
        tee = ProductFactory.create(merchant=merchant, name="Tee")
        jeans = ProductFactory.create(merchant=merchant, name="Jeans")
        buy(merchant, tee, jeans)
        response = api().get(f"/api/v1/s/{merchant.slug}/recommendations?products={tee.pk}")
        assert response.status_code == 200
        data = response.json()
        assert data["count"] == 1 and data["results"][0]["id"] == jeans.pk
        assert data["results"][0]["stock"] == 10 and data["results"][0]["currency"] == "USD"

    @pytest.mark.parametrize(
        "query, field",
        [
            ("products=abc", "products"),
            ("products=-1", "products"),
            ("products=" + ",".join(str(i) for i in range(1, 23)), "products"),
            ("limit=0", "limit"),
            ("limit=100", "limit"),
            ("limit=x", "limit"),
        ],
    )
    def test_bad_input(self, merchant, api, query, field):
        response = api().get(f"/api/v1/s/{merchant.slug}/recommendations?{query}")
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]

    def test_unknown_room_and_merchant(self, merchant, other_merchant, outsider, api):
        theirs = RoomFactory.create(merchant=other_merchant, host=outsider)
        url = f"/api/v1/s/{merchant.slug}/recommendations?room={theirs.slug}"
        assert api().get(url).status_code == 404
        assert api().get("/api/v1/s/nope/recommendations").status_code == 404
