"""Consult reads. Always filtered by merchant (RLS is the second guard, on Postgres only);
missing and foreign objects both raise Http404. Agents see the queue and their own consults;
supervisors (owner, admin) see every consult of the merchant."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from commerce.models import Order, OrderStatus, Product
from liveshop.tenancy.access import Actor
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.permissions import Perm

from . import room_context
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
    ConsultRecording,
    ConsultStatus,
    RecordingState,
)

PAID_STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLED)
QUEUE_BROADCAST_LIMIT = 500  # positions beyond it are counted, not listed


def conf(name: str) -> Any:
    return settings.LIVESHOP_CONSULTS[name]


def _consults(merchant: Merchant) -> QuerySet[Consult]:
    return Consult.objects.filter(merchant=merchant).select_related(
        "shopper", "agent", "room", "product", "pinned_product", "booking"
    )


def consult_get(*, merchant: Merchant, public_id: str) -> Consult:
    consult = _consults(merchant).filter(public_id=public_id).first()
    if consult is None:
        raise Http404("No such consult.")
    return consult


def shopper_consult_get(*, merchant: Merchant, shopper: Any, public_id: str) -> Consult:
    """The shopper's own consult; anyone else's looks missing."""
    consult = _consults(merchant).filter(public_id=public_id, shopper_id=shopper.pk).first()
    if consult is None:
        raise Http404("No such consult.")
    return consult


def staff_can_see(actor: Actor, consult: Consult) -> bool:
    if actor.can(Perm.SUPERVISE_CONSULTS):
        return True
    if actor.user is None:  # an API key with consults scopes: the merchant's data
        return actor.can(Perm.VIEW_CONSULTS)
    return consult.agent_id == actor.user.pk or consult.status in QUEUED_STATUSES


def staff_consult_get(*, actor: Actor, public_id: str) -> Consult:
    """For staff: supervisors see all; agents the queue and their own consults."""
    consult = consult_get(merchant=actor.merchant, public_id=public_id)
    if not staff_can_see(actor, consult):
        raise Http404("No such consult.")
    return consult


def consult_list(
    *, actor: Actor, status: str = "", agent_id: int | None = None
) -> QuerySet[Consult]:
    consults = _consults(actor.merchant)
    if not actor.can(Perm.SUPERVISE_CONSULTS) and actor.user is not None:
        consults = consults.filter(Q(agent_id=actor.user.pk) | Q(status__in=QUEUED_STATUSES))
    if status:
        consults = consults.filter(status=status)
    if agent_id is not None:
        consults = consults.filter(agent_id=agent_id)
    return consults.order_by("-created_at", "-id")


def shopper_consults(*, merchant: Merchant, shopper: Any) -> QuerySet[Consult]:
    return _consults(merchant).filter(shopper_id=shopper.pk).order_by("-created_at", "-id")


# --- the queue ---------------------------------------------------------------------------


def queue(*, merchant: Merchant) -> QuerySet[Consult]:
    """Requests not yet taken, head first."""
    return _consults(merchant).filter(status__in=QUEUED_STATUSES).order_by("queued_at", "id")


def presence_fresh_since(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=conf("PRESENCE_TTL_S"))


def agents_online(*, merchant: Merchant) -> QuerySet[AgentProfile]:
    """Agents who take new requests now (status online, console alive)."""
    return AgentProfile.objects.filter(
        merchant=merchant, status=AgentStatus.ONLINE, last_seen_at__gte=presence_fresh_since()
    ).select_related("user")


def agents_present(*, merchant: Merchant) -> QuerySet[AgentProfile]:
    """Agents with a live console who are online or busy."""
    return AgentProfile.objects.filter(
        merchant=merchant,
        status__in=[AgentStatus.ONLINE, AgentStatus.BUSY],
        last_seen_at__gte=presence_fresh_since(),
    ).select_related("user")


def agent_loads(*, merchant: Merchant) -> dict[int, int]:
    """Requests each agent holds: calls in progress plus offers awaiting their answer."""
    loads: dict[int, int] = {}
    for agent_id, n in (
        Consult.objects.filter(merchant=merchant, status=ConsultStatus.ACTIVE)
        .values_list("agent_id")
        .annotate(n=Count("id"))
    ):
        loads[agent_id] = loads.get(agent_id, 0) + n
    for agent_id, n in (
        Consult.objects.filter(merchant=merchant, status=ConsultStatus.OFFERED)
        .values_list("offered_to_id")
        .annotate(n=Count("id"))
    ):
        loads[agent_id] = loads.get(agent_id, 0) + n
    return loads


def average_handle_seconds(*, merchant: Merchant) -> int:
    recent = (
        Consult.objects.filter(
            merchant=merchant, status=ConsultStatus.ENDED, handle_seconds__isnull=False
        )
        .order_by("-ended_at")
        .values_list("handle_seconds", flat=True)[:50]
    )
    values = [int(v) for v in recent if v is not None]
    if not values:
        return int(conf("DEFAULT_HANDLE_S"))
    return max(30, int(sum(values) / len(values)))


def queue_snapshot(*, merchant_id: int) -> dict[str, Any]:
    """The queue order and what an ETA needs, for the queue broadcast."""
    merchant = Merchant(id=merchant_id)
    rows = list(
        Consult.objects.filter(merchant_id=merchant_id, status__in=QUEUED_STATUSES)
        .order_by("queued_at", "id")
        .values_list("public_id", "status")[:QUEUE_BROADCAST_LIMIT]
    )
    online = list(agents_online(merchant=merchant))
    loads = agent_loads(merchant=merchant)
    capacity = sum(a.max_concurrent for a in online)
    free = sum(max(0, a.max_concurrent - loads.get(a.user_id, 0)) for a in online)
    return {
        "order": [public_id for public_id, _status in rows],
        # Offered requests are being connected: they hold a seat already, and those behind
        # them wait only for the seats left.
        "offered": [public_id for public_id, status in rows if status == ConsultStatus.OFFERED],
        "capacity": capacity,
        "free": free,
        "handle_s": average_handle_seconds(merchant=merchant),
    }


CONNECTING_S = 10  # an offered request waits for the agent's click


def queue_entry(public_id: str, position: int, snapshot: dict[str, Any]) -> dict[str, int]:
    """`{position, eta_s}` of the request at `position` (1 = head): offered ones are being
    connected; a waiting one needs a free seat (after the waiting ones ahead of it) or, when
    none is left, whole rounds of the merchant's average handle time at full capacity."""
    offered = set(snapshot.get("offered") or ())
    if public_id in offered:
        return {"position": position, "eta_s": CONNECTING_S}
    order = snapshot.get("order") or []
    waiting_ahead = sum(1 for x in order[: position - 1] if x not in offered)
    if position - 1 > len(order):  # beyond the listed part: count the unlisted as waiting
        waiting_ahead += position - 1 - len(order)
    need = waiting_ahead + 1
    free = int(snapshot.get("free") or 0)
    if need <= free:
        return {"position": position, "eta_s": CONNECTING_S}
    capacity = max(1, int(snapshot.get("capacity") or 0))
    rounds = math.ceil((need - free) / capacity)
    handle = int(snapshot.get("handle_s") or conf("DEFAULT_HANDLE_S"))
    return {"position": position, "eta_s": int(rounds * handle)}


