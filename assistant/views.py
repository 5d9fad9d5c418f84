"""Assistant pages: the dashboard (rooms and their assistant, FAQ, hand-offs, the virtual
host), the host console's "unanswered" partial with its one-click answers, and the
storefront replay page of a virtual-host room."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from liveshop.errors import DomainError
from liveshop.forms import form_errors
from liveshop.tenancy.decorators import dashboard_view, storefront_view
from liveshop.tenancy.permissions import Perm
from rooms import selectors as room_selectors
from rooms.models import Room

from . import selectors, services, virtual_host
from .catalog import lineup_ids
from .forms import FaqForm, RoomAssistantForm, ShowForm
from .models import FaqEntry


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def _message(exc: ValidationError | DomainError) -> str:
    return exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)


# --- overview --------------------------------------------------------------------------------


@dashboard_view(Perm.MANAGE_ASSISTANT)
def overview(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    merchant = actor.merchant
    rooms = list(room_selectors.room_list(merchant=merchant)[:200])
    stats = selectors.room_question_stats(merchant=merchant)
    shows = {s.room_id: s for s in selectors.show_list(merchant=merchant)}
    configs = selectors.room_settings_map(merchant=merchant)
    rows = [
        {
            "room": room,
            "config": configs.get(room.pk, selectors.OFF),
            "stats": stats.get(room.pk, {"answered": 0, "waiting": 0}),
            "show": shows.get(room.pk),
        }
        for room in rooms
    ]
    context = {
        "rows": rows,
        "faqs": list(selectors.faq_list(merchant=merchant)),
        "handoffs": list(selectors.handoff_list(merchant=merchant)[:20]),
    }
    return render(request, "assistant/overview.html", context)


# --- FAQ -------------------------------------------------------------------------------------


def _faq_initial(entry: FaqEntry) -> dict[str, Any]:
    return {
        k: getattr(entry, k)
        for k in ("topic", "question", "answer", "question_zh", "answer_zh", "is_active")
    }


@dashboard_view(Perm.MANAGE_ASSISTANT)
def faq_edit(request: HttpRequest, faq_id: int | None = None) -> HttpResponse:
    actor = _actor(request)
    entry = selectors.faq_get(merchant=actor.merchant, faq_id=faq_id) if faq_id else None
    form = FaqForm(request.POST or None, initial=_faq_initial(entry) if entry else None)
    if request.method == "POST" and form.is_valid():
        try:
            # A savepoint: a refused change must leave the page's transaction usable.
            with transaction.atomic():
                if entry is None:
                    services.faq_create(actor=actor, data=form.cleaned_data)
                else:
                    services.faq_update(actor=actor, entry=entry, data=form.cleaned_data)
        except (ValidationError, DomainError) as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("FAQ saved. The assistant answers from it right away."))
            return redirect("dashboard:assistant", m=actor.merchant.slug)
    return render(request, "assistant/faq_form.html", {"form": form, "entry": entry})


@require_POST
@dashboard_view(Perm.MANAGE_ASSISTANT)
def faq_delete(request: HttpRequest, faq_id: int) -> HttpResponse:
    actor = _actor(request)
    entry = selectors.faq_get(merchant=actor.merchant, faq_id=faq_id)
    services.faq_delete(actor=actor, entry=entry)
    messages.success(request, _("FAQ entry deleted."))
    return redirect("dashboard:assistant", m=actor.merchant.slug)


# --- one room --------------------------------------------------------------------------------


def _show_initial(show: Any) -> dict[str, Any]:
    if show is None:
        return {"mode": "slideshow", "slide_seconds": 20, "is_active": True}
    return {
        "mode": show.mode,
        "recording": show.recording,
        "starts_at": show.starts_at,
        "ends_at": show.ends_at,
        "slide_seconds": show.slide_seconds,
        "is_active": show.is_active,
    }


@dashboard_view(Perm.MANAGE_ASSISTANT)
def room_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The assistant in one room: settings, the virtual host and its timeline, questions."""
    actor = _actor(request)
    merchant = actor.merchant
    room = room_selectors.room_get(merchant=merchant, slug=slug)
    config = selectors.room_settings(merchant=merchant, room=room)
    show = selectors.show_get(merchant=merchant, room=room)
    posted = request.POST.get("form") if request.method == "POST" else None
    settings_form = RoomAssistantForm(
        request.POST if posted == "settings" else None,
        initial={
            "enabled": config.enabled,
            "mentions_only": config.mentions_only,
            "display_name": config.name,
            "show_stock_counts": config.show_stock_counts,
        },
    )
    show_form = ShowForm(request.POST if posted == "show" else None, initial=_show_initial(show))
    here = reverse("dashboard:assistant_room", kwargs={"m": merchant.slug, "slug": room.slug})
    if posted == "settings" and settings_form.is_valid():
        try:
            with transaction.atomic():
                services.room_assistant_update(
                    actor=actor, room=room, data=settings_form.cleaned_data
                )
        except (ValidationError, DomainError) as exc:
            form_errors(settings_form, exc)
        else:
            messages.success(request, _("Assistant settings saved."))
            return redirect(here)
    if posted == "show" and show_form.is_valid():
        try:
            with transaction.atomic():
                saved = virtual_host.show_save(actor=actor, room=room, data=show_form.cleaned_data)
                if show is None:  # a new show starts with the room's line-up as its timeline
                    virtual_host.show_entries_from_lineup(actor=actor, show=saved)
        except (ValidationError, DomainError) as exc:
            form_errors(show_form, exc)
        else:
            messages.success(request, _("Virtual host saved."))
            return redirect(here)
    entries = (
        list(show.entries.select_related("product").order_by("position", "id")) if show else []
    )
    context = {
        "room": room,
        "config": config,
        "settings_form": settings_form,
        "show": show,
        "show_form": show_form,
        "entries": entries,
        "lineup": room_selectors.lineup_products(room=room),
        "recordings": virtual_host.recordings_available(merchant=merchant),
        "recording_seconds": virtual_host.recording_seconds(show) if show else None,
        "questions": list(selectors.question_list(merchant=merchant, room=room)[:50]),
        **_unanswered_context(request, room),
    }
    return render(request, "assistant/room.html", context)


