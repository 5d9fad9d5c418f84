"""Assistant reads, always merchant-scoped; Http404 for missing and foreign rows alike.

`room_settings_cached` is what the chat path asks on every message: a process-local cache
(positive and negative, `LIVESHOP_ASSISTANT_SETTINGS_TTL_S`), so a room with the assistant
off costs no database work per message. Writes through `services` drop this process' entry;
other processes see a change within the TTL."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from liveshop.tenancy.models import Merchant
from liveshop.tenancy.scope import tenant_scope
from rooms.models import Room

from .models import (
    DEFAULT_NAME,
    FaqEntry,
    Handoff,
    HandoffStatus,
    Question,
    QuestionStatus,
    RoomAssistant,
    VirtualShow,
)


@dataclass(frozen=True)
class RoomSettings:
    enabled: bool
    mentions_only: bool
    name: str
    show_stock_counts: bool


OFF = RoomSettings(enabled=False, mentions_only=False, name=DEFAULT_NAME, show_stock_counts=True)

_settings_cache: dict[int, tuple[float, RoomSettings]] = {}
_settings_lock = threading.Lock()
SETTINGS_CACHE_MAX = 10_000


def room_settings(*, merchant: Merchant | int, room: Room | int) -> RoomSettings:
    """The room's assistant settings from the database (OFF when it has none)."""
    merchant_id: int = merchant.id if isinstance(merchant, Merchant) else merchant
    room_id: int = room.pk if isinstance(room, Room) else room
    row = (
        RoomAssistant.objects.filter(merchant_id=merchant_id, room_id=room_id)
        .values_list("enabled", "mentions_only", "display_name", "show_stock_counts")
        .first()
    )
    if row is None:
        return OFF
    return RoomSettings(enabled=row[0], mentions_only=row[1], name=row[2], show_stock_counts=row[3])


def room_settings_peek(room_id: int) -> RoomSettings | None:
    """The cached settings of a room without touching the database (None: not cached)."""
    with _settings_lock:
        hit = _settings_cache.get(room_id)
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def room_settings_map(*, merchant: Merchant) -> dict[int, RoomSettings]:
    """Every room's settings of the merchant that has a row (the others are OFF)."""
    return {
        room_id: RoomSettings(enabled=e, mentions_only=m, name=n, show_stock_counts=c)
        for room_id, e, m, n, c in RoomAssistant.objects.filter(merchant=merchant).values_list(
            "room_id", "enabled", "mentions_only", "display_name", "show_stock_counts"
        )
    }


def room_settings_cached(*, merchant_id: int, room_id: int) -> RoomSettings:
    now = time.monotonic()
    with _settings_lock:
        hit = _settings_cache.get(room_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    with tenant_scope(merchant_id):
        value = room_settings(merchant=merchant_id, room=room_id)
    with _settings_lock:
        if len(_settings_cache) >= SETTINGS_CACHE_MAX:
            _settings_cache.clear()  # rooms come and go; a full reset is cheap and bounded
        _settings_cache[room_id] = (now + settings.LIVESHOP_ASSISTANT_SETTINGS_TTL_S, value)
    return value


def room_settings_forget(room_id: int | None = None) -> None:
    with _settings_lock:
        if room_id is None:
            _settings_cache.clear()
        else:
            _settings_cache.pop(room_id, None)


def room_assistant_get(*, merchant: Merchant, room: Room) -> RoomAssistant | None:
    return RoomAssistant.objects.filter(merchant=merchant, room=room).first()


# --- FAQ -------------------------------------------------------------------------------------


def faq_list(*, merchant: Merchant) -> QuerySet[FaqEntry]:
    return FaqEntry.objects.filter(merchant=merchant).order_by("position", "id")


def faq_get(*, merchant: Merchant, faq_id: int) -> FaqEntry:
    entry = FaqEntry.objects.filter(merchant=merchant, pk=faq_id).first()
    if entry is None:
        raise Http404("No such FAQ entry.")
    return entry


# --- questions ---------------------------------------------------------------------------


def question_list(*, merchant: Merchant, room: Room | None = None, status: str = "") -> QuerySet:
    questions = Question.objects.filter(merchant=merchant).select_related("room")
    if room is not None:
        questions = questions.filter(room=room)
    if status:
        questions = questions.filter(status=status)
    return questions.order_by("-id")


def unanswered(*, merchant: Merchant, room: Room, limit: int = 50) -> list[Question]:
    """What the host console lists: questions the assistant left for a human, oldest
    first (they have waited longest)."""
    return list(
        question_list(merchant=merchant, room=room, status=QuestionStatus.UNANSWERED).order_by(
            "id"
        )[:limit]
    )


def question_get(*, merchant: Merchant, room: Room, question_id: int) -> Question:
    question = (
        Question.objects.filter(merchant=merchant, room=room, pk=question_id)
        .select_related("room")
        .first()
    )
    if question is None:
        raise Http404("No such question.")
    return question


def question_counts(*, merchant: Merchant) -> dict[str, int]:
    since = timezone.now() - timedelta(days=1)
    row = Question.objects.filter(merchant=merchant).aggregate(
        unanswered=Count("id", filter=Q(status=QuestionStatus.UNANSWERED)),
        answered_today=Count(
            "id", filter=Q(status=QuestionStatus.ANSWERED, answered_at__gte=since)
        ),
    )
    return {k: row[k] or 0 for k in ("unanswered", "answered_today")}


def room_question_stats(*, merchant: Merchant) -> dict[int, dict[str, int]]:
    """Per room: questions answered by the assistant and waiting for the host."""
    rows = (
        Question.objects.filter(merchant=merchant)
        .values("room_id")
        .annotate(
            answered=Count("id", filter=Q(status=QuestionStatus.ANSWERED)),
            waiting=Count("id", filter=Q(status=QuestionStatus.UNANSWERED)),
        )
    )
    return {r["room_id"]: {"answered": r["answered"], "waiting": r["waiting"]} for r in rows}


# --- hand-offs -------------------------------------------------------------------------------


def handoff_list(*, merchant: Merchant, status: str = HandoffStatus.OPEN) -> QuerySet[Handoff]:
    handoffs = Handoff.objects.filter(merchant=merchant).select_related(
        "question", "room", "shopper", "pinned_product"
    )
    if status:
        handoffs = handoffs.filter(status=status)
    return handoffs.order_by("-id")


def shopper_handoff_get(*, merchant: Merchant, shopper: Any, handoff_id: int) -> Handoff:
    """A shopper's own hand-off (404 for anyone else's)."""
    handoff = (
        Handoff.objects.filter(merchant=merchant, pk=handoff_id, shopper_id=shopper.pk)
        .select_related("question", "room", "pinned_product")
        .first()
    )
    if handoff is None:
        raise Http404("No such hand-off.")
    return handoff


# --- virtual host ----------------------------------------------------------------------------


def show_get(*, merchant: Merchant, room: Room) -> VirtualShow | None:
    return VirtualShow.objects.filter(merchant=merchant, room=room).first()


def show_list(*, merchant: Merchant) -> QuerySet[VirtualShow]:
    return (
        VirtualShow.objects.filter(merchant=merchant)
        .select_related("room")
        .annotate(n_entries=Count("entries"))
        .order_by("starts_at", "id")
    )
