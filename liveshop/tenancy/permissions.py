"""Who may do what inside a merchant. This table is the single source: services enforce it,
pages show or hide actions by it, and API keys map their scopes onto it.

| permission        | owner | admin | host | agent |
|-------------------|:-----:|:-----:|:----:|:-----:|
| view_dashboard    |   ✓   |   ✓   |  ✓   |   ✓   |
| manage_settings   |   ✓   |   ✓   |      |       |
| manage_staff      |   ✓   |   ✓   |      |       |
| manage_keys       |   ✓   |   ✓   |      |       |
| view_audit        |   ✓   |       |      |       |
| manage_products   |   ✓   |   ✓   |      |       |
| view_products     |   ✓   |   ✓   |  ✓   |   ✓   |
| manage_rooms      |   ✓   |   ✓   |  ✓   |       |
| host_rooms        |   ✓   |   ✓   |  ✓   |       |
| moderate          |   ✓   |   ✓   |  ✓   |       |
| view_orders       |   ✓   |   ✓   |  ✓   |   ✓   |
| manage_orders     |   ✓   |   ✓   |      |       |
| build_carts       |   ✓   |   ✓   |      |   ✓   |
| take_consults     |   ✓   |   ✓   |      |   ✓   |
| view_consults     |   ✓   |   ✓   |      |   ✓   |
| supervise_consults|   ✓   |   ✓   |      |       |
| manage_gifts      |   ✓   |   ✓   |      |       |
| manage_assistant  |   ✓   |   ✓   |  ✓   |       |

Only an owner may grant or remove the owner role; admins manage everyone else.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    HOST = "host", _("Host")
    AGENT = "agent", _("Agent")


class Perm(StrEnum):
    VIEW_DASHBOARD = "view_dashboard"
    MANAGE_SETTINGS = "manage_settings"
    MANAGE_STAFF = "manage_staff"
    MANAGE_KEYS = "manage_keys"
    VIEW_AUDIT = "view_audit"
    MANAGE_PRODUCTS = "manage_products"
    VIEW_PRODUCTS = "view_products"
    MANAGE_ROOMS = "manage_rooms"
    HOST_ROOMS = "host_rooms"
    MODERATE = "moderate"
    VIEW_ORDERS = "view_orders"
    MANAGE_ORDERS = "manage_orders"
    BUILD_CARTS = "build_carts"
    TAKE_CONSULTS = "take_consults"
    # Read consults (history, transcripts); supervise = join silently, analytics, recordings.
    VIEW_CONSULTS = "view_consults"
    SUPERVISE_CONSULTS = "supervise_consults"
    MANAGE_GIFTS = "manage_gifts"
    MANAGE_ASSISTANT = "manage_assistant"


_O, _A, _H, _G = Role.OWNER, Role.ADMIN, Role.HOST, Role.AGENT

ROLE_PERMS: dict[Perm, frozenset[str]] = {
    Perm.VIEW_DASHBOARD: frozenset({_O, _A, _H, _G}),
    Perm.MANAGE_SETTINGS: frozenset({_O, _A}),
    Perm.MANAGE_STAFF: frozenset({_O, _A}),
    Perm.MANAGE_KEYS: frozenset({_O, _A}),
    Perm.VIEW_AUDIT: frozenset({_O}),
    Perm.MANAGE_PRODUCTS: frozenset({_O, _A}),
    Perm.VIEW_PRODUCTS: frozenset({_O, _A, _H, _G}),
    Perm.MANAGE_ROOMS: frozenset({_O, _A, _H}),
    Perm.HOST_ROOMS: frozenset({_O, _A, _H}),
    Perm.MODERATE: frozenset({_O, _A, _H}),
    Perm.VIEW_ORDERS: frozenset({_O, _A, _H, _G}),
    Perm.MANAGE_ORDERS: frozenset({_O, _A}),
    Perm.BUILD_CARTS: frozenset({_O, _A, _G}),
    Perm.TAKE_CONSULTS: frozenset({_O, _A, _G}),
    Perm.VIEW_CONSULTS: frozenset({_O, _A, _G}),
    Perm.SUPERVISE_CONSULTS: frozenset({_O, _A}),
    Perm.MANAGE_GIFTS: frozenset({_O, _A}),
    Perm.MANAGE_ASSISTANT: frozenset({_O, _A, _H}),
}

# API key scopes, each granting a set of permissions. A key never manages staff or keys.
SCOPES: dict[str, frozenset[Perm]] = {
    "products:read": frozenset({Perm.VIEW_DASHBOARD, Perm.VIEW_PRODUCTS}),
    "products:write": frozenset({Perm.VIEW_DASHBOARD, Perm.VIEW_PRODUCTS, Perm.MANAGE_PRODUCTS}),
    "rooms:read": frozenset({Perm.VIEW_DASHBOARD}),
    "rooms:write": frozenset({Perm.VIEW_DASHBOARD, Perm.MANAGE_ROOMS, Perm.HOST_ROOMS}),
    "orders:read": frozenset({Perm.VIEW_DASHBOARD, Perm.VIEW_ORDERS}),
    "orders:write": frozenset({Perm.VIEW_DASHBOARD, Perm.VIEW_ORDERS, Perm.MANAGE_ORDERS}),
    "consults:read": frozenset({Perm.VIEW_DASHBOARD, Perm.VIEW_CONSULTS}),
    "consults:write": frozenset(
        {Perm.VIEW_DASHBOARD, Perm.VIEW_CONSULTS, Perm.TAKE_CONSULTS, Perm.BUILD_CARTS}
    ),
}
SCOPE_CHOICES = sorted(SCOPES)


def role_has(role: str, perm: Perm) -> bool:
    return role in ROLE_PERMS[perm]


def scopes_have(scopes: list[str], perm: Perm) -> bool:
    return any(perm in SCOPES.get(scope, ()) for scope in scopes)


def role_perms(role: str) -> frozenset[Perm]:
    return frozenset(p for p, roles in ROLE_PERMS.items() if role in roles)
