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


# --- the Django app: rooms with the assistant on, published events ------------------------------

import time  # noqa: E402
from typing import Any  # noqa: E402

from django.conf import settings as django_settings  # noqa: E402
from django.core.cache import cache  # noqa: E402

from assistant import selectors as assistant_selectors  # noqa: E402
from assistant.catalog import text_cache_clear  # noqa: E402
from assistant.models import FaqEntry, RoomAssistant  # noqa: E402
from liveshop.tenancy.scope import tenant_scope  # noqa: E402
from rooms.events import room_key  # noqa: E402
from rooms.models import RoomProduct  # noqa: E402
from tests.factories import ProductFactory, RoomFactory  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_assistant_caches() -> Iterator[None]:
    assistant_selectors.room_settings_forget()
    text_cache_clear()
    if "locmem" in django_settings.CACHES["default"]["BACKEND"].lower():
        cache.clear()  # process memory only; never FLUSHDB a shared Redis
    yield
    assistant_selectors.room_settings_forget()
    text_cache_clear()


def answers(published: list[tuple[str, dict[str, Any]]], room: Any = None) -> list[dict[str, Any]]:
    return [
        e
        for key, e in published
        if e["type"] == "assistant.answer" and (room is None or key == room_key(room))
    ]


def make_catalog(merchant: Any) -> dict[str, Any]:
    tee = ProductFactory.create(
        merchant=merchant,
        name="Classic Cotton Tee",
        name_zh="经典纯棉T恤",
        price=1900,
        category="tops",
        material="100% cotton",
        variants=[
            {
                "options": {"color": "white", "size": "M"},
                "options_zh": {"color": "白色", "size": "M"},
                "stock": 40,
            },
            {
                "options": {"color": "red", "size": "M"},
                "options_zh": {"color": "红色", "size": "M"},
                "stock": 0,
            },
        ],
    )
    hoodie = ProductFactory.create(
        merchant=merchant,
        name="Fleece Hoodie",
        name_zh="加绒连帽卫衣",
        price=4900,
        category="tops",
        variants=[
            {
                "options": {"color": "grey", "size": "L"},
                "options_zh": {"color": "灰色", "size": "L"},
                "stock": 12,
            },
        ],
    )
    with tenant_scope(merchant.id):
        faq = FaqEntry.objects.create(
            merchant=merchant,
            topic="shipping",
            question="Where do you ship?",
            answer="We ship to the United States and Canada. Delivery takes 3–7 business days.",
            answer_zh="我们发货到美国和加拿大，3-7个工作日送达。",
        )
    return {"tee": tee, "hoodie": hoodie, "faq": faq}


def make_room(
    merchant: Any, host: Any, products: list[Any], *, enabled: bool = True, **config: Any
) -> Any:
    room = RoomFactory.create(merchant=merchant, host=host)
    with tenant_scope(merchant.id):
        for i, p in enumerate(products):
            RoomProduct.objects.create(merchant=merchant, room=room, product=p, position=i)
        RoomAssistant.objects.create(merchant=merchant, room=room, enabled=enabled, **config)
    return room


def chat(room: Any, seq: int, text: str, user: Any, **extra: Any) -> dict[str, Any]:
    """A stored chat.message event as the chat service hands it to `chat_observed`."""
    who = {"id": user.pk, "name": user.display_name}
    ts = int(time.time() * 1000)  # the stream's clock: milliseconds
    return {"type": "chat.message", "seq": seq, "ts": ts, "user": who, "text": text, **extra}
