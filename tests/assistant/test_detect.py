from __future__ import annotations

import pytest

from assistant import detect_language, detect_question, question_key
from assistant.engine.detect import strip_mention


@pytest.mark.parametrize(
    "text",
    [
        "有红色吗",
        "M码还有吗",
        "这件多少钱",
        "能寄到马来西亚吗",
        "价格",
        "包邮",
        "XL码",
        "3号链接",
        "what sizes?",
        "how much is the hoodie",
        "ship to Malaysia?",
        "is the dress silk",
        "Do you have it in red",
        "price",
        "any discount",
        "ＸＬ有吗？",
        # No question mark, but a question for the assistant all the same:
        "羊绒围巾",
        "黑色xl",
        "手表多大",
        "这个灯有几档色温",
        "裙子是长款还是短款",
        "介绍一下这款",
        "tell me about the lamp",
        "lamp price pls",
        # Order problems, complaints and asking for a person go to the assistant too, so
        # that it offers a consult and flags them for the host:
        "我买的卫衣还没收到",
        "东西收到是坏的",
        "this is a scam",
        "the hoodie I got has a hole in it",
        "偏大还是偏小",
        "人工客服",
    ],
)
def test_questions_are_detected(text: str) -> None:
    assert detect_question(text).is_question


@pytest.mark.parametrize(
    "text",
    [
        "哈哈哈哈",
        "666666",
        "主播好美",
        "好看",
        "❤️❤️❤️",
        "来了来了",
        "love it",
        "wow",
        "",
        "   ",
        "😂😂",
        "!!!",
        "裙子好好看",
        "还是这个好看",
        "主播穿M码好看",
        "the dress is lovely",
        "I love the red one",
        "拍了三件",
    ],
)
def test_chat_is_not_a_question(text: str) -> None:
    assert not detect_question(text).is_question


class TestMentions:
    def test_mention_is_stripped_and_always_a_question(self) -> None:
        got = detect_question("@assistant 羊绒围巾")
        assert got.is_question and got.mentioned and got.text == "羊绒围巾"

    def test_mentions_only_ignores_unmentioned_questions(self) -> None:
        assert not detect_question("有红色吗", mentions_only=True).is_question
        assert detect_question("@assistant 有红色吗", mentions_only=True).is_question

    def test_renamed_assistant(self) -> None:
        got = detect_question("＠小美 有红色吗", name="小美", mentions_only=True)
        assert got.is_question and got.text == "有红色吗"
        assert not detect_question("@小丽 有红色吗", name="小美", mentions_only=True).is_question

    def test_default_names_still_work_after_renaming(self) -> None:
        assert strip_mention("@小助手 多少钱", "Lulu") == ("多少钱", True)
        assert strip_mention("@Lulu: how much?", "lulu") == ("how much?", True)

    def test_a_longer_handle_is_not_the_assistant(self) -> None:
        assert strip_mention("@assistants hi", "assistant") == ("@assistants hi", False)

    def test_bare_mention_is_not_a_question(self) -> None:
        assert not detect_question("@assistant").is_question


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("有红色吗", "zh"),
        ("M码还有吗", "zh"),
        ("有XL吗", "zh"),
        ("Classic Cotton Tee 多少钱", "zh"),
        ("LED台灯多少钱", "zh"),
        ("what sizes?", "en"),
        ("Is 红色 available?", "en"),
        ("do you have it in 红色", "en"),
        ("😍😍", "en"),
    ],
)
def test_language_follows_the_question(text: str, lang: str) -> None:
    assert detect_language(text) == lang


class TestQuestionKey:
    def test_same_question_same_key(self) -> None:
        key = question_key("有红色吗")
        assert question_key("@assistant 有红色吗？？") == key
        assert question_key("有 红色 吗!") == key
        assert question_key("有红色") == key

    def test_case_and_width_do_not_matter(self) -> None:
        assert question_key("ＸＬ码有吗") == question_key("xl码有吗")
        assert question_key("How much?") == question_key("how much")

    def test_different_questions_differ(self) -> None:
        assert question_key("有红色吗") != question_key("有黑色吗")

    def test_key_is_short_and_bounded(self) -> None:
        assert len(question_key("啊" * 1_000_000)) == 20
