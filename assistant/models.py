"""The assistant's rows: per-room settings, the merchant's FAQ and policies, every question it
saw with its answer (the host console's "unanswered" list reads them), hand-offs to a human,
and the virtual host's scheduled shows with their product timeline.

The engine itself (assistant/engine/) holds no state; everything here belongs to one merchant
(`TenantModel`, row-level security on Postgres)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from liveshop.tenancy.models import TenantModel

DEFAULT_NAME = "Assistant"
NAME_MAX = 32
FAQ_TEXT_MAX = 2000
QUESTION_MAX = 500
SLIDE_SECONDS_MIN = 3
SLIDE_SECONDS_MAX = 3600


class RoomAssistant(TenantModel):
    """The assistant's settings in one room. No row = the assistant is off there."""

    room = models.OneToOneField(
        "rooms.Room", on_delete=models.CASCADE, related_name="assistant_settings"
    )
    enabled = models.BooleanField(default=False)
    mentions_only = models.BooleanField(
        default=False, help_text="Answer only messages that @mention the assistant"
    )
    display_name = models.CharField(max_length=NAME_MAX, default=DEFAULT_NAME)
    show_stock_counts = models.BooleanField(
        default=True, help_text="Say how many are left (else only 'in stock' / 'only a few left')"
    )
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(display_name=""), name="assistant_name_set"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}:{'on' if self.enabled else 'off'}"


class FaqEntry(TenantModel):
    """A merchant FAQ entry or policy. `topic` shipping / returns / payment is what the
    assistant answers those questions from; any other topic is found by its words."""

    topic = models.CharField(max_length=40)
    question = models.CharField(max_length=300, blank=True)
    answer = models.TextField(blank=True, max_length=FAQ_TEXT_MAX)
    question_zh = models.CharField(max_length=300, blank=True)
    answer_zh = models.TextField(blank=True, max_length=FAQ_TEXT_MAX)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~(Q(answer="") & Q(answer_zh="")), name="faq_has_an_answer"
            ),
        ]
        indexes = [models.Index(fields=["merchant", "is_active", "position"])]

    def __str__(self) -> str:
        return f"{self.topic}: {self.question or self.question_zh}"[:80]


class QuestionStatus(models.TextChoices):
    ANSWERED = "answered", _("Answered by the assistant")
    UNANSWERED = "unanswered", _("Waiting for the host")
    HOST_ANSWERED = "host_answered", _("Answered by the host")
    DISMISSED = "dismissed", _("Dismissed")


class Question(TenantModel):
    """One chat question the assistant took, with what it answered. Unique per (room, seq):
    a redelivered task finds the row and does nothing twice."""

    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField(help_text="The chat event's seq in the room")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    user_name = models.CharField(max_length=150, blank=True)
    text = models.CharField(max_length=QUESTION_MAX)
    lang = models.CharField(max_length=5)
    status = models.CharField(max_length=20, choices=QuestionStatus.choices)
    # Why the assistant did not answer (engine reasons: order, complaint, no_match, …).
    reason = models.CharField(max_length=30, blank=True)
    answer = models.TextField(blank=True)
    product_ids = models.JSONField(default=list, blank=True)
    policy_ids = models.JSONField(default=list, blank=True)
    phrased_by = models.CharField(max_length=60, blank=True)
    asked_at = models.DateTimeField(default=now)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="question_room_seq_unique"),
        ]
        indexes = [models.Index(fields=["merchant", "room", "status", "-id"])]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq}: {self.text[:40]}"


class HandoffStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CONSULT = "consult", _("Consult requested")
    CLOSED = "closed", _("Closed")


class Handoff(TenantModel):
    """The assistant was unsure and offered a 1v1 consult. Carries what a consult needs:
    the shopper, the question as asked, and the room at that moment (pinned product, line-up).
    `consult_id` links the consult request once the shopper starts one."""

    question = models.OneToOneField(Question, on_delete=models.CASCADE, related_name="handoff")
    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="+")
    shopper = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=30)
    lang = models.CharField(max_length=5)
    pinned_product = models.ForeignKey(
        "commerce.Product", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lineup = models.JSONField(default=list, blank=True, help_text="Product ids, host's order")
    status = models.CharField(
        max_length=20, choices=HandoffStatus.choices, default=HandoffStatus.OPEN
    )
    consult_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "status", "-id"])]

    def __str__(self) -> str:
        return f"handoff {self.pk} ({self.reason})"


class ShowMode(models.TextChoices):
    SLIDESHOW = "slideshow", _("Product slideshow")
    RECORDING = "recording", _("Recorded show")


class VirtualShow(TenantModel):
    """The virtual host of one room: from `starts_at` (until `ends_at`, if set) it loops the
    product timeline — pinning each entry's product for its seconds, with its caption —
    while the assistant answers chat. `mode` recording replays `recording` (issue 8) with the
    same timeline; the slideshow needs nothing but the catalog. Always shown as a replay.

    `position`, `loop`, `next_at` are the running state, advanced by the periodic job."""

    room = models.OneToOneField("rooms.Room", on_delete=models.CASCADE, related_name="virtual_show")
    mode = models.CharField(max_length=20, choices=ShowMode.choices, default=ShowMode.SLIDESHOW)
    recording = models.CharField(
        max_length=200, blank=True, help_text="The recording to replay (recording mode)"
    )
    is_active = models.BooleanField(default=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    slide_seconds = models.PositiveIntegerField(default=20)
    position = models.PositiveIntegerField(default=0)
    loop = models.PositiveIntegerField(default=0)
    entry_started_at = models.DateTimeField(null=True, blank=True)
    next_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(slide_seconds__gte=SLIDE_SECONDS_MIN)
                & Q(slide_seconds__lte=SLIDE_SECONDS_MAX),
                name="show_slide_seconds_range",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="show_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["is_active", "next_at"])]

    def __str__(self) -> str:
        return f"virtual host of {self.room_id} ({self.mode})"

    @property
    def running(self) -> bool:
        return self.next_at is not None


class ShowEntry(TenantModel):
    """One step of a show's product timeline: pin `product` for `seconds` with a caption."""

    show = models.ForeignKey(VirtualShow, on_delete=models.CASCADE, related_name="entries")
    position = models.PositiveIntegerField(default=0)
    product = models.ForeignKey("commerce.Product", on_delete=models.CASCADE, related_name="+")
    caption = models.CharField(max_length=200, blank=True)
    caption_zh = models.CharField(max_length=200, blank=True)
    seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Default: the show's")

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(seconds__isnull=True)
                | (Q(seconds__gte=SLIDE_SECONDS_MIN) & Q(seconds__lte=SLIDE_SECONDS_MAX)),
                name="show_entry_seconds_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.show_id}#{self.position}:{self.product_id}"
