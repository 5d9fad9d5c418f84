"""Tenancy services: signup, settings, invites, staff roles, API keys, audit, plan seats."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from liveshop.errors import Conflict, NotAllowed, PlanLimitReached
from liveshop.tenancy import services
from liveshop.tenancy.access import access_merchant
from liveshop.tenancy.models import ApiKey, AuditEvent, Membership
from liveshop.tenancy.scope import tenant_scope
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def actor_of(user, merchant):
    return access_merchant(principal=user, slug=merchant.slug)


def test_signup_makes_the_user_owner_and_audits(shopper):
    merchant = services.merchant_signup(
        user=shopper, slug="newshop", name="New Shop", currency="EUR"
    )
    with tenant_scope(merchant.id):
        membership = Membership.objects.get(merchant=merchant)
        assert (membership.user, membership.role) == (shopper, "owner")
        assert AuditEvent.objects.filter(merchant=merchant, action="merchant.created").count() == 1
    assert merchant.currency == "EUR" and merchant.plan.code == "starter"


@pytest.mark.parametrize("slug", ["admin", "api", "s", "Bad Slug", "-x", "a", "x" * 41])
def test_signup_refuses_bad_and_reserved_slugs(shopper, slug):
    with pytest.raises(ValidationError) as exc:
        services.merchant_signup(user=shopper, slug=slug, name="X")
    assert "slug" in exc.value.message_dict


def test_signup_refuses_taken_slug(shopper, merchant):
    with pytest.raises(ValidationError) as exc:
        services.merchant_signup(user=shopper, slug=merchant.slug, name="X")
    assert "slug" in exc.value.message_dict


def test_settings_update_validates_origins_and_audits(owner, merchant):
    actor = actor_of(owner, merchant)
    services.merchant_update(
        actor=actor, name="Acme 2", allowed_origins=["https://a.example/", "https://a.example"]
    )
    merchant.refresh_from_db()
    assert merchant.name == "Acme 2" and merchant.allowed_origins == ["https://a.example"]
    with tenant_scope(merchant.id):
        event = AuditEvent.objects.get(action="merchant.updated")
    assert event.data["name"] == ["Acme Live", "Acme 2"] and event.actor == owner
    with pytest.raises(ValidationError):
        services.merchant_update(actor=actor, allowed_origins=["javascript:alert(1)"])
    with pytest.raises(ValidationError):
        services.merchant_update(actor=actor, allowed_origins=["https://a.example/path"])
    with pytest.raises(ValidationError):
        services.merchant_update(actor=actor, timezone="Mars/Olympus")


def test_settings_need_the_permission(host, merchant):
    with pytest.raises(PermissionDenied):
        services.merchant_update(actor=actor_of(host, merchant), name="Nope")


def test_invite_flow_emails_a_link_and_accepting_makes_membership(
    owner, merchant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite, raw = services.invite_create(
            actor=actor_of(owner, merchant), email="New.Host@Example.test", role="host"
        )
    assert invite.email == "new.host@example.test"
    assert (
        len(mail.outbox) == 1 and raw in mail.outbox[0].body and mail.outbox[0].to == [invite.email]
    )
    newcomer = UserFactory(email="new.host@example.test")
    membership = services.invite_accept(merchant=merchant, raw_token=raw, user=newcomer)
    assert membership.role == "host"
    with pytest.raises(ValidationError):  # one use only
        services.invite_accept(merchant=merchant, raw_token=raw, user=newcomer)


def test_invite_email_task_is_idempotent(owner, merchant, django_capture_on_commit_callbacks):
    from liveshop.tenancy.tasks import send_invite_email

    with django_capture_on_commit_callbacks(execute=True):
        invite, _raw = services.invite_create(
            actor=actor_of(owner, merchant), email="x@example.test", role="agent"
        )
    assert len(mail.outbox) == 1
    assert send_invite_email(invite.id, merchant.id, "http://link") is False
    assert len(mail.outbox) == 1


def test_invite_for_another_email_or_revoked_is_refused(owner, merchant, shopper):
    actor = actor_of(owner, merchant)
    _invite, raw = services.invite_create(actor=actor, email="someone@example.test", role="agent")
    with pytest.raises(ValidationError):
        services.invite_accept(merchant=merchant, raw_token=raw, user=shopper)
    invite2, raw2 = services.invite_create(actor=actor, email=shopper.email, role="agent")
    services.invite_revoke(actor=actor, invite_id=invite2.id)
    with pytest.raises(ValidationError):
        services.invite_accept(merchant=merchant, raw_token=raw2, user=shopper)


def test_invite_token_of_one_merchant_does_not_work_in_another(
    owner, merchant, other_merchant, shopper
):
    _invite, raw = services.invite_create(
        actor=actor_of(owner, merchant), email=shopper.email, role="agent"
    )
    with pytest.raises(ValidationError):
        services.invite_accept(merchant=other_merchant, raw_token=raw, user=shopper)


def test_only_owner_grants_owner(admin, owner, merchant):
    with pytest.raises(NotAllowed):
        services.invite_create(
            actor=actor_of(admin, merchant), email="boss@example.test", role="owner"
        )
    services.invite_create(actor=actor_of(owner, merchant), email="boss@example.test", role="owner")


def test_already_member_cannot_be_invited(owner, host, merchant):
    with pytest.raises(Conflict):
        services.invite_create(actor=actor_of(owner, merchant), email=host.email, role="agent")


def test_staff_seats_are_a_plan_limit(owner, merchant):
    merchant.plan.staff_seats = 2
    merchant.plan.save()
    actor = actor_of(owner, merchant)
    services.invite_create(actor=actor, email="one@example.test", role="agent")
    with pytest.raises(PlanLimitReached) as exc:
        services.invite_create(actor=actor, email="two@example.test", role="agent")
    assert "2 staff seats" in exc.value.message


def test_role_changes_and_last_owner_protection(owner, admin, host, merchant):
    with tenant_scope(merchant.id):
        host_m = Membership.objects.get(user=host)
        owner_m = Membership.objects.get(user=owner)
    services.membership_change_role(
        actor=actor_of(admin, merchant), membership=host_m, role="agent"
    )
    assert host_m.role == "agent"
    with pytest.raises(NotAllowed):
        services.membership_change_role(
            actor=actor_of(admin, merchant), membership=owner_m, role="host"
        )
    with pytest.raises(Conflict):
        services.membership_change_role(
            actor=actor_of(owner, merchant), membership=owner_m, role="admin"
        )
    with pytest.raises(Conflict):
        services.membership_remove(actor=actor_of(owner, merchant), membership=owner_m)
    with pytest.raises(PermissionDenied):
        services.membership_remove(actor=actor_of(host, merchant), membership=owner_m)
    services.membership_remove(actor=actor_of(admin, merchant), membership=host_m)
    with tenant_scope(merchant.id):
        assert not Membership.objects.filter(user=host).exists()
        assert AuditEvent.objects.filter(action="staff.removed").count() == 1


def test_api_key_is_shown_once_stored_hashed_and_revocable(owner, merchant, host):
    actor = actor_of(owner, merchant)
    key, raw = services.api_key_create(
        actor=actor, name="ERP", scopes=["products:read", "orders:read"]
    )
    assert raw.startswith("lsk_") and key.prefix == raw[:12] and raw not in key.key_hash
    services.api_key_revoke(actor=actor, key=key)
    with tenant_scope(merchant.id):
        assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    with pytest.raises(ValidationError):
        services.api_key_create(actor=actor, name="x", scopes=["root:all"])
    with pytest.raises(ValidationError):
        services.api_key_create(actor=actor, name="x", scopes=[])
    with pytest.raises(PermissionDenied):
        services.api_key_create(actor=actor_of(host, merchant), name="x", scopes=["products:read"])


def test_access_merchant_hides_outsiders(outsider, merchant, shopper):
    from django.http import Http404

    for principal in (outsider, shopper, None):
        with pytest.raises(Http404):
            access_merchant(principal=principal, slug=merchant.slug)
    with pytest.raises(Http404):
        access_merchant(principal=outsider, slug="no-such-shop")
