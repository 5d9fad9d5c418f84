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
