"""1v1 consults: a shopper's request for a private video call with a member of staff, the
queue it waits in, the agents who take it, and what happens in the call.

Every row belongs to one merchant (`TenantModel`). Consults and bookings are addressed by an
unguessable `public_id` (128 random bits), never by their sequential primary key, in URLs
and on the WebSocket. The database holds the invariants the services rely on: one open
consult per shopper and merchant, one booking per agent and slot, ratings within 1–5.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from liveshop.tenancy.models import TenantModel

PUBLIC_ID_RE = r"[A-Za-z0-9_-]{22}"


def public_id_new() -> str:
    """22 URL-safe characters, 128 bits from `secrets`: ids that cannot be guessed."""
    return secrets.token_urlsafe(16)


class AgentStatus(models.TextChoices):
    ONLINE = "online", _("Online")
    BUSY = "busy", _("Busy")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


class AgentProfile(TenantModel):
    """An agent's presence and routing data in one merchant.

    `online` agents are offered requests; `busy` agents keep their calls but get no new
    offers; `away` and `offline` ones get nothing. Presence lapses to offline when the
    console stops sending heartbeats (`last_seen_at`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=10, choices=AgentStatus.choices, default=AgentStatus.OFFLINE
    )
    skills = models.JSONField(default=list, blank=True)
    languages = models.JSONField(default=list, blank=True)
    max_concurrent = models.PositiveSmallIntegerField(default=1)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    status_since = models.DateTimeField(default=now)
    # When this agent was last offered or took a request: ties in routing go to whoever
    # waited longest.
    last_routed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "user"], name="agent_profile_unique"),
            models.CheckConstraint(
                condition=Q(max_concurrent__gte=1) & Q(max_concurrent__lte=10),
                name="agent_max_concurrent_range",
            ),
        ]

    def __str__(self) -> str:
        return f"agent {self.user_id}: {self.status}"


class ConsultStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    OFFERED = "offered", _("Offered to an agent")
    ACTIVE = "active", _("In the call")
    ENDED = "ended", _("Ended")
    CANCELLED = "cancelled", _("Cancelled")
    ABANDONED = "abandoned", _("Abandoned")


OPEN_STATUSES = (ConsultStatus.WAITING, ConsultStatus.OFFERED, ConsultStatus.ACTIVE)
QUEUED_STATUSES = (ConsultStatus.WAITING, ConsultStatus.OFFERED)
CLOSED_STATUSES = (ConsultStatus.ENDED, ConsultStatus.CANCELLED, ConsultStatus.ABANDONED)


class EndReason(models.TextChoices):
    AGENT = "agent_ended", _("Ended by the agent")
    SHOPPER = "shopper_ended", _("Ended by the shopper")
    CANCELLED = "cancelled", _("Cancelled by the shopper")
    DISCONNECTED = "disconnected", _("A party did not come back")
    LEFT_QUEUE = "left_queue", _("The shopper left the queue")
    NO_AGENT = "no_agent", _("No agent took it in time")


class Outcome(models.TextChoices):
    ORDER = "order", _("Order")
    NO_ORDER = "no_order", _("No order")


