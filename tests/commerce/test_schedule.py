"""The reservation timer runs in the embedded default's in-process scheduler (and in beat)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from commerce import services
from commerce.models import Order
from liveshop.ops.scheduler import InProcessScheduler
from liveshop.tenancy.scope import tenant_scope
from tests.commerce.conftest import key, stock_of, variants_of

pytestmark = pytest.mark.django_db


def test_commerce_jobs_are_scheduled():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"commerce.expire_reservations", "commerce.sandbox_redeliver"} <= tasks


@pytest.mark.django_db(transaction=True)  # the scheduler's thread runs outside any transaction
def test_the_in_process_scheduler_expires_reservations(merchant, shopper, product):
    [variant] = variants_of(product)
    order = services.order_place(
        merchant=merchant,
        shopper=shopper,
        lines=[{"product": product.pk, "quantity": 3}],
        idempotency_key=key(),
    ).order
    with tenant_scope(merchant.id):
        Order.objects.filter(pk=order.pk).update(
            reserved_until=timezone.now() - timedelta(seconds=1)
        )
    scheduler = InProcessScheduler()
    ran = scheduler.run_due(time.monotonic() + 10**6)
    assert "orders-expire-reservations" in ran
    with tenant_scope(merchant.id):
        assert Order.objects.get(pk=order.pk).status == "expired"
    assert stock_of(variant) == 10
