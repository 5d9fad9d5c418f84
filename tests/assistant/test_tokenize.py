from __future__ import annotations

import pytest

from assistant.engine.tokenize import MAX_QUESTION_CHARS, clean, normalize, stem, tokens, units


class TestNormalize:
    def test_full_width_forms_become_ascii(self) -> None:
        assert normalize("ＸＬ码有吗？") == "xl码有吗?"
        assert normalize("１９元") == "19元"

    def test_case_and_width_are_folded_but_clean_keeps_them(self) -> None:
        assert normalize("Red M") == "red m"
        assert clean("Red M，ＸＬ？") == "Red M，ＸＬ？"
        assert normalize("Red\u3000M") == "red m"

    def test_control_zero_width_and_bidi_characters_are_removed(self) -> None:
        assert clean("re\u200bd\x00dress\u202e\x07?") == "red dress ?"
        assert clean("\ufeff红\u2066色\u2028吗") == "红色 吗"

    def test_whitespace_is_collapsed_and_stripped(self) -> None:
        assert clean("  how \n\t much  ") == "how much"

    def test_length_is_bounded(self) -> None:
        assert len(clean("啊" * 100_000)) == MAX_QUESTION_CHARS
        assert len(clean("x" * 10, limit=3)) == 3

    def test_non_text_is_refused(self) -> None:
        with pytest.raises(TypeError):
            clean(None)  # type: ignore[arg-type]


class TestTokens:
    def test_chinese_gives_unigrams_and_bigrams(self) -> None:
        assert tokens("红色连衣裙") == [
            "红",
            "红色",
            "色",
            "色连",
            "连",
            "连衣",
            "衣",
            "衣裙",
            "裙",
        ]

    def test_chinese_stop_characters_drop_unigrams_not_bigrams(self) -> None:
        assert tokens("有红色吗", stop_chars=frozenset("有吗")) == [
            "有红",
            "红",
            "红色",
            "色",
            "色吗",
        ]

    def test_english_is_case_folded_stemmed_and_stop_words_removed(self) -> None:
        got = tokens(
            normalize("What SIZES do the Dresses come in"),
            stop_words=frozenset({"what", "do", "the", "in"}),
        )
        assert got == ["size", "dress", "come"]

    def test_mixed_text_splits_scripts(self) -> None:
        assert tokens(normalize("M码还有吗")) == [
            "m",
            "码",
            "码还",
            "还",
            "还有",
            "有",
            "有吗",
            "吗",
        ]
        assert tokens(normalize("LED台灯")) == ["led", "台", "台灯", "灯"]

    def test_numbers_are_tokens_and_emoji_are_not(self) -> None:
        assert tokens(normalize("38码 😍🔥 3.5 g")) == ["38", "码", "3.5", "g"]

    def test_limit(self) -> None:
        assert len(tokens("word " * 1000, limit=10)) == 10

    def test_units_are_words_and_single_characters(self) -> None:
        assert units("牛仔裤 jeans", stop_chars=frozenset("的")) == ["牛", "仔", "裤", "jean"]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("sizes", "size"),
        ("dresses", "dress"),
        ("watches", "watch"),
        ("hoodies", "hoodie"),
        ("accessories", "accessory"),
        ("colours", "color"),
        ("shipping", "ship"),
        ("shipped", "ship"),
        ("washable", "wash"),
        ("dimmable", "dim"),
        ("red", "red"),
        ("glass", "glass"),
        ("jeans", "jean"),
        ("xl", "xl"),
    ],
)
def test_stem(word: str, expected: str) -> None:
    assert stem(word) == expected
