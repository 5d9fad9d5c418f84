"""Periodic media jobs (Celery beat, liveshop/settings.py CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="media.pk_tick", acks_late=True)
def pk_tick() -> int:
    """Live PKs: announce score changes (`pk.score`), settle the ones whose time is up."""
    from .pk import pk_tick as tick

    return tick()