def queue_position(*, consult: Consult, snapshot: dict[str, Any] | None = None) -> dict[str, int]:
    """`{position, eta_s}` of a queued request (1 = next); position 0 once it is taken."""
    if consult.status not in QUEUED_STATUSES:
        return {"position": 0, "eta_s": 0}
    snapshot = snapshot or queue_snapshot(merchant_id=consult.merchant_id)
    try:
        position = snapshot["order"].index(consult.public_id) + 1
    except ValueError:
        position = (
            Consult.objects.filter(merchant_id=consult.merchant_id, status__in=QUEUED_STATUSES)
            .filter(
                Q(queued_at__lt=consult.queued_at)
                | Q(queued_at=consult.queued_at, id__lt=consult.pk)
            )
            .count()
            + 1
        )
    return queue_entry(consult.public_id, position, snapshot)


def queue_stats(*, merchant: Merchant) -> dict[str, int]:
    return {
        "waiting": Consult.objects.filter(merchant=merchant, status__in=QUEUED_STATUSES).count(),
        "active": Consult.objects.filter(merchant=merchant, status=ConsultStatus.ACTIVE).count(),
        "agents_online": agents_present(merchant=merchant).count(),
    }


# --- context for the agent ----------------------------------------------------------------


def past_orders(*, merchant: Merchant, shopper_id: int, limit: int = 5) -> list[Order]:
    return list(
        Order.objects.filter(merchant=merchant, shopper_id=shopper_id)
        .exclude(status=OrderStatus.DRAFT)
        .order_by("-id")[:limit]
    )


