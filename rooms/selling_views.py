"""Dashboard pages of the selling work: the merchant's chat moderation settings (keyword
list, default slow mode) and a room's selling settings (the "someone just bought" switch,
the room's slow mode, its moderators), posted from the room's page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from liveshop.errors import DomainError
from liveshop.forms import form_errors
from liveshop.tenancy.decorators import dashboard_view
from liveshop.tenancy.permissions import Perm

from . import moderation, selectors, selling
from .textfilter import DEFAULT_KEYWORDS


class ModerationForm(forms.Form):
    keywords = forms.CharField(
        label=gettext_lazy("Blocked words"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=gettext_lazy(
            "One word or phrase per line, Chinese or English. Full-width letters, spaces and "
            "symbols between the characters are caught too."
        ),
    )
    use_defaults = forms.BooleanField(
        label=gettext_lazy("Also block the built-in list"), required=False
    )
    slow_mode_s = forms.IntegerField(
        label=gettext_lazy("Default slow mode (seconds between a viewer's messages, 0 = off)"),
        min_value=0,
        max_value=moderation.SLOW_MODE_MAX_S,
    )


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


@dashboard_view(Perm.MODERATE)
def moderation_settings(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    current = moderation.moderation_settings_get(merchant=actor.merchant)
    can_edit = actor.can(Perm.MANAGE_SETTINGS)
    form = ModerationForm(
        request.POST or None,
        initial={
            "keywords": current.keywords,
            "use_defaults": current.use_defaults,
            "slow_mode_s": current.slow_mode_s,
        },
    )
    if request.method == "POST":
        actor.require(Perm.MANAGE_SETTINGS)
        if form.is_valid():
            try:
                with transaction.atomic():  # a refusal leaves the page's transaction usable
                    moderation.moderation_settings_save(
                        actor=actor,
                        keywords=form.cleaned_data["keywords"],
                        slow_mode_s=form.cleaned_data["slow_mode_s"],
                        use_defaults=form.cleaned_data["use_defaults"],
                    )
            except (ValidationError, DomainError) as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Chat moderation saved."))
                return redirect("dashboard:moderation", m=actor.merchant.slug)
    return render(
        request,
        "dashboard/moderation.html",
        {"form": form, "can_edit": can_edit, "defaults": DEFAULT_KEYWORDS},
    )


@require_POST
@dashboard_view(Perm.MANAGE_ROOMS)
def room_selling(request: HttpRequest, slug: str) -> HttpResponse:
    """The room page's selling card: purchase events switch, slow mode, moderators."""
    actor = _actor(request)
    room = selectors.room_get(merchant=actor.merchant, slug=slug)
    action = request.POST.get("action", "")
    try:
        with transaction.atomic():
            if action == "settings":
                selling.room_purchase_events_set(
                    actor=actor, room=room, enabled=request.POST.get("purchase_events") == "on"
                )
                raw = request.POST.get("slow_mode_s", "").strip()
                if raw and not raw.isdigit():
                    raise ValidationError({"slow_mode_s": [_("Give whole seconds.")]})
                moderation.slow_mode_set(room=room, seconds=int(raw or 0), by=actor.user)
                messages.success(request, _("Selling settings saved."))
            elif action == "promote":
                email = request.POST.get("email", "").strip()[:254]
                user = get_user_model().objects.filter(email__iexact=email).first()
                if user is None:
                    raise ValidationError({"email": [_("No shopper with this email.")]})
                moderation.moderator_promote(actor=actor, room=room, user_id=user.pk)
                messages.success(request, _("%(name)s moderates this room now.") % {"name": email})
            elif action == "demote":
                raw = request.POST.get("user", "")
                if raw.isdigit():
                    moderation.moderator_demote(actor=actor, room=room, user_id=int(raw))
                messages.success(request, _("Moderator removed."))
    except (ValidationError, DomainError) as exc:
        text = exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)
        messages.error(request, text)
    return redirect("dashboard:room", m=actor.merchant.slug, slug=room.slug)
