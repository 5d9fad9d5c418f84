"""Merchant dashboard shell: overview, staff and invites, API keys, audit log, settings."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from liveshop.errors import DomainError
from liveshop.forms import form_errors

from . import selectors, services
from .access import merchant_get
from .decorators import dashboard_view
from .forms import ApiKeyForm, InviteForm, MerchantSettingsForm, MerchantSignupForm, RoleForm
from .permissions import ROLE_PERMS, Perm, Role


@login_required
def dashboard_home(request: HttpRequest) -> HttpResponse:
    merchants = selectors.merchants_of_user(user_id=request.user.pk)  # type: ignore[arg-type]
    if len(merchants) == 1:
        return redirect("dashboard:overview", m=merchants[0][0].slug)
    return render(request, "dashboard/choose.html", {"merchants": merchants})


@login_required
def merchant_new(request: HttpRequest) -> HttpResponse:
    form = MerchantSignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        values["timezone_name"] = values.pop("timezone")
        try:
            merchant = services.merchant_signup(user=request.user, **values)  # type: ignore[arg-type]
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Welcome to LiveShop, %(name)s!") % {"name": merchant.name})
            return redirect("dashboard:overview", m=merchant.slug)
    return render(request, "dashboard/merchant_new.html", {"form": form})


@dashboard_view()
def overview(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    merchant = actor.merchant
    context = {
        "staff_count": selectors.staff_list(merchant=merchant).count(),
        "plan": merchant.plan,
        "recent": selectors.audit_list(merchant=merchant)[:8] if actor.can(Perm.VIEW_AUDIT) else [],
        "cards": overview_cards(request),
    }
    return render(request, "dashboard/overview.html", context)


def overview_cards(request: HttpRequest) -> list[dict[str, Any]]:
    """Cards other apps add to the overview (products, rooms, orders…)."""
    from django.apps import apps

    cards: list[dict[str, Any]] = []
    for config in apps.get_app_configs():
        provider = getattr(config, "dashboard_cards", None)
        if provider is not None:
            cards.extend(provider(request.actor))  # type: ignore[attr-defined]
    return cards


@dashboard_view()
def staff(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    invite_form = InviteForm(request.POST or None) if actor.can(Perm.MANAGE_STAFF) else None
    if request.method == "POST":
        actor.require(Perm.MANAGE_STAFF)
        assert invite_form is not None
        if invite_form.is_valid():
            try:
                invite, _raw = services.invite_create(actor=actor, **invite_form.cleaned_data)
            except (ValidationError, DomainError) as exc:
                form_errors(invite_form, exc)
            else:
                messages.success(
                    request, _("Invitation sent to %(email)s.") % {"email": invite.email}
                )
                return redirect("dashboard:staff", m=actor.merchant.slug)
    merchant = actor.merchant
    context = {
        "members": selectors.staff_list(merchant=merchant),
        "invites": selectors.invites_list(merchant=merchant)[:50]
        if actor.can(Perm.MANAGE_STAFF)
        else [],
        "invite_form": invite_form,
        "roles": Role.choices,
        "permission_table": [
            (perm.value, [role in ROLE_PERMS[perm] for role, _label in Role.choices])
            for perm in Perm
        ],
        "seats": merchant.plan.staff_seats,
    }
    return render(request, "dashboard/staff.html", context)


@require_POST
@dashboard_view(Perm.MANAGE_STAFF)
def staff_update(request: HttpRequest, membership_id: int) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    membership = selectors.staff_get(merchant=actor.merchant, membership_id=membership_id)
    try:
        if request.POST.get("action") == "remove":
            services.membership_remove(actor=actor, membership=membership)
            messages.success(
                request, _("%(email)s was removed.") % {"email": membership.user.email}
            )
        else:
            form = RoleForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Choose a role."))
            services.membership_change_role(
                actor=actor, membership=membership, role=form.cleaned_data["role"]
            )
            messages.success(request, _("Role updated."))
    except (ValidationError, DomainError) as exc:
        messages.error(
            request, exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)
        )
    return redirect("dashboard:staff", m=actor.merchant.slug)


@require_POST
@dashboard_view(Perm.MANAGE_STAFF)
def invite_revoke(request: HttpRequest, invite_id: int) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    services.invite_revoke(actor=actor, invite_id=invite_id)
    messages.success(request, _("Invitation revoked."))
    return redirect("dashboard:staff", m=actor.merchant.slug)


@dashboard_view(Perm.MANAGE_KEYS)
def api_keys(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key, raw = services.api_key_create(actor=actor, **form.cleaned_data)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            # Post/redirect/get: the raw key rides the session once, so a reload neither
            # shows it again nor creates a second key.
            request.session["new_api_key"] = raw
            messages.success(
                request,
                _("Key %(name)s created. Copy it now: it is shown only once.") % {"name": key.name},
            )
            return redirect("dashboard:api_keys", m=actor.merchant.slug)
    new_key = request.session.pop("new_api_key", None)
    context = {
        "keys": selectors.api_keys_list(merchant=actor.merchant),
        "form": form,
        "new_key": new_key,
    }
    return render(request, "dashboard/api_keys.html", context)


@require_POST
@dashboard_view(Perm.MANAGE_KEYS)
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    key = selectors.api_key_get(merchant=actor.merchant, key_id=key_id)
    services.api_key_revoke(actor=actor, key=key)
    messages.success(request, _("Key %(name)s revoked.") % {"name": key.name})
    return redirect("dashboard:api_keys", m=actor.merchant.slug)


@dashboard_view(Perm.VIEW_AUDIT)
def audit(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    action = request.GET.get("action", "")[:60]
    events = selectors.audit_list(merchant=actor.merchant, action=action or None)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "dashboard/audit.html", {"page": page, "action": action})


@dashboard_view(Perm.MANAGE_SETTINGS)
def settings_page(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    merchant = actor.merchant
    initial = {
        "name": merchant.name,
        "currency": merchant.currency,
        "locale": merchant.locale,
        "timezone": merchant.timezone,
        "allowed_origins": "\n".join(merchant.allowed_origins),
        "record_shows": merchant.record_shows,
    }
    form = MerchantSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.merchant_update(actor=actor, **form.cleaned_data)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Settings saved."))
            return redirect("dashboard:settings", m=merchant.slug)
    return render(request, "dashboard/settings.html", {"form": form})


def invite_accept(request: HttpRequest, m: str, token: str) -> HttpResponse:
    """The emailed link. Signed-in users accept with one click; others sign in or sign up."""
    merchant = merchant_get(m)
    try:
        invite = services.invite_get(merchant=merchant, raw_token=token)
    except ValidationError as exc:
        return render(
            request,
            "accounts/invite.html",
            {"merchant": merchant, "error": " ".join(exc.messages)},
            status=410,
        )
    error = None
    if request.method == "POST" and request.user.is_authenticated:
        try:
            services.invite_accept(merchant=merchant, raw_token=token, user=request.user)  # type: ignore[arg-type]
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, _("You joined %(name)s.") % {"name": merchant.name})
            return redirect("dashboard:overview", m=merchant.slug)
    context = {
        "merchant": merchant,
        "invite": invite,
        "error": error,
        "login_url": f"{reverse('login')}?next={request.path}",
        "signup_url": f"{reverse('signup')}?next={request.path}&email={invite.email}",
    }
    return render(request, "accounts/invite.html", context)
