"""The embedded default's stand-in for Celery beat: runs `CELERY_BEAT_SCHEDULE` in a thread.

With Redis configured, `celery beat` reads the same schedule and this is not started."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import close_old_connections, connection

log = logging.getLogger("liveshop.scheduler")


def _interval(entry: dict[str, Any]) -> float:
    schedule = entry["schedule"]
    if isinstance(schedule, int | float):
        return float(schedule)
    return float(schedule.run_every.total_seconds())  # celery.schedules.schedule / timedelta


class InProcessScheduler(threading.Thread):
    def __init__(
        self, schedule: dict[str, dict[str, Any]] | None = None, tick: float = 1.0
    ) -> None:
        super().__init__(name="liveshop-scheduler", daemon=True)
        current_app.loader.import_default_modules()  # autodiscover every app's tasks.py
        self.schedule = schedule if schedule is not None else settings.CELERY_BEAT_SCHEDULE
        self.tick = tick
        # Celery finds the apps' tasks modules lazily (a worker does it at start); the web
        # process must ask, or no scheduled task is registered here.
        current_app.loader.import_default_modules()
        self.stopping = threading.Event()
        now = time.monotonic()
        self.due = {name: now + min(_interval(entry), 5.0) for name, entry in self.schedule.items()}

    def run_due(self, now: float) -> list[str]:
        ran = []
        for name, entry in self.schedule.items():
            if now < self.due[name]:
                continue
            self.due[name] = now + _interval(entry)
            try:
                current_app.tasks[entry["task"]].apply(
                    args=entry.get("args", ()), kwargs=entry.get("kwargs", {})
                )
                ran.append(name)
            except Exception:
                log.exception("scheduled job %s failed", name)
            finally:
                if not connection.in_atomic_block:  # a long-lived thread: drop stale connections
                    close_old_connections()
        return ran

    def run(self) -> None:
        log.info("in-process scheduler: %d jobs", len(self.schedule))
        while not self.stopping.wait(self.tick):
            self.run_due(time.monotonic())

    def stop(self) -> None:
        self.stopping.set()
