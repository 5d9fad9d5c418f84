from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from liveshop.tenancy.permissions import Perm


class ConsultsConfig(AppConfig):
    """1v1 video consults: queue, routing, agents' console, bookings (consults/README.md)."""

    name = "consults"
    verbose_name = "Consults"
    default_auto_field = "django.db.models.BigAutoField"

    dashboard_nav = [(50, _("Consults"), "dashboard:consults", Perm.TAKE_CONSULTS)]

    def dashboard_cards(self, actor: Any) -> list[dict[str, Any]]:
        from django.urls import reverse

        from . import selectors

        if not actor.can(Perm.TAKE_CONSULTS):
            return []
        stats = selectors.queue_stats(merchant=actor.merchant)
        return [
            {
                "label": _("Consults waiting"),
                "value": stats["waiting"],
                "note": _("%(n)d agents online") % {"n": stats["agents_online"]},
                "url": reverse("dashboard:consults", kwargs={"m": actor.merchant.slug}),
            }
        ]

    def seed_demo(self, seed: Any) -> None:
        from .demo import seed_consults

        seed_consults(seed)
