"""Room pages: the dashboard (list, create, edit with the line-up, go live, end, the host
console) and the storefront live room."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from commerce import selectors as commerce_selectors
from commerce.models import Variant
from commerce.templatetags.commerce import tr, variant_label
from liveshop.errors import DomainError
from liveshop.forms import form_errors
from liveshop.tenancy.decorators import dashboard_view, storefront_view
from liveshop.tenancy.models import Membership
from liveshop.tenancy.permissions import Perm, role_has
from media.hls.selectors import room_replay

from . import selectors, services
from .forms import RoomForm
from .models import Room, RoomStatus


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def _hosts(actor: Any) -> list[tuple[int, str]]:
    members = Membership.objects.filter(merchant=actor.merchant).select_related("user")
    return [
        (m.user_id, f"{m.user.display_name} ({m.user.email})")
        for m in members.order_by("user__display_name")
        if role_has(m.role, Perm.HOST_ROOMS)
    ]


@dashboard_view(Perm.VIEW_DASHBOARD)
def rooms(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    return render(
        request,
        "dashboard/rooms/list.html",
        {
            "rooms": selectors.room_list(merchant=actor.merchant)[:200],
            "live_limit": actor.merchant.plan.rooms_live,
        },
    )


@dashboard_view(Perm.MANAGE_ROOMS)
def room_new(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    hosts = _hosts(actor)
    form = RoomForm(
        request.POST or None,
        hosts=hosts,
        initial={"host": actor.user.pk if actor.user else None},
    )
    if request.method == "POST" and form.is_valid():
        try:
            # A savepoint: a refused change must leave the page's transaction usable.
            with transaction.atomic():
                room = services.room_create(actor=actor, data=form.cleaned_data)
        except (ValidationError, DomainError) as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Room created. Now choose its products."))
            return redirect("dashboard:room", m=actor.merchant.slug, slug=room.slug)
    return render(request, "dashboard/rooms/form.html", {"form": form, "creating": True})


@dashboard_view(Perm.VIEW_DASHBOARD)
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    actor = _actor(request)
    room = selectors.room_get(merchant=actor.merchant, slug=slug)
    initial = {
        "title": room.title,
        "slug": room.slug,
        "description": room.description,
        "cover": room.cover,
        "scheduled_at": room.scheduled_at,
        "host": room.host_id,
    }
    form = RoomForm(request.POST or None, hosts=_hosts(actor), initial=initial)
    if request.method == "POST":
        actor.require(Perm.MANAGE_ROOMS)
        if form.is_valid():
            try:
                # A savepoint: a refused change must leave the page's transaction usable.
                with transaction.atomic():
                    room = services.room_update(actor=actor, room=room, data=form.cleaned_data)
            except (ValidationError, DomainError) as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Room saved."))
                return redirect("dashboard:room", m=actor.merchant.slug, slug=room.slug)
    in_lineup = {entry.product_id: entry.position for entry in room.lineup.all()}
    products = sorted(
        commerce_selectors.product_list(merchant=actor.merchant),
        key=lambda p: (p.pk not in in_lineup, in_lineup.get(p.pk, 0), p.pk),
    )
    context = {
        "room": room,
        "form": form,
        "lineup": [entry.product for entry in room.lineup.all()],
        "products": [
            {"product": p, "checked": p.pk in in_lineup, "position": in_lineup.get(p.pk, i) + 1}
            for i, p in enumerate(products)
        ],
        "can_manage": actor.can(Perm.MANAGE_ROOMS),
        "can_host": actor.can(Perm.HOST_ROOMS),
    }
    return render(request, "dashboard/rooms/detail.html", context)


@require_POST
@dashboard_view(Perm.MANAGE_ROOMS)
def room_lineup(request: HttpRequest, slug: str) -> HttpResponse:
    """The line-up form: ticked products, ordered by their position numbers."""
    actor = _actor(request)
    room = selectors.room_get(merchant=actor.merchant, slug=slug)
    chosen: list[tuple[int, int]] = []
    for value in request.POST.getlist("product")[:200]:
        try:
            product_id = int(value)
            position = int(request.POST.get(f"position-{product_id}", "0") or 0)
        except ValueError:
            continue
        chosen.append((position, product_id))
    try:
        # A savepoint: a refused change must leave the page's transaction usable.
        with transaction.atomic():
            services.room_lineup_set(
                actor=actor, room=room, product_ids=[pid for _pos, pid in sorted(chosen)]
            )
    except (ValidationError, DomainError) as exc:
        messages.error(
            request, exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)
        )
    else:
        messages.success(request, _("Line-up saved."))
    return redirect("dashboard:room", m=actor.merchant.slug, slug=room.slug)


@require_POST
@dashboard_view(Perm.HOST_ROOMS)
def room_status(request: HttpRequest, slug: str) -> HttpResponse:
    actor = _actor(request)
    room = selectors.room_get(merchant=actor.merchant, slug=slug)
    try:
        # A savepoint: a refused change must leave the page's transaction usable.
        with transaction.atomic():
            if request.POST.get("action") == "live":
                services.room_go_live(actor=actor, room=room)
                messages.success(request, _("You are live."))
            elif request.POST.get("action") == "end":
                services.room_end(actor=actor, room=room)
                messages.success(request, _("The room has ended."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("dashboard:room", m=actor.merchant.slug, slug=room.slug)


# --- the live room (storefront) and the host console -----------------------------------
# Both pages talk to the room WebSocket (static/js/rooms/socket.js) and the HTTP APIs of
# commerce, economy and selling; the server renders only what the page needs before the
# socket's `hello` arrives: the line-up as product cards and the URLs the scripts call.


def _lineup_cards(*, merchant: Any, room: Room) -> list[dict[str, Any]]:
    """The line-up as the product cards the room socket uses for pins (rooms.selling
    `pinned_card` shape: id, name, price, currency, images, stock, variants)."""
    products = selectors.lineup_products(room=room)
    variants: dict[int, list[Variant]] = {}
    for variant in Variant.objects.filter(
        merchant=merchant, product__in=[p.pk for p in products], is_active=True
    ).order_by("position", "id"):
        variants.setdefault(variant.product_id, []).append(variant)
    cards = []
    for product in products:
        own = variants.get(product.pk, [])
        cards.append(
            {
                "id": product.pk,
                "name": tr(product, "name"),
                "price": product.price,
                "currency": merchant.currency,
                "images": list(product.images or [])[:4],
                "stock": sum(v.stock for v in own),
                "variants": [
                    {
                        "id": v.pk,
                        "name": variant_label(v),
                        "price": v.effective_price(product),
                        "stock": v.stock,
                    }
                    for v in own
                ],
            }
        )
    return cards


def _page_config(*, merchant: Any, room: Room, user: Any) -> dict[str, Any]:
    m, slug = merchant.slug, room.slug
    return {
        "merchant": m,
        "room": slug,
        "status": room.status,
        "currency": merchant.currency,
        "digits": merchant.currency_exponent,
        "me": {"id": user.pk, "name": user.display_name} if user.is_authenticated else None,
        "ws": f"/ws/rooms/{m}/{slug}/",
        "login": f"{reverse('login')}?next=/s/{m}/live/{slug}/",
        "api": {
            "orders": f"/api/v1/s/{m}/orders",
            "wallet": f"/api/v1/s/{m}/wallet",
            "leaderboard": f"/api/v1/s/{m}/rooms/{slug}/leaderboard",
            "waitlist": f"/api/v1/s/{m}/rooms/{slug}/waitlist",
            "stats": f"/api/v1/merchants/{m}/rooms/{slug}/stats",
        },
        "wallet_page": f"/s/{m}/wallet/",
    }


@storefront_view
def room_page(request: HttpRequest, room: str) -> HttpResponse:
    merchant = request.merchant  # type: ignore[attr-defined]
    room_obj = selectors.room_get(merchant=merchant, slug=room)
    lineup = _lineup_cards(merchant=merchant, room=room_obj)
    replay = (
        room_replay(merchant=merchant, room=room_obj)
        if room_obj.status == RoomStatus.ENDED
        else None
    )
    return render(
        request,
        "rooms/room.html",
        {
            "merchant": merchant,
            "room": room_obj,
            "lineup": lineup,
            "replay": replay,
            "config": {
                **_page_config(merchant=merchant, room=room_obj, user=request.user),
                "lineup": lineup,
            },
        },
    )


@dashboard_view(Perm.HOST_ROOMS)
def room_console(request: HttpRequest, slug: str) -> HttpResponse:
    actor = _actor(request)
    room_obj = selectors.room_get(merchant=actor.merchant, slug=slug)
    lineup = _lineup_cards(merchant=actor.merchant, room=room_obj)
    return render(
        request,
        "dashboard/rooms/console.html",
        {
            "room": room_obj,
            "lineup": lineup,
            "config": {
                **_page_config(merchant=actor.merchant, room=room_obj, user=request.user),
                "lineup": lineup,
            },
        },
    )
