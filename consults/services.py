"""Consult writes: requests and the queue, routing, accepting, the call (chat, pushed
products, the cart, recording consent), ending and rating, agents' presence and
availability, bookings, and the periodic sweep.

Keyword-only, transactional, tenant-scoped. Staff services take the acting `Actor` and
check the permission table; shopper services take merchant + shopper; services the consult
socket calls take the party its join token proved. Every change that sockets should hear
about goes through `events.py` (after commit).

Routing (`queue_dispatch`): requests are served head first (queued_at, id). For each, the
candidates are online agents with a live console, below their `max_concurrent`, who have
not let this request's offer lapse before. If any present agent speaks the request's
language, only agents who speak it are candidates (it waits for them rather than going to
someone who cannot talk to the shopper); otherwise anyone may take it. Among candidates:
those with the requested skill first, then the least busy, then whoever was routed to
longest ago. The request is *offered* to that agent; an offer not accepted within
OFFER_TIMEOUT_S goes back to the head of the queue for the others. An agent never holds more
than `max_concurrent` requests (calls plus pending offers), checked under a per-merchant
queue lock (a Postgres advisory lock; SQLite transactions are serial anyway).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from commerce import services as commerce
from commerce.models import Order, OrderStatus, Product
from liveshop import ratelimit
from liveshop.errors import Conflict, DomainError, NotAllowed
from liveshop.tenancy.access import Actor
from liveshop.tenancy.models import Membership, Merchant
from liveshop.tenancy.permissions import Perm, role_has
from liveshop.tenancy.scope import rls_bypass, tenant_scope
from liveshop.tenancy.services import audit_record

from . import events, room_context, selectors
from .models import (
    OPEN_STATUSES,
    QUEUED_STATUSES,
    AgentProfile,
    AgentStatus,
    AvailabilityWindow,
    Booking,
    BookingStatus,
    ConsentRecord,
    Consult,
    ConsultMessage,
    ConsultRecording,
    ConsultStatus,
    EndReason,
    Outcome,
    PushedProduct,
    RecordingState,
)
from .tokens import JoinToken, join_token_issue

log = logging.getLogger("liveshop.consults")

MAX_TEXT = 1000
MAX_QUESTION = 500
MAX_NOTES = 4000
MAX_COMMENT = 1000
MAX_SKILLS = 20
MAX_LANGUAGES = 10
MAX_PUSHED = 50
MAX_MESSAGES = 2000  # per consult
MAX_WINDOW = timedelta(hours=12)
MAX_WINDOWS_PER_AGENT = 200
DISPATCH_SCAN = 200  # queued requests looked at per dispatch
PASSED_BY_LIMIT = 50
SWEEP_LIMIT = 500

_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")


def conf(name: str) -> Any:
    return settings.LIVESHOP_CONSULTS[name]


# --- small checks ------------------------------------------------------------------------


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError({field: [_("Must be text.")]})
    value = value.strip()
    if len(value) > limit:
        raise ValidationError({field: [_("At most %(n)d characters.") % {"n": limit}]})
    if required and not value:
        raise ValidationError({field: [_("This field is required.")]})
    return value


def tag_clean(value: Any, field: str = "topic") -> str:
    """Topics and skills are short tags: `sizing`, `skin-care`."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not _TAG_RE.match(value.strip().lower()):
        raise ValidationError({field: [_("Use up to 40 lower-case letters, digits and hyphens.")]})
    return value.strip().lower()


def language_clean(value: Any, merchant: Merchant, field: str = "language") -> str:
    if value is None or value == "":
        return str(merchant.locale)
    if not isinstance(value, str) or not _LANG_RE.match(value.strip().lower()):
        raise ValidationError({field: [_("Give a language code such as en or zh-hans.")]})
    return value.strip().lower()


