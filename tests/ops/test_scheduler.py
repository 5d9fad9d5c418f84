"""The in-process scheduler runs the periodic jobs of CELERY_BEAT_SCHEDULE."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from liveshop.accounts.models import AuthToken
from liveshop.accounts.services import token_issue
from liveshop.ops.scheduler import InProcessScheduler

pytestmark = pytest.mark.django_db


def test_due_jobs_run_and_wait_for_their_interval(shopper):
    token, _ = token_issue(user=shopper)
    AuthToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(days=2))
    scheduler = InProcessScheduler(
        schedule={"purge": {"task": "accounts.purge_expired_tokens", "schedule": 60.0}}
    )
    start = scheduler.due["purge"]
    assert scheduler.run_due(start - 1) == []
    assert scheduler.run_due(start) == ["purge"]
    assert not AuthToken.objects.exists()
    assert scheduler.run_due(start + 30) == []  # not again before its interval
    assert scheduler.run_due(start + 61) == ["purge"]


def test_a_failing_job_does_not_stop_the_others(shopper):
    scheduler = InProcessScheduler(
        schedule={
            "broken": {
                "task": "accounts.purge_expired_tokens",
                "schedule": 1.0,
                "args": ("unexpected",),
            },
            "fine": {"task": "accounts.purge_expired_tokens", "schedule": 1.0},
        }
    )
    ran = scheduler.run_due(max(scheduler.due.values()))
    assert ran == ["fine"]


def test_every_scheduled_task_exists():
    from celery import current_app
    from django.conf import settings

    current_app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in current_app.tasks, name
