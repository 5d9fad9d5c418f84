from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from liveshop.tenancy.permissions import Perm


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = "Rooms"
    default_auto_field = "django.db.models.BigAutoField"

    dashboard_nav = [
        (30, _("Rooms"), "dashboard:rooms", Perm.VIEW_DASHBOARD),
        (35, _("Gifts & coins"), "dashboard:gifts", Perm.VIEW_DASHBOARD),
        (37, _("Chat moderation"), "dashboard:moderation", Perm.MODERATE),
    ]

    def dashboard_cards(self, actor: Any) -> list[dict[str, Any]]:
        from django.urls import reverse

        from . import selectors

        counts = selectors.room_counts(merchant=actor.merchant)
        return [
            {
                "label": _("Live rooms"),
                "value": counts["live"],
                "note": _("%(n)d scheduled") % {"n": counts["scheduled"]},
                "url": reverse("dashboard:rooms", kwargs={"m": actor.merchant.slug}),
            }
        ]

    def seed_demo(self, seed: Any) -> None:
        from .demo import seed_rooms

        seed_rooms(seed)

        from .economy_demo import seed_gifts

        seed_gifts(seed)