def consult_context(*, consult: Consult) -> dict[str, Any]:
    """What the agent sees before and during the call: where the shopper came from, what
    was pinned then, their recent chat there and their past orders here."""
    merchant = Merchant(id=consult.merchant_id)
    orders = past_orders(merchant=merchant, shopper_id=consult.shopper_id)
    return {
        "room": consult.room,
        "product": consult.product,
        "pinned_product": consult.pinned_product,
        "recent_chat": room_context.recent_chat(consult.room, consult.shopper_id),
        "past_orders": orders,
        "orders_count": Order.objects.filter(merchant=merchant, shopper_id=consult.shopper_id)
        .exclude(status=OrderStatus.DRAFT)
        .count(),
        "paid_total": Order.objects.filter(
            merchant=merchant, shopper_id=consult.shopper_id, status__in=PAID_STATUSES
        ).aggregate(total=Sum("total"))["total"]
        or 0,
    }


def agent_profile(*, merchant: Merchant, user: Any) -> AgentProfile | None:
    return AgentProfile.objects.filter(merchant=merchant, user_id=user.pk).first()


def my_active(*, merchant: Merchant, user: Any) -> QuerySet[Consult]:
    return (
        _consults(merchant)
        .filter(agent_id=user.pk, status=ConsultStatus.ACTIVE)
        .order_by("accepted_at", "id")
    )


# --- carts, consent, recordings ----------------------------------------------------------


def consult_orders(*, consult: Consult) -> QuerySet[Order]:
    return (
        Order.objects.filter(merchant_id=consult.merchant_id, consult=consult)
        .prefetch_related("lines")
        .order_by("id")
    )


def current_cart(*, consult: Consult) -> Order | None:
    """The cart the call is about: the open draft, else the latest order sent or paid."""
    orders = Order.objects.filter(merchant_id=consult.merchant_id, consult=consult)
    draft = orders.filter(status=OrderStatus.DRAFT).order_by("-id").first()
    return draft or orders.exclude(status=OrderStatus.CANCELLED).order_by("-id").first()


def cart_public(*, merchant_id: int, order_id: int) -> dict[str, Any] | None:
    from commerce.api.serializers import OrderOut

    order = (
        Order.objects.filter(merchant_id=merchant_id, pk=order_id)
        .select_related("room")
        .prefetch_related("lines")
        .first()
    )
    if order is None:
        return None
    return dict(OrderOut(order).data)


def consent_state(*, consult: Consult) -> dict[str, Any]:
    """Each party's latest answer (None = not asked yet) and whether recording runs."""
    latest: dict[str, bool | None] = {"shopper": None, "agent": None}
    for party, granted in (
        ConsentRecord.objects.filter(merchant_id=consult.merchant_id, consult=consult)
        .order_by("id")
        .values_list("party", "granted")
    ):
        latest[party] = granted
    recording = ConsultRecording.objects.filter(
        merchant_id=consult.merchant_id, consult=consult, state=RecordingState.RECORDING
    ).exists()
    return {**latest, "recording": recording}


def recordings(*, consult: Consult) -> QuerySet[ConsultRecording]:
    return ConsultRecording.objects.filter(
        merchant_id=consult.merchant_id, consult=consult
    ).order_by("id")


def recording_get(*, consult: Consult, recording_id: int) -> ConsultRecording:
    found = recordings(consult=consult).filter(pk=recording_id).first()
    if found is None:
        raise Http404("No such recording.")
    return found


