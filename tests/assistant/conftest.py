"""Fixtures for the assistant engine tests: the demo catalog as snapshots, and rooms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from assistant import AssistantSettings, CatalogSnapshot, RoomContext, answer_question
from assistant.engine.answer import Answer
from assistant.engine.index import index_cache_clear
from commerce.demo_catalog import DEMO_CATALOG, DEMO_POLICIES

NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
APPAREL = ("DM-TEE-01", "DM-HOOD-02", "DM-DRESS-03", "DM-JEAN-04")


@pytest.fixture(autouse=True)
def _fresh_index_cache() -> Iterator[None]:
    index_cache_clear()
    yield
    index_cache_clear()


@pytest.fixture
def demo() -> CatalogSnapshot:
    return CatalogSnapshot.from_dicts(
        "demo", DEMO_CATALOG["demo"], DEMO_POLICIES["demo"], version="1"
    )


@pytest.fixture
def rival() -> CatalogSnapshot:
    return CatalogSnapshot.from_dicts(
        "rival", DEMO_CATALOG["rival"], DEMO_POLICIES["rival"], version="1"
    )


@pytest.fixture
def tee_room() -> RoomContext:
    return RoomContext(pinned_product_id="DM-TEE-01", lineup=APPAREL)


def ask(
    question: str,
    snapshot: CatalogSnapshot,
    room: RoomContext | None = None,
    settings: AssistantSettings | None = None,
) -> Answer:
    return answer_question(question, snapshot, room, settings, now=NOW)
