"""The retrieval index of ONE merchant's snapshot, and a small process-wide cache of them.

An index is built from one `CatalogSnapshot` only, so it can only ever return that merchant's
documents. It stores token statistics and document positions, never user-visible values:
answers read names, prices and stock from the snapshot passed to each call. The cache key is
`(merchant_id, version)` — see `CatalogSnapshot.index_key`.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field

from . import lexicon
from .bm25 import BM25Index
from .lexicon import STOP_CHARS, STOP_WORDS
from .snapshot import CatalogSnapshot, PolicyDoc, ProductDoc
from .tokenize import cjk_runs, is_han, normalize, tokens, units

INDEX_CACHE_SIZE = 128

EmbedFn = Callable[[list[str]], list[list[float]]]

_POLICY_TOPIC_PATTERNS: dict[str, re.Pattern[str]] = {
    "shipping": re.compile(r"ship|deliver|postage|courier|发货|配送|运费|物流|快递|邮"),
    "returns": re.compile(r"return|refund|exchange|退|换货"),
    "payment": re.compile(r"pay|card|付款|支付"),
}


def _norm(*parts: str) -> str:
    return normalize(" ".join(p for p in parts if p), limit=20_000)


@dataclass
class _Embeddings:
    """Vectors of short texts, each tagged with the position of its product or policy.
    Names are embedded one by one (not name + description): a short query such as a
    misspelt product word is compared with short texts."""

    products: list[tuple[int, list[float]]] = field(default_factory=list)
    policies: list[tuple[int, list[float]]] = field(default_factory=list)


class CatalogIndex:
    """Token statistics over one snapshot's products and policies."""

    def __init__(self, snapshot: CatalogSnapshot) -> None:
        self.key = snapshot.index_key
        self.merchant_id = snapshot.merchant_id
        self.product_ids: list[str] = [p.id for p in snapshot.products]
        self.policy_ids: list[str] = [p.id for p in snapshot.policies]
        self.position: dict[str, int] = {pid: i for i, pid in enumerate(self.product_ids)}

        titles = [self._title_text(p) for p in snapshot.products]
        concepts = [lexicon.concept_tokens(t) for t in titles]
        self.title_tokens = [
            tokens(t, stop_words=STOP_WORDS, stop_chars=STOP_CHARS) + c
            for t, c in zip(titles, concepts, strict=True)
        ]
        # Units a title "explains": stemmed words, single CJK characters, concepts.
        self.title_units: list[frozenset[str]] = [
            frozenset(units(t, stop_words=STOP_WORDS) + c)
            for t, c in zip(titles, concepts, strict=True)
        ]
        self.title_token_sets = [frozenset(t) for t in self.title_tokens]
        # Chinese compounds are head-final: 连衣裙 is a kind of 裙, 连帽卫衣 a kind of 衣, not
        # of 帽. A lone character of a question matches a title only as its head (last
        # character of a CJK run) or inside a shared bigram, so 裙子 finds 连衣裙 and 帽子
        # does not find 连帽卫衣.
        self.title_heads = [frozenset(run[-1] for run in cjk_runs(t)) for t in titles]
        self.title = BM25Index(self.title_tokens)
        body_texts = [self._body_text(p) for p in snapshot.products]
        self.body = BM25Index(
            [tokens(t, stop_words=STOP_WORDS, stop_chars=STOP_CHARS) for t in body_texts]
        )
        self.body_units = [frozenset(units(t, stop_words=STOP_WORDS)) for t in body_texts]
        self.material_keys: list[frozenset[str]] = [
            frozenset(
                k
                for m in lexicon.MATERIAL_RE.finditer(_norm(p.material, p.material_zh))
                if (k := lexicon.material_of(m.group(0)))
            )
            for p in snapshot.products
        ]

        policy_texts = [self._policy_text(p) for p in snapshot.policies]
        self.policies = BM25Index(
            [tokens(t, stop_words=STOP_WORDS, stop_chars=STOP_CHARS) for t in policy_texts]
        )
        self.policy_units = [frozenset(units(t, stop_words=STOP_WORDS)) for t in policy_texts]
        # Every word this merchant's texts use: a question word outside it names
        # something the merchant does not sell.
        self.vocabulary: frozenset[str] = frozenset().union(
            *self.title_units, *self.body_units, *self.policy_units
        )
        self.policy_topics: list[frozenset[str]] = [
            self._policy_topics(p) for p in snapshot.policies
        ]

        # The merchant's own colour names, so "sand" or "雾霾蓝" are understood even when the
        # lexicon does not know them. Lexicon colours are matched by the lexicon itself.
        colors: dict[str, str | None] = {}
        seen: set[str] = set()
        for p in snapshot.products:
            for v in p.variants:
                for name in (v.color, v.color_zh):
                    if name in seen:
                        continue
                    seen.add(name)
                    key = normalize(name, limit=100)
                    if key and not lexicon.COLOR_RE.fullmatch(key):
                        colors[key] = lexicon.color_families(key)[0]
        self.merchant_colors = colors
        self.merchant_colors_re: re.Pattern[str] | None = (
            re.compile(lexicon.alternation(colors)) if colors else None
        )
        self._embeddings: dict[str, _Embeddings] = {}
        self._embed_lock = threading.Lock()

    # --- texts ---------------------------------------------------------------------------
    @staticmethod
    def _title_text(p: ProductDoc) -> str:
        return _norm(p.name, p.name_zh, p.category, p.sku)

    @staticmethod
    def _body_text(p: ProductDoc) -> str:
        colors = " ".join(f"{v.color} {v.color_zh}" for v in p.variants)
        return _norm(p.description, p.description_zh, p.material, p.material_zh, colors)

    @staticmethod
    def _policy_text(p: PolicyDoc) -> str:
        return _norm(p.topic, p.question, p.question_zh, p.answer, p.answer_zh)

    @staticmethod
    def _policy_topics(p: PolicyDoc) -> frozenset[str]:
        head = _norm(p.topic, p.question, p.question_zh)
        return frozenset(t for t, pattern in _POLICY_TOPIC_PATTERNS.items() if pattern.search(head))

    # --- queries -------------------------------------------------------------------------
    def title_coverage(
        self, doc: int, subject_units: Sequence[str], pairs: Mapping[str, Set[str]]
    ) -> frozenset[str]:
        """The question units this product's title explains; `pairs` gives, for each CJK
        character of the question, the bigrams it forms there."""
        covered = set()
        for u in subject_units:
            if len(u) == 1 and is_han(u):
                if u in self.title_heads[doc] or pairs.get(u, set()) & self.title_token_sets[doc]:
                    covered.add(u)
            elif u in self.title_units[doc]:
                covered.add(u)
        return frozenset(covered)

    def body_coverage(
        self, doc: int, subject_units: Sequence[str], pairs: Mapping[str, Set[str]]
    ) -> frozenset[str]:
        """Units explained by the title (as above) or found anywhere in the description."""
        title = self.title_coverage(doc, subject_units, pairs)
        return title | frozenset(u for u in subject_units if u in self.body_units[doc])

    def policy_for_topic(self, topic: str) -> int | None:
        for i, topics in enumerate(self.policy_topics):
            if topic in topics:
                return i
        return None

    def embeddings(
        self, provider_name: str, compute: EmbedFn, snapshot: CatalogSnapshot
    ) -> _Embeddings:
        """Document vectors for one embedding provider, computed once per index."""
        with self._embed_lock:
            cached = self._embeddings.get(provider_name)
            if cached is None:
                cached = _Embeddings(
                    products=_embed_tagged(
                        compute,
                        [
                            (i, t)
                            for i, p in enumerate(snapshot.products)
                            for t in (p.name, p.name_zh)
                        ],
                    ),
                    policies=_embed_tagged(
                        compute,
                        [
                            (i, t)
                            for i, p in enumerate(snapshot.policies)
                            for t in (p.question, p.question_zh, p.topic)
                        ],
                    ),
                )
                self._embeddings[provider_name] = cached
            return cached


def _embed_tagged(compute: EmbedFn, tagged: list[tuple[int, str]]) -> list[tuple[int, list[float]]]:
    tagged = [(i, t) for i, t in tagged if t.strip()]
    if not tagged:
        return []
    vectors = compute([t for _, t in tagged])
    return [(i, v) for (i, _), v in zip(tagged, vectors, strict=True)]


_cache: OrderedDict[tuple[str, str], CatalogIndex] = OrderedDict()
_cache_lock = threading.Lock()


def index_for(snapshot: CatalogSnapshot) -> CatalogIndex:
    """The index of this snapshot, built on first use and kept (LRU) per (merchant, version)."""
    key = snapshot.index_key
    with _cache_lock:
        index = _cache.get(key)
        if index is not None:
            _cache.move_to_end(key)
            return index
    index = CatalogIndex(snapshot)  # built outside the lock: other merchants need not wait
    with _cache_lock:
        _cache[key] = index
        _cache.move_to_end(key)
        while len(_cache) > INDEX_CACHE_SIZE:
            _cache.popitem(last=False)
    return index


def index_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def index_cache_size() -> int:
    with _cache_lock:
        return len(_cache)
