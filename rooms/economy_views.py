"""Economy pages: the shopper's wallet (`/s/<m>/wallet/`: balance, history, top-up) and the
dashboard's gift catalog (`/dashboard/<m>/gifts/`) with recent top-ups and their refunds."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from commerce.views import shopper_required
from liveshop.errors import DomainError
from liveshop.forms import form_errors
from liveshop.tenancy.decorators import dashboard_view, storefront_view
from liveshop.tenancy.permissions import Perm

from . import economy
from .forms import GiftForm
from .models import GiftAnimation, TopUpStatus


def _error_text(exc: ValidationError | DomainError) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    if hasattr(exc, "error_dict"):
        return " ".join(str(m) for msgs in exc.message_dict.values() for m in msgs)
    return " ".join(exc.messages)


# --- storefront: the wallet -----------------------------------------------------------------

PAGE = 50  # history entries per page


@storefront_view
@shopper_required
def wallet_page(request: HttpRequest) -> HttpResponse:
    merchant = request.merchant  # type: ignore[attr-defined]
    error = ""
    if request.method == "POST":
        raw = request.POST.get("coins", "") or request.POST.get("custom", "")
        try:
            coins = int(raw)
        except ValueError:
            coins = 0
        try:
            # A savepoint: a refused change must leave the page's transaction usable.
            with transaction.atomic():
                started = economy.topup_start(
                    merchant=merchant,
                    user=request.user,
                    coins=coins,
                    base_url=request.build_absolute_uri("/"),
                    client_key=request.POST.get("idempotency_key", "")[:255] or None,
                )
        except (ValidationError, DomainError) as exc:
            error = _error_text(exc)
        else:
            if started.pay_url:
                return HttpResponseRedirect(started.pay_url)
            messages.info(request, _("This top-up is no longer waiting for payment."))
            return redirect("storefront:wallet", m=merchant.slug)
    wallet = economy.wallet_get_or_create(merchant=merchant, user=request.user)
    raw_before = request.GET.get("before", "")[:19]
    before = int(raw_before) if raw_before.isdigit() else None
    entries = economy.wallet_entries(wallet=wallet, limit=PAGE + 1, before=before)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    returned = None
    topup_param = request.GET.get("topup", "")
    if topup_param.isdigit():
        found = economy.topup_list(merchant=merchant, user=request.user).filter(pk=int(topup_param))
        returned = found.first()
    confirming = returned is not None and returned.status == TopUpStatus.PENDING
    attempt = request.GET.get("try", "0")
    attempt_n = int(attempt) if attempt.isdigit() else 0
    context = {
        "merchant": merchant,
        "wallet": wallet,
        "entries": entries,
        "older": entries[-1].pk if more else None,
        "paging": before is not None,
        "packages": economy.topup_packages(merchant),
        "pending": list(
            economy.topup_list(merchant=merchant, user=request.user, status=TopUpStatus.PENDING)[:5]
        ),
        "returned": returned,
        # Back from the payment page: the webhook may still be on its way (give it ~15 s).
        "confirming": confirming and attempt_n < 10,
        "next_try": attempt_n + 1,
        "error": error,
        "idempotency_key": uuid.uuid4().hex,
        "min_coins": economy.MIN_TOPUP_COINS,
        "max_coins": settings.LIVESHOP_TOPUP_MAX_COINS,
    }
    return render(request, "rooms/wallet.html", context, status=400 if error else 200)


@require_POST
@storefront_view
@shopper_required
def wallet_topup_pay(request: HttpRequest, topup_id: int) -> HttpResponse:
    """Pay a pending top-up again (the shopper left the payment page)."""
    merchant = request.merchant  # type: ignore[attr-defined]
    topup = economy.topup_get(merchant=merchant, topup_id=topup_id, user=request.user)
    try:
        with transaction.atomic():
            pay_url = economy.topup_pay(
                merchant=merchant,
                user=request.user,
                topup=topup,
                base_url=request.build_absolute_uri("/"),
            )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("storefront:wallet", m=merchant.slug)
    return HttpResponseRedirect(pay_url)


# --- dashboard: the gift catalog and top-ups ------------------------------------------------


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def _gift_data(form: GiftForm, *, creating: bool) -> dict[str, Any]:
    data = dict(form.cleaned_data)
    if data.get("position") is None:
        data["position"] = 0
    if not creating:
        data.pop("code", None)
    return data


@dashboard_view(Perm.VIEW_DASHBOARD)
def gifts(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    form = GiftForm(request.POST or None, initial={"animation": GiftAnimation.FLOAT})
    if request.method == "POST":
        actor.require(Perm.MANAGE_GIFTS)
        if form.is_valid():
            try:
                with transaction.atomic():
                    gift = economy.gift_create(actor=actor, data=_gift_data(form, creating=True))
            except (ValidationError, DomainError) as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Gift “%(name)s” added.") % {"name": gift.name})
                return redirect("dashboard:gifts", m=actor.merchant.slug)
    context = {
        "gifts": list(economy.gift_list(merchant=actor.merchant)),
        "form": form,
        "can_manage": actor.can(Perm.MANAGE_GIFTS),
        "can_refund": actor.can(Perm.MANAGE_ORDERS),
        "topups": list(economy.topup_list(merchant=actor.merchant)[:20])
        if actor.can(Perm.VIEW_ORDERS)
        else [],
        "totals": economy.ledger_totals(merchant=actor.merchant),
        "max_gifts": economy.MAX_GIFTS,
    }
    return render(request, "dashboard/gifts/list.html", context, status=400 if form.errors else 200)


@dashboard_view(Perm.VIEW_DASHBOARD)
def gift_edit(request: HttpRequest, code: str) -> HttpResponse:
    actor = _actor(request)
    gift = economy.gift_get(merchant=actor.merchant, code=code)
    initial = {
        "code": gift.code,
        "name": gift.name,
        "coins": gift.coins,
        "animation": gift.animation,
        "position": gift.position,
        "is_active": gift.is_active,
    }
    form = GiftForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST":
        actor.require(Perm.MANAGE_GIFTS)
        action = request.POST.get("action", "save")
        try:
            with transaction.atomic():
                if action == "delete":
                    deleted = economy.gift_delete(actor=actor, gift=gift)
                    messages.success(
                        request,
                        _("Gift deleted.")
                        if deleted
                        else _("This gift was sent before, so it was deactivated instead."),
                    )
                    return redirect("dashboard:gifts", m=actor.merchant.slug)
                if action in ("deactivate", "activate"):
                    economy.gift_update(
                        actor=actor, gift=gift, data={"is_active": action == "activate"}
                    )
                    messages.success(
                        request,
                        _("Gift offered in rooms again.")
                        if action == "activate"
                        else _("Gift deactivated: rooms no longer offer it."),
                    )
                    return redirect("dashboard:gifts", m=actor.merchant.slug)
                if form.is_valid():
                    economy.gift_update(
                        actor=actor, gift=gift, data=_gift_data(form, creating=False)
                    )
                    messages.success(request, _("Gift saved."))
                    return redirect("dashboard:gifts", m=actor.merchant.slug)
        except (ValidationError, DomainError) as exc:
            form_errors(form, exc)
    return render(
        request,
        "dashboard/gifts/form.html",
        {"gift": gift, "form": form, "can_manage": actor.can(Perm.MANAGE_GIFTS)},
        status=400 if form.errors else 200,
    )


@require_POST
@dashboard_view(Perm.MANAGE_ORDERS)
def topup_refund(request: HttpRequest, topup_id: int) -> HttpResponse:
    actor = _actor(request)
    topup = economy.topup_get(merchant=actor.merchant, topup_id=topup_id)
    try:
        with transaction.atomic():
            economy.topup_refund(actor=actor, topup=topup, force=request.POST.get("force") == "1")
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Top-up refunded; its coins left the wallet."))
    return redirect("dashboard:gifts", m=actor.merchant.slug)
