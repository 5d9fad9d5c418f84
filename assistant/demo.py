"""`seed_demo`'s assistant data: each demo merchant's FAQ and policies (DEMO_POLICIES) and the
assistant switched on in its `launch` room. Adds what is missing, changes nothing that exists."""

from __future__ import annotations

from typing import Any

from commerce.demo_catalog import DEMO_POLICIES
from liveshop.tenancy.scope import tenant_scope
from rooms.models import Room

from .models import FaqEntry, RoomAssistant

FAQ_KEYS = ("question", "answer", "question_zh", "answer_zh")


def seed_assistant(seed: Any) -> None:
    for slug, merchant in seed.merchants.items():
        with tenant_scope(merchant.id):
            topics = set(FaqEntry.objects.filter(merchant=merchant).values_list("topic", flat=True))
            added = 0
            for position, policy in enumerate(DEMO_POLICIES.get(slug, [])):
                if policy["topic"] in topics:
                    continue
                FaqEntry.objects.create(
                    merchant=merchant,
                    topic=policy["topic"],
                    position=position,
                    **{k: policy.get(k, "") for k in FAQ_KEYS},
                )
                added += 1
            room = Room.objects.filter(merchant=merchant, slug="launch").first()
            if room is not None:
                _, created = RoomAssistant.objects.get_or_create(
                    merchant=merchant, room=room, defaults={"enabled": True}
                )
                if created:
                    seed.log(f"assistant {slug}/launch: on")
        if added:
            seed.log(f"assistant {slug}: {added} FAQ entries added")
