"""The worker's side of the Broadcast rows: claim with a lease, renew, report, finish, purge.

These are platform jobs: a worker renders rooms of every merchant, so it finds its rows
through the one audited bypass (`rls_bypass`), and writes each row's results inside that
row's own `tenant_scope`. Claims are conditional UPDATEs, so two workers never both take a
broadcast; a worker that stops renewing (crash, stall) loses it after the lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from liveshop.tenancy.scope import rls_bypass, tenant_scope

from .models import Broadcast, BroadcastStatus
from .pipeline import Job


@dataclass(frozen=True)
class Claimed:
    job: Job
    stopping: bool


def _free(now: datetime) -> Q:
    return Q(worker="") | Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def claim(*, worker: str, running: set[int], capacity: int, lease: float) -> list[Claimed]:
    """Renew this worker's leases, take free broadcasts up to `capacity` running ones (those
    stopping are always taken: finishing them is quick), and return everything it holds."""
    now = timezone.now()
    until = now + timedelta(seconds=lease)
    with rls_bypass("hls worker: claim broadcasts"):
        Broadcast.objects.filter(worker=worker).exclude(status=BroadcastStatus.ENDED).update(
            lease_until=until
        )
        free = Broadcast.objects.exclude(status=BroadcastStatus.ENDED).filter(_free(now))
        room = max(0, capacity - len(running))
        wanted = list(
            free.filter(status=BroadcastStatus.ACTIVE)
            .order_by("id")
            .values_list("id", flat=True)[:room]
        ) + list(free.filter(status=BroadcastStatus.STOPPING).values_list("id", flat=True)[:50])
        for pk in wanted:
            Broadcast.objects.filter(pk=pk).filter(_free(now)).exclude(
                status=BroadcastStatus.ENDED
            ).update(worker=worker, lease_until=until)
        rows = Broadcast.objects.filter(worker=worker).exclude(status=BroadcastStatus.ENDED)
        return [
            Claimed(
                Job(
                    broadcast_id=b.pk,
                    merchant_id=b.merchant_id,
                    room_id=b.room_id,
                    epoch=b.epoch,
                    record=b.record,
                    host=b.host_identity or None,
                ),
                stopping=b.status == BroadcastStatus.STOPPING,
            )
            for b in rows.order_by("id")
        ]


def _wall(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts else None


def report(*, worker: str, job: Job, progress: dict[str, Any]) -> None:
    """Progress of a running broadcast (segments so far, when the show started)."""
    with tenant_scope(job.merchant_id):
        Broadcast.objects.filter(
            pk=job.broadcast_id, merchant_id=job.merchant_id, worker=worker
        ).update(segments=progress.get("segments", 0), started_at=_wall(progress.get("started_at")))


def finish(*, worker: str, job: Job, summary: dict[str, Any], error: str = "") -> bool:
    """Mark the broadcast ended with what was written; False if it is no longer ours."""
    with tenant_scope(job.merchant_id):
        return bool(
            Broadcast.objects.filter(
                pk=job.broadcast_id, merchant_id=job.merchant_id, worker=worker
            )
            .exclude(status=BroadcastStatus.ENDED)
            .update(
                status=BroadcastStatus.ENDED,
                ended_at=timezone.now(),
                segments=summary.get("segments", 0),
                started_at=_wall(summary.get("started_at")),
                duration=summary.get("duration"),
                error=error[:300],
                worker="",
                lease_until=None,
            )
        )


def release(*, worker: str, job: Job) -> None:
    """The worker is shutting down: let another take the broadcast over at once."""
    with tenant_scope(job.merchant_id):
        Broadcast.objects.filter(
            pk=job.broadcast_id, merchant_id=job.merchant_id, worker=worker
        ).update(worker="", lease_until=None)


def purgeable(*, age: float) -> list[Job]:
    """Ended broadcasts whose files nobody needs any more: not recorded (or nothing was
    recorded), ended `age` seconds ago, not yet deleted."""
    cutoff = timezone.now() - timedelta(seconds=age)
    with rls_bypass("hls worker: find finished output to delete"):
        rows = (
            Broadcast.objects.filter(
                status=BroadcastStatus.ENDED, purged_at__isnull=True, ended_at__lt=cutoff
            )
            .filter(Q(record=False) | Q(segments=0))
            .order_by("id")[:100]
        )
        return [Job(b.pk, b.merchant_id, b.room_id, b.epoch, b.record) for b in rows]


def mark_purged(job: Job) -> None:
    with tenant_scope(job.merchant_id):
        Broadcast.objects.filter(pk=job.broadcast_id, merchant_id=job.merchant_id).update(
            purged_at=timezone.now()
        )
