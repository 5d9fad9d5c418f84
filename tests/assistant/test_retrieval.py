"""The index: built from one merchant's snapshot only, cached per (merchant, version)."""

from __future__ import annotations

import dataclasses

from assistant import CatalogSnapshot, ProductDoc, RoomContext, VariantDoc
from assistant.engine import index as index_module
from assistant.engine.index import index_cache_size, index_for

from .conftest import ask


class TestMerchantIsolation:
    def test_an_index_holds_only_its_merchants_documents(
        self, demo: CatalogSnapshot, rival: CatalogSnapshot
    ) -> None:
        demo_index, rival_index = index_for(demo), index_for(rival)
        assert set(demo_index.product_ids) == {p.id for p in demo.products}
        assert set(rival_index.product_ids) == {p.id for p in rival.products}
        assert not set(demo_index.product_ids) & set(rival_index.product_ids)

    def test_another_merchants_product_is_never_answered(
        self, demo: CatalogSnapshot, rival: CatalogSnapshot
    ) -> None:
        # Given rival sells a down jacket and demo does not
        assert ask("羽绒服多少钱", rival).product_ids == ("RV-JACKET-01",)
        # When a demo shopper asks for it, demo's assistant hands off and cites nothing
        answer = ask("羽绒服多少钱", demo)
        assert answer.handoff is not None and answer.product_ids == ()
        assert "149" not in answer.text

    def test_every_cited_product_belongs_to_the_snapshot(
        self, demo: CatalogSnapshot, rival: CatalogSnapshot
    ) -> None:
        ids = {p.id for p in demo.products}
        for q in [
            "hiking boots price?",
            "backpack colours?",
            "有保温水杯吗",
            "what do you sell?",
            "有红色的吗",
        ]:
            assert set(ask(q, demo).product_ids) <= ids

    def test_same_version_string_for_two_merchants_does_not_collide(
        self, demo: CatalogSnapshot, rival: CatalogSnapshot
    ) -> None:
        assert demo.version == rival.version
        assert index_for(demo) is not index_for(rival)

    def test_room_ids_of_another_merchant_are_ignored(self, demo: CatalogSnapshot) -> None:
        # A pinned id that is not in this snapshot (e.g. another merchant's) is not used.
        room = RoomContext(pinned_product_id="RV-JACKET-01", lineup=("RV-JACKET-01", "RV-BOOT-02"))
        answer = ask("多少钱", demo, room)
        assert answer.handoff is not None and answer.product_ids == ()
        answer = ask("3号链接多少钱", demo, room)
        assert answer.handoff is not None and answer.product_ids == ()


class TestCache:
    def test_index_is_built_once_per_version(self, demo: CatalogSnapshot) -> None:
        assert index_for(demo) is index_for(demo)
        again = dataclasses.replace(demo)  # an equal snapshot built again, same version
        assert index_for(again) is index_for(demo)

    def test_new_version_new_index(self, demo: CatalogSnapshot) -> None:
        assert index_for(dataclasses.replace(demo, version="2")) is not index_for(demo)

    def test_without_version_the_indexed_text_is_the_key(self, demo: CatalogSnapshot) -> None:
        plain = dataclasses.replace(demo, version="")
        tee = plain.products[0]
        restocked = dataclasses.replace(
            plain,
            products=(
                dataclasses.replace(
                    tee,
                    price=999,
                    variants=tuple(dataclasses.replace(v, stock=1) for v in tee.variants),
                ),
                *plain.products[1:],
            ),
        )
        renamed = dataclasses.replace(
            plain, products=(dataclasses.replace(tee, name="Vintage Tee"), *plain.products[1:])
        )
        # Stock and price are not indexed: same index. A new name is: new index.
        assert restocked.index_key == plain.index_key
        assert renamed.index_key != plain.index_key
        assert index_for(restocked) is index_for(plain)
        assert index_for(renamed) is not index_for(plain)

    def test_cache_is_bounded(self, demo: CatalogSnapshot, monkeypatch) -> None:
        monkeypatch.setattr(index_module, "INDEX_CACHE_SIZE", 3)
        for n in range(6):
            index_for(dataclasses.replace(demo, version=str(n)))
        assert index_cache_size() == 3

    def test_live_values_change_without_reindexing(
        self, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        assert "$19.00" in ask("多少钱", demo, tee_room).text
        tee = demo.products[0]
        cheaper = dataclasses.replace(
            demo, products=(dataclasses.replace(tee, price=1500), *demo.products[1:])
        )
        assert index_for(cheaper) is index_for(demo)
        text = ask("多少钱", cheaper, tee_room).text
        assert "$15.00" in text and "$19.00" not in text


class TestProductMatching:
    def test_chinese_words_find_products_by_unigram_and_concept(
        self, demo: CatalogSnapshot
    ) -> None:
        assert ask("裙子多少钱", demo).product_ids == ("DM-DRESS-03",)
        assert ask("鞋子多少钱", demo).product_ids == ("DM-SNEAK-05",)
        assert ask("表多少钱", demo).product_ids == ("DM-WATCH-10",)
        assert ask("裤子多少钱", demo).product_ids == ("DM-JEAN-04",)

    def test_a_chinese_character_inside_a_word_is_not_the_product(
        self, demo: CatalogSnapshot
    ) -> None:
        # 帽 is in 连帽卫衣 (hooded sweatshirt) but a 帽子 (hat) is not a hoodie; 裙 is the
        # head of 连衣裙, so 裙子 is the dress.
        hats = ask("有没有帽子", demo)
        assert hats.handoff is not None and hats.product_ids == ()
        assert ask("连帽的多少钱", demo).product_ids == ("DM-HOOD-02",)
        assert ask("裙子多少钱", demo).product_ids == ("DM-DRESS-03",)

    def test_english_synonyms_and_plurals(self, demo: CatalogSnapshot) -> None:
        assert ask("t-shirt price?", demo).product_ids == ("DM-TEE-01",)
        assert ask("how much are the dresses", demo).product_ids == ("DM-DRESS-03",)
        assert ask("trainers price", demo).product_ids == ("DM-SNEAK-05",)

    def test_cross_language_name(self, demo: CatalogSnapshot) -> None:
        # An English question about a product, answered in English from the same record.
        answer = ask("how much is the 羊绒围巾?", demo)
        assert answer.product_ids == ("DM-SCARF-07",) and "$89.00" in answer.text

    def test_two_products_named_two_answered(self, demo: CatalogSnapshot) -> None:
        assert set(ask("T恤和卫衣多少钱", demo).product_ids) == {"DM-TEE-01", "DM-HOOD-02"}

    def test_body_text_finds_a_product_without_context(self, demo: CatalogSnapshot) -> None:
        answer = ask("anything with hyaluronic acid?", demo)
        assert answer.product_ids == ("DM-CREAM-09",)

    def test_merchant_colour_names_unknown_to_the_lexicon(self) -> None:
        snap = CatalogSnapshot(
            merchant_id="m",
            products=(
                ProductDoc(
                    id="p1",
                    name="Linen Shirt",
                    price=3000,
                    variants=(
                        VariantDoc(id="v1", color="sand", color_zh="沙色", size="M", stock=4),
                        VariantDoc(id="v2", color="sage", color_zh="鼠尾草绿", size="M", stock=0),
                    ),
                ),
            ),
        )
        room = RoomContext(pinned_product_id="p1")
        assert "4" in ask("有沙色吗", snap, room).text
        assert "sand" in ask("in sand?", snap, room).text
