"""The chat path end to end: a stored chat message → `chat_observed` → the Celery task →
`assistant.answer` published to the room, with the numbers read from the database at that
moment. De-duplication, rate limits, hand-offs, bad input, and never another merchant's data."""

from __future__ import annotations

from typing import Any

import pytest

from assistant import services
from assistant.catalog import catalog_load
from assistant.models import FaqEntry, Handoff, Question, QuestionStatus, RoomAssistant
from assistant.services import chat_observed, question_answer
from commerce.models import Product, Variant
from liveshop.tenancy.scope import tenant_scope
from tests.factories import ProductFactory

from .conftest import answers, chat, make_catalog, make_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(merchant: Any, host: Any) -> dict[str, Any]:
    items = make_catalog(merchant)
    items["room"] = make_room(merchant, host, [items["tee"], items["hoodie"]])
    return items


@pytest.fixture
def rival(other_merchant: Any, outsider: Any) -> dict[str, Any]:
    """The other merchant: boots, a Hong Kong shipping policy and its own room."""
    boots = ProductFactory.create(
        merchant=other_merchant,
        name="Rival Leather Boots",
        price=25900,
        variants=[{"options": {"size": "40"}, "stock": 3}],
    )
    with tenant_scope(other_merchant.id):
        FaqEntry.objects.create(
            merchant=other_merchant,
            topic="shipping",
            answer="We ship within China and to Hong Kong. Delivery takes 2–4 days.",
        )
    room = make_room(other_merchant, outsider, [boots])
    return {"boots": boots, "room": room}


def ask(room: Any, seq: int, text: str, user: Any, capture: Any) -> bool:
    with capture(execute=True):
        return chat_observed(room=room, event=chat(room, seq, text, user))


def questions(merchant: Any) -> list[Question]:
    with tenant_scope(merchant.id):
        return list(Question.objects.filter(merchant=merchant).order_by("seq"))


class TestAnswering:
    def test_a_question_is_answered_in_the_room_with_buyable_cards(
        self, shop, shopper, published, django_capture_on_commit_callbacks
    ):
        room = shop["room"]
        assert ask(room, 7, "how much is the hoodie?", shopper, django_capture_on_commit_callbacks)
        (event,) = answers(published, room)
        assert event["question_seq"] == 7
        assert "$49.00" in event["text"]
        assert event["by"] == "assistant" and event["confident"] is True
        (card,) = event["products"]
        assert card["id"] == shop["hoodie"].pk
        assert (card["price"], card["currency"], card["stock"]) == (4900, "USD", 12)
        assert card["url"] == f"/s/{room.merchant.slug}/p/{shop['hoodie'].pk}/"
        assert card["variants"][0]["stock"] == 12
        (q,) = questions(room.merchant)
        assert (q.seq, q.status, q.user_id, q.lang) == (
            7,
            QuestionStatus.ANSWERED,
            shopper.pk,
            "en",
        )
        assert q.product_ids == [shop["hoodie"].pk] and q.latency_ms is not None

    def test_language_follows_the_question(
        self, shop, shopper, published, django_capture_on_commit_callbacks
    ):
        ask(shop["room"], 1, "卫衣多少钱", shopper, django_capture_on_commit_callbacks)
        (event,) = answers(published)
        assert event["lang"] == "zh" and "加绒连帽卫衣" in event["text"]
        assert event["products"][0]["name"] == "加绒连帽卫衣"

    def test_stock_and_price_are_read_at_answer_time(
        self, shop, merchant, shopper, published, django_capture_on_commit_callbacks
    ):
        room = shop["room"]
        ask(room, 1, "hoodie in stock?", shopper, django_capture_on_commit_callbacks)
        with tenant_scope(merchant.id):
            Variant.objects.filter(product=shop["hoodie"]).update(stock=2)
            Product.objects.filter(pk=shop["hoodie"].pk).update(price=3900)
        ask(room, 2, "is the hoodie still in stock?", shopper, django_capture_on_commit_callbacks)
        ask(room, 3, "hoodie price?", shopper, django_capture_on_commit_callbacks)
        first, second, third = answers(published)
        assert "12" in first["text"]
        assert "2 left" in second["text"] and "12" not in second["text"]
        assert "$39.00" in third["text"] and third["products"][0]["price"] == 3900

    def test_a_faq_edit_is_answered_from_right_away(
        self, shop, merchant, owner, shopper, published, django_capture_on_commit_callbacks
    ):
        room = shop["room"]
        ask(room, 1, "do you ship to Malaysia?", shopper, django_capture_on_commit_callbacks)
        from liveshop.tenancy.access import Actor

        actor = Actor(merchant=merchant, user=owner, role="owner")
        services.faq_update(
            actor=actor,
            entry=shop["faq"],
            data={"answer": "We ship to the United States, Canada and Malaysia."},
        )
        ask(room, 2, "can you ship to Malaysia?", shopper, django_capture_on_commit_callbacks)
        before, after = answers(published)
        assert "not on our shipping list" in before["text"]
        assert "Yes, we ship to Malaysia" in after["text"]

    def test_variant_prices_show_as_a_range_on_the_card(
        self, merchant, host, shopper, published, django_capture_on_commit_callbacks
    ):
        coat = ProductFactory.create(
            merchant=merchant,
            name="Wool Coat",
            price=9900,
            variants=[
                {"options": {"size": "M"}, "stock": 2},
                {"options": {"size": "XL"}, "stock": 2, "price": 12900},
            ],
        )
        room = make_room(merchant, host, [coat])
        ask(room, 1, "how much is the coat?", shopper, django_capture_on_commit_callbacks)
        (event,) = answers(published)
        assert "$99.00–$129.00" in event["text"]
        assert (event["products"][0]["price"], event["products"][0]["price_max"]) == (9900, 12900)

    def test_the_event_stays_under_the_size_limit(
        self, merchant, host, shopper, published, django_capture_on_commit_callbacks
    ):
        import json

        long = "x" * 300
        big = ProductFactory.create(
            merchant=merchant,
            name="Grid Shirt",
            variants=[
                {"options": {"color": f"{long}{i}", "size": str(30 + i)}, "stock": 1}
                for i in range(40)
            ],
        )
        room = make_room(merchant, host, [big])
        ask(room, 1, "grid shirt price?", shopper, django_capture_on_commit_callbacks)
        (event,) = answers(published)
        assert len(json.dumps(event, ensure_ascii=False).encode()) <= services.EVENT_BYTES_MAX
        assert event["products"] and "variants" not in event["products"][0]


