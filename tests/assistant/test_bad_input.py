"""Odd and hostile input: the engine cleans, bounds and answers or refuses clearly."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from assistant import (
    AssistantInputError,
    CatalogSnapshot,
    FlashSale,
    PolicyDoc,
    ProductDoc,
    RoomContext,
    VariantDoc,
    detect_question,
)
from assistant.engine.tokenize import MAX_QUESTION_CHARS

from .conftest import ask


class TestQuestionText:
    @pytest.mark.parametrize(
        "question", ["", "   ", "\x00\x01\u200b", "@assistant", "＠assistant  "]
    )
    def test_nothing_to_answer_is_a_clear_error(self, question: str, demo: CatalogSnapshot) -> None:
        with pytest.raises(AssistantInputError):
            ask(question, demo)

    def test_non_string_is_a_type_error(self, demo: CatalogSnapshot) -> None:
        with pytest.raises(TypeError):
            ask(12345, demo)  # type: ignore[arg-type]

    def test_huge_input_is_cut_and_fast(self, demo: CatalogSnapshot, tee_room: RoomContext) -> None:
        question = "有红色吗" + "啊" * 2_000_000
        started = time.perf_counter()
        answer = ask(question, demo, tee_room)
        assert time.perf_counter() - started < 1.0
        if answer.handoff is not None:
            assert len(answer.handoff.question) <= MAX_QUESTION_CHARS
        assert detect_question("多少钱" * 1_000_000).is_question

    def test_huge_english_input(self, demo: CatalogSnapshot, tee_room: RoomContext) -> None:
        started = time.perf_counter()
        ask("how much " + "red silk dress " * 200_000, demo, tee_room)
        assert time.perf_counter() - started < 1.0

    def test_emoji_around_a_question(self, demo: CatalogSnapshot, tee_room: RoomContext) -> None:
        answer = ask("😍😍 多少钱 🔥🔥", demo, tee_room)
        assert answer.text == "经典纯棉T恤售价$19.00。"

    def test_emoji_only_hands_off(self, demo: CatalogSnapshot, tee_room: RoomContext) -> None:
        assert ask("😍🔥👍", demo, tee_room).handoff is not None

    def test_control_characters_inside_words(
        self, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        assert ask("多\u200b少\u2066钱", demo, tee_room).text == "经典纯棉T恤售价$19.00。"
        assert ask("how\x00 much\u202e?", demo, tee_room).text == "Classic Cotton Tee: $19.00."

    def test_regex_metacharacters_are_plain_text(
        self, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        for q in ["(.*)+$", "[a-z]{1000}", "\\d+\\", "?*+", "%s %d {0}"]:
            ask(q, demo, tee_room)  # answers or hands off; never raises

    def test_empty_snapshot(self, tee_room: RoomContext) -> None:
        empty = CatalogSnapshot(merchant_id="new")
        answer = ask("多少钱", empty, tee_room)
        assert answer.handoff is not None and answer.product_ids == ()
        assert ask("包邮吗", empty).unanswered_reason == "no_policy"


class TestSnapshotValidation:
    def test_negative_or_boolean_stock(self) -> None:
        with pytest.raises(ValueError, match="stock"):
            VariantDoc(id="v", stock=-1)
        with pytest.raises(ValueError, match="stock"):
            VariantDoc(id="v", stock=True)

    def test_price_must_be_minor_units(self) -> None:
        with pytest.raises(ValueError, match="price"):
            ProductDoc(id="p", name="x", price=19.0)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="currency"):
            ProductDoc(id="p", name="x", price=1, currency="$$")

    def test_product_needs_a_name(self) -> None:
        with pytest.raises(ValueError, match="name"):
            ProductDoc(id="p", name="  ", price=1)

    def test_duplicate_product_ids(self) -> None:
        p = ProductDoc(id="p", name="x", price=1)
        with pytest.raises(ValueError, match="unique"):
            CatalogSnapshot(merchant_id="m", products=(p, p))

    def test_policy_needs_an_answer(self) -> None:
        with pytest.raises(ValueError, match="answer"):
            PolicyDoc(id="x", topic="shipping", answer=" ")

    def test_flash_sale_end_must_be_aware(self) -> None:
        with pytest.raises(ValueError, match="timezone"):
            FlashSale(product_id="p", price=1, units_left=1, ends_at=datetime(2026, 1, 1))

    def test_long_texts_are_cut(self) -> None:
        p = ProductDoc(id="p", name="x" * 100_000, price=1)
        assert len(p.name) == 5000

    def test_wrong_types_are_refused(self) -> None:
        with pytest.raises(ValueError):
            ProductDoc(id="p", name=["x"], price=1)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            CatalogSnapshot(merchant_id="m", products=({"id": "p"},))  # type: ignore[arg-type]

    def test_from_dicts_needs_ids(self) -> None:
        with pytest.raises(ValueError, match="id or a sku"):
            CatalogSnapshot.from_dicts("m", [{"name": "x", "price": 1}])
