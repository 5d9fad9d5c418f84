from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from liveshop.tenancy.permissions import Perm


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "Shopping assistant"
    default_auto_field = "django.db.models.BigAutoField"

    dashboard_nav = [(50, _("Assistant"), "dashboard:assistant", Perm.MANAGE_ASSISTANT)]

    def dashboard_cards(self, actor: Any) -> list[dict[str, Any]]:
        if not actor.can(Perm.MANAGE_ASSISTANT):
            return []
        from django.urls import reverse

        from . import selectors

        counts = selectors.question_counts(merchant=actor.merchant)
        return [
            {
                "label": _("Questions for the host"),
                "value": counts["unanswered"],
                "note": _("%(n)d answered by the assistant today")
                % {"n": counts["answered_today"]},
                "url": reverse("dashboard:assistant", kwargs={"m": actor.merchant.slug}),
            }
        ]

    def seed_demo(self, seed: Any) -> None:
        from .demo import seed_assistant

        seed_assistant(seed)
