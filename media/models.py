"""Media rows: per-room stream keys for WHIP ingest (OBS and other encoders)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from liveshop.tenancy.models import TenantModel


class StreamKey(TenantModel):
    """The Bearer token an encoder sends to `POST /whip/<m>/<room>`.

    Stored as SHA-256 only (liveshop/opaque.py): the key is shown once, when it is made.
    A room has at most one live key; making a new one revokes the old."""

    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="+")
    prefix = models.CharField(max_length=12)  # shown in the console to tell keys apart
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The WHIP resource last started with this key: revoking the key ends that stream too
    # (a leaked key must stop working now, not when the encoder stops by itself).
    whip_resource = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["room"], condition=Q(revoked_at__isnull=True), name="stream_key_one_live"
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix}…"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None


# --- stage: co-hosts and PK (issue 8; services in media/stage.py and media/pk.py) ---------


class StageGrant(TenantModel):
    """A co-host invitation and, once accepted, the right to publish in one room.

    `accepted_at` null: invited (the guest sees an invite); set: on stage. `revoked_at` ends
    it either way (the host revoked it, or the guest declined or left). At most one open grant
    per (room, user); up to STAGE_MAX - 1 guests on stage besides the host."""

    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The guest's own grant rows are readable to them across merchants (the invite poll).
    rls_user_column = "user_id"

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "user"],
                condition=Q(revoked_at__isnull=True),
                name="stage_grant_one_open",
            )
        ]
        indexes = [models.Index(fields=["merchant", "room"])]

    def __str__(self) -> str:
        return f"stage {self.room_id}/{self.user_id}"

    @property
    def on_stage(self) -> bool:
        return self.accepted_at is not None and self.revoked_at is None


class PKStatus(models.TextChoices):
    INVITED = "invited", _("Invited")
    ACCEPTED = "accepted", _("Accepted")
    LIVE = "live", _("Live")
    ENDED = "ended", _("Ended")
    DECLINED = "declined", _("Declined")


class PKBattle(models.Model):
    """A timed PK between two live rooms, possibly of two merchants.

    Deliberately NOT a TenantModel: it belongs to both sides. Only media/pk.py reads it, always
    filtered by the asking merchant being side A or side B, and it holds only what may cross
    tenants: public names and titles (copied in each side's own scope) and the scores."""

    merchant_a = models.ForeignKey("tenancy.Merchant", on_delete=models.CASCADE, related_name="+")
    room_a = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="+")
    merchant_b = models.ForeignKey("tenancy.Merchant", on_delete=models.CASCADE, related_name="+")
    room_b = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="+")
    # public snapshot: {"merchant": name, "room": title, "host": display name, "identity"}
    public_a = models.JSONField(default=dict)
    public_b = models.JSONField(default=dict)
    duration_s = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=PKStatus.choices, default=PKStatus.INVITED)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(max_length=10, blank=True)  # "a", "b", "timer"
    # The stored result: scores, winner ("a", "b", "draw") and each side's totals.
    score_a = models.BigIntegerField(default=0)
    score_b = models.BigIntegerField(default=0)
    winner = models.CharField(max_length=4, blank=True)
    breakdown = models.JSONField(default=dict)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_s__gte=180) & Q(duration_s__lte=600),
                name="pk_duration_range",
            ),
            models.CheckConstraint(condition=~Q(room_a=models.F("room_b")), name="pk_two_rooms"),
        ]
        indexes = [
            models.Index(fields=["room_a", "status"]),
            models.Index(fields=["room_b", "status"]),
            models.Index(fields=["status", "ends_at"]),
        ]

    def __str__(self) -> str:
        return f"pk {self.room_a_id}:{self.room_b_id} {self.status}"