# --- analytics ---------------------------------------------------------------------------


def agent_stats(*, merchant: Merchant, since: datetime) -> list[dict[str, Any]]:
    """Per agent over consults accepted since `since`: how many, average wait before the
    accept, average handle time, conversion (a paid order from the consult) and ratings."""
    paid = Order.objects.filter(merchant=merchant, consult=OuterRef("pk"), status__in=PAID_STATUSES)
    rows = (
        Consult.objects.filter(merchant=merchant, agent__isnull=False, accepted_at__gte=since)
        .annotate(converted=Exists(paid))
        .values("agent_id", "agent__display_name", "agent__email")
        .annotate(
            handled=Count("id"),
            avg_wait=Avg("wait_seconds"),
            avg_handle=Avg("handle_seconds"),
            converted_n=Count("id", filter=Q(converted=True)),
            avg_rating=Avg("rating"),
            ratings=Count("rating"),
        )
        .order_by("agent__display_name", "agent_id")
    )
    revenue = dict(
        Order.objects.filter(
            merchant=merchant,
            consult__isnull=False,
            consult__accepted_at__gte=since,
            status__in=PAID_STATUSES,
        )
        .values_list("consult__agent_id")
        .annotate(total=Sum("total"))
    )
    out = []
    for row in rows:
        handled = row["handled"]
        out.append(
            {
                "agent": {
                    "id": row["agent_id"],
                    "name": row["agent__display_name"],
                    "email": row["agent__email"],
                },
                "handled": handled,
                "avg_wait_s": _round(row["avg_wait"]),
                "avg_handle_s": _round(row["avg_handle"]),
                "conversions": row["converted_n"],
                "conversion_rate": round(row["converted_n"] / handled, 3) if handled else 0.0,
                "avg_rating": round(row["avg_rating"], 2) if row["avg_rating"] else None,
                "ratings": row["ratings"],
                "revenue": int(revenue.get(row["agent_id"]) or 0),
            }
        )
    return out


def merchant_consult_stats(*, merchant: Merchant, since: datetime) -> dict[str, Any]:
    consults = Consult.objects.filter(merchant=merchant, created_at__gte=since)
    row = consults.aggregate(
        requests=Count("id"),
        accepted=Count("id", filter=Q(accepted_at__isnull=False)),
        cancelled=Count("id", filter=Q(status=ConsultStatus.CANCELLED)),
        abandoned=Count("id", filter=Q(status=ConsultStatus.ABANDONED)),
        avg_wait=Avg("wait_seconds"),
        avg_handle=Avg("handle_seconds"),
        avg_rating=Avg("rating"),
    )
    return {
        "requests": row["requests"],
        "accepted": row["accepted"],
        "cancelled": row["cancelled"],
        "abandoned": row["abandoned"],
        "avg_wait_s": _round(row["avg_wait"]),
        "avg_handle_s": _round(row["avg_handle"]),
        "avg_rating": round(row["avg_rating"], 2) if row["avg_rating"] else None,
    }


def _round(value: Any) -> int | None:
    return None if value is None else round(float(value))


# --- availability and bookings -------------------------------------------------------------


def windows_of(*, merchant: Merchant, agent_id: int) -> QuerySet[AvailabilityWindow]:
    return AvailabilityWindow.objects.filter(
        merchant=merchant, agent_id=agent_id, ends_at__gt=timezone.now()
    ).order_by("starts_at")


def window_get(*, merchant: Merchant, agent_id: int | None, window_id: int) -> AvailabilityWindow:
    windows = AvailabilityWindow.objects.filter(merchant=merchant, pk=window_id)
    if agent_id is not None:
        windows = windows.filter(agent_id=agent_id)
    window = windows.first()
    if window is None:
        raise Http404("No such availability window.")
    return window


def bookings_upcoming(*, merchant: Merchant, agent_id: int | None = None) -> QuerySet[Booking]:
    bookings = Booking.objects.filter(
        merchant=merchant, status=BookingStatus.BOOKED, ends_at__gt=timezone.now()
    ).select_related("shopper", "agent", "room", "product")
    if agent_id is not None:
        bookings = bookings.filter(agent_id=agent_id)
    return bookings.order_by("starts_at", "id")


