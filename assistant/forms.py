from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import FAQ_TEXT_MAX, NAME_MAX, SLIDE_SECONDS_MAX, SLIDE_SECONDS_MIN, ShowMode

DATETIME = {
    "widget": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    "input_formats": ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
}


class RoomAssistantForm(forms.Form):
    enabled = forms.BooleanField(label=_("Answer questions in this room"), required=False)
    mentions_only = forms.BooleanField(
        label=_("Only when @mentioned"),
        required=False,
        help_text=_("Otherwise it answers every chat message that reads as a question."),
    )
    display_name = forms.CharField(
        label=_("Name in the chat"),
        max_length=NAME_MAX,
        help_text=_("Viewers can @mention it by this name (or @assistant, @小助手)."),
    )
    show_stock_counts = forms.BooleanField(
        label=_("Say how many are left"),
        required=False,
        help_text=_("Off: only 'in stock' or 'only a few left'."),
    )


class FaqForm(forms.Form):
    topic = forms.RegexField(
        label=_("Topic"),
        regex=r"^[a-z0-9][a-z0-9_-]{0,39}$",
        max_length=40,
        help_text=_(
            "shipping, returns or payment answer those questions; any other word is found "
            "by what the entry says."
        ),
        error_messages={"invalid": _("Lower-case letters, digits, - and _.")},
    )
    question = forms.CharField(label=_("Question (English)"), max_length=300, required=False)
    answer = forms.CharField(
        label=_("Answer (English)"),
        max_length=FAQ_TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    question_zh = forms.CharField(label=_("Question (Chinese)"), max_length=300, required=False)
    answer_zh = forms.CharField(
        label=_("Answer (Chinese)"),
        max_length=FAQ_TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    is_active = forms.BooleanField(label=_("In use"), required=False, initial=True)


class ShowForm(forms.Form):
    mode = forms.ChoiceField(label=_("What plays"), choices=ShowMode.choices)
    recording = forms.CharField(
        label=_("Recording"),
        max_length=200,
        required=False,
        help_text=_(
            "For a recorded show: one of your recordings (room/recording, listed as you type)"
            " or an http(s) video URL."
        ),
        widget=forms.TextInput(attrs={"list": "recordings"}),
    )
    starts_at = forms.DateTimeField(label=_("Starts at"), **DATETIME)  # type: ignore[arg-type]
    ends_at = forms.DateTimeField(label=_("Ends at"), required=False, **DATETIME)  # type: ignore[arg-type]
    slide_seconds = forms.IntegerField(
        label=_("Seconds per product"),
        min_value=SLIDE_SECONDS_MIN,
        max_value=SLIDE_SECONDS_MAX,
        initial=20,
    )
    is_active = forms.BooleanField(label=_("On"), required=False, initial=True)
