"""Okapi BM25 over pre-tokenised documents, with an inverted index so that a query touches
only the documents that share a term with it (cost grows with matches, not catalog size)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Hit:
    doc: int
    score: float
    matched: frozenset[str]


class BM25Index:
    """Documents are token lists, addressed by their position. Immutable once built."""

    def __init__(self, docs: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.n_docs = len(docs)
        self.doc_len = [len(d) for d in docs]
        self.avg_len = (sum(self.doc_len) / self.n_docs) if self.n_docs else 0.0
        self.doc_terms: list[frozenset[str]] = []
        postings: dict[str, list[tuple[int, int]]] = {}
        for i, doc in enumerate(docs):
            counts = Counter(doc)
            self.doc_terms.append(frozenset(counts))
            for term, tf in counts.items():
                postings.setdefault(term, []).append((i, tf))
        self.postings = postings
        self.idf = {
            term: math.log(1 + (self.n_docs - len(p) + 0.5) / (len(p) + 0.5))
            for term, p in postings.items()
        }

    def term_idf(self, term: str) -> float:
        """IDF of a term; a term no document has gets the highest possible value."""
        if term in self.idf:
            return self.idf[term]
        return math.log(1 + (self.n_docs + 0.5) / 0.5)

    def search(
        self, query: Iterable[str], *, top_k: int = 10, only: frozenset[int] | None = None
    ) -> list[Hit]:
        """Documents sharing at least one term with `query`, best first (ties by position,
        so results are deterministic). `only` restricts the candidates."""
        scores: dict[int, float] = {}
        matched: dict[int, set[str]] = {}
        for term in dict.fromkeys(query):  # each distinct term once, in order
            posting = self.postings.get(term)
            if not posting:
                continue
            idf = self.idf[term]
            for doc, tf in posting:
                if only is not None and doc not in only:
                    continue
                norm = self.k1 * (1 - self.b + self.b * self.doc_len[doc] / (self.avg_len or 1))
                scores[doc] = scores.get(doc, 0.0) + idf * tf * (self.k1 + 1) / (tf + norm)
                matched.setdefault(doc, set()).add(term)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:top_k]
        return [Hit(doc, score, frozenset(matched[doc])) for doc, score in ranked]
