"""Live rooms: a merchant's scheduled, live or ended shows and their product line-up.

The live behaviour (hub, chat, video) lives elsewhere in this app; this module holds the
rows everything else hangs off."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from liveshop.tenancy.models import TenantModel, slug_validator


class RoomStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    LIVE = "live", _("Live")
    ENDED = "ended", _("Ended")


class Room(TenantModel):
    slug = models.CharField(max_length=40, validators=[slug_validator])
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    cover = models.URLField(max_length=500, blank=True)
    status = models.CharField(
        max_length=20, choices=RoomStatus.choices, default=RoomStatus.SCHEDULED
    )
    scheduled_at = models.DateTimeField(null=True, blank=True)
    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "slug"], name="room_slug_unique"),
        ]
        indexes = [models.Index(fields=["merchant", "status", "scheduled_at"])]

    def __str__(self) -> str:
        return self.slug


class RoomProduct(TenantModel):
    """One product in a room's line-up, in the host's order."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="lineup")
    product = models.ForeignKey("commerce.Product", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["room", "product"], name="room_product_unique"),
            models.CheckConstraint(condition=Q(position__gte=0), name="room_product_position"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.position}:{self.product_id}"


# --- engine: moderation state, stored room events, watch sessions -----------------------------


class RestrictionKind(models.TextChoices):
    MUTE = "mute", _("Muted")
    BAN = "ban", _("Banned")


class Restriction(TenantModel):
    """A mute (may watch, may not write) or ban (may not write; the room page may refuse
    more) of one user, in one room or merchant-wide (`room` null), until a time or for good
    (`until` null). Checked on every client write (`rooms.moderation.write_refusal`)."""

    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.CASCADE, related_name="restrictions"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=RestrictionKind.choices)
    until = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "user", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} user {self.user_id} room {self.room_id or '*'}"


class RoomEvent(TenantModel):
    """Every event of a room's stream, as stored by the realtime engine (written in bulk by
    `rooms.sinks.DatabaseEventSink`, never one INSERT per event in the hot path). The
    highest `seq` per room is where a lost stream continues from."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=64)
    ts = models.DateTimeField()
    data = models.JSONField()
    """The event as delivered (with seq, type, ts and nonce)."""

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="room_event_seq_unique"),
        ]
        indexes = [models.Index(fields=["room", "type", "seq"])]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq} {self.type}"


class WatchSession(TenantModel):
    """One viewer (user, device or connection: `viewer`) watching a room in one server
    process, from the first to the last of its connections there. Analytics only."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="watch_sessions")
    viewer = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["room", "viewer", "ended_at"])]

    def __str__(self) -> str:
        return f"{self.room_id} {self.viewer} {self.started_at:%Y-%m-%d %H:%M}"


class RoomLikes(TenantModel):
    """A room's like total, written from the realtime counters (which live in Redis or
    process memory) so it survives them."""

    room = models.OneToOneField(Room, on_delete=models.CASCADE, related_name="likes_total")
    total = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"{self.room_id}: {self.total}"
