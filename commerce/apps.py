from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from liveshop.tenancy.permissions import Perm


class CommerceConfig(AppConfig):
    name = "commerce"
    verbose_name = "Commerce"
    default_auto_field = "django.db.models.BigAutoField"

    dashboard_nav = [
        (20, _("Products"), "dashboard:products", Perm.VIEW_PRODUCTS),
        (40, _("Orders"), "dashboard:orders", Perm.VIEW_ORDERS),
    ]

    def dashboard_cards(self, actor: Any) -> list[dict[str, Any]]:
        from django.urls import reverse

        from . import selectors

        cards: list[dict[str, Any]] = []
        slug = actor.merchant.slug
        if actor.can(Perm.VIEW_PRODUCTS):
            stats = selectors.catalog_stats(merchant=actor.merchant)
            cards.append(
                {
                    "label": _("Products"),
                    "value": stats["active"],
                    "note": _("%(n)d sold out") % {"n": stats["sold_out"]},
                    "url": reverse("dashboard:products", kwargs={"m": slug}),
                }
            )
        if actor.can(Perm.VIEW_ORDERS):
            stats = selectors.order_stats(merchant=actor.merchant)
            cards.append(
                {
                    "label": _("Orders today"),
                    "value": stats["today"],
                    "note": _("%(n)d awaiting payment") % {"n": stats["pending"]},
                    "url": reverse("dashboard:orders", kwargs={"m": slug}),
                }
            )
        return cards

    def seed_demo(self, seed: Any) -> None:
        from .demo import seed_catalog

        seed_catalog(seed)