def shopper_bookings(*, merchant: Merchant, shopper: Any) -> QuerySet[Booking]:
    return (
        Booking.objects.filter(merchant=merchant, shopper_id=shopper.pk)
        .select_related("agent", "room", "product")
        .order_by("-starts_at", "-id")
    )


def shopper_booking_get(*, merchant: Merchant, shopper: Any, public_id: str) -> Booking:
    booking = (
        shopper_bookings(merchant=merchant, shopper=shopper).filter(public_id=public_id).first()
    )
    if booking is None:
        raise Http404("No such booking.")
    return booking


def slot_grid(window: AvailabilityWindow, minutes: int) -> list[datetime]:
    """Slot starts inside a window: every `minutes` from its start, whole slots only."""
    step = timedelta(minutes=minutes)
    starts, t = [], window.starts_at
    while t + step <= window.ends_at:
        starts.append(t)
        t += step
    return starts


def booking_slots(
    *,
    merchant: Merchant,
    language: str = "",
    agent_id: int | None = None,
    days: int = 7,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Free slots of agents who published availability (and speak `language`, if given),
    from the booking lead time on, for `days` days; earliest first."""
    now = timezone.now()
    earliest = now + timedelta(seconds=conf("BOOKING_LEAD_S"))
    horizon = now + timedelta(days=max(1, min(days, conf("BOOKING_HORIZON_DAYS"))))
    minutes = int(conf("SLOT_MINUTES"))
    windows = AvailabilityWindow.objects.filter(
        merchant=merchant, ends_at__gt=earliest, starts_at__lt=horizon
    ).select_related("agent")
    if agent_id is not None:
        windows = windows.filter(agent_id=agent_id)
    speakers: set[int] | None = None
    if language:
        speakers = {
            p.user_id
            for p in AgentProfile.objects.filter(merchant=merchant)
            if language in (p.languages or []) or not p.languages
        }
    taken = set(
        Booking.objects.filter(
            merchant=merchant, status=BookingStatus.BOOKED, starts_at__lt=horizon, ends_at__gt=now
        ).values_list("agent_id", "starts_at")
    )
    slots: list[dict[str, Any]] = []
    for window in windows:
        if speakers is not None and window.agent_id not in speakers:
            continue
        for start in slot_grid(window, minutes):
            if start < earliest or start >= horizon or (window.agent_id, start) in taken:
                continue
            slots.append(
                {
                    "starts_at": start,
                    "ends_at": start + timedelta(minutes=minutes),
                    "agent": {"id": window.agent_id, "name": window.agent.display_name},
                }
            )
    slots.sort(key=lambda s: (s["starts_at"], s["agent"]["id"]))
    return slots[:limit]


def storefront_options(*, merchant: Merchant) -> dict[str, Any]:
    """What the shopper's "ask an expert" button needs: is anyone online, in which languages,
    about which topics (the skills agents declared)."""
    present = list(agents_present(merchant=merchant))
    profiles = list(AgentProfile.objects.filter(merchant=merchant))
    topics = sorted({skill for p in profiles for skill in (p.skills or [])})
    languages = sorted({lang for p in profiles for lang in (p.languages or [])})
    online = [p for p in present if p.status == AgentStatus.ONLINE]
    return {
        "agents_online": len(online),
        "accepting": bool(present),  # busy agents queue requests too
        "topics": topics,
        "languages": languages or [merchant.locale],
        "languages_online": sorted({lang for p in online for lang in (p.languages or [])}),
        "booking": AvailabilityWindow.objects.filter(
            merchant=merchant, ends_at__gt=timezone.now()
        ).exists(),
    }


def products_brief(*, merchant: Merchant, ids: list[int]) -> dict[int, Product]:
    from commerce.selectors import product_list

    return {p.pk: p for p in product_list(merchant=merchant, active_only=True, ids=ids)}


def open_consult_of(*, merchant: Merchant, shopper: Any) -> Consult | None:
    return _consults(merchant).filter(shopper_id=shopper.pk, status__in=OPEN_STATUSES).first()