class TestWhatReachesTheAssistant:
    def test_chat_that_is_not_a_question_is_left_alone(
        self, shop, shopper, published, django_capture_on_commit_callbacks
    ):
        for seq, text in enumerate(["666", "哈哈哈", "love this!", "主播好美"], 1):
            assert not ask(shop["room"], seq, text, shopper, django_capture_on_commit_callbacks)
        assert answers(published) == [] and questions(shop["room"].merchant) == []

    def test_a_room_with_the_assistant_off_costs_nothing(
        self,
        merchant,
        host,
        shopper,
        published,
        django_capture_on_commit_callbacks,
        django_assert_num_queries,
    ):
        room = make_room(merchant, host, [], enabled=False)
        assert not ask(room, 1, "how much?", shopper, django_capture_on_commit_callbacks)
        with django_assert_num_queries(0):  # the setting is cached: no database work per message
            assert not ask(room, 2, "how much?", shopper, django_capture_on_commit_callbacks)
        assert answers(published) == []

    def test_turning_it_on_takes_effect(
        self, merchant, owner, host, shopper, published, django_capture_on_commit_callbacks
    ):
        from liveshop.tenancy.access import Actor

        tee = ProductFactory.create(merchant=merchant, name="Tee", stock=3)
        room = make_room(merchant, host, [tee], enabled=False)
        assert not ask(room, 1, "tee price?", shopper, django_capture_on_commit_callbacks)
        services.room_assistant_update(
            actor=Actor(merchant=merchant, user=owner, role="owner"),
            room=room,
            data={"enabled": True},
        )
        assert ask(room, 2, "tee price?", shopper, django_capture_on_commit_callbacks)

    def test_mentions_only_and_a_renamed_assistant(
        self, merchant, host, shopper, published, django_capture_on_commit_callbacks
    ):
        tee = ProductFactory.create(merchant=merchant, name="Tee", price=1500, stock=3)
        room = make_room(merchant, host, [tee], mentions_only=True, display_name="Mia")
        assert not ask(room, 1, "tee price?", shopper, django_capture_on_commit_callbacks)
        assert ask(room, 2, "@Mia tee price?", shopper, django_capture_on_commit_callbacks)
        assert ask(room, 3, "@小助手 有货吗", shopper, django_capture_on_commit_callbacks)
        first, second = answers(published)
        assert first["question_seq"] == 2 and "$15.00" in first["text"]
        assert first["assistant"] == "Mia" and second["lang"] == "zh"

    def test_the_hosts_own_questions_are_not_answered(
        self, shop, host, published, django_capture_on_commit_callbacks
    ):
        assert not ask(
            shop["room"], 1, "有没有姐妹想要红色的？", host, django_capture_on_commit_callbacks
        )
        assert answers(published) == []


