"""Assistant writes: room settings, the FAQ, the chat hook, answering, the host's replies.

The chat path calls ONE function, `chat_observed(room=, event=)`, after a chat message is
stored. It is cheap for everything that is not a question for an assistant that is on:
settings come from a process cache and detection is a few regexes. A question then passes
the per-room de-duplication window and rate limits and is queued as a Celery task once the
chat message's transaction commits. The task (`question_answer`) reads the catalog, answers
with the engine, stores the Question (unique per room + seq: a redelivered task does nothing
twice), records a hand-off when unsure, and publishes `assistant.answer` through
rooms/events.py.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache as django_cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from assistant.engine.detect import detect_language, detect_question, question_key
from assistant.engine.engine import AssistantInputError, AssistantSettings, answer_question
from assistant.engine.providers import embeddings_from_env, phraser_from_env
from assistant.engine.tokenize import clean
from commerce.services.common import actor_scope
from liveshop import ratelimit
from liveshop.accounts.models import User
from liveshop.tenancy.access import Actor
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.permissions import Perm
from liveshop.tenancy.scope import tenant_scope
from liveshop.tenancy.services import audit_record
from rooms.events import publish
from rooms.models import Room

from . import selectors
from .catalog import Catalog, catalog_load, product_cards, room_context, strip_variants
from .models import (
    FAQ_TEXT_MAX,
    NAME_MAX,
    QUESTION_MAX,
    FaqEntry,
    Handoff,
    HandoffStatus,
    Question,
    QuestionStatus,
    RoomAssistant,
)

log = logging.getLogger("liveshop.assistant")

MAX_FAQ_ENTRIES = 200
REPLY_MAX = 500
REPLY_PRODUCTS_MAX = 3
# Answer events must fit the room engine's per-event limit (8 KiB by default).
EVENT_BYTES_MAX = 7_500
# Hand-off reasons that leave the question to the host without offering a consult.
NO_CONSULT_REASONS = frozenset({"host_question"})
LATENCY_MS_MAX = 86_400_000
TOPIC_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069@＠#]")


# --- room settings ---------------------------------------------------------------------------

SETTINGS_FIELDS = ("enabled", "mentions_only", "display_name", "show_stock_counts")


def _clean_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError({"display_name": [_("Must be text.")]})
    name = " ".join(value.split())
    if not name or len(name) > NAME_MAX or _CONTROL_RE.search(name):
        raise ValidationError(
            {
                "display_name": [
                    _("Use 1–%(n)d characters, without @, # or control characters.")
                    % {"n": NAME_MAX}
                ]
            }
        )
    return name


def room_assistant_update(*, actor: Actor, room: Room, data: Mapping[str, Any]) -> RoomAssistant:
    """Create or change the assistant's settings in a room."""
    actor.require(Perm.MANAGE_ASSISTANT)
    unknown = set(data) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({k: [_("Unknown field.")] for k in sorted(unknown)})
    values: dict[str, Any] = {}
    for key in ("enabled", "mentions_only", "show_stock_counts"):
        if key in data:
            if not isinstance(data[key], bool):
                raise ValidationError({key: [_("Must be true or false.")]})
            values[key] = data[key]
    if "display_name" in data:
        values["display_name"] = _clean_name(data["display_name"])
    with actor_scope(actor):
        config, _created = RoomAssistant.objects.select_for_update().get_or_create(
            merchant=actor.merchant, room=room
        )
        for key, value in values.items():
            setattr(config, key, value)
        config.updated_at = timezone.now()
        config.save()
        audit_record(actor=actor, action="assistant.settings", obj=room, data=values)
    selectors.room_settings_forget(room.pk)
    return config


# --- FAQ -------------------------------------------------------------------------------------

FAQ_FIELDS = {
    "topic": 40,
    "question": 300,
    "answer": FAQ_TEXT_MAX,
    "question_zh": 300,
    "answer_zh": FAQ_TEXT_MAX,
}


