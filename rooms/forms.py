from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from liveshop.tenancy.models import SLUG_RE


class RoomForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    slug = forms.RegexField(
        label=_("Room address"),
        regex=SLUG_RE,
        max_length=40,
        help_text=_("Lower-case letters, digits and hyphens: /s/<shop>/live/<address>/"),
        error_messages={"invalid": _("Use 2–40 lower-case letters, digits and hyphens.")},
    )
    description = forms.CharField(
        label=_("Description"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    cover = forms.URLField(
        label=_("Cover image URL"), max_length=500, required=False, assume_scheme="https"
    )
    scheduled_at = forms.DateTimeField(
        label=_("Starts at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )

    def __init__(self, *args: Any, hosts: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["host"] = forms.TypedChoiceField(label=_("Host"), choices=hosts, coerce=int)


# --- economy: the dashboard's gift catalog -------------------------------------------------


class GiftForm(forms.Form):
    code = forms.RegexField(
        label=_("Code"),
        regex=r"^[a-z0-9][a-z0-9_-]{0,39}$",
        max_length=40,
        help_text=_("What apps send in gift.send, e.g. rose. Cannot change later."),
        error_messages={
            "invalid": _(
                "Use 1–40 lower-case letters, digits, '-' and '_', starting with a letter."
            )
        },
    )
    name = forms.CharField(label=_("Name"), max_length=60)
    coins = forms.IntegerField(label=_("Price in coins"), min_value=1, max_value=1_000_000)
    animation = forms.ChoiceField(label=_("Animation"))
    position = forms.IntegerField(
        label=_("Position"), min_value=0, max_value=9999, initial=0, required=False
    )
    is_active = forms.BooleanField(label=_("Offered in rooms"), required=False, initial=True)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        from .models import GiftAnimation

        super().__init__(*args, **kwargs)
        self.fields["animation"].choices = GiftAnimation.choices  # type: ignore[attr-defined]
        if editing:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = ""
