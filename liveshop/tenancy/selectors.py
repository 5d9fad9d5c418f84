"""Tenancy reads, always merchant-scoped."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from .models import ApiKey, AuditEvent, Membership, Merchant, StaffInvite
from .scope import user_scope


def merchants_of_user(*, user_id: int) -> list[tuple[Merchant, str]]:
    """(merchant, role) for every merchant the user is staff of — the merchant switcher."""
    with user_scope(user_id):
        rows = list(
            Membership.objects.filter(user_id=user_id, merchant__is_active=True)
            .select_related("merchant")
            .order_by("merchant__name")
        )
    return [(m.merchant, m.role) for m in rows]


def staff_list(*, merchant: Merchant) -> QuerySet[Membership]:
    return Membership.objects.filter(merchant=merchant).select_related("user").order_by("id")


def staff_get(*, merchant: Merchant, membership_id: int) -> Membership:
    membership = staff_list(merchant=merchant).filter(pk=membership_id).first()
    if membership is None:
        raise Http404
    return membership


def invites_list(*, merchant: Merchant) -> QuerySet[StaffInvite]:
    return (
        StaffInvite.objects.filter(merchant=merchant).select_related("invited_by").order_by("-id")
    )


def api_keys_list(*, merchant: Merchant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(merchant=merchant).select_related("created_by").order_by("-id")


def api_key_get(*, merchant: Merchant, key_id: int) -> ApiKey:
    key = api_keys_list(merchant=merchant).filter(pk=key_id).first()
    if key is None:
        raise Http404
    return key


def audit_list(
    *, merchant: Merchant, action: str | None = None, actor_id: int | None = None
) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(merchant=merchant).select_related("actor", "api_key")
    if action:
        events = events.filter(action__startswith=action)
    if actor_id:
        events = events.filter(actor_id=actor_id)
    return events.order_by("-created_at", "-id")
