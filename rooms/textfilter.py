"""Keyword filter for chat: catches listed words in Chinese and English, including the usual
evasions — full-width letters (ｆｕｃｋ), spacing and punctuation between characters
(f u c k, 傻-逼), zero-width characters and letter case.

Matching runs on a normalised "skeleton" of the text: NFKC (folds full-width forms),
case-folded, with everything but letters, digits and CJK ideographs removed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

# A small default list; merchants add their own words (dashboard). Kept short on purpose:
# over-blocking a sales chat costs sales.
DEFAULT_KEYWORDS = (
    "fuck",
    "shit",
    "bitch",
    "asshole",
    "cunt",
    "nigger",
    "faggot",
    "retard",
    "傻逼",
    "煞笔",
    "操你",
    "草泥马",
    "他妈的",
    "去死",
    "贱人",
    "婊子",
    "脑残",
    "加微信",
    "加我微信",
    "vx",
    "代购",
    "刷单",
    "私聊下单",
)
_DROP = re.compile(r"[^\w]|_", re.UNICODE)
# Characters the NFKC fold leaves that people use as separators.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


def skeleton(text: str) -> str:
    """The text as the filter sees it: folded, lower-case, letters/digits/ideographs only."""
    folded = unicodedata.normalize("NFKC", text.translate(_INVISIBLE)).casefold()
    return _DROP.sub("", folded)


@dataclass(frozen=True)
class KeywordFilter:
    words: tuple[str, ...]

    def find(self, text: str) -> str | None:
        """The first listed word hidden in `text`, or None."""
        plain = skeleton(text)
        if not plain:
            return None
        match = _pattern(self.words).search(plain)
        return match.group(0) if match else None


@lru_cache(maxsize=256)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = sorted({w for w in words if w}, key=len, reverse=True)
    if not alternatives:
        return re.compile(r"(?!x)x")  # matches nothing
    return re.compile("|".join(map(re.escape, alternatives)))


def keyword_filter(merchant_words: Iterable[str] = ()) -> KeywordFilter:
    words = {skeleton(w) for w in (*DEFAULT_KEYWORDS, *merchant_words)}
    return KeywordFilter(tuple(sorted(w for w in words if len(w) >= 2)))