@require_POST
@dashboard_view(Perm.MANAGE_ASSISTANT)
def show_timeline(request: HttpRequest, slug: str) -> HttpResponse:
    """Save the timeline table (or refill it from the line-up)."""
    actor = _actor(request)
    room = room_selectors.room_get(merchant=actor.merchant, slug=slug)
    show = selectors.show_get(merchant=actor.merchant, room=room)
    if show is None:
        raise Http404("This room has no virtual host.")
    try:
        with transaction.atomic():
            if request.POST.get("action") == "lineup":
                virtual_host.show_entries_from_lineup(actor=actor, show=show)
            else:
                virtual_host.show_entries_set(
                    actor=actor, show=show, entries=_timeline_rows(request)
                )
    except (ValidationError, DomainError) as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, _("Timeline saved."))
    return redirect("dashboard:assistant_room", m=actor.merchant.slug, slug=room.slug)


def _timeline_rows(request: HttpRequest) -> list[dict[str, Any]]:
    """Rows of the timeline form: `product-N`, `caption-N`, `caption_zh-N`, `seconds-N`,
    `remove-N`, ordered by N."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for key in request.POST:
        if not key.startswith("product-"):
            continue
        n = key.removeprefix("product-")
        if not n.isdigit() or request.POST.get(f"remove-{n}"):
            continue
        raw_product = request.POST.get(key, "")
        if not raw_product.isdigit():
            continue
        seconds = request.POST.get(f"seconds-{n}", "").strip()
        rows.append(
            (
                int(n),
                {
                    "product": int(raw_product),
                    "caption": request.POST.get(f"caption-{n}", ""),
                    "caption_zh": request.POST.get(f"caption_zh-{n}", ""),
                    "seconds": int(seconds) if seconds.isdigit() else None,
                },
            )
        )
        if len(rows) > virtual_host.MAX_ENTRIES:
            break
    return [row for _n, row in sorted(rows, key=lambda r: r[0])]


# --- the host console's unanswered list ----------------------------------------------------------


def _unanswered_context(request: HttpRequest, room: Room) -> dict[str, Any]:
    actor = _actor(request)
    return {
        "room": room,
        "unanswered": selectors.unanswered(merchant=actor.merchant, room=room),
        "reply_products": room_selectors.lineup_products(room=room),
        "can_reply": actor.can(Perm.HOST_ROOMS),
    }


@dashboard_view(Perm.HOST_ROOMS)
def unanswered(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the partial `assistant/_unanswered.html` (the host console includes it and
    refreshes it). POST `action=answer|dismiss`, `question`, `text`, `product`: the one-click
    answer; back to `next` (or the partial when asked by script)."""
    actor = _actor(request)
    room = room_selectors.room_get(merchant=actor.merchant, slug=slug)
    if request.method == "POST":
        raw = request.POST.get("question", "")
        question = selectors.question_get(
            merchant=actor.merchant, room=room, question_id=int(raw) if raw.isdigit() else 0
        )
        try:
            with transaction.atomic():
                if request.POST.get("action") == "dismiss":
                    services.question_dismiss(actor=actor, question=question)
                else:
                    product = request.POST.get("product", "")
                    services.question_reply(
                        actor=actor,
                        question=question,
                        text=request.POST.get("text", ""),
                        product_ids=[int(product)] if product.isdigit() else [],
                    )
        except (ValidationError, DomainError) as exc:
            if request.headers.get("X-Requested-With") == "fetch":
                response = render(
                    request, "assistant/_unanswered.html", _unanswered_context(request, room)
                )
                response.status_code = 400
                response["X-Error"] = _message(exc)[:200].encode("ascii", "replace").decode()
                return response
            messages.error(request, _message(exc))
        if request.headers.get("X-Requested-With") != "fetch":
            target = request.POST.get("next", "")
            if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
                target = reverse(
                    "dashboard:assistant_room", kwargs={"m": actor.merchant.slug, "slug": room.slug}
                )
            return redirect(target)
    return render(request, "assistant/_unanswered.html", _unanswered_context(request, room))


# --- storefront: the replay page ---------------------------------------------------------------


@storefront_view
def replay_page(request: HttpRequest, room: str) -> HttpResponse:
    merchant = request.merchant  # type: ignore[attr-defined]
    room_obj = room_selectors.room_get(merchant=merchant, slug=room)
    show = selectors.show_get(merchant=merchant, room=room_obj)
    if show is None or not show.is_active:
        raise Http404("This room has no replay.")
    lang = "zh" if translation.get_language() == "zh-hans" else "en"
    return render(
        request,
        "assistant/replay.html",
        {
            "merchant": merchant,
            "room": room_obj,
            "show": show,
            "state": virtual_host.show_state(show=show, lang=lang),
            "lang": lang,
            "lineup_ids": lineup_ids(room=room_obj),
            "assistant": selectors.room_settings(merchant=merchant, room=room_obj),
        },
    )