def _faq_values(data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    unknown = set(data) - {*FAQ_FIELDS, "position", "is_active"}
    if unknown:
        raise ValidationError({k: [_("Unknown field.")] for k in sorted(unknown)})
    values: dict[str, Any] = {}
    for name, limit in FAQ_FIELDS.items():
        if name not in data:
            continue
        value = data[name] if data[name] is not None else ""
        if not isinstance(value, str):
            raise ValidationError({name: [_("Must be text.")]})
        value = clean(value, limit + 1).strip()
        if len(value) > limit:
            raise ValidationError({name: [_("At most %(n)d characters.") % {"n": limit}]})
        values[name] = value
    if "topic" in values or creating:
        topic = values.get("topic", "").lower()
        if not TOPIC_RE.match(topic):
            raise ValidationError(
                {
                    "topic": [
                        _(
                            "Use shipping, returns, payment or your own word "
                            "(lower-case letters, digits, - and _)."
                        )
                    ]
                }
            )
        values["topic"] = topic
    if "position" in data:
        position = data["position"]
        if (
            isinstance(position, bool)
            or not isinstance(position, int)
            or not 0 <= position <= 10_000
        ):
            raise ValidationError({"position": [_("Give a number from 0 to 10000.")]})
        values["position"] = position
    if "is_active" in data:
        if not isinstance(data["is_active"], bool):
            raise ValidationError({"is_active": [_("Must be true or false.")]})
        values["is_active"] = data["is_active"]
    return values


def _faq_check_answer(entry: FaqEntry) -> None:
    if not (entry.answer.strip() or entry.answer_zh.strip()):
        raise ValidationError({"answer": [_("Write the answer (in English, Chinese or both).")]})


def faq_create(*, actor: Actor, data: Mapping[str, Any]) -> FaqEntry:
    actor.require(Perm.MANAGE_ASSISTANT)
    values = _faq_values(data, creating=True)
    with actor_scope(actor):
        count = FaqEntry.objects.filter(merchant=actor.merchant).count()
        if count >= MAX_FAQ_ENTRIES:
            raise ValidationError(
                {"topic": [_("At most %(n)d FAQ entries.") % {"n": MAX_FAQ_ENTRIES}]}
            )
        values.setdefault("position", count)
        entry = FaqEntry(merchant=actor.merchant, **values)
        _faq_check_answer(entry)
        entry.save()
        audit_record(actor=actor, action="assistant.faq_created", obj=entry)
    return entry


def faq_update(*, actor: Actor, entry: FaqEntry, data: Mapping[str, Any]) -> FaqEntry:
    actor.require(Perm.MANAGE_ASSISTANT)
    values = _faq_values(data, creating=False)
    if not values:
        return entry
    with actor_scope(actor):
        for key, value in values.items():
            setattr(entry, key, value)
        _faq_check_answer(entry)
        entry.updated_at = timezone.now()  # the catalog version: the index is rebuilt
        entry.save(update_fields=[*values, "updated_at"])
        audit_record(
            actor=actor, action="assistant.faq_updated", obj=entry, data={"fields": sorted(values)}
        )
    return entry


def faq_delete(*, actor: Actor, entry: FaqEntry) -> None:
    actor.require(Perm.MANAGE_ASSISTANT)
    with actor_scope(actor):
        audit_record(actor=actor, action="assistant.faq_deleted", obj=entry)
        entry.delete()


# --- the chat hook ---------------------------------------------------------------------------


@cache
def _rate(text: str) -> Any:
    return ratelimit.rate_parse(text)


def _event_time(event: Mapping[str, Any]) -> float:
    ts = event.get("ts")
    if isinstance(ts, int | float) and not isinstance(ts, bool) and ts > 0:
        return ts / 1000 if ts > 1e11 else float(ts)  # the stream writes milliseconds
    return time.time()


def question_admit(*, room_id: int, seq: int, text: str, name: str, user_key: str) -> str | None:
    """The gate before a question is queued: None when admitted, else why not
    (`duplicate` — the same question in this room within the window; `room_rate`,
    `user_rate` — over the room's or the asker's budget)."""
    key = f"assistant:dq:{room_id}:{question_key(text, name=name)}"
    # add() is atomic (Redis SET NX, or the process cache): one of many askers wins.
    # (A redelivered task of the same seq finds its own value and passes again.)
    if (
        not django_cache.add(key, seq, timeout=settings.LIVESHOP_ASSISTANT_DEDUP_S)
        and django_cache.get(key) != seq
    ):
        return "duplicate"
    refused = None
    if not ratelimit.hit(_rate(settings.LIVESHOP_ASSISTANT_USER_RATE), "assistant-user", user_key):
        refused = "user_rate"
    elif not ratelimit.hit(
        _rate(settings.LIVESHOP_ASSISTANT_ROOM_RATE), "assistant-room", str(room_id)
    ):
        refused = "room_rate"
    if refused is not None:
        django_cache.delete(key)  # not answered: the next asker of it may be
    return refused


def chat_observed(*, room: Room, event: Mapping[str, Any]) -> bool:
    """Called by the chat service after it stored a `chat.message` event (with its `seq`,
    `user {id, name}`, `text`, `ts`). Queues an answer when it is a question for the room's
    assistant; returns whether it did. Never raises: the chat path must not fail because
    of the assistant."""
    try:
        text = event.get("text")
        seq = event.get("seq")
        if not isinstance(text, str) or not text.strip():
            return False
        if isinstance(seq, bool) or not isinstance(seq, int) or seq <= 0:
            return False
        raw_user = event.get("user")
        user: Mapping[str, Any] = raw_user if isinstance(raw_user, Mapping) else {}
        raw_id = user.get("id")
        user_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
        if user_id is not None and user_id == room.host_id:
            return False  # the host talking to viewers is not a question for the assistant
        config = selectors.room_settings_cached(merchant_id=room.merchant_id, room_id=room.pk)
        if not config.enabled:
            return False
        detection = detect_question(text, name=config.name, mentions_only=config.mentions_only)
        if not detection.is_question:
            return False
        user_key = f"u{user_id}" if user_id is not None else f"r{room.pk}-anon"
        refused = question_admit(
            room_id=room.pk, seq=seq, text=text, name=config.name, user_key=user_key
        )
        if refused is not None:
            log.debug("room %s question %s not queued: %s", room.pk, seq, refused)
            return False
        from .tasks import answer_question_task

        merchant_id, room_id = room.merchant_id, room.pk
        user_name = str(user.get("name") or "")[:150]
        asked_at = _event_time(event)

        def enqueue() -> None:
            answer_question_task.delay(
                merchant_id=merchant_id,
                room_id=room_id,
                seq=seq,
                text=text[:QUESTION_MAX],
                user_id=user_id,
                user_name=user_name,
                asked_at=asked_at,
            )

        # After the chat message commits; robust: a broker hiccup is logged, the chat stays.
        transaction.on_commit(enqueue, robust=True)
        return True
    except Exception:
        log.exception("assistant: chat_observed failed for room %s", getattr(room, "pk", room))
        return False


async def achat_observed(*, room: Room, event: Mapping[str, Any]) -> bool:
    """`chat_observed` for the async chat path (the room socket, after `chat_post`): the
    cheap part runs on the event loop — the cached room setting and detection — and only a
    question for an assistant that is on (or a room whose setting is not cached yet) moves
    to a thread for the database, the de-dup/limit gate and queueing."""
    config = selectors.room_settings_peek(room.pk)
    if config is not None:
        text = event.get("text")
        if not config.enabled or not isinstance(text, str):
            return False
        if not detect_question(
            text, name=config.name, mentions_only=config.mentions_only
        ).is_question:
            return False
    return bool(await database_sync_to_async(chat_observed)(room=room, event=event))


# --- answering -------------------------------------------------------------------------------


def engine_settings(config: selectors.RoomSettings) -> AssistantSettings:
    return AssistantSettings(
        enabled=config.enabled,
        name=config.name,
        mentions_only=config.mentions_only,
        show_stock_counts=config.show_stock_counts,
        embeddings=_embeddings(),
        phraser=_phraser(),
    )


@cache
def _embeddings() -> Any:
    return embeddings_from_env()


@cache
def _phraser() -> Any:
    return phraser_from_env()


def _fit(event: dict[str, Any]) -> dict[str, Any]:
    """Keep the event under the size limit: drop variant lists first, then cards."""
    if len(json.dumps(event, ensure_ascii=False).encode()) <= EVENT_BYTES_MAX:
        return event
    event["products"] = strip_variants(event["products"])
    while (
        event["products"] and len(json.dumps(event, ensure_ascii=False).encode()) > EVENT_BYTES_MAX
    ):
        event["products"].pop()
    return event


def question_answer(
    *,
    merchant_id: int,
    room_id: int,
    seq: int,
    text: str,
    user_id: int | None = None,
    user_name: str = "",
    asked_at: float | None = None,
    now: datetime | None = None,
) -> Question | None:
    """Answer one queued question (the Celery task's body). Idempotent by (room, seq)."""
    started = time.time()
    with tenant_scope(merchant_id):
        existing = Question.objects.filter(
            merchant_id=merchant_id, room_id=room_id, seq=seq
        ).first()
        if existing is not None:
            return existing
        room = (
            Room.objects.select_related("merchant")
            .filter(pk=room_id, merchant_id=merchant_id)
            .first()
        )
        if room is None:
            return None
        merchant = room.merchant
        config = selectors.room_settings(merchant=merchant, room=room)
        if not config.enabled:
            return None  # switched off while the question waited
        catalog = catalog_load(merchant=merchant)
        context = room_context(room=room, merchant=merchant)
        moment = now or datetime.now(UTC)
        try:
            answer = answer_question(
                text, catalog.snapshot, context, engine_settings(config), now=moment
            )
        except AssistantInputError:
            return None  # nothing left after cleaning: not a question after all
        if user_id is not None and not User.objects.filter(pk=user_id).exists():
            user_id = None  # the account is gone; the question still gets its answer
        confident = answer.handoff is None
        asked = (
            datetime.fromtimestamp(asked_at, UTC) if asked_at and asked_at > 0 else timezone.now()
        )
        answered_at = timezone.now()
        try:
            with transaction.atomic():
                question = Question.objects.create(
                    merchant=merchant,
                    room=room,
                    seq=seq,
                    user_id=user_id,
                    user_name=user_name[:150],
                    text=clean(text, QUESTION_MAX),
                    lang=answer.lang,
                    status=QuestionStatus.ANSWERED if confident else QuestionStatus.UNANSWERED,
                    reason=answer.unanswered_reason or "",
                    answer=answer.text,
                    product_ids=[int(p) for p in answer.product_ids],
                    policy_ids=list(answer.policy_ids),
                    phrased_by=answer.phrased_by,
                    asked_at=asked,
                    answered_at=answered_at,
                    # Clamped: a clock that went wrong must not fail the answer.
                    latency_ms=min(
                        max(0, int((answered_at - asked).total_seconds() * 1000)), LATENCY_MS_MAX
                    ),
                )
        except IntegrityError:
            # Another worker answered the same (room, seq) meanwhile.
            return Question.objects.filter(merchant=merchant, room=room, seq=seq).first()
        handoff = None
        if answer.handoff is not None and answer.unanswered_reason not in NO_CONSULT_REASONS:
            handoff = _handoff_record(question, catalog, context, user_id)
        event = {
            "type": "assistant.answer",
            "question_seq": seq,
            "text": answer.text,
            "products": product_cards(
                catalog, answer.product_ids, lang=answer.lang, room=context, now=moment
            ),
            "lang": answer.lang,
            "by": "assistant",
            "assistant": config.name,
            "confident": confident,
            "handoff": handoff.pk if handoff is not None else None,
            "asker": user_id,
        }
        publish(room, _fit(event))
    log.debug(
        "room %s question %s answered in %.1f ms", room_id, seq, (time.time() - started) * 1000
    )
    return question


def _handoff_record(
    question: Question, catalog: Catalog, context: Any, user_id: int | None
) -> Handoff:
    pinned = context.pinned_product_id
    return Handoff.objects.create(
        merchant=question.merchant,
        question=question,
        room=question.room,
        shopper_id=user_id,
        reason=question.reason,
        lang=question.lang,
        pinned_product_id=int(pinned) if pinned and catalog.product(pinned) else None,
        lineup=[int(pid) for pid in context.lineup],
    )


# --- the host's answers ------------------------------------------------------------------------


def question_reply(
    *, actor: Actor, question: Question, text: Any, product_ids: Sequence[Any] = ()
) -> Question:
    """The host answers a question from the console: published to the room as a pinned
    `assistant.answer` (by: host) citing the products chosen, and the question leaves the
    unanswered list."""
    actor.require(Perm.HOST_ROOMS)
    if not isinstance(text, str):
        raise ValidationError({"text": [_("Write the answer.")]})
    reply = clean(text, REPLY_MAX + 1).strip()
    if not reply:
        raise ValidationError({"text": [_("Write the answer.")]})
    if len(reply) > REPLY_MAX:
        raise ValidationError({"text": [_("At most %(n)d characters.") % {"n": REPLY_MAX}]})
    if not isinstance(product_ids, list | tuple) or len(product_ids) > REPLY_PRODUCTS_MAX:
        raise ValidationError(
            {"products": [_("At most %(n)d products.") % {"n": REPLY_PRODUCTS_MAX}]}
        )
    ids: list[int] = []
    for value in product_ids:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError({"products": [_("Give product ids.")]})
        if value not in ids:
            ids.append(value)
    with actor_scope(actor):
        locked = Question.objects.select_for_update().get(pk=question.pk, merchant=actor.merchant)
        if locked.status == QuestionStatus.HOST_ANSWERED:
            return locked  # a double click answers once
        catalog = catalog_load(merchant=actor.merchant)
        missing = [pid for pid in ids if catalog.product(pid) is None]
        if missing:
            raise ValidationError({"products": [_("Unknown or inactive products.")]})
        lang = detect_language(reply)
        locked.status = QuestionStatus.HOST_ANSWERED
        locked.answer = reply
        locked.product_ids = ids
        locked.answered_by = actor.user
        locked.answered_at = timezone.now()
        locked.save(update_fields=["status", "answer", "product_ids", "answered_by", "answered_at"])
        Handoff.objects.filter(
            merchant=actor.merchant, question=locked, status=HandoffStatus.OPEN
        ).update(status=HandoffStatus.CLOSED, closed_at=timezone.now())
        audit_record(actor=actor, action="assistant.question_answered", obj=locked)
        host = {"id": actor.user.pk, "name": actor.user.display_name} if actor.user else None
        event = {
            "type": "assistant.answer",
            "question_seq": locked.seq,
            "question": locked.text,
            "text": reply,
            "products": product_cards(catalog, ids, lang=lang),
            "lang": lang,
            "by": "host",
            "host": host,
            "pinned": True,
            "confident": True,
            "handoff": None,
            "asker": locked.user_id,
        }
        publish(locked.room, _fit(event))
    return locked


def question_dismiss(*, actor: Actor, question: Question) -> Question:
    actor.require(Perm.HOST_ROOMS)
    with actor_scope(actor):
        updated = Question.objects.filter(
            pk=question.pk, merchant=actor.merchant, status=QuestionStatus.UNANSWERED
        ).update(
            status=QuestionStatus.DISMISSED, answered_by=actor.user, answered_at=timezone.now()
        )
        if updated:
            audit_record(actor=actor, action="assistant.question_dismissed", obj=question)
        question.refresh_from_db()
    return question


def handoff_consult_linked(*, merchant: Merchant, handoff: Handoff, consult_id: int) -> Handoff:
    """The shopper started a 1v1 consult from this hand-off (called by the consult flow)."""
    if isinstance(consult_id, bool) or not isinstance(consult_id, int) or consult_id <= 0:
        raise ValidationError({"consult": [_("Give the consult's id.")]})
    with tenant_scope(merchant.id):
        Handoff.objects.filter(pk=handoff.pk, merchant=merchant).update(
            status=HandoffStatus.CONSULT, consult_id=consult_id
        )
        handoff.refresh_from_db()
    return handoff


def handoff_close(*, actor: Actor, handoff: Handoff) -> Handoff:
    actor.require(Perm.TAKE_CONSULTS)
    with actor_scope(actor):
        Handoff.objects.filter(pk=handoff.pk, merchant=actor.merchant).exclude(
            status=HandoffStatus.CLOSED
        ).update(status=HandoffStatus.CLOSED, closed_at=timezone.now())
        handoff.refresh_from_db()
    return handoff
