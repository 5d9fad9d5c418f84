from __future__ import annotations

import pytest

from assistant.engine.bm25 import BM25Index


@pytest.fixture
def index() -> BM25Index:
    return BM25Index(
        [
            ["red", "silk", "dress"],
            ["red", "cotton", "tee"],
            ["black", "jeans", "jeans", "denim"],
            [],
        ]
    )


def test_documents_sharing_rare_terms_rank_first(index: BM25Index) -> None:
    hits = index.search(["silk", "red"])
    assert [h.doc for h in hits] == [0, 1]
    assert hits[0].matched == frozenset({"silk", "red"})
    assert hits[1].matched == frozenset({"red"})


def test_rare_terms_weigh_more(index: BM25Index) -> None:
    assert index.idf["silk"] > index.idf["red"]
    assert index.term_idf("unknown") > index.idf["silk"]


def test_term_frequency_counts_with_saturation(index: BM25Index) -> None:
    (hit,) = index.search(["jeans"])
    (single,) = BM25Index([["jeans", "black", "x", "y"]]).search(["jeans"])
    assert hit.doc == 2 and hit.score > 0 and single.score > 0


def test_no_shared_term_no_hit(index: BM25Index) -> None:
    assert index.search(["lamp"]) == []
    assert index.search([]) == []


def test_only_restricts_candidates(index: BM25Index) -> None:
    assert [h.doc for h in index.search(["red"], only=frozenset({1}))] == [1]


def test_ties_are_deterministic() -> None:
    idx = BM25Index([["a", "b"], ["a", "b"], ["a", "b"]])
    assert [h.doc for h in idx.search(["a"])] == [0, 1, 2]


def test_repeated_query_terms_count_once(index: BM25Index) -> None:
    assert index.search(["red", "red", "red"])[0].score == index.search(["red"])[0].score


def test_top_k(index: BM25Index) -> None:
    assert len(index.search(["red"], top_k=1)) == 1


def test_empty_index() -> None:
    assert BM25Index([]).search(["x"]) == []
