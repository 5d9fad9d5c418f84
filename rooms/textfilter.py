"""Keyword filter for chat: catches listed words in Chinese and English, including the usual
evasions — full-width letters (ｆｕｃｋ), spacing and punctuation between characters
(f u c k, 傻-逼), zero-width characters and letter case.

Matching runs on normalised forms of the text: NFKC (folds full-width forms), case-folded,
zero-width characters dropped.

- Chinese (and other non-Latin) words match anywhere in the "skeleton" (everything but
  letters, digits and ideographs removed: 傻-逼, 傻 逼), and pure-ideograph words also in the
  ideographs-only form, so Latin letters or digits slipped in between (傻x逼) do not hide them.
- Latin words match at the start or end of a word of the text (`bullshit`, `fucking`), so a
  listed word hidden inside another (Scunthorpe) does not trip the filter. Words spelled out
  letter by letter (f u c k, F.U.C.K, f-u-c-k-ing) are joined first, and the usual digit and
  symbol stand-ins are read as letters (sh1t, $hit, @sshole).
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


_LATIN_WORD = re.compile(r"^[a-z0-9]+$")
_LATIN_TOKEN = re.compile(r"[a-z0-9@$]+")
_NOT_IDEOGRAPH = re.compile(r"[^\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LEET = str.maketrans("0134578@$", "oieastbas")


def latin_words(text: str) -> list[str]:
    """The text's Latin words, case-folded, runs of single letters joined (f u c k → fuck),
    digit/symbol stand-ins read as letters (sh1t → shit)."""
    folded = unicodedata.normalize("NFKC", text.translate(_INVISIBLE)).casefold()
    words: list[str] = []
    run = ""
    for token in _LATIN_TOKEN.findall(folded):
        if len(token) == 1:
            run += token
            continue
        if run:
            words.append(run)
            run = ""
        words.append(token)
    if run:
        words.append(run)
    return [w.translate(_LEET) for w in words]


@dataclass(frozen=True)
class _Words:
    """Listed words as a set plus their lengths: a lookup per (position, length) instead of a
    regex alternation that tries every word at every position."""

    words: frozenset[str]
    lengths: tuple[int, ...]

    @classmethod
    def of(cls, words: Iterable[str]) -> _Words:
        found = frozenset(words)
        return cls(found, tuple(sorted({len(w) for w in found}, reverse=True)))

    def inside(self, text: str) -> str | None:
        for i in range(len(text)):
            for n in self.lengths:
                piece = text[i : i + n]
                if len(piece) == n and piece in self.words:
                    return piece
        return None

    def at_edges(self, word: str) -> str | None:
        for n in self.lengths:
            if n <= len(word):
                if word[:n] in self.words:
                    return word[:n]
                if word[-n:] in self.words:
                    return word[-n:]
        return None


@dataclass(frozen=True)
class KeywordFilter:
    words: tuple[str, ...]

    def find(self, text: str) -> str | None:
        """The first listed word hidden in `text`, or None."""
        plain = skeleton(text)
        if not plain:
            return None
        latin, other, ideographic = _split(self.words)
        found = other.inside(plain)
        if found:
            return found
        if ideographic.words:
            ideographs = _NOT_IDEOGRAPH.sub("", plain)
            if ideographs and ideographs != plain:
                found = ideographic.inside(ideographs)
                if found:
                    return found
        if latin.words:
            for word in latin_words(text):
                found = latin.at_edges(word)
                if found:
                    return found
        return None


@lru_cache(maxsize=256)
def _split(words: tuple[str, ...]) -> tuple[_Words, _Words, _Words]:
    """(Latin words, the others, the others made of ideographs only)."""
    latin = [w for w in words if _LATIN_WORD.match(w)]
    other = [w for w in words if not _LATIN_WORD.match(w)]
    return (
        _Words.of(latin),
        _Words.of(other),
        _Words.of(w for w in other if not _NOT_IDEOGRAPH.search(w)),
    )


def keyword_filter(merchant_words: Iterable[str] = ()) -> KeywordFilter:
    words = {skeleton(w) for w in (*DEFAULT_KEYWORDS, *merchant_words)}
    return KeywordFilter(tuple(sorted(w for w in words if len(w) >= 2)))


def custom_filter(words: Iterable[str]) -> KeywordFilter:
    """Only these words (a merchant who turned the built-in list off)."""
    found = {skeleton(w) for w in words}
    return KeywordFilter(tuple(sorted(w for w in found if len(w) >= 2)))
