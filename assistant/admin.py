"""The platform operator's read-only view of the assistant (support: "why did it say that?").
Merchants edit their data in the dashboard; these pages read tenant tables through the
audited bypass and change nothing."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from liveshop.tenancy.scope import rls_bypass

from .models import FaqEntry, Handoff, Question, VirtualShow


class PlatformReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _bypassed(self, view: Any, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Rendered inside the bypass: a TemplateResponse would otherwise query after it.
        with rls_bypass(f"platform-admin:{self.model._meta.label_lower}"):
            response = view(request, *args, **kwargs)
            render = getattr(response, "render", None)
            if callable(render):
                render()
            return response

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        return self._bypassed(super().changelist_view, request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        return self._bypassed(super().change_view, request, object_id, form_url, extra_context)


@admin.register(Question)
class QuestionAdmin(PlatformReadOnlyAdmin):
    list_display = [
        "id",
        "merchant",
        "room",
        "seq",
        "lang",
        "status",
        "reason",
        "latency_ms",
        "asked_at",
    ]
    list_filter = ["status", "lang", "reason"]
    search_fields = ["text", "answer"]
    list_select_related = ["merchant", "room"]


@admin.register(Handoff)
class HandoffAdmin(PlatformReadOnlyAdmin):
    list_display = ["id", "merchant", "room", "reason", "status", "consult_id", "created_at"]
    list_filter = ["status", "reason"]
    list_select_related = ["merchant", "room"]


@admin.register(FaqEntry)
class FaqEntryAdmin(PlatformReadOnlyAdmin):
    list_display = ["id", "merchant", "topic", "question", "is_active", "updated_at"]
    list_filter = ["topic", "is_active"]
    list_select_related = ["merchant"]


@admin.register(VirtualShow)
class VirtualShowAdmin(PlatformReadOnlyAdmin):
    list_display = [
        "id",
        "merchant",
        "room",
        "mode",
        "is_active",
        "starts_at",
        "ends_at",
        "next_at",
    ]
    list_filter = ["mode", "is_active"]
    list_select_related = ["merchant", "room"]
