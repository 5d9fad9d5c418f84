"""Is a chat message a question for the assistant, and in which language?

Runs on every danmaku message of a room with the assistant on, so it is regex-only and
bounded (the message is cut to MAX_QUESTION_CHARS first).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from . import intents, lexicon
from .tokenize import MAX_QUESTION_CHARS, clean, han_count, latin_words, normalize

MAX_NAME_CHARS = 32

_ZH_QUESTION = re.compile(
    r"[吗嘛呢么]|多少|几[个件号码块元天种色]|什么|啥|哪|怎么|怎样|如何|是否|能不能|可不可以|有没有|有木有|是不是|要不要|会不会"
    r"|[有能会可]不[有能会可]|还有|有.{0,6}[吗嘛么]|求|请问|问一下|想问|咨询|多[大长宽高重厚久]"
    r"|几[档层斤克寸米双条款只套年月岁次]|是.{1,8}还是"
)
_EN_QUESTION_START = re.compile(
    r"^(what|what's|whats|which|how|when|where|who|why|is|are|do|does|did|can|could|will|would"
    r"|should|any|anything|got|have|has|may|price|size|sizes|colou?rs?|ship|shipping)\b"
)
_EN_QUESTION_ANY = re.compile(
    r"how much|in stock|available|do you (have|ship|sell|accept)|can i|is there|are there|sold out"
)
# Cheers, emoji floods and "666" are chat, not questions.
_NOISE = re.compile(r"^[\W\d_]*$|^(哈|h[ae]|2|6|好|赞|来了|爱了|冲|lol|wow|nice|love|yay)+[\W]*$")


@dataclass(frozen=True)
class Detection:
    is_question: bool
    mentioned: bool
    text: str  # the message without the @mention, cleaned
    lang: str  # "zh" | "en"


def _mention_re(name: str) -> re.Pattern[str]:
    names = {normalize(name, limit=MAX_NAME_CHARS) or "assistant", "assistant", "小助手", "助手"}
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"[@＠]\s*(?:{alternatives})(?![a-z0-9])[\s,:，：]*", re.IGNORECASE)


def strip_mention(text: str, name: str = "assistant") -> tuple[str, bool]:
    """(`text` without "@<name>", whether it was there). "@assistant" and "@小助手" always work,
    whatever the merchant renamed the assistant to."""
    pattern = _mention_re(name)
    stripped, count = pattern.subn(" ", text)
    return re.sub(r"\s+", " ", stripped).strip(), count > 0


def detect_language(text: str) -> str:
    """ "zh" when Chinese carries the sentence, else "en". Mixed messages go by weight: two
    Han characters count as much as one Latin word, so "M码还有吗" is Chinese and
    "do you have it in 红色?" is English."""
    norm = normalize(text)
    han = han_count(norm)
    if not han:
        return "en"
    if _ZH_QUESTION.search(norm):
        return "zh"  # a Chinese question form decides: "Classic Tee 多少钱" is Chinese
    words = [w for w in latin_words(norm) if not w.isdigit()]
    return "zh" if han >= len(words) * 2 - 1 else "en"


def detect_question(
    text: str, *, name: str = "assistant", mentions_only: bool = False
) -> Detection:
    """Decide whether a chat message should reach the assistant."""
    body, mentioned = strip_mention(clean(text), name)
    lang = detect_language(body)
    if not body or (mentions_only and not mentioned):
        return Detection(False, mentioned, body, lang)
    norm = normalize(body)
    if _NOISE.match(norm):
        return Detection(False, mentioned, body, lang)
    if mentioned:
        return Detection(True, True, body, lang)
    is_question = (
        "?" in norm
        or bool(_ZH_QUESTION.search(norm))
        or bool(_EN_QUESTION_START.match(norm))
        or bool(_EN_QUESTION_ANY.search(norm))
        or _is_shop_query(norm)
        or _needs_a_human(norm)
        or bool(intents.SUMMARY_RE.search(norm))  # "介绍一下", "tell me about the lamp"
        or _bare_product(norm)
    )
    return Detection(is_question, False, body, lang)


def _needs_a_human(norm: str) -> bool:
    """Order problems, complaints and asking for a person are rarely phrased as questions
    ("我买的卫衣还没收到", "this is a scam") but must reach the assistant: it answers that a
    human will help, offers a consult and flags them for the host."""
    return bool(
        intents.ORDER_RE.search(norm)
        or intents.COMPLAINT_RE.search(norm)
        or intents.HUMAN_RE.search(norm)
        or intents.SIZE_ADVICE_RE.search(norm)
    )


_SIZE_RE = re.compile(
    r"(?<![a-z])(?:xxxl|xxl|3xl|2xl|xl|xs|s|m|l)(?![a-z])|(?<![0-9])[0-9]{2}(?![0-9])码?|码"
)
_PRODUCT_WORDS_RE = re.compile(
    f"{lexicon.CONCEPT_RE.pattern}|{lexicon.COLOR_RE.pattern}|{lexicon.MATERIAL_RE.pattern}"
    f"|{_SIZE_RE.pattern}|[\\s的]"
)


def _bare_product(norm: str) -> bool:
    """A message that is only a kind of product, maybe with its colour, size or material
    ("羊绒围巾", "red dress", "黑色xl"): the viewer is asking for it. "裙子好好看" says more."""
    if len(norm) > 16:
        return False
    named = bool(lexicon.CONCEPT_RE.search(norm)) or (
        bool(lexicon.COLOR_RE.search(norm)) and bool(_SIZE_RE.search(norm))
    )
    return named and not _PRODUCT_WORDS_RE.sub("", norm).strip()


def _is_shop_query(norm: str) -> bool:
    """Short messages that are a shop question without a question word: "价格", "M码",
    "包邮", "链接". Longer statements without question form are chat."""
    # Short: a longer statement that mentions a price or a size is chat. Latin words are
    # longer than Han characters, so English gets more room ("lamp price pls").
    if len(norm) > (12 if han_count(norm) else 24):
        return False
    return bool(
        intents.PRICE_RE.search(norm)
        or intents.SHIPPING_RE.search(norm)
        or intents.SIZES_WORD_RE.search(norm)
        or intents.MATERIAL_RE.search(norm)
        or intents.STOCK_STRONG_RE.search(norm)
        or re.search(r"链接|尺码|[0-9a-z]+码$", norm)
    )


_KEY_STRIP = re.compile(r"[\W_]+")
_KEY_TAIL = re.compile(r"(呢|吗|嘛|么|呀|啊|哦|啦|please|pls|plz|thanks|thx)+$")


def question_key(text: str, *, name: str = "assistant") -> str:
    """A short stable key for de-duplicating the same question in a room: mention,
    punctuation, spaces, case, width and trailing particles do not matter
    ("@assistant 有红色吗？？" and "有红色吗" share a key)."""
    body, _ = strip_mention(clean(text, MAX_QUESTION_CHARS), name)
    norm = _KEY_STRIP.sub("", normalize(body))
    norm = _KEY_TAIL.sub("", norm) or norm
    return hashlib.blake2b(norm.encode(), digest_size=10).hexdigest()
