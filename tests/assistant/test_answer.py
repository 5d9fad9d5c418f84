"""Answers: every number is read from the snapshot, the language follows the question,
the room decides what "it" is, and hand-offs carry the question."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from assistant import (
    AssistantSettings,
    CatalogSnapshot,
    FlashSale,
    RoomContext,
    format_money,
    numbers_in,
)
from assistant.engine.answer import Fact, sentences, unsupported_numbers

from .conftest import APPAREL, NOW, ask


class TestNumbers:
    def test_numbers_in_is_canonical(self) -> None:
        assert numbers_in("$19.00 和 19 和 １９") == ["19", "19", "19"]
        assert numbers_in("3–7 days, 1,299.50, 3.5 g, 100%") == ["3", "7", "1299.5", "3.5", "100"]

    def test_unsupported_numbers(self) -> None:
        facts = [Fact("price", "$19.00"), Fact("stock", "40")]
        assert unsupported_numbers("$19 and 40 left", facts) == []
        assert unsupported_numbers("$18.99, 40 left", facts) == ["18.99"]

    def test_format_money(self) -> None:
        assert format_money(1900, "USD") == "$19.00"
        assert format_money(129900, "usd") == "$1,299.00"
        assert format_money(1500, "JPY") == "¥1,500"
        assert format_money(250, "XYZ") == "2.50 XYZ"

    def test_sentences_keep_decimals(self) -> None:
        assert sentences("Long-wear matte lipstick, 3.5 g. Cruelty free.") == [
            "Long-wear matte lipstick, 3.5 g.",
            "Cruelty free.",
        ]
        assert sentences("可机洗。宽松版型！") == ["可机洗。", "宽松版型！"]


QUESTIONS = [
    "有红色吗",
    "M码还有吗",
    "多少钱",
    "有什么颜色",
    "有哪些尺码",
    "什么材质",
    "可以机洗吗",
    "这是什么",
    "3号链接多少钱",
    "牛仔裤32码有吗",
    "手表防水吗",
    "包邮吗",
    "能寄到日本吗",
    "可以退货吗",
    "how much?",
    "what sizes?",
    "in stock?",
    "what colours?",
    "is the watch waterproof?",
    "ship to Malaysia?",
    "how big is the scarf?",
    "what are you selling?",
    "price of #4",
]


class TestFactsComeFromTheSnapshot:
    @pytest.mark.parametrize("question", QUESTIONS)
    def test_every_number_is_a_fact_and_every_fact_is_in_the_snapshot(
        self, question: str, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        answer = ask(question, demo, tee_room)
        assert answer.handoff is None, answer.text
        assert unsupported_numbers(answer.text, answer.facts) == []
        snapshot_numbers = set()
        for p in demo.products:
            for text in (
                p.name,
                p.name_zh,
                p.description,
                p.description_zh,
                p.material,
                p.material_zh,
            ):
                snapshot_numbers.update(numbers_in(text))
            snapshot_numbers.update(numbers_in(format_money(p.price, p.currency)))
            snapshot_numbers.update(str(v.stock) for v in p.variants)
            for v in p.variants:
                snapshot_numbers.update(numbers_in(v.size))
        for pol in demo.policies:
            snapshot_numbers.update(numbers_in(pol.answer + " " + pol.answer_zh))
        snapshot_numbers.update(str(n) for n in range(1, len(tee_room.lineup) + 1))
        assert set(numbers_in(answer.text)) <= snapshot_numbers

    def test_stock_is_read_at_answer_time(
        self, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        assert "40" in ask("白色M码还有吗", demo, tee_room).text
        tee = demo.products[0]
        sold = dataclasses.replace(
            tee,
            variants=tuple(
                dataclasses.replace(v, stock=3 if v.color == "white" else v.stock)
                for v in tee.variants
            ),
        )
        later = dataclasses.replace(demo, products=(sold, *demo.products[1:]))
        text = ask("白色M码还有吗", later, tee_room).text
        assert "3件" in text and "40" not in text

    def test_variant_prices_give_a_range_never_one_variants_price(
        self, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        tee = demo.products[0]
        priced = dataclasses.replace(
            tee,
            variants=tuple(
                dataclasses.replace(v, price=2500 if v.size == "XL" else None) for v in tee.variants
            ),
        )
        later = dataclasses.replace(demo, products=(priced, *demo.products[1:]))
        for question, expected in (("多少钱", "$19.00–$25.00"), ("how much?", "$19.00–$25.00")):
            answer = ask(question, later, tee_room)
            assert expected in answer.text, answer.text
            assert not unsupported_numbers(answer.text, answer.facts)
        assert ask("how much?", demo, tee_room).text.count("$19.00") == 1

    def test_answer_cites_the_products_it_used(
        self, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        answer = ask("how much is the watch?", demo, tee_room)
        assert answer.product_ids == ("DM-WATCH-10",)
        assert {f.product_id for f in answer.facts if f.product_id} == {"DM-WATCH-10"}

    def test_policy_answers_cite_the_policy(self, demo: CatalogSnapshot) -> None:
        answer = ask("what's your return policy?", demo)
        assert answer.policy_ids == ("returns",) and "30 days" in answer.text

    def test_stock_counts_can_be_hidden(self, demo: CatalogSnapshot, tee_room: RoomContext) -> None:
        settings = AssistantSettings(show_stock_counts=False)
        text = ask("M码还有吗", demo, tee_room, settings).text
        assert "有货" in text and "售罄" in text
        assert not numbers_in(text)
        hood = RoomContext(pinned_product_id="DM-DRESS-03")
        assert "库存紧张" in ask("香槟色还有吗", demo, hood, settings).text


class TestLanguage:
    def test_chinese_question_chinese_answer(
        self, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        answer = ask("有什么颜色", demo, tee_room)
        assert answer.lang == "zh"
        assert answer.text == "经典纯棉T恤的颜色：白色、黑色、红色（已售罄）。"

    def test_english_question_english_answer(
        self, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        answer = ask("what colours?", demo, tee_room)
        assert answer.lang == "en"
        assert answer.text == "Classic Cotton Tee comes in white, black, red (sold out)."

    def test_mixed_question(self, demo: CatalogSnapshot, tee_room: RoomContext) -> None:
        assert ask("black的还有吗", demo, tee_room).text.startswith("经典纯棉T恤：黑色")
        assert ask("Do you have it in 红色?", demo, tee_room).text.startswith(
            "Classic Cotton Tee: red"
        )

    def test_chinese_falls_back_to_english_texts_when_missing(self, demo: CatalogSnapshot) -> None:
        tee = dataclasses.replace(demo.products[0], name_zh="", description_zh="")
        snap = dataclasses.replace(demo, products=(tee, *demo.products[1:]), version="no-zh")
        text = ask("多少钱", snap, RoomContext(pinned_product_id=tee.id)).text
        assert text.startswith("Classic Cotton Tee售价$19.00")


class TestSummary:
    def test_what_is_this(self, demo: CatalogSnapshot) -> None:
        room = RoomContext(pinned_product_id="DM-SCARF-07")
        assert (
            ask("这是什么", demo, room).text == "羊绒围巾，$89.00，颜色：驼色、灰色、红色，有货。"
        )

    def test_tell_me_about_adds_the_description(self, demo: CatalogSnapshot) -> None:
        text = ask("tell me about the watch", demo).text
        assert text == (
            "Minimalist Watch: $199.00, colours silver, gold, in stock. "
            "Minimalist Watch: 38 mm stainless steel watch, water resistant to 50 m."
        )


class TestContext:
    def test_unnamed_question_is_about_the_pinned_product(
        self, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        answer = ask("有红色吗", demo, tee_room)
        assert answer.product_ids == ("DM-TEE-01",)
        assert answer.text == "经典纯棉T恤：红色已售罄。有货的颜色：白色、黑色。"

    def test_named_product_beats_the_pinned_one(
        self, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        assert ask("裙子有红色吗", demo, tee_room).product_ids == ("DM-DRESS-03",)

    def test_without_pin_the_line_up_answers(self, demo: CatalogSnapshot) -> None:
        room = RoomContext(lineup=APPAREL)
        prices = ask("how much?", demo, room)
        assert prices.product_ids == APPAREL
        assert all(p in prices.text for p in ("$19.00", "$49.00", "$129.00", "$59.00"))
        # A colour narrows the line-up to the products that come in it.
        navy = ask("有藏青色吗", demo, room)
        assert navy.product_ids == ("DM-HOOD-02",)

    def test_line_up_position(self, demo: CatalogSnapshot, tee_room: RoomContext) -> None:
        assert ask("2号链接多少钱", demo, tee_room).product_ids == ("DM-HOOD-02",)
        assert ask("第三个链接什么材质", demo, tee_room).product_ids == ("DM-DRESS-03",)
        assert ask("link 4 price", demo, tee_room).product_ids == ("DM-JEAN-04",)
        assert ask("9号链接多少钱", demo, tee_room).handoff is not None

    def test_number_hao_is_a_shoe_size_when_the_product_has_it(self, demo: CatalogSnapshot) -> None:
        room = RoomContext(pinned_product_id="DM-SNEAK-05", lineup=("DM-SNEAK-05", "DM-BAG-06"))
        answer = ask("38号还有吗", demo, room)
        assert answer.product_ids == ("DM-SNEAK-05",) and "6件" in answer.text

    def test_no_context_and_no_product_asks_which(self, demo: CatalogSnapshot) -> None:
        answer = ask("多少钱", demo)
        assert answer.handoff is not None and answer.unanswered_reason == "ambiguous"

    def test_material_names_the_product(self, demo: CatalogSnapshot, tee_room: RoomContext) -> None:
        # "the cashmere one" is not the pinned tee
        assert ask("羊绒的多少钱", demo, tee_room).product_ids == ("DM-SCARF-07",)
        # but "is it cotton?" asks about the pinned product
        assert ask("是纯棉的吗", demo, tee_room).product_ids == ("DM-TEE-01",)


class TestFlashSale:
    def sale(self, **kw: object) -> RoomContext:
        args = {
            "product_id": "DM-HOOD-02",
            "price": 3900,
            "units_left": 20,
            "ends_at": NOW + timedelta(minutes=30),
        }
        args.update(kw)
        return RoomContext(pinned_product_id="DM-HOOD-02", flash_sales=(FlashSale(**args),))  # type: ignore[arg-type]

    def test_running_sale(self, demo: CatalogSnapshot) -> None:
        answer = ask("多少钱", demo, self.sale())
        assert answer.text == "加绒连帽卫衣秒杀价$39.00（原价$49.00），还剩20件，20:30 UTC结束。"

    def test_sale_end_time_in_the_room_timezone(self, demo: CatalogSnapshot) -> None:
        room = dataclasses.replace(self.sale(), timezone="Asia/Shanghai")
        assert "04:30" in ask("how much?", demo, room).text

    def test_sold_out_sale(self, demo: CatalogSnapshot) -> None:
        text = ask("有秒杀吗", demo, self.sale(units_left=0)).text
        assert "抢光" in text and "$49.00" in text and "$39.00" not in text

    def test_ended_sale_is_ignored(self, demo: CatalogSnapshot) -> None:
        text = ask("any discount?", demo, self.sale(ends_at=NOW - timedelta(seconds=1))).text
        assert text == "No flash sale on Fleece Hoodie right now; it is $49.00."


class TestHandoff:
    @pytest.mark.parametrize(
        ("question", "reason"),
        [
            ("我的订单到哪了", "order"),
            ("where is my order #1234?", "order"),
            ("质量太差了，我要投诉", "complaint"),
            ("this is a scam", "complaint"),
            ("转人工", "human_requested"),
            ("穿什么码合适，我160斤", "size_advice"),
            ("什么时候补货", "no_data"),
            ("主播多高", "host_question"),
            ("有羽绒服吗", "no_match"),
            ("会起球吗", "no_data"),
            ("is it good quality?", "no_data"),
        ],
    )
    def test_handoff_reasons(
        self, question: str, reason: str, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        answer = ask(question, demo, tee_room)
        assert answer.handoff is not None
        assert answer.handoff.reason == reason == answer.unanswered_reason
        assert answer.handoff.question == question
        assert not answer.confident and answer.product_ids == ()
        assert not numbers_in(answer.text)

    def test_handoff_text_follows_language(self, demo: CatalogSnapshot) -> None:
        assert "一对一" in ask("我的订单到哪了", demo).text
        assert "one-to-one" in ask("where is my order?", demo).text

    def test_product_without_the_data_hands_off(self, demo: CatalogSnapshot) -> None:
        room = RoomContext(pinned_product_id="DM-LIP-08")
        answer = ask("口红是什么材质", demo, room)
        assert answer.unanswered_reason == "no_data"

    def test_part_of_a_question_without_data_is_said_not_skipped(
        self, demo: CatalogSnapshot
    ) -> None:
        room = RoomContext(pinned_product_id="DM-LIP-08")
        answer = ask("口红什么材质，多少钱", demo, room)
        assert answer.text == "丝绒哑光口红售价$25.00。其他的我这里没有信息，可以发起一对一咨询。"

    def test_confident_answer_has_no_handoff(
        self, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        answer = ask("多少钱", demo, tee_room)
        assert answer.confident and answer.handoff is None and answer.unanswered_reason is None
