"""Room tasks. They take ids (or nothing), are idempotent and `acks_late`, and enter tenant
scope themselves; platform sweeps find their rows through the audited bypass."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="rooms.flash_sales_tick", acks_late=True)
def flash_sales_tick() -> dict[str, int]:
    """End flash sales whose time is up; pass lapsed waitlist offers on (rooms.selling)."""
    from .selling import flash_sales_tick as tick

    return tick()