@pytest.mark.django_db(transaction=True)
class TestAsyncHook:
    """`achat_observed` is what the room socket awaits after `chat_post`. Real commits here:
    the hook's thread hop must not run inside a test's wrapping transaction."""

    def test_a_question_is_queued_from_the_event_loop(self, shop, shopper, published):
        from asgiref.sync import async_to_sync

        from assistant.services import achat_observed

        room = shop["room"]
        assert async_to_sync(achat_observed)(room=room, event=chat(room, 4, "tee price?", shopper))
        (event,) = answers(published, room)
        assert event["question_seq"] == 4 and "$19.00" in event["text"]

    def test_chat_in_a_room_with_the_assistant_off_stays_on_the_loop(
        self, merchant, host, shopper, published, django_assert_num_queries
    ):
        from asgiref.sync import async_to_sync

        from assistant.services import achat_observed

        room = make_room(merchant, host, [], enabled=False)
        assert not async_to_sync(achat_observed)(room=room, event=chat(room, 1, "price?", shopper))
        with django_assert_num_queries(0):
            for seq in range(2, 50):
                event = chat(room, seq, "how much?", shopper)
                assert not async_to_sync(achat_observed)(room=room, event=event)


class TestDedupAndLimits:
    def test_the_same_question_within_the_window_is_answered_once(
        self, shop, shopper, admin, published, django_capture_on_commit_callbacks
    ):
        room = shop["room"]
        assert ask(room, 1, "有红色吗？", shopper, django_capture_on_commit_callbacks)
        assert not ask(room, 2, "@assistant 有红色吗", admin, django_capture_on_commit_callbacks)
        assert not ask(room, 3, "有红色吗!!", shopper, django_capture_on_commit_callbacks)
        assert ask(room, 4, "有白色吗", shopper, django_capture_on_commit_callbacks)
        assert [e["question_seq"] for e in answers(published)] == [1, 4]

    def test_the_window_is_per_room(
        self, shop, merchant, host, shopper, published, django_capture_on_commit_callbacks
    ):
        other = make_room(merchant, host, [shop["tee"]])
        ask(shop["room"], 1, "tee price?", shopper, django_capture_on_commit_callbacks)
        ask(other, 1, "tee price?", shopper, django_capture_on_commit_callbacks)
        assert len(answers(published)) == 2

    def test_per_room_rate_limit(
        self, shop, shopper, admin, agent, published, settings, django_capture_on_commit_callbacks
    ):
        settings.LIVESHOP_ASSISTANT_ROOM_RATE = "2/min"
        room = shop["room"]
        texts = ["tee price?", "hoodie price?", "what sizes?", "what colours?"]
        asked = [
            ask(room, i, text, user, django_capture_on_commit_callbacks)
            for i, (text, user) in enumerate(
                zip(texts, [shopper, admin, agent, shopper], strict=True), 1
            )
        ]
        assert asked == [True, True, False, False]
        assert len(answers(published)) == 2

    def test_per_viewer_rate_limit_leaves_others_served(
        self, shop, shopper, admin, published, settings, django_capture_on_commit_callbacks
    ):
        settings.LIVESHOP_ASSISTANT_USER_RATE = "2/min"
        room = shop["room"]
        spam = ["tee price?", "hoodie price?", "what sizes?", "what colours?"]
        asked = [
            ask(room, i, t, shopper, django_capture_on_commit_callbacks)
            for i, t in enumerate(spam, 1)
        ]
        assert asked == [True, True, False, False]
        assert ask(room, 9, "material of the tee?", admin, django_capture_on_commit_callbacks)

    def test_a_refused_question_can_be_asked_again_by_someone_else(
        self, shop, shopper, admin, published, settings, django_capture_on_commit_callbacks
    ):
        settings.LIVESHOP_ASSISTANT_USER_RATE = "1/min"
        room = shop["room"]
        assert ask(room, 1, "tee price?", shopper, django_capture_on_commit_callbacks)
        assert not ask(room, 2, "hoodie price?", shopper, django_capture_on_commit_callbacks)
        # Not answered, so not a duplicate for the next viewer.
        assert ask(room, 3, "hoodie price?", admin, django_capture_on_commit_callbacks)

    def test_the_task_is_idempotent(
        self, shop, shopper, published, django_capture_on_commit_callbacks
    ):
        room = shop["room"]
        args = {
            "merchant_id": room.merchant_id,
            "room_id": room.pk,
            "seq": 5,
            "text": "tee price?",
            "user_id": shopper.pk,
        }
        with django_capture_on_commit_callbacks(execute=True):
            first = question_answer(**args)
            again = question_answer(**args)
        assert first is not None and again is not None and first.pk == again.pk
        assert len(answers(published)) == 1


