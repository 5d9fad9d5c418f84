"""`seed_demo`'s gift catalogs: `rose` and a few more in each merchant's catalog. Adds the
gifts that are missing, changes none that exist."""

from __future__ import annotations

from typing import Any

from liveshop.tenancy.scope import tenant_scope

from .models import Gift, GiftAnimation

DEMO_GIFTS = [
    # code, name, coins, animation
    ("rose", "Rose", 1, GiftAnimation.FLOAT),
    ("heart", "Heart", 5, GiftAnimation.BURST),
    ("confetti", "Confetti", 20, GiftAnimation.RAIN),
    ("rocket", "Rocket", 100, GiftAnimation.SPIN),
    ("crown", "Crown", 500, GiftAnimation.ZOOM),
]


def seed_gifts(seed: Any) -> None:
    for slug, merchant in seed.merchants.items():
        with tenant_scope(merchant.id):
            have = set(Gift.objects.filter(merchant=merchant).values_list("code", flat=True))
            missing = [
                Gift(
                    merchant=merchant,
                    code=code,
                    name=name,
                    coins=coins,
                    animation=animation,
                    position=i,
                )
                for i, (code, name, coins, animation) in enumerate(DEMO_GIFTS)
                if code not in have
            ]
            Gift.objects.bulk_create(missing)
        if missing:
            seed.log(f"gifts {slug}: {', '.join(g.code for g in missing)}")
