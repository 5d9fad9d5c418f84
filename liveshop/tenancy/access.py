"""Resolving "who is acting in which merchant", once per request/socket.

`access_merchant` answers Http404 for anyone who is not of the merchant (a missing merchant
and a forbidden one look the same), and `Actor.require` answers 403 for staff whose role or
key scopes lack a permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext

from .models import ApiKey, Membership, Merchant
from .permissions import Perm, Role, role_has, role_perms, scopes_have
from .scope import tenant_scope


@dataclass(frozen=True)
class Actor:
    """A member of staff (or a merchant API key) acting inside one merchant."""

    merchant: Merchant
    user: Any = None  # accounts.User, None for API keys
    api_key: ApiKey | None = None
    role: str | None = None
    ip: str | None = None

    def can(self, perm: Perm) -> bool:
        if self.api_key is not None:
            return scopes_have(self.api_key.scopes, perm)
        return self.role is not None and role_has(self.role, perm)

    def require(self, perm: Perm) -> None:
        if not self.can(perm):
            raise PermissionDenied(
                gettext("Your role does not allow this (%(perm)s).") % {"perm": perm}
            )

    @property
    def role_label(self) -> str:
        """The staff role as people read it (empty for an API key)."""
        return str(Role(self.role).label) if self.role else ""

    @property
    def perms(self) -> frozenset[Perm]:
        if self.api_key is not None:
            return frozenset(p for p in Perm if self.can(p))
        return role_perms(self.role) if self.role else frozenset()

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"API key {self.api_key.name}"
        return str(getattr(self.user, "display_name", "") or self.user)


def merchant_get(slug: str) -> Merchant:
    """The active merchant with this slug, or 404. Merchants are the tenant registry itself
    (not row-secured); only slug-level data is public."""
    merchant = Merchant.objects.select_related("plan").filter(slug=slug, is_active=True).first()
    if merchant is None:
        raise Http404("No such merchant.")
    return merchant


def access_merchant(*, principal: Any, slug: str, ip: str | None = None) -> Actor:
    """The actor for `principal` (a User or an ApiKeyPrincipal) in merchant `slug`.
    Raises Http404 when the principal is not of that merchant."""
    merchant = merchant_get(slug)
    key = getattr(principal, "key", None)
    if isinstance(key, ApiKey):
        if key.merchant_id != merchant.id:
            raise Http404("No such merchant.")
        return Actor(merchant=merchant, api_key=key, ip=ip)
    if principal is None or not principal.is_authenticated:
        raise Http404("No such merchant.")
    with tenant_scope(merchant.id, user_id=principal.id):
        membership = (
            Membership.objects.filter(merchant=merchant, user=principal).only("role").first()
        )
    if membership is None:
        raise Http404("No such merchant.")
    return Actor(merchant=merchant, user=principal, role=membership.role, ip=ip)