class TestHandoff:
    def test_an_order_question_hands_off_with_the_room_context(
        self, shop, shopper, published, django_capture_on_commit_callbacks
    ):
        room = shop["room"]
        ask(room, 3, "where is my order? it's late", shopper, django_capture_on_commit_callbacks)
        (event,) = answers(published)
        assert event["confident"] is False and "consult" in event["text"]
        assert event["products"] == [] and event["asker"] == shopper.pk
        with tenant_scope(room.merchant_id):
            handoff = Handoff.objects.get()
            q = handoff.question
        assert event["handoff"] == handoff.pk
        assert (q.status, q.reason) == (QuestionStatus.UNANSWERED, "order")
        assert handoff.shopper_id == shopper.pk and handoff.room_id == room.pk
        assert handoff.lineup == [shop["tee"].pk, shop["hoodie"].pk]
        assert handoff.status == "open"

    def test_a_question_for_the_host_is_listed_without_a_consult(
        self, shop, shopper, published, django_capture_on_commit_callbacks
    ):
        ask(shop["room"], 1, "主播多高？", shopper, django_capture_on_commit_callbacks)
        (event,) = answers(published)
        (q,) = questions(shop["room"].merchant)
        assert q.status == QuestionStatus.UNANSWERED and q.reason == "host_question"
        assert event["handoff"] is None


