from __future__ import annotations

import zoneinfo

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import CURRENCIES, SLUG_RE
from .permissions import SCOPE_CHOICES, Role

TIMEZONES = sorted(zoneinfo.available_timezones())


class MerchantSignupForm(forms.Form):
    name = forms.CharField(label=_("Shop name"), max_length=120)
    slug = forms.RegexField(
        label=_("Shop address"),
        regex=SLUG_RE,
        max_length=40,
        help_text=_("Lower-case letters, digits and hyphens: /s/<address>/"),
        error_messages={"invalid": _("Use 2–40 lower-case letters, digits and hyphens.")},
    )
    currency = forms.ChoiceField(label=_("Currency"), choices=CURRENCIES, initial="USD")
    locale = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES, initial="en")
    timezone = forms.ChoiceField(
        label=_("Time zone"), choices=[(t, t) for t in TIMEZONES], initial="UTC"
    )


class MerchantSettingsForm(forms.Form):
    name = forms.CharField(label=_("Shop name"), max_length=120)
    currency = forms.ChoiceField(label=_("Currency"), choices=CURRENCIES)
    locale = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    timezone = forms.ChoiceField(label=_("Time zone"), choices=[(t, t) for t in TIMEZONES])
    allowed_origins = forms.CharField(
        label=_("Allowed origins"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "One per line, e.g. https://shop.example.com — sites that may embed your live rooms."
        ),
    )

    record_shows = forms.BooleanField(
        label=_("Record live shows"),
        required=False,
        help_text=_(
            "Keep each show for a replay page that plays it with the product line-up"
            " (when the platform renders HLS)."
        ),
    )

    def clean_allowed_origins(self) -> list[str]:
        return [
            line.strip()
            for line in self.cleaned_data["allowed_origins"].splitlines()
            if line.strip()
        ]


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.HOST)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=[(s, s) for s in SCOPE_CHOICES],
        widget=forms.CheckboxSelectMultiple,
    )
