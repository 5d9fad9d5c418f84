"""Media rows: per-room stream keys for WHIP ingest (OBS and other encoders)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

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
