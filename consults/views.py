"""Consult pages: the agents' console and the merchant's history, analytics, availability,
consult detail (with recordings) and silent supervision under /dashboard/<m>/consults/; the
shopper's call page and booking page under /s/<m>/consults/. The pages are thin: live data
goes through the API and the consult socket (static/js/consults/)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from liveshop.errors import DomainError
from liveshop.tenancy.decorators import dashboard_view, storefront_view
from liveshop.tenancy.permissions import Perm

from . import selectors, services
from .models import ConsultStatus, EndReason


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def _error_text(exc: ValidationError | DomainError) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    if hasattr(exc, "error_dict"):
        return " ".join(str(m) for msgs in exc.message_dict.values() for m in msgs)
    return " ".join(exc.messages)


# --- dashboard ------------------------------------------------------------------------------


@dashboard_view(Perm.TAKE_CONSULTS)
def console(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    merchant = actor.merchant
    slug = merchant.slug
    return render(
        request,
        "consults/console.html",
        {
            "profile": selectors.agent_profile(merchant=merchant, user=actor.user),
            "can_supervise": actor.can(Perm.SUPERVISE_CONSULTS),
            "stats": selectors.queue_stats(merchant=merchant),
            "api": {
                "console": reverse("api-consult-console", kwargs={"m": slug}),
                "presence": reverse("api-consult-presence", kwargs={"m": slug}),
                "accept": reverse("api-consult-accept", kwargs={"m": slug}),
                "products": reverse("api-products", kwargs={"m": slug}),
                "consults": reverse("api-consults", kwargs={"m": slug}),
            },
        },
    )


@dashboard_view(Perm.VIEW_CONSULTS)
def history(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    status = request.GET.get("status", "")
    if status not in ConsultStatus.values:
        status = ""
    consults = selectors.consult_list(actor=actor, status=status)
    page = Paginator(consults, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "consults/history.html",
        {"page": page, "status": status, "statuses": ConsultStatus.choices},
    )


@dashboard_view(Perm.SUPERVISE_CONSULTS)
def analytics(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    try:
        days = max(1, min(365, int(request.GET.get("days", "30"))))
    except ValueError:
        days = 30
    since = timezone.now() - timedelta(days=days)
    return render(
        request,
        "consults/analytics.html",
        {
            "days": days,
            "since": since,
            "totals": selectors.merchant_consult_stats(merchant=actor.merchant, since=since),
            "agents": selectors.agent_stats(merchant=actor.merchant, since=since),
        },
    )


def _local(date_text: str, time_text: str, tz: str) -> datetime:
    try:
        naive = datetime.fromisoformat(f"{date_text}T{time_text}")
    except ValueError:
        raise ValidationError(_("Give a date and times.")) from None
    return naive.replace(tzinfo=ZoneInfo(tz))


@dashboard_view(Perm.TAKE_CONSULTS)
def availability(request: HttpRequest) -> HttpResponse:
    """The agent's published availability (in the merchant's time zone) and bookings."""
    actor = _actor(request)
    merchant = actor.merchant
    if request.method == "POST":
        try:
            # A savepoint: a refused change must leave the page's transaction usable.
            with transaction.atomic():
                if request.POST.get("action") == "delete":
                    window = selectors.window_get(
                        merchant=merchant,
                        agent_id=None if actor.can(Perm.SUPERVISE_CONSULTS) else actor.user.pk,
                        window_id=int(request.POST.get("window", "0") or 0),
                    )
                    services.availability_delete(actor=actor, window=window)
                    messages.success(request, _("Window removed."))
                else:
                    date = request.POST.get("date", "")[:10]
                    services.availability_add(
                        actor=actor,
                        starts_at=_local(
                            date, request.POST.get("start", "")[:5], merchant.timezone
                        ),
                        ends_at=_local(date, request.POST.get("end", "")[:5], merchant.timezone),
                    )
                    messages.success(request, _("Availability published."))
        except (ValidationError, DomainError) as exc:
            messages.error(request, _error_text(exc))
        except ValueError:
            messages.error(request, _("Give a date and times."))
        return redirect("dashboard:consult_availability", m=merchant.slug)
    supervisor = actor.can(Perm.SUPERVISE_CONSULTS)
    return render(
        request,
        "consults/availability.html",
        {
            "windows": selectors.windows_of(merchant=merchant, agent_id=actor.user.pk),
            "bookings": selectors.bookings_upcoming(
                merchant=merchant, agent_id=None if supervisor else actor.user.pk
            )[:100],
            "timezone": merchant.timezone,
            "today": timezone.localdate(timezone=ZoneInfo(merchant.timezone)).isoformat(),
        },
    )


@dashboard_view(Perm.VIEW_CONSULTS)
def consult_detail(request: HttpRequest, consult: str) -> HttpResponse:
    actor = _actor(request)
    found = selectors.staff_consult_get(actor=actor, public_id=consult)
    can_edit = actor.can(Perm.TAKE_CONSULTS) and (
        found.agent_id == getattr(actor.user, "pk", None) or actor.can(Perm.SUPERVISE_CONSULTS)
    )
    if request.method == "POST" and can_edit:
        try:
            with transaction.atomic():
                services.consult_notes_set(
                    actor=actor, consult=found, notes=request.POST.get("notes", "")
                )
            messages.success(request, _("Notes saved."))
        except (ValidationError, DomainError) as exc:
            messages.error(request, _error_text(exc))
        return redirect("dashboard:consult", m=actor.merchant.slug, consult=found.public_id)
    supervisor = actor.can(Perm.SUPERVISE_CONSULTS)
    return render(
        request,
        "consults/detail.html",
        {
            "consult": found,
            "context": selectors.consult_context(consult=found),
            "transcript": list(found.messages.select_related("sender").order_by("id")[:2000]),
            "pushed": list(found.pushed.select_related("product").order_by("id")),
            "orders": list(selectors.consult_orders(consult=found)),
            "consents": list(found.consents.select_related("user").order_by("id")),
            "recordings": list(selectors.recordings(consult=found)) if supervisor else None,
            "can_edit": can_edit,
            "can_supervise": supervisor and found.status == ConsultStatus.ACTIVE,
        },
    )


@dashboard_view(Perm.SUPERVISE_CONSULTS)
def supervise(request: HttpRequest, consult: str) -> HttpResponse:
    """Watch and listen to a call, silently."""
    actor = _actor(request)
    found = selectors.staff_consult_get(actor=actor, public_id=consult)
    slug = actor.merchant.slug
    return render(
        request,
        "consults/supervise.html",
        {
            "consult": found,
            "join_url": reverse(
                "api-consult-join", kwargs={"m": slug, "consult_id": found.public_id}
            ),
            # `consult.ended` frames carry the reason's code; the page shows its label.
            "end_reasons": {str(value): str(label) for value, label in EndReason.choices},
        },
    )


@require_POST
@dashboard_view(Perm.SUPERVISE_CONSULTS)
def recording_delete(request: HttpRequest, consult: str, recording_id: int) -> HttpResponse:
    actor = _actor(request)
    found = selectors.staff_consult_get(actor=actor, public_id=consult)
    recording = selectors.recording_get(consult=found, recording_id=recording_id)
    services.recording_delete(actor=actor, recording=recording)
    messages.success(request, _("Recording deleted."))
    return redirect("dashboard:consult", m=actor.merchant.slug, consult=found.public_id)


# --- storefront -----------------------------------------------------------------------------


@storefront_view
def call_page(request: HttpRequest, consult: str) -> HttpResponse:
    """The shopper's side of the consult: queue, the call, chat, products, the cart and
    paying it, consent, the rating. Only its shopper can open it."""
    merchant = request.merchant  # type: ignore[attr-defined]
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    found = selectors.shopper_consult_get(
        merchant=merchant, shopper=request.user, public_id=consult
    )
    slug = merchant.slug
    kwargs = {"m": slug, "consult_id": found.public_id}
    return render(
        request,
        "consults/call.html",
        {
            "merchant": merchant,
            "consult": found,
            "api": {
                "detail": reverse("api-shopper-consult", kwargs=kwargs),
                "join": reverse("api-shopper-consult-join", kwargs=kwargs),
                "cancel": reverse("api-shopper-consult-cancel", kwargs=kwargs),
                "end": reverse("api-shopper-consult-end", kwargs=kwargs),
                "rating": reverse("api-shopper-consult-rating", kwargs=kwargs),
                "orders": reverse("api-shopper-orders", kwargs={"m": slug}),
            },
        },
    )


@storefront_view
def booking_page(request: HttpRequest, booking: str) -> HttpResponse:
    merchant = request.merchant  # type: ignore[attr-defined]
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    found = selectors.shopper_booking_get(
        merchant=merchant, shopper=request.user, public_id=booking
    )
    now = timezone.now()
    return render(
        request,
        "consults/booking.html",
        {
            "merchant": merchant,
            "booking": found,
            "can_start": found.status == "booked"
            and found.starts_at - timedelta(minutes=5) <= now <= found.ends_at,
            "start_url": reverse(
                "api-shopper-booking-start",
                kwargs={"m": merchant.slug, "booking_id": found.public_id},
            ),
            "cancel_url": reverse(
                "api-shopper-booking-cancel",
                kwargs={"m": merchant.slug, "booking_id": found.public_id},
            ),
        },
    )
