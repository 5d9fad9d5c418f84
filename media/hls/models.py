"""A broadcast: one rendering of a live room to HLS, from go-live to end (an "epoch" of its
files). The row is also how the worker is told what to render: the web side creates it
(`services.broadcast_start`) and asks it to stop; a worker claims it with a lease, renders it
and marks it ended. When `record` is set its segments are kept and it is the room's replay."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from liveshop.tenancy.models import TenantModel


class BroadcastStatus(models.TextChoices):
    ACTIVE = "active", _("Active")  # wanted: a worker renders it (or will, once one is free)
    STOPPING = "stopping", _("Stopping")  # the show ended: the worker finishes the files
    ENDED = "ended", _("Ended")


class Broadcast(TenantModel):
    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="+")
    epoch = models.CharField(max_length=40)
    record = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=BroadcastStatus.choices, default=BroadcastStatus.ACTIVE
    )
    host_identity = models.CharField(max_length=128, blank=True)
    # The worker holding it, until lease_until; another may take it over after that.
    worker = models.CharField(max_length=128, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)  # first frame on stage
    ended_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)  # seconds of recording
    segments = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)  # unrecorded files deleted
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "room", "epoch"], name="hls_epoch_unique"),
            # One rendering per room at a time.
            models.UniqueConstraint(
                fields=["room"], condition=~Q(status="ended"), name="hls_one_open_per_room"
            ),
        ]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["merchant", "room"])]

    def __str__(self) -> str:
        return f"{self.room_id}/{self.epoch}"

    @property
    def is_recording(self) -> bool:
        """A finished recording a replay page can play."""
        return self.record and self.status == BroadcastStatus.ENDED and self.segments > 0
