"""Text normalisation and tokenisation for Chinese, English and mixed danmaku.

No model and no dictionary: CJK runs become overlapping bigrams plus unigrams (bigrams carry
words such as 红色/手表, unigrams let 裙子 find 连衣裙), Latin runs become case-folded words
with a light plural/suffix stemmer. NFKC turns full-width forms (ＸＬ, ？, １９) into ASCII.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Danmaku are short; anything longer is cut so that tokenising stays bounded.
MAX_QUESTION_CHARS = 500
MAX_QUERY_TOKENS = 96

# C0/C1 controls and line/paragraph separators become a space (words on either side stay
# apart). Zero-width characters, bidi controls, variation selectors and the BOM are invisible,
# so they are dropped: "多\u200b少钱" reads, and must match, as 多少钱.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufe00-\ufe0f\ufeff]")
_SPACES = re.compile(r"\s+")

_CJK_CLASS = (
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified
    "\uac00-\ud7af"  # hangul
    "\uf900-\ufaff"  # compatibility ideographs
)
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_RUNS = re.compile(rf"([{_CJK_CLASS}]+)|([a-z0-9]+(?:\.[0-9]+)?)")


def clean(text: str, limit: int = MAX_QUESTION_CHARS) -> str:
    """Display-safe text: invisible/control characters removed, whitespace collapsed, cut to
    `limit` characters. The shopper's own characters (full-width punctuation, case) stay."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    # Cut early: cleaning a megabyte only to throw most of it away wastes time.
    text = _CONTROL.sub(" ", _INVISIBLE.sub("", text[: limit * 4]))
    return _SPACES.sub(" ", text).strip()[:limit]


def fold_width(text: str) -> str:
    """NFKC: full-width forms to ASCII (ＸＬ -> XL, ？ -> ?), compatibility characters to
    their plain form. Case is kept."""
    return unicodedata.normalize("NFKC", text)


def normalize(text: str, limit: int = MAX_QUESTION_CHARS) -> str:
    """`clean`, NFKC and case folding: the form every lexicon pattern and the index match."""
    return _SPACES.sub(" ", fold_width(clean(text, limit))).strip().casefold()


def is_han(char: str) -> bool:
    return bool(_HAN.match(char))


def han_count(text: str) -> int:
    return len(_HAN.findall(text))


# Words whose plural or spelling the suffix rules get wrong.
_IRREGULAR = {
    "hoodies": "hoodie",
    "colours": "color",
    "colour": "color",
    "colors": "color",
    "grey": "gray",
    "women": "woman",
    "men": "man",
    "children": "child",
    "jeans": "jean",
    "moisturiser": "moisturizer",
    "aluminium": "aluminum",
    "accessories": "accessory",
}


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """A deliberately small English stemmer: plurals, -ing, -ed, -able. Applied to both the
    index and the question, so it only has to be consistent, not linguistically right."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix in ("able", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and len(word) > 5:
            base = word[: -len(suffix)]
            # shipping -> shipp -> ship, dimmable -> dimm -> dim
            if len(base) >= 4 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]
            return base
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def latin_words(normalized: str) -> list[str]:
    return [m.group(2) for m in _RUNS.finditer(normalized) if m.group(2)]


def cjk_runs(normalized: str) -> list[str]:
    return [m.group(1) for m in _RUNS.finditer(normalized) if m.group(1)]


def tokens(
    normalized: str,
    *,
    stop_words: frozenset[str] = frozenset(),
    stop_chars: frozenset[str] = frozenset(),
    limit: int | None = None,
) -> list[str]:
    """Tokens of already-normalised text, in order: stemmed Latin words and numbers; for each
    CJK run its unigrams (minus `stop_chars`) and overlapping bigrams."""
    out: list[str] = []
    for match in _RUNS.finditer(normalized):
        cjk, word = match.group(1), match.group(2)
        if word:
            if word not in stop_words:
                out.append(stem(word))
        elif cjk:
            for i, ch in enumerate(cjk):
                if ch not in stop_chars:
                    out.append(ch)
                if i + 1 < len(cjk):
                    out.append(cjk[i : i + 2])
        if limit is not None and len(out) >= limit:
            return out[:limit]
    return out


def units(
    normalized: str,
    *,
    stop_words: frozenset[str] = frozenset(),
    stop_chars: frozenset[str] = frozenset(),
) -> list[str]:
    """The content units of a question: stemmed Latin words and single CJK characters,
    without stop words. Used to measure how much of a question a document explains."""
    out: list[str] = []
    for match in _RUNS.finditer(normalized):
        cjk, word = match.group(1), match.group(2)
        if word and word not in stop_words:
            out.append(stem(word))
        elif cjk:
            out.extend(ch for ch in cjk if ch not in stop_chars)
    return out[:MAX_QUERY_TOKENS]
