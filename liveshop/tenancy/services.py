"""Tenancy writes: merchant signup and settings, staff, invites, API keys, the audit log.
Every service takes the acting `Actor` (or the user, for signup) and checks the permission
table itself, so pages, the API and scripts get the same rules."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from liveshop.accounts.models import User, normalize_email
from liveshop.errors import Conflict, NotAllowed, PlanLimitReached
from liveshop.opaque import opaque_hash, opaque_new

from .access import Actor
from .models import RESERVED_SLUGS, ApiKey, AuditEvent, Membership, Merchant, Plan, StaffInvite
from .permissions import SCOPES, Perm, Role
from .scope import tenant_scope

INVITE_PREFIX = "lsi_"
API_KEY_PREFIX = "lsk_"
DEFAULT_PLAN = "starter"


def audit_record(
    *, actor: Actor, action: str, obj: Any = None, data: dict | None = None
) -> AuditEvent:
    """Append one line to the merchant's audit log (inside the caller's transaction)."""
    with tenant_scope(actor.merchant.id):
        return AuditEvent.objects.create(
            merchant=actor.merchant,
            actor=actor.user if getattr(actor.user, "pk", None) else None,
            api_key=actor.api_key,
            action=action,
            object_type=obj._meta.model_name if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            object_repr=str(obj)[:200] if obj is not None else "",
            data=data or {},
            ip=actor.ip,
        )


def _clean_origins(origins: list[str]) -> list[str]:
    from urllib.parse import urlsplit

    cleaned: list[str] = []
    for origin in origins:
        origin = origin.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise ValidationError(
                {
                    "allowed_origins": [
                        _("%(o)s is not an origin like https://shop.example.com") % {"o": origin}
                    ]
                }
            )
        if origin not in cleaned:
            cleaned.append(origin)
    if len(cleaned) > 20:
        raise ValidationError({"allowed_origins": [_("At most 20 origins.")]})
    return cleaned


def merchant_signup(
    *,
    user: User,
    slug: str,
    name: str,
    currency: str = "USD",
    locale: str = "en",
    timezone_name: str = "UTC",
    plan_code: str = DEFAULT_PLAN,
) -> Merchant:
    """A new merchant with `user` as its owner."""
    slug = slug.strip().lower()
    if slug in RESERVED_SLUGS:
        raise ValidationError({"slug": [_("This address is reserved.")]})
    plan = (
        Plan.objects.filter(code=plan_code).first() or Plan.objects.order_by("price_month").first()
    )
    merchant = Merchant(
        slug=slug,
        name=name,
        currency=currency,
        locale=locale,
        timezone=timezone_name,
        plan=plan,
        allowed_origins=[],
    )
    merchant.full_clean()
    try:
        with transaction.atomic():
            merchant.save()
            with tenant_scope(merchant.id, user_id=user.pk):
                Membership.objects.create(merchant=merchant, user=user, role=Role.OWNER)
                audit_record(
                    actor=Actor(merchant=merchant, user=user, role=Role.OWNER),
                    action="merchant.created",
                    obj=merchant,
                )
    except IntegrityError as exc:
        raise ValidationError({"slug": [_("This address is taken.")]}) from exc
    return merchant


SETTINGS_FIELDS = ("name", "currency", "locale", "timezone", "allowed_origins", "record_shows")


def merchant_update(*, actor: Actor, **changes: Any) -> Merchant:
    actor.require(Perm.MANAGE_SETTINGS)
    merchant = actor.merchant
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({k: [_("Not a setting.")] for k in unknown})
    if "allowed_origins" in changes:
        changes["allowed_origins"] = _clean_origins(changes["allowed_origins"])
    before = {k: getattr(merchant, k) for k in changes}
    for key, value in changes.items():
        setattr(merchant, key, value)
    merchant.full_clean()
    with tenant_scope(merchant.id):
        merchant.save(update_fields=list(changes))
        diff = {k: [before[k], changes[k]] for k in changes if before[k] != changes[k]}
        if diff:
            audit_record(actor=actor, action="merchant.updated", obj=merchant, data=diff)
    return merchant


# --- staff ------------------------------------------------------------------------------


def _seats_check(merchant: Merchant) -> None:
    with tenant_scope(merchant.id):
        used = Membership.objects.filter(merchant=merchant).count()
        pending = StaffInvite.objects.filter(
            merchant=merchant,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).count()
    if used + pending >= merchant.plan.staff_seats:
        raise PlanLimitReached(
            _("Your plan (%(plan)s) includes %(n)d staff seats, all in use or invited.")
            % {"plan": merchant.plan.name, "n": merchant.plan.staff_seats},
            resource="staff_seats",
            limit=merchant.plan.staff_seats,
        )


def _check_role_change(actor: Actor, role: str) -> None:
    actor.require(Perm.MANAGE_STAFF)
    if role not in Role.values:
        raise ValidationError({"role": [_("Unknown role.")]})
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise NotAllowed(_("Only an owner can grant the owner role."))


def invite_create(*, actor: Actor, email: str, role: str) -> tuple[StaffInvite, str]:
    """Invite someone by email. Returns the invite and its one-time link token."""
    _check_role_change(actor, role)
    email = normalize_email(email)
    merchant = actor.merchant
    with tenant_scope(merchant.id):
        if Membership.objects.filter(merchant=merchant, user__email=email).exists():
            raise Conflict(
                _("%(email)s is already on the team.") % {"email": email}, code="already_member"
            )
        _seats_check(merchant)
        raw = opaque_new(INVITE_PREFIX)
        invite = StaffInvite.objects.create(
            merchant=merchant,
            email=email,
            role=role,
            token_hash=opaque_hash(raw),
            invited_by=actor.user if getattr(actor.user, "pk", None) else None,
            expires_at=timezone.now() + settings.LIVESHOP_INVITE_TTL,
        )
        audit_record(
            actor=actor, action="invite.created", obj=invite, data={"email": email, "role": role}
        )
        link = f"{settings.LIVESHOP_BASE_URL}/invites/{merchant.slug}/{raw}/"
        from .tasks import send_invite_email

        transaction.on_commit(lambda: send_invite_email.delay(invite.id, merchant.id, link))
    return invite, raw


def invite_get(*, merchant: Merchant, raw_token: str) -> StaffInvite:
    """The pending invite for this link, or ValidationError saying why it cannot be used."""
    with tenant_scope(merchant.id):
        invite = StaffInvite.objects.filter(
            merchant=merchant, token_hash=opaque_hash(raw_token)
        ).first()
    if invite is None or invite.status != "pending":
        raise ValidationError(_("This invitation is no longer valid. Ask for a new one."))
    return invite


def invite_accept(*, merchant: Merchant, raw_token: str, user: User) -> Membership:
    invite = invite_get(merchant=merchant, raw_token=raw_token)
    if invite.email != user.email:
        raise ValidationError(
            _("This invitation was sent to %(email)s. Sign in with that account.")
            % {"email": invite.email}
        )
    with tenant_scope(merchant.id, user_id=user.pk):
        updated = StaffInvite.objects.filter(pk=invite.pk, accepted_at__isnull=True).update(
            accepted_at=timezone.now(), accepted_by=user
        )
        if not updated:
            raise ValidationError(_("This invitation was already used."))
        membership, created = Membership.objects.get_or_create(
            merchant=merchant, user=user, defaults={"role": invite.role}
        )
        audit_record(
            actor=Actor(merchant=merchant, user=user, role=membership.role),
            action="invite.accepted",
            obj=membership,
            data={"role": membership.role, "new": created},
        )
    return membership


def invite_revoke(*, actor: Actor, invite_id: int) -> None:
    actor.require(Perm.MANAGE_STAFF)
    with tenant_scope(actor.merchant.id):
        invite = StaffInvite.objects.filter(merchant=actor.merchant, pk=invite_id).first()
        if invite is None:
            from django.http import Http404

            raise Http404
        StaffInvite.objects.filter(
            pk=invite.pk, revoked_at__isnull=True, accepted_at__isnull=True
        ).update(revoked_at=timezone.now())
        audit_record(actor=actor, action="invite.revoked", obj=invite)


def _owners_left(merchant: Merchant, excluding: Membership) -> int:
    return (
        Membership.objects.filter(merchant=merchant, role=Role.OWNER)
        .exclude(pk=excluding.pk)
        .count()
    )


def membership_change_role(*, actor: Actor, membership: Membership, role: str) -> Membership:
    _check_role_change(actor, role)
    if membership.role == Role.OWNER and actor.role != Role.OWNER:
        raise NotAllowed(_("Only an owner can change an owner's role."))
    with tenant_scope(actor.merchant.id):
        if (
            membership.role == Role.OWNER
            and role != Role.OWNER
            and not _owners_left(actor.merchant, membership)
        ):
            raise Conflict(_("A merchant needs at least one owner."), code="last_owner")
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            actor=actor,
            action="staff.role_changed",
            obj=membership,
            data={"user": membership.user.email, "from": before, "to": role},
        )
    return membership


def membership_remove(*, actor: Actor, membership: Membership) -> None:
    actor.require(Perm.MANAGE_STAFF)
    if membership.role == Role.OWNER and actor.role != Role.OWNER:
        raise NotAllowed(_("Only an owner can remove an owner."))
    with tenant_scope(actor.merchant.id):
        if membership.role == Role.OWNER and not _owners_left(actor.merchant, membership):
            raise Conflict(_("A merchant needs at least one owner."), code="last_owner")
        audit_record(
            actor=actor,
            action="staff.removed",
            obj=membership,
            data={"user": membership.user.email, "role": membership.role},
        )
        membership.delete()


# --- API keys ---------------------------------------------------------------------------


def api_key_create(*, actor: Actor, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """A new merchant API key. The raw key is returned once and never stored."""
    actor.require(Perm.MANAGE_KEYS)
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ValidationError(
            {"scopes": [_("Choose scopes from: %(s)s") % {"s": ", ".join(sorted(SCOPES))}]}
        )
    if not name.strip():
        raise ValidationError({"name": [_("Give the key a name.")]})
    raw = opaque_new(API_KEY_PREFIX)
    with tenant_scope(actor.merchant.id):
        key = ApiKey.objects.create(
            merchant=actor.merchant,
            name=name.strip()[:80],
            prefix=raw[:12],
            key_hash=opaque_hash(raw),
            scopes=sorted(set(scopes)),
            created_by=actor.user if getattr(actor.user, "pk", None) else None,
        )
        audit_record(actor=actor, action="api_key.created", obj=key, data={"scopes": key.scopes})
    return key, raw


def api_key_revoke(*, actor: Actor, key: ApiKey) -> None:
    actor.require(Perm.MANAGE_KEYS)
    with tenant_scope(actor.merchant.id):
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit_record(actor=actor, action="api_key.revoked", obj=key)