class TestIsolation:
    def test_never_another_merchants_products_or_faq(
        self, shop, rival, shopper, published, django_capture_on_commit_callbacks
    ):
        room = shop["room"]
        ask(room, 1, "do you have boots?", shopper, django_capture_on_commit_callbacks)
        ask(room, 2, "do you ship to Hong Kong?", shopper, django_capture_on_commit_callbacks)
        ask(room, 3, "Rival Leather Boots price?", shopper, django_capture_on_commit_callbacks)
        boots, hong_kong, named = answers(published, room)
        for event in (boots, hong_kong, named):
            assert rival["boots"].pk not in [c["id"] for c in event["products"]]
            assert "259" not in event["text"] and "Boots" not in event["text"]
        assert boots["confident"] is False and named["confident"] is False
        assert "not on our shipping list" in hong_kong["text"]
        # The other merchant's room answers from its own data.
        ask(
            rival["room"],
            1,
            "do you ship to Hong Kong?",
            shopper,
            django_capture_on_commit_callbacks,
        )
        (theirs,) = answers(published, rival["room"])
        assert "Yes, we ship to Hong Kong" in theirs["text"]

    def test_a_task_naming_another_merchants_room_does_nothing(
        self, shop, rival, shopper, published, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            result = question_answer(
                merchant_id=shop["room"].merchant_id,
                room_id=rival["room"].pk,
                seq=1,
                text="boots price?",
                user_id=shopper.pk,
            )
        assert result is None and answers(published) == []

    def test_the_catalog_holds_one_merchant(self, shop, rival, merchant):
        with tenant_scope(merchant.id):
            catalog = catalog_load(merchant=merchant)
        assert {p.name for p in catalog.snapshot.products} == {
            "Classic Cotton Tee",
            "Fleece Hoodie",
        }
        assert [p.answer for p in catalog.snapshot.policies] == [shop["faq"].answer]


class TestBadInput:
    @pytest.mark.parametrize(
        "event",
        [
            {},
            {"seq": 1},
            {"seq": 1, "text": 42},
            {"seq": True, "text": "price?"},
            {"seq": -3, "text": "price?"},
            {"seq": "7", "text": "price?"},
            {"seq": 1, "text": "   "},
            {"seq": 1, "text": "price?", "user": "bob"},
            {"seq": 1, "text": "price?", "user": {"id": "x"}, "ts": "soon"},
        ],
    )
    def test_malformed_events_are_ignored_never_raise(
        self, shop, event, published, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            chat_observed(room=shop["room"], event=event)
        assert all(e["question_seq"] == 1 for e in answers(published))

    def test_text_that_cleans_to_nothing_is_not_answered(
        self, shop, shopper, published, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            result = question_answer(
                merchant_id=shop["room"].merchant_id,
                room_id=shop["room"].pk,
                seq=1,
                text="\u200b\u202e\x00",
                user_id=shopper.pk,
            )
        assert result is None and answers(published) == []

    def test_huge_and_odd_text_is_bounded(
        self, shop, shopper, published, django_capture_on_commit_callbacks
    ):
        text = "tee price? " + "🔥" * 5000 + "\x07"
        ask(shop["room"], 1, text, shopper, django_capture_on_commit_callbacks)
        (q,) = questions(shop["room"].merchant)
        assert len(q.text) <= 500 and "\x07" not in q.text

    def test_an_assistant_switched_off_while_queued_stays_quiet(
        self, shop, shopper, published, django_capture_on_commit_callbacks
    ):
        room = shop["room"]
        with tenant_scope(room.merchant_id):
            RoomAssistant.objects.filter(room=room).update(enabled=False)
        with django_capture_on_commit_callbacks(execute=True):
            assert (
                question_answer(
                    merchant_id=room.merchant_id, room_id=room.pk, seq=1, text="tee price?"
                )
                is None
            )
        assert answers(published) == []

    def test_a_deleted_asker_still_gets_an_answer_recorded(
        self, shop, published, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            q = question_answer(
                merchant_id=shop["room"].merchant_id,
                room_id=shop["room"].pk,
                seq=1,
                text="tee price?",
                user_id=10**12,
            )
        assert q is not None and q.user_id is None


class TestLiveSellingState:
    """The assistant reads the room's pin and flash sale from the live-selling services."""

    def test_pin_and_flash_sale_reach_the_room_context(
        self, merchant: Any, host: Any, shop: dict[str, Any]
    ) -> None:
        from assistant.catalog import room_context
        from liveshop.tenancy.access import Actor
        from rooms import selling
        from rooms.models import RoomStatus

        room = shop["room"]
        with tenant_scope(merchant.id):
            room.status = RoomStatus.LIVE
            room.save(update_fields=["status"])
            assert room_context(room=room, merchant=merchant).pinned_product_id is None
        actor = Actor(merchant=merchant, user=host, role="host")
        selling.pin_product(actor=actor, room=room, product_id=shop["hoodie"].pk)
        with tenant_scope(merchant.id):
            variant = Variant.objects.filter(product=shop["tee"]).order_by("id").first()
        sale = selling.flash_sale_start(
            actor=actor,
            room=room,
            product_id=shop["tee"].pk,
            variant_id=variant.pk,
            price=990,
            units=5,
            duration_s=60,
        )
        with tenant_scope(merchant.id):
            context = room_context(room=room, merchant=merchant)
        # Starting a sale pins its product.
        assert context.pinned_product_id == str(shop["tee"].pk)
        (running,) = context.flash_sales
        assert (running.product_id, running.price, running.units_left) == (
            str(shop["tee"].pk),
            990,
            5,
        )
        assert running.ends_at == sale.ends_at
        selling.flash_sale_stop(actor=actor, room=room)
        with tenant_scope(merchant.id):
            assert room_context(room=room, merchant=merchant).flash_sales == ()