def _tags(value: Any, field: str, limit: int, clean: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        raise ValidationError({field: [_("Give a list.")]})
    if len(value) > limit:
        raise ValidationError({field: [_("At most %(n)d entries.") % {"n": limit}]})
    out: list[str] = []
    for item in value:
        tag = clean(item)
        if tag and tag not in out:
            out.append(tag)
    return out


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 < value < 2**63:
        return value
    if isinstance(value, str) and value.isdigit() and 0 < int(value) < 2**63:
        return int(value)
    return None


def _room(merchant: Merchant, raw: Any) -> Any:
    if raw is None or raw == "":
        return None
    from rooms.models import Room

    if not isinstance(raw, str) or len(raw) > 40:
        raise ValidationError({"room": [_("Give the room's slug.")]})
    room = Room.objects.filter(merchant=merchant, slug=raw).first()
    if room is None:
        raise ValidationError({"room": [_("Unknown room.")]})
    return room


def _product(merchant: Merchant, raw: Any, field: str = "product") -> Product | None:
    if raw is None or raw == "":
        return None
    product_id = _positive_int(raw)
    product = (
        Product.objects.filter(merchant=merchant, pk=product_id, is_active=True).first()
        if product_id
        else None
    )
    if product is None:
        raise ValidationError({field: [_("Unknown product.")]})
    return product


def _queue_lock(merchant_id: int) -> None:
    """Serialise queue changes of one merchant (routing reads loads, then writes offers)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [77_001, merchant_id % 2**31])


def _merchant_scope(merchant: Merchant, user: Any = None) -> Any:
    return tenant_scope(merchant.id, user_id=getattr(user, "pk", None))


def _person(actor: Actor) -> Any:
    """Consult work is done by a person: API keys may read consults, not take them."""
    if actor.user is None or not getattr(actor.user, "pk", None):
        raise NotAllowed(_("API keys cannot take part in consults."), code="person_required")
    return actor.user


def _lock(consult: Consult) -> Consult:
    locked = (
        Consult.objects.select_for_update()
        .filter(pk=consult.pk, merchant_id=consult.merchant_id)
        .first()
    )
    if locked is None:
        raise Http404("No such consult.")
    return locked


def user_public(user: Any) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name}


# --- agents: presence --------------------------------------------------------------------


def _profile_for(merchant: Merchant, user: Any, *, lock: bool = False) -> AgentProfile:
    profiles = AgentProfile.objects.filter(merchant=merchant, user_id=user.pk)
    if lock:
        profiles = profiles.select_for_update()
    profile = profiles.first()
    if profile is None:
        profile = AgentProfile.objects.create(
            merchant=merchant, user=user, languages=[merchant.locale]
        )
    return profile


def agent_presence_set(
    *,
    actor: Actor,
    status: Any = None,
    skills: Any = None,
    languages: Any = None,
    max_concurrent: Any = None,
) -> AgentProfile:
    """Set an agent's status (online / busy / away / offline) and routing data; also a
    heartbeat. Going online routes waiting requests at once; going away or offline hands
    the agent's pending offers back to the queue head."""
    actor.require(Perm.TAKE_CONSULTS)
    user = _person(actor)
    merchant = actor.merchant
    if status is not None and status not in AgentStatus.values:
        raise ValidationError({"status": [_("One of %s.") % ", ".join(AgentStatus.values)]})
    with _merchant_scope(merchant, user):
        _queue_lock(merchant.id)
        profile = _profile_for(merchant, user, lock=True)
        now = timezone.now()
        fields = ["last_seen_at"]
        profile.last_seen_at = now
        if skills is not None:
            profile.skills = _tags(skills, "skills", MAX_SKILLS, lambda v: tag_clean(v, "skills"))
            fields.append("skills")
        if languages is not None:
            profile.languages = _tags(
                languages, "languages", MAX_LANGUAGES, lambda v: language_clean(v, merchant)
            ) or [merchant.locale]
            fields.append("languages")
        if max_concurrent is not None:
            if (
                isinstance(max_concurrent, bool)
                or not isinstance(max_concurrent, int)
                or not 1 <= max_concurrent <= 10
            ):
                raise ValidationError({"max_concurrent": [_("A whole number from 1 to 10.")]})
            profile.max_concurrent = max_concurrent
            fields.append("max_concurrent")
        changed = status is not None and status != profile.status
        if changed:
            profile.status = status
            profile.status_since = now
            fields += ["status", "status_since"]
        profile.save(update_fields=fields)
        _touch_active(merchant, user, now)
        if changed and status in (AgentStatus.AWAY, AgentStatus.OFFLINE):
            _withdraw_offers(merchant.id, [user.pk])
        routing_changed = changed or any(x is not None for x in (max_concurrent, languages, skills))
        if routing_changed:
            events.queue_changed(merchant.id)
    if routing_changed:
        # Capacity or eligibility moved (an agent came, left or changed what they take).
        queue_dispatch(merchant_id=merchant.id)
    return profile


def agent_heartbeat(*, actor: Actor) -> AgentProfile:
    """The console is open: keeps the agent present and their calls alive."""
    return agent_presence_set(actor=actor)


def _touch_active(merchant: Merchant, user: Any, now: datetime) -> None:
    # An agent can hold several calls but has one of them on screen: the console's
    # heartbeat keeps the others from being ended as disconnected.
    Consult.objects.filter(merchant=merchant, agent_id=user.pk, status=ConsultStatus.ACTIVE).update(
        agent_seen_at=now
    )


def _withdraw_offers(merchant_id: int, agent_ids: list[int]) -> int:
    """Offers of these agents go back to the queue head; they are skipped for them."""
    n = 0
    for consult in Consult.objects.select_for_update().filter(
        merchant_id=merchant_id, status=ConsultStatus.OFFERED, offered_to_id__in=agent_ids
    ):
        _offer_lapse(consult)
        n += 1
    return n


def _offer_lapse(consult: Consult) -> None:
    passed = [x for x in (consult.passed_by or []) if isinstance(x, int)]
    if consult.offered_to_id is not None and consult.offered_to_id not in passed:
        passed = ([*passed, consult.offered_to_id])[-PASSED_BY_LIMIT:]
    Consult.objects.filter(pk=consult.pk, status=ConsultStatus.OFFERED).update(
        status=ConsultStatus.WAITING,
        offered_to=None,
        offer_expires_at=None,
        passed_by=passed,
        updated_at=timezone.now(),
    )


# --- routing ------------------------------------------------------------------------------


def _speaks(profile: AgentProfile, language: str) -> bool:
    return language in (profile.languages or [])


def route_choose(
    consult: Consult,
    free: list[AgentProfile],
    loads: dict[int, int],
    present_languages: set[str],
) -> AgentProfile | None:
    """The agent `consult` should be offered to among `free` ones, or None (module doc)."""
    candidates = [
        p
        for p in free
        if p.user_id not in (consult.passed_by or []) and p.user_id != consult.shopper_id
    ]
    if consult.preferred_agent_id is not None:
        preferred = [p for p in candidates if p.user_id == consult.preferred_agent_id]
        if preferred:
            return preferred[0]
    if consult.language in present_languages:
        candidates = [p for p in candidates if _speaks(p, consult.language)]
    if not candidates:
        return None
    epoch = datetime.min.replace(tzinfo=timezone.get_current_timezone())

    def rank(p: AgentProfile) -> tuple[int, int, datetime, int]:
        skilled = 0 if not consult.topic or consult.topic in (p.skills or []) else 1
        return (skilled, loads.get(p.user_id, 0), p.last_routed_at or epoch, p.user_id)

    return min(candidates, key=rank)


def queue_dispatch(*, merchant_id: int) -> list[Consult]:
    """Offer waiting requests to free agents (module doc). Returns the new offers."""
    merchant = Merchant(id=merchant_id)
    offers: list[Consult] = []
    with tenant_scope(merchant_id):
        _queue_lock(merchant_id)
        now = timezone.now()
        present = list(selectors.agents_present(merchant=merchant).select_for_update(of=("self",)))
        online = [p for p in present if p.status == AgentStatus.ONLINE]
        if not online:
            return []
        present_languages = {lang for p in present for lang in (p.languages or [])}
        loads = selectors.agent_loads(merchant=merchant)
        waiting = list(
            Consult.objects.select_for_update()
            .filter(merchant_id=merchant_id, status=ConsultStatus.WAITING)
            .order_by("queued_at", "id")[:DISPATCH_SCAN]
        )
        timeout = timedelta(seconds=conf("OFFER_TIMEOUT_S"))
        for consult in waiting:
            free = [p for p in online if loads.get(p.user_id, 0) < p.max_concurrent]
            if not free:
                break
            agent = route_choose(consult, free, loads, present_languages)
            if agent is None:
                continue
            Consult.objects.filter(pk=consult.pk).update(
                status=ConsultStatus.OFFERED,
                offered_to_id=agent.user_id,
                offer_expires_at=now + timeout,
                updated_at=now,
            )
            AgentProfile.objects.filter(pk=agent.pk).update(last_routed_at=now)
            agent.last_routed_at = now
            loads[agent.user_id] = loads.get(agent.user_id, 0) + 1
            consult.status = ConsultStatus.OFFERED
            consult.offered_to_id = agent.user_id
            consult.offer_expires_at = now + timeout
            offers.append(consult)
        if offers:
            events.queue_changed(merchant_id)
    return offers


# --- shopper: asking, cancelling, joining ----------------------------------------------------


@dataclass(frozen=True)
class Requested:
    consult: Consult
    join: JoinToken


def consult_request(
    *,
    merchant: Merchant,
    shopper: Any,
    topic: Any = "",
    language: Any = "",
    question: Any = "",
    room: Any = None,
    product: Any = None,
    booking: Booking | None = None,
) -> Requested:
    """Queue a shopper's request for a consult and route it. Refused with 409
    `no_agent_online` when no agent is online or busy (book a slot instead) and 409
    `consult_open` when the shopper already has one open here (it names it)."""
    topic = tag_clean(topic)
    language = language_clean(language, merchant)
    question = _text(question, "question", MAX_QUESTION)
    rate = ratelimit.rate_parse(conf("REQUEST_RATE"))
    if not ratelimit.hit(rate, "consult-request", f"{merchant.id}:{shopper.pk}"):
        raise DomainError(
            _("Too many consult requests; wait a minute."), code="throttled", status=429
        )
    with _merchant_scope(merchant, shopper):
        _queue_lock(merchant.id)
        room_obj = _room(merchant, room)
        product_obj = _product(merchant, product)
        existing = selectors.open_consult_of(merchant=merchant, shopper=shopper)
        if existing is not None:
            raise Conflict(
                _("You already have a consult open here."),
                code="consult_open",
                consult=existing.public_id,
            )
        # Busy agents are at work and will take new requests when they free up: queue then.
        if not selectors.agents_present(merchant=merchant).exists():
            raise Conflict(
                _("No one is online to take a video call right now. Book a time instead."),
                code="no_agent_online",
                booking=AvailabilityWindow.objects.filter(
                    merchant=merchant, ends_at__gt=timezone.now()
                ).exists(),
            )
        pinned = room_context.pinned_product_id(room_obj) if room_obj is not None else None
        now = timezone.now()
        try:
            with transaction.atomic():
                consult = Consult.objects.create(
                    merchant=merchant,
                    shopper=shopper,
                    topic=topic,
                    language=language,
                    question=question,
                    room=room_obj,
                    product=product_obj,
                    pinned_product_id=pinned
                    if pinned and Product.objects.filter(merchant=merchant, pk=pinned).exists()
                    else None,
                    booking=booking,
                    preferred_agent_id=booking.agent_id if booking is not None else None,
                    queued_at=now,
                    shopper_seen_at=now,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:
            raise Conflict(
                _("You already have a consult open here."), code="consult_open"
            ) from None
        if question:
            ConsultMessage.objects.create(
                merchant=merchant, consult=consult, sender=shopper, party="shopper", text=question
            )
        events.queue_changed(merchant.id)
        join = join_token_issue(
            merchant_id=merchant.id, consult=consult.public_id, user_id=shopper.pk, party="shopper"
        )
    queue_dispatch(merchant_id=merchant.id)
    with _merchant_scope(merchant, shopper):
        consult.refresh_from_db()
    return Requested(consult, join)


def consult_cancel(*, merchant: Merchant, shopper: Any, consult: Consult) -> Consult:
    """The shopper gives up waiting (a request in the queue or offered)."""
    with _merchant_scope(merchant, shopper):
        _queue_lock(merchant.id)
        consult = _lock(consult)
        if consult.shopper_id != shopper.pk:
            raise Http404("No such consult.")
        if consult.status not in QUEUED_STATUSES:
            raise Conflict(
                _("Only a waiting request can be cancelled; end the call instead."),
                code="illegal_transition",
            )
        _close(consult, ConsultStatus.CANCELLED, EndReason.CANCELLED, by=shopper)
    queue_dispatch(merchant_id=merchant.id)
    return consult


def shopper_join_token(*, merchant: Merchant, shopper: Any, consult: Consult) -> JoinToken:
    """A join token for the shopper's own open consult."""
    if consult.shopper_id != shopper.pk or consult.merchant_id != merchant.id:
        raise Http404("No such consult.")
    if consult.status not in OPEN_STATUSES:
        raise Conflict(_("This consult is over."), code="consult_closed")
    return join_token_issue(
        merchant_id=merchant.id, consult=consult.public_id, user_id=shopper.pk, party="shopper"
    )


def staff_join_token(*, actor: Actor, consult: Consult) -> JoinToken:
    """The consult's agent joins as `agent`; a supervisor (owner, admin) may join an active
    call as a silent `supervisor`."""
    user = _person(actor)
    if consult.merchant_id != actor.merchant.id:
        raise Http404("No such consult.")
    if consult.status not in OPEN_STATUSES:
        raise Conflict(_("This consult is over."), code="consult_closed")
    if consult.agent_id == user.pk and consult.status == ConsultStatus.ACTIVE:
        actor.require(Perm.TAKE_CONSULTS)
        party = "agent"
    elif actor.can(Perm.SUPERVISE_CONSULTS) and consult.status == ConsultStatus.ACTIVE:
        party = "supervisor"
    else:
        raise Conflict(_("Accept this consult before joining it."), code="not_your_consult")
    return join_token_issue(
        merchant_id=actor.merchant.id, consult=consult.public_id, user_id=user.pk, party=party
    )


# --- agents: accepting ------------------------------------------------------------------------


def _may_take(profile: AgentProfile, consult: Consult, present_languages: set[str]) -> bool:
    if consult.shopper_id == profile.user_id:
        return False
    return consult.language not in present_languages or _speaks(profile, consult.language)


@dataclass(frozen=True)
class Accepted:
    consult: Consult
    join: JoinToken


def consult_accept(*, actor: Actor, consult: Consult | None = None) -> Accepted:
    """The agent takes `consult` (any queued request), or the next one: their own pending
    offer first, else the head of the queue they can serve. Refused when they already hold
    `max_concurrent` requests."""
    actor.require(Perm.TAKE_CONSULTS)
    user = _person(actor)
    merchant = actor.merchant
    with _merchant_scope(merchant, user):
        _queue_lock(merchant.id)
        now = timezone.now()
        profile = _profile_for(merchant, user, lock=True)
        loads = selectors.agent_loads(merchant=merchant)
        if consult is None:
            consult = _next_for(merchant, profile, now)
            if consult is None:
                raise Conflict(_("Nobody is waiting."), code="queue_empty")
        consult = _lock(consult)
        if consult.status not in QUEUED_STATUSES:
            raise Conflict(
                _("Someone else took this request, or it was withdrawn."), code="already_taken"
            )
        mine = consult.status == ConsultStatus.OFFERED and consult.offered_to_id == user.pk
        if (
            consult.status == ConsultStatus.OFFERED
            and not mine
            and consult.offer_expires_at is not None
            and consult.offer_expires_at > now
        ):
            raise Conflict(
                _("This request is being offered to another agent."), code="offered_elsewhere"
            )
        if consult.shopper_id == user.pk:
            raise Conflict(_("You cannot take your own request."), code="own_request")
        held = loads.get(user.pk, 0) - (1 if mine else 0)
        if held >= profile.max_concurrent:
            raise Conflict(
                _("You already hold %(n)d consults: end one first.") % {"n": held},
                code="at_capacity",
            )
        wait = max(0, int((now - consult.created_at).total_seconds()))
        Consult.objects.filter(pk=consult.pk).update(
            status=ConsultStatus.ACTIVE,
            agent=user,
            offered_to=None,
            offer_expires_at=None,
            accepted_at=now,
            wait_seconds=wait,
            agent_seen_at=now,
            updated_at=now,
        )
        AgentProfile.objects.filter(pk=profile.pk).update(last_routed_at=now, last_seen_at=now)
        consult.refresh_from_db()
        if consult.booking_id is not None:
            Booking.objects.filter(pk=consult.booking_id).update(status=BookingStatus.STARTED)
        events.send(
            consult,
            {"type": "consult.accepted", "agent": user_public(user), "ts": now.isoformat()},
        )
        events.queue_changed(merchant.id)
        join = join_token_issue(
            merchant_id=merchant.id, consult=consult.public_id, user_id=user.pk, party="agent"
        )
    return Accepted(consult, join)


def _next_for(merchant: Merchant, profile: AgentProfile, now: datetime) -> Consult | None:
    offered = (
        Consult.objects.filter(
            merchant=merchant, status=ConsultStatus.OFFERED, offered_to_id=profile.user_id
        )
        .order_by("queued_at", "id")
        .first()
    )
    if offered is not None:
        return offered
    present_languages = {
        lang for p in selectors.agents_present(merchant=merchant) for lang in (p.languages or [])
    }
    takeable = (
        Consult.objects.filter(merchant=merchant)
        .filter(
            Q(status=ConsultStatus.WAITING)
            | Q(status=ConsultStatus.OFFERED, offer_expires_at__lte=now)
        )
        .order_by("queued_at", "id")[:DISPATCH_SCAN]
    )
    for consult in takeable:
        if _may_take(profile, consult, present_languages):
            return consult
    return None


# --- ending --------------------------------------------------------------------------------


def _close(consult: Consult, status: str, reason: str, *, by: Any = None) -> None:
    """Close a locked consult: times, outcome, carts, recording, and tell everyone."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": status,
        "end_reason": reason,
        "ended_at": now,
        "ended_by": by if getattr(by, "pk", None) else None,
        "offered_to": None,
        "offer_expires_at": None,
        "updated_at": now,
    }
    if consult.accepted_at is not None:
        fields["handle_seconds"] = max(0, int((now - consult.accepted_at).total_seconds()))
        fields["outcome"] = Outcome.ORDER if _has_paid_order(consult) else Outcome.NO_ORDER
    Consult.objects.filter(pk=consult.pk).update(**fields)
    for key, value in fields.items():
        setattr(consult, key, value)
    _recording_stop(consult, now)
    _abandon_drafts(consult)
    events.send(consult, {"type": "consult.ended", "reason": reason, "ts": now.isoformat()})
    events.queue_changed(consult.merchant_id)


def _has_paid_order(consult: Consult) -> bool:
    return Order.objects.filter(
        merchant_id=consult.merchant_id, consult=consult, status__in=selectors.PAID_STATUSES
    ).exists()


def _agent_actor(consult: Consult) -> Actor | None:
    """The consult's agent acting in its merchant (for cleaning up their draft carts)."""
    if consult.agent_id is None:
        return None
    membership = (
        Membership.objects.filter(merchant_id=consult.merchant_id, user_id=consult.agent_id)
        .select_related("user", "merchant")
        .first()
    )
    if membership is None or not role_has(membership.role, Perm.BUILD_CARTS):
        return None
    return Actor(merchant=membership.merchant, user=membership.user, role=membership.role)


def _abandon_drafts(consult: Consult) -> None:
    """A cart still being built when the call ends gives its stock back; carts sent to the
    shopper keep their normal reservation (they may still pay after the call)."""
    drafts = list(
        Order.objects.filter(
            merchant_id=consult.merchant_id, consult=consult, status=OrderStatus.DRAFT
        )
    )
    if not drafts:
        return
    actor = _agent_actor(consult)
    if actor is None:
        log.warning("consult %s: draft carts left open (its agent left the merchant)", consult.pk)
        return
    for order in drafts:
        commerce.order_draft_abandon(actor=actor, order=order)


def consult_end_by_staff(*, actor: Actor, consult: Consult, notes: Any = None) -> Consult:
    """The agent (or a supervisor) ends the call, optionally with notes."""
    actor.require(Perm.TAKE_CONSULTS)
    user = _person(actor)
    notes_text = None if notes is None else _text(notes, "notes", MAX_NOTES)
    with _merchant_scope(actor.merchant, user):
        _queue_lock(actor.merchant.id)
        consult = _lock(consult)
        if consult.agent_id != user.pk and not actor.can(Perm.SUPERVISE_CONSULTS):
            raise Http404("No such consult.")
        if consult.status != ConsultStatus.ACTIVE:
            raise Conflict(_("This consult is not in a call."), code="illegal_transition")
        if notes_text is not None:
            Consult.objects.filter(pk=consult.pk).update(notes=notes_text)
            consult.notes = notes_text
        _close(consult, ConsultStatus.ENDED, EndReason.AGENT, by=user)
    queue_dispatch(merchant_id=actor.merchant.id)
    return consult


def consult_end_by_shopper(*, merchant: Merchant, shopper: Any, consult: Consult) -> Consult:
    """The shopper hangs up (a waiting request is cancelled instead)."""
    if consult.status in QUEUED_STATUSES:
        return consult_cancel(merchant=merchant, shopper=shopper, consult=consult)
    with _merchant_scope(merchant, shopper):
        _queue_lock(merchant.id)
        consult = _lock(consult)
        if consult.shopper_id != shopper.pk:
            raise Http404("No such consult.")
        if consult.status != ConsultStatus.ACTIVE:
            raise Conflict(_("This consult is over."), code="illegal_transition")
        _close(consult, ConsultStatus.ENDED, EndReason.SHOPPER, by=shopper)
    queue_dispatch(merchant_id=merchant.id)
    return consult


def consult_rate(
    *, merchant: Merchant, shopper: Any, consult: Consult, rating: Any, comment: Any = ""
) -> Consult:
    """The shopper rates an ended call 1–5, once, with an optional comment."""
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationError({"rating": [_("A whole number from 1 to 5.")]})
    comment = _text(comment, "comment", MAX_COMMENT)
    with _merchant_scope(merchant, shopper):
        consult = _lock(consult)
        if consult.shopper_id != shopper.pk:
            raise Http404("No such consult.")
        if consult.status != ConsultStatus.ENDED:
            raise Conflict(_("Rate the call once it has ended."), code="not_ended")
        if consult.rating is not None:
            raise Conflict(_("You already rated this call."), code="already_rated")
        now = timezone.now()
        Consult.objects.filter(pk=consult.pk).update(
            rating=rating, comment=comment, rated_at=now, updated_at=now
        )
        consult.rating, consult.comment, consult.rated_at = rating, comment, now
    return consult


def consult_notes_set(*, actor: Actor, consult: Consult, notes: Any) -> Consult:
    """The agent's notes (during or after the call); supervisors may edit them too."""
    actor.require(Perm.TAKE_CONSULTS)
    user = _person(actor)
    text = _text(notes, "notes", MAX_NOTES)
    with _merchant_scope(actor.merchant, user):
        consult = _lock(consult)
        if consult.agent_id != user.pk and not actor.can(Perm.SUPERVISE_CONSULTS):
            raise Http404("No such consult.")
        Consult.objects.filter(pk=consult.pk).update(notes=text, updated_at=timezone.now())
        consult.notes = text
    return consult


# --- in the call -------------------------------------------------------------------------------


def _party_check(consult: Consult, user_id: int, party: str) -> None:
    if party == "shopper" and consult.shopper_id == user_id:
        return
    if party == "agent" and consult.agent_id == user_id:
        return
    raise NotAllowed(_("You are not a party of this consult."), code="not_a_party")


def consult_for_party(*, merchant_id: int, public_id: str) -> Consult | None:
    with tenant_scope(merchant_id):
        return (
            Consult.objects.filter(merchant_id=merchant_id, public_id=public_id)
            .select_related("shopper", "agent")
            .first()
        )


def chat_post(
    *, consult: Consult, user: Any, party: str, text: Any, nonce: Any = None
) -> ConsultMessage:
    """A chat line from the shopper (also while waiting) or the agent (in the call)."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError({"text": [_("Write something.")]})
    if len(text) > MAX_TEXT:
        raise DomainError(
            _("Messages are at most %(n)d characters.") % {"n": MAX_TEXT}, code="text_too_long"
        )
    text = text.strip()
    with tenant_scope(consult.merchant_id, user_id=user.pk):
        consult = _lock(consult)
        _party_check(consult, user.pk, party)
        allowed = OPEN_STATUSES if party == "shopper" else (ConsultStatus.ACTIVE,)
        if consult.status not in allowed:
            raise Conflict(_("This consult is not open for chat."), code="consult_closed")
        count = ConsultMessage.objects.filter(
            merchant_id=consult.merchant_id, consult=consult
        ).count()
        if count >= MAX_MESSAGES:
            raise Conflict(_("This chat is full."), code="chat_full")
        message = ConsultMessage.objects.create(
            merchant_id=consult.merchant_id, consult=consult, sender=user, party=party, text=text
        )
        frame: dict[str, Any] = {
            "type": "chat.message",
            "id": message.pk,
            "user": user_public(user),
            "party": party,
            "text": text,
            "ts": message.created_at.isoformat(),
        }
        if isinstance(nonce, str | int) and not isinstance(nonce, bool) and len(str(nonce)) <= 64:
            frame["nonce"] = nonce
        events.send(consult, frame)
    return message


def product_public(product: Product, currency: str, merchant_slug: str) -> dict[str, Any]:
    variants = [v for v in product.variants.all() if v.is_active]
    return {
        "id": product.pk,
        "name": product.name,
        "name_zh": product.name_zh,
        "price": product.price,
        "currency": currency,
        "image": (product.images or [None])[0],
        "stock": sum(v.stock for v in variants),
        "variants": [
            {
                "id": v.pk,
                "label": v.label,
                "price": v.effective_price(product),
                "stock": v.stock,
            }
            for v in variants
        ],
        "url": f"/s/{merchant_slug}/p/{product.pk}/",
    }


def product_push(*, consult: Consult, user: Any, product: Any) -> PushedProduct:
    """The agent shows the shopper a product card in the call."""
    with tenant_scope(consult.merchant_id, user_id=user.pk):
        consult = _lock(consult)
        _party_check(consult, user.pk, "agent")
        if consult.status != ConsultStatus.ACTIVE:
            raise Conflict(_("This consult is not in a call."), code="consult_closed")
        merchant = Merchant.objects.get(pk=consult.merchant_id)
        found = _product(merchant, product)
        if found is None:
            raise ValidationError({"product": [_("Give a product id.")]})
        if (
            PushedProduct.objects.filter(merchant_id=consult.merchant_id, consult=consult).count()
            >= MAX_PUSHED
        ):
            raise Conflict(_("Too many products pushed in one call."), code="too_many_pushed")
        pushed = PushedProduct.objects.create(
            merchant_id=consult.merchant_id, consult=consult, product=found, pushed_by=user
        )
        full = selectors.products_brief(merchant=merchant, ids=[found.pk]).get(found.pk, found)
        events.send(
            consult,
            {
                "type": "product.pushed",
                "product": product_public(full, merchant.currency, merchant.slug),
                "ts": pushed.created_at.isoformat(),
            },
        )
    return pushed


def _agent_of(actor: Actor, consult: Consult) -> Any:
    actor.require(Perm.BUILD_CARTS)
    user = _person(actor)
    if consult.agent_id != user.pk:
        raise Http404("No such consult.")
    if consult.status != ConsultStatus.ACTIVE:
        raise Conflict(_("This consult is not in a call."), code="consult_closed")
    return user


def cart_set(*, actor: Actor, consult: Consult, lines: Any) -> Order:
    """The agent builds the shopper's cart: a draft order with reserved stock, attributed to
    this consult. Replaces the open draft's lines, or starts a new draft (after one was
    sent, the agent may build another)."""
    with _merchant_scope(actor.merchant, actor.user):
        consult = _lock(consult)
        _agent_of(actor, consult)
        draft = (
            Order.objects.filter(merchant=actor.merchant, consult=consult, status=OrderStatus.DRAFT)
            .order_by("-id")
            .first()
        )
        if draft is None:
            if not lines:
                raise ValidationError({"lines": [_("Give at least one line.")]})
            order = commerce.order_draft_create(
                actor=actor,
                shopper=consult.shopper,
                lines=lines,
                room=consult.room,
                consult=consult,
            )
        else:
            order = commerce.order_draft_set_lines(actor=actor, order=draft, lines=lines or [])
        events.cart_changed(order)
    return order


def cart_send(*, actor: Actor, consult: Consult, shipping_address: Any = None) -> Order:
    """Hand the cart to the shopper to review and pay in the call."""
    with _merchant_scope(actor.merchant, actor.user):
        consult = _lock(consult)
        _agent_of(actor, consult)
        draft = (
            Order.objects.filter(merchant=actor.merchant, consult=consult, status=OrderStatus.DRAFT)
            .order_by("-id")
            .first()
        )
        if draft is None:
            raise Conflict(_("Build a cart first."), code="empty_cart")
        order = commerce.order_draft_send(
            actor=actor, order=draft, shipping_address=shipping_address
        )
    return order


def cart_transitioned(*, order: Order, to_status: str) -> None:
    """commerce tells us a consult's order changed state (inside its transaction): both
    parties see it, and a payment after the call counts as the consult's outcome."""
    if order.consult_id is None:
        return
    if to_status in selectors.PAID_STATUSES:
        Consult.objects.filter(
            pk=order.consult_id, merchant_id=order.merchant_id, status=ConsultStatus.ENDED
        ).update(outcome=Outcome.ORDER)
    events.cart_changed(order)


# --- recording consent ---------------------------------------------------------------------------


def recording_consent_set(
    *, consult: Consult, user: Any, party: str, granted: Any
) -> dict[str, Any]:
    """A party grants or revokes consent to record (recorded with its time). Recording runs
    only while both have granted; a revocation by either stops it at once."""
    if not isinstance(granted, bool):
        raise ValidationError({"granted": [_("Must be true or false.")]})
    if party not in ("shopper", "agent"):
        raise NotAllowed(_("Only the two parties decide on recording."), code="not_a_party")
    with tenant_scope(consult.merchant_id, user_id=user.pk):
        consult = _lock(consult)
        _party_check(consult, user.pk, party)
        if consult.status != ConsultStatus.ACTIVE:
            raise Conflict(_("This consult is not in a call."), code="consult_closed")
        record = ConsentRecord.objects.create(
            merchant_id=consult.merchant_id,
            consult=consult,
            user=user,
            party=party,
            granted=granted,
        )
        state = selectors.consent_state(consult=consult)
        both = state["shopper"] is True and state["agent"] is True
        now = record.created_at
        if both and not state["recording"]:
            ConsultRecording.objects.create(
                merchant_id=consult.merchant_id, consult=consult, started_at=now
            )
        elif not both and state["recording"]:
            _recording_stop(consult, now)
        state = selectors.consent_state(consult=consult)
        events.send(
            consult,
            {
                "type": "recording.consent",
                "party": party,
                "user": user_public(user),
                "granted": granted,
                "recording": state["recording"],
                "consent": {"shopper": state["shopper"], "agent": state["agent"]},
                "ts": now.isoformat(),
            },
        )
    return state


def _recording_stop(consult: Consult, now: datetime) -> None:
    ConsultRecording.objects.filter(
        merchant_id=consult.merchant_id, consult=consult, state=RecordingState.RECORDING
    ).update(state=RecordingState.STOPPED, stopped_at=now)


def recording_delete(*, actor: Actor, recording: ConsultRecording) -> ConsultRecording:
    """Recordings are the merchant's: supervisors (owner, admin) may delete them. The file
    goes; the row stays as the record that it existed and who deleted it."""
    actor.require(Perm.SUPERVISE_CONSULTS)
    with _merchant_scope(actor.merchant, actor.user):
        locked = (
            ConsultRecording.objects.select_for_update()
            .filter(pk=recording.pk, merchant=actor.merchant)
            .first()
        )
        if locked is None:
            raise Http404("No such recording.")
        if locked.state == RecordingState.DELETED:
            return locked
        path = locked.storage_path
        now = timezone.now()
        locked.state = RecordingState.DELETED
        locked.stopped_at = locked.stopped_at or now
        locked.deleted_at = now
        locked.deleted_by = actor.user if getattr(actor.user, "pk", None) else None
        locked.storage_path = ""
        locked.save(
            update_fields=["state", "stopped_at", "deleted_at", "deleted_by", "storage_path"]
        )
        audit_record(
            actor=actor,
            action="consult.recording_deleted",
            obj=locked,
            data={"consult": locked.consult_id},
        )
        if path:
            transaction.on_commit(lambda: _delete_file(path))
    return locked


def _delete_file(relative: str) -> None:
    from pathlib import Path

    root = Path(settings.MEDIA_ROOT).resolve()
    target = (root / relative).resolve()
    if root in target.parents and target.is_file():  # never outside MEDIA_ROOT
        target.unlink(missing_ok=True)


# --- liveness ---------------------------------------------------------------------------------


def party_seen(*, merchant_id: int, consult_id: int, party: str) -> None:
    """A party's socket is alive (sent by consumers every HEARTBEAT_S)."""
    field = {"shopper": "shopper_seen_at", "agent": "agent_seen_at"}.get(party)
    if field is None:
        return
    with tenant_scope(merchant_id):
        Consult.objects.filter(
            pk=consult_id, merchant_id=merchant_id, status__in=OPEN_STATUSES
        ).update(**{field: timezone.now()})


# --- availability and bookings ---------------------------------------------------------------


def _when(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, str) and len(value) <= 40:
        try:
            parsed = parse_datetime(value)
        except ValueError:  # well-formed but impossible, e.g. 12:99
            parsed = None
    else:
        parsed = None
    if parsed is None:
        raise ValidationError({field: [_("Give a date and time, e.g. 2030-01-31T15:00:00Z.")]})
    if timezone.is_naive(parsed):
        raise ValidationError({field: [_("Include the time zone, e.g. Z or +08:00.")]})
    return parsed


def availability_add(*, actor: Actor, starts_at: Any, ends_at: Any) -> AvailabilityWindow:
    """An agent publishes when they can take booked calls (at most 12 hours per window)."""
    actor.require(Perm.TAKE_CONSULTS)
    user = _person(actor)
    start, end = _when(starts_at, "starts_at"), _when(ends_at, "ends_at")
    now = timezone.now()
    if end <= start:
        raise ValidationError({"ends_at": [_("End after the start.")]})
    if end - start > MAX_WINDOW:
        raise ValidationError({"ends_at": [_("A window is at most 12 hours.")]})
    if end <= now:
        raise ValidationError({"ends_at": [_("This window is over already.")]})
    if start > now + timedelta(days=conf("BOOKING_HORIZON_DAYS")):
        raise ValidationError({"starts_at": [_("Too far ahead.")]})
    with _merchant_scope(actor.merchant, user):
        mine = AvailabilityWindow.objects.filter(merchant=actor.merchant, agent=user)
        if mine.filter(ends_at__gt=now).count() >= MAX_WINDOWS_PER_AGENT:
            raise ValidationError({"starts_at": [_("Too many windows; remove old ones.")]})
        if mine.filter(starts_at__lt=end, ends_at__gt=start).exists():
            raise ValidationError({"starts_at": [_("This overlaps a window you published.")]})
        _profile_for(actor.merchant, user)
        return AvailabilityWindow.objects.create(
            merchant=actor.merchant, agent=user, starts_at=start, ends_at=end
        )


def availability_delete(*, actor: Actor, window: AvailabilityWindow) -> None:
    """Remove a window; bookings already made in it stay (the agent honours them)."""
    actor.require(Perm.TAKE_CONSULTS)
    user = _person(actor)
    with _merchant_scope(actor.merchant, user):
        if window.agent_id != user.pk and not actor.can(Perm.SUPERVISE_CONSULTS):
            raise Http404("No such availability window.")
        AvailabilityWindow.objects.filter(pk=window.pk, merchant=actor.merchant).delete()


def booking_create(
    *,
    merchant: Merchant,
    shopper: Any,
    starts_at: Any,
    agent: Any = None,
    topic: Any = "",
    language: Any = "",
    question: Any = "",
    room: Any = None,
    product: Any = None,
) -> Booking:
    """Book a slot with an agent who published availability covering it (any free one, or
    `agent`). A slot taken meanwhile → 409 `slot_taken` (the database refuses doubles)."""
    start = _when(starts_at, "starts_at")
    topic = tag_clean(topic)
    language = language_clean(language, merchant)
    question = _text(question, "question", MAX_QUESTION)
    agent_id = None if agent is None or agent == "" else _positive_int(agent)
    if agent is not None and agent != "" and agent_id is None:
        raise ValidationError({"agent": [_("Give an agent id.")]})
    minutes = int(conf("SLOT_MINUTES"))
    with _merchant_scope(merchant, shopper):
        room_obj = _room(merchant, room)
        product_obj = _product(merchant, product)
        open_count = Booking.objects.filter(
            merchant=merchant,
            shopper_id=shopper.pk,
            status=BookingStatus.BOOKED,
            ends_at__gt=timezone.now(),
        ).count()
        if open_count >= conf("MAX_OPEN_BOOKINGS"):
            raise Conflict(
                _("You have %(n)d bookings here already.") % {"n": open_count},
                code="too_many_bookings",
            )
        free = [
            s
            for s in selectors.booking_slots(
                merchant=merchant,
                language=language,
                agent_id=agent_id,
                days=conf("BOOKING_HORIZON_DAYS"),
                limit=10_000,
            )
            if s["starts_at"] == start
        ]
        if not free:
            raise Conflict(
                _("This time is not available; pick another slot."), code="slot_unavailable"
            )
        chosen = free[0]["agent"]["id"]
        try:
            with transaction.atomic():
                booking = Booking.objects.create(
                    merchant=merchant,
                    shopper=shopper,
                    agent_id=chosen,
                    starts_at=start,
                    ends_at=start + timedelta(minutes=minutes),
                    topic=topic,
                    language=language,
                    question=question,
                    room=room_obj,
                    product=product_obj,
                )
        except IntegrityError:
            raise Conflict(
                _("Someone booked this slot a moment ago; pick another."), code="slot_taken"
            ) from None
    return booking


def booking_cancel(*, merchant: Merchant, shopper: Any, booking: Booking) -> Booking:
    with _merchant_scope(merchant, shopper):
        locked = (
            Booking.objects.select_for_update()
            .filter(pk=booking.pk, merchant=merchant, shopper_id=shopper.pk)
            .first()
        )
        if locked is None:
            raise Http404("No such booking.")
        if locked.status != BookingStatus.BOOKED:
            raise Conflict(_("This booking is not open."), code="illegal_transition")
        locked.status = BookingStatus.CANCELLED
        locked.save(update_fields=["status"])
    return locked


def booking_start(*, merchant: Merchant, shopper: Any, booking: Booking) -> Requested:
    """At the booked time the shopper joins: a request routed to their agent first."""
    now = timezone.now()
    if booking.shopper_id != shopper.pk or booking.merchant_id != merchant.id:
        raise Http404("No such booking.")
    if booking.status != BookingStatus.BOOKED:
        raise Conflict(_("This booking is not open."), code="illegal_transition")
    if now < booking.starts_at - timedelta(minutes=5) or now > booking.ends_at:
        raise Conflict(_("Join from five minutes before your slot until its end."), code="not_now")
    with _merchant_scope(merchant, shopper):
        room = booking.room.slug if booking.room is not None else None
    return consult_request(
        merchant=merchant,
        shopper=shopper,
        topic=booking.topic,
        language=booking.language,
        question=booking.question,
        room=room,
        product=booking.product_id,
        booking=booking,
    )


def bookings_due_for_reminder(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """(merchant id, booking id) of bookings starting within the reminder lead that have
    had no reminder yet: a platform job, found through the audited bypass."""
    now = now or timezone.now()
    lead = timedelta(seconds=conf("REMINDER_LEAD_S"))
    with rls_bypass("consult-booking-reminders"):
        return list(
            Booking.objects.filter(
                status=BookingStatus.BOOKED,
                reminder_sent_at__isnull=True,
                starts_at__lte=now + lead,
                ends_at__gt=now,
            )
            .order_by("starts_at")
            .values_list("merchant_id", "id")[:SWEEP_LIMIT]
        )


# --- the sweep -----------------------------------------------------------------------------------


def consults_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic job: lapsed offers go back to the queue head, agents whose console went
    quiet go offline, shoppers gone from the queue leave it, calls a party left for longer
    than the grace period end, booked slots nobody used are marked missed; then routing runs
    for every merchant with requests waiting. Finds work across merchants through the
    audited bypass, then handles each merchant in its own scoped transaction."""
    now = now or timezone.now()
    presence_cut = now - timedelta(seconds=conf("PRESENCE_TTL_S"))
    queue_cut = now - timedelta(seconds=conf("QUEUE_GRACE_S"))
    call_cut = now - timedelta(seconds=conf("CALL_GRACE_S"))
    wait_cut = now - timedelta(seconds=conf("MAX_WAIT_S"))
    with rls_bypass("consults-sweep"):
        merchant_ids: set[int] = set(
            Consult.objects.filter(status__in=QUEUED_STATUSES)
            .values_list("merchant_id", flat=True)
            .distinct()[:SWEEP_LIMIT]
        )
        merchant_ids |= set(
            Consult.objects.filter(status=ConsultStatus.ACTIVE)
            .filter(Q(shopper_seen_at__lt=call_cut) | Q(agent_seen_at__lt=call_cut))
            .values_list("merchant_id", flat=True)
            .distinct()[:SWEEP_LIMIT]
        )
        merchant_ids |= set(
            AgentProfile.objects.filter(
                status__in=[AgentStatus.ONLINE, AgentStatus.BUSY], last_seen_at__lt=presence_cut
            )
            .values_list("merchant_id", flat=True)
            .distinct()[:SWEEP_LIMIT]
        )
        merchant_ids |= set(
            Booking.objects.filter(status=BookingStatus.BOOKED, ends_at__lt=now)
            .values_list("merchant_id", flat=True)
            .distinct()[:SWEEP_LIMIT]
        )
    totals = {"offers_lapsed": 0, "agents_offline": 0, "closed": 0, "missed": 0, "offered": 0}
    for merchant_id in sorted(merchant_ids):
        try:
            counts = _sweep_merchant(merchant_id, now, presence_cut, queue_cut, call_cut, wait_cut)
            for key, value in counts.items():
                totals[key] += value
            totals["offered"] += len(queue_dispatch(merchant_id=merchant_id))
        except Exception:  # one merchant's trouble must not stop the others' sweep
            log.exception("consult sweep of merchant %s failed", merchant_id)
    return totals


def _sweep_merchant(
    merchant_id: int,
    now: datetime,
    presence_cut: datetime,
    queue_cut: datetime,
    call_cut: datetime,
    wait_cut: datetime,
) -> dict[str, int]:
    counts = {"offers_lapsed": 0, "agents_offline": 0, "closed": 0, "missed": 0}
    with tenant_scope(merchant_id):
        _queue_lock(merchant_id)
        stale = list(
            AgentProfile.objects.select_for_update().filter(
                merchant_id=merchant_id,
                status__in=[AgentStatus.ONLINE, AgentStatus.BUSY],
                last_seen_at__lt=presence_cut,
            )
        )
        if stale:
            AgentProfile.objects.filter(pk__in=[p.pk for p in stale]).update(
                status=AgentStatus.OFFLINE, status_since=now
            )
            counts["agents_offline"] = len(stale)
            counts["offers_lapsed"] += _withdraw_offers(merchant_id, [p.user_id for p in stale])
        for consult in Consult.objects.select_for_update().filter(
            merchant_id=merchant_id, status=ConsultStatus.OFFERED, offer_expires_at__lt=now
        )[:SWEEP_LIMIT]:
            _offer_lapse(consult)
            counts["offers_lapsed"] += 1
        for consult in Consult.objects.select_for_update().filter(
            Q(shopper_seen_at__lt=queue_cut) | Q(queued_at__lt=wait_cut),
            merchant_id=merchant_id,
            status__in=QUEUED_STATUSES,
        )[:SWEEP_LIMIT]:
            reason = (
                EndReason.LEFT_QUEUE if consult.shopper_seen_at < queue_cut else EndReason.NO_AGENT
            )
            _close(consult, ConsultStatus.ABANDONED, reason)
            counts["closed"] += 1
        for consult in Consult.objects.select_for_update().filter(
            Q(shopper_seen_at__lt=call_cut) | Q(agent_seen_at__lt=call_cut),
            merchant_id=merchant_id,
            status=ConsultStatus.ACTIVE,
        )[:SWEEP_LIMIT]:
            _close(consult, ConsultStatus.ENDED, EndReason.DISCONNECTED)
            counts["closed"] += 1
        counts["missed"] = Booking.objects.filter(
            merchant_id=merchant_id, status=BookingStatus.BOOKED, ends_at__lt=now
        ).update(status=BookingStatus.MISSED)
        if counts["offers_lapsed"] or counts["agents_offline"]:
            events.queue_changed(merchant_id)
    return counts