class Consult(TenantModel):
    public_id = models.CharField(max_length=32, unique=True, default=public_id_new)
    shopper = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=12, choices=ConsultStatus.choices, default=ConsultStatus.WAITING
    )
    # What the shopper asked about and where from (the agent's context).
    topic = models.CharField(max_length=40, blank=True)
    language = models.CharField(max_length=10)
    question = models.CharField(max_length=500, blank=True)
    room = models.ForeignKey(
        "rooms.Room", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    product = models.ForeignKey(
        "commerce.Product", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The product pinned in `room` when the shopper asked (a snapshot: pins move on).
    pinned_product = models.ForeignKey(
        "commerce.Product", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    booking = models.OneToOneField(
        "Booking", on_delete=models.SET_NULL, null=True, blank=True, related_name="consult"
    )
    # Routing: queue order is (queued_at, id). An offer that lapses keeps queued_at, so the
    # request goes back to the head of the queue.
    queued_at = models.DateTimeField(default=now)
    preferred_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    offered_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    # Agents who let an offer of this request lapse: routing skips them for it.
    passed_by = models.JSONField(default=list, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    wait_seconds = models.PositiveIntegerField(null=True, blank=True)
    handle_seconds = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    notes = models.TextField(max_length=4000, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(max_length=1000, blank=True)
    rated_at = models.DateTimeField(null=True, blank=True)
    # Liveness of each party's socket/console: a party gone longer than the grace period
    # ends the call (or takes the request out of the queue).
    shopper_seen_at = models.DateTimeField(default=now)
    agent_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One open request per shopper and merchant: a double click queues once.
            models.UniqueConstraint(
                fields=["merchant", "shopper"],
                condition=Q(status__in=["waiting", "offered", "active"]),
                name="consult_one_open_per_shopper",
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | (Q(rating__gte=1) & Q(rating__lte=5)),
                name="consult_rating_range",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(agent__isnull=False),
                name="consult_active_has_agent",
            ),
            models.CheckConstraint(
                condition=~Q(status="offered")
                | (Q(offered_to__isnull=False) & Q(offer_expires_at__isnull=False)),
                name="consult_offer_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "status", "queued_at"]),
            models.Index(fields=["merchant", "agent", "status"]),
            models.Index(fields=["merchant", "-created_at"]),
            models.Index(
                fields=["offer_expires_at"],
                condition=Q(status="offered"),
                name="consult_offer_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"consult {self.public_id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def duration_seconds(self) -> int | None:
        return self.handle_seconds


class ConsultMessage(TenantModel):
    """One chat line in a consult (system lines have no sender)."""

    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    party = models.CharField(max_length=12)  # shopper | agent | system
    text = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["consult", "id"])]

    def __str__(self) -> str:
        return f"{self.party}: {self.text[:40]}"


class PushedProduct(TenantModel):
    """A product card the agent pushed into the call."""

    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, related_name="pushed")
    product = models.ForeignKey("commerce.Product", on_delete=models.CASCADE, related_name="+")
    pushed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.consult_id} ← product {self.product_id}"


class ConsentRecord(TenantModel):
    """One party granting or revoking consent to record, with its time. Append-only: the
    latest record per party is that party's current answer."""

    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, related_name="consents")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    party = models.CharField(max_length=12)  # shopper | agent
    granted = models.BooleanField()
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.party} {'grants' if self.granted else 'revokes'} at {self.created_at}"


class RecordingState(models.TextChoices):
    RECORDING = "recording", _("Recording")
    STOPPED = "stopped", _("Stopped")
    DELETED = "deleted", _("Deleted")


class ConsultRecording(TenantModel):
    """A stretch of the call during which both parties consented. The media itself comes
    from the recording pipeline (issue 8), which fills `storage_path`; this row is the
    merchant's record of it: when, how long, and whether it was deleted."""

    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, related_name="recordings")
    state = models.CharField(
        max_length=10, choices=RecordingState.choices, default=RecordingState.RECORDING
    )
    started_at = models.DateTimeField(default=now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Relative to MEDIA_ROOT; empty until the pipeline has written the file.
    storage_path = models.CharField(max_length=500, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            # At most one recording running per consult.
            models.UniqueConstraint(
                fields=["consult"],
                condition=Q(state="recording"),
                name="consult_one_recording_running",
            )
        ]

    def __str__(self) -> str:
        return f"recording {self.pk} of {self.consult_id}"


class AvailabilityWindow(TenantModel):
    """An agent's published availability: shoppers book slots inside it."""

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="availability_positive"
            )
        ]
        indexes = [models.Index(fields=["merchant", "ends_at"])]

    def __str__(self) -> str:
        return f"{self.agent_id}: {self.starts_at}–{self.ends_at}"


class BookingStatus(models.TextChoices):
    BOOKED = "booked", _("Booked")
    STARTED = "started", _("Started")
    CANCELLED = "cancelled", _("Cancelled")
    MISSED = "missed", _("Missed")


class Booking(TenantModel):
    """A slot a shopper booked with an agent (when nobody was online, or to plan ahead)."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_new)
    shopper = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=BookingStatus.choices, default=BookingStatus.BOOKED
    )
    topic = models.CharField(max_length=40, blank=True)
    language = models.CharField(max_length=10)
    question = models.CharField(max_length=500, blank=True)
    room = models.ForeignKey(
        "rooms.Room", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    product = models.ForeignKey(
        "commerce.Product", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            # The database refuses a double booking, whatever two requests race.
            models.UniqueConstraint(
                fields=["merchant", "agent", "starts_at"],
                condition=Q(status="booked"),
                name="booking_one_per_agent_slot",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="booking_positive"
            ),
        ]
        indexes = [
            models.Index(
                fields=["starts_at"],
                condition=Q(status="booked", reminder_sent_at__isnull=True),
                name="booking_reminder_due",
            ),
            models.Index(fields=["merchant", "shopper", "starts_at"]),
        ]

    def __str__(self) -> str:
        return f"booking {self.public_id}"
