from __future__ import annotations

from typing import Any

from django.apps import apps
from django.http import HttpRequest
from django.urls import reverse

from .selectors import merchants_of_user


def _nav(actor: Any, path: str) -> list[dict[str, Any]]:
    """Sidebar entries: every app config may list `dashboard_nav` as
    (order, label, url name, permission); shown only to those who hold the permission."""
    entries = []
    for config in apps.get_app_configs():
        for order, label, url_name, perm in getattr(config, "dashboard_nav", ()):
            if actor.can(perm):
                url = reverse(url_name, kwargs={"m": actor.merchant.slug})
                active = path == url or (order > 0 and path.startswith(url))
                entries.append({"order": order, "label": label, "url": url, "active": active})
    return sorted(entries, key=lambda e: e["order"])


def dashboard(request: HttpRequest) -> dict[str, Any]:
    """The acting staff member, the sidebar and the merchant switcher, on dashboard pages."""
    actor = getattr(request, "actor", None)
    if actor is None or actor.user is None:
        return {}
    return {
        "actor": actor,
        "merchant": actor.merchant,
        "perms": {p.value for p in actor.perms},
        "switcher": merchants_of_user(user_id=actor.user.pk),
        "nav": _nav(actor, request.path),
    }
