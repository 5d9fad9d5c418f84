"""`seed_demo`'s consult data: each demo agent gets a routing profile (languages, skills) and
published availability for the coming week, so shoppers can book when nobody is online.
Adds only what is missing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from liveshop.tenancy.scope import tenant_scope

from .models import AgentProfile, AvailabilityWindow

SKILLS = ["styling", "sizing", "product"]
LANGUAGES = ["en", "zh-hans"]


def seed_consults(seed: Any) -> None:
    today = timezone.now().date()
    for slug, merchant in seed.merchants.items():
        agent = seed.staff.get(slug, {}).get("agent")
        if agent is None:
            continue
        with tenant_scope(merchant.id):
            AgentProfile.objects.get_or_create(
                merchant=merchant,
                user=agent,
                defaults={"skills": SKILLS, "languages": LANGUAGES, "max_concurrent": 2},
            )
            if AvailabilityWindow.objects.filter(
                merchant=merchant, agent=agent, ends_at__gt=timezone.now()
            ).exists():
                continue
            windows = []
            for day in range(1, 8):
                date = today + timedelta(days=day)
                start = datetime.combine(date, time(9, 0), tzinfo=UTC)
                windows.append(
                    AvailabilityWindow(
                        merchant=merchant,
                        agent=agent,
                        starts_at=start,
                        ends_at=start + timedelta(hours=8),
                    )
                )
            AvailabilityWindow.objects.bulk_create(windows)
            seed.log(f"{slug}: consult availability for {agent.email}, 7 days")
