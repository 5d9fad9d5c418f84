"""Postgres row-level security: the defense in depth under every merchant filter."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from liveshop.tenancy.models import AuditEvent, Membership
from liveshop.tenancy.rls import POLICY, tenant_models
from liveshop.tenancy.scope import rls_bypass, tenant_scope, user_scope
from tests.factories import MembershipFactory, MerchantFactory, UserFactory

pytestmark = [pytest.mark.pg, pytest.mark.django_db]


def test_the_app_role_cannot_bypass_rls():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)


def test_every_tenant_table_forces_rls():
    tables = [m._meta.db_table for m in tenant_models()]
    assert "tenancy_membership" in tables
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
            " EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %s)"
            " FROM pg_class c WHERE c.relname = ANY(%s)",
            [POLICY, tables],
        )
        rows = {
            name: (enabled, forced, policy) for name, enabled, forced, policy in cursor.fetchall()
        }
    assert set(rows) == set(tables)
    assert all(row == (True, True, True) for row in rows.values()), rows


def test_every_model_with_a_merchant_is_a_tenant_model():
    from django.apps import apps

    tenant = set(tenant_models())
    for model in apps.get_models():
        if any(f.name == "merchant" and f.is_relation for f in model._meta.fields):
            assert model in tenant, (
                f"{model.__name__} has a merchant but no RLS: subclass TenantModel"
            )


def test_an_unscoped_query_returns_nothing():
    a, b = MerchantFactory(), MerchantFactory()
    MembershipFactory(merchant=a)
    MembershipFactory(merchant=b)
    with transaction.atomic():
        assert Membership.objects.count() == 0
        assert Membership.objects.filter(merchant=a).count() == 0


def test_a_scope_sees_only_its_merchant_even_without_a_filter():
    a, b = MerchantFactory(), MerchantFactory()
    MembershipFactory(merchant=a)
    MembershipFactory(merchant=b)
    MembershipFactory(merchant=b)
    with tenant_scope(a.id):
        assert Membership.objects.count() == 1
        assert Membership.objects.filter(merchant=b).count() == 0
    with tenant_scope(b.id):
        assert Membership.objects.count() == 2
    with rls_bypass("test: platform view"):
        assert Membership.objects.count() == 3


def test_writing_into_another_merchant_is_refused():
    a, b = MerchantFactory(), MerchantFactory()
    with tenant_scope(a.id), pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.create(merchant=b, action="sneaky")


def test_moving_a_row_to_another_merchant_is_refused():
    a, b = MerchantFactory(), MerchantFactory()
    membership = MembershipFactory(merchant=a)
    with tenant_scope(a.id), pytest.raises(DatabaseError), transaction.atomic():
        Membership.objects.filter(pk=membership.pk).update(merchant=b)


def test_user_scope_sees_own_memberships_across_merchants_only():
    user, other = UserFactory(), UserFactory()
    a, b = MerchantFactory(), MerchantFactory()
    MembershipFactory(merchant=a, user=user)
    MembershipFactory(merchant=b, user=user)
    MembershipFactory(merchant=a, user=other)
    with user_scope(user.pk):
        assert set(Membership.objects.values_list("merchant_id", flat=True)) == {a.id, b.id}
        assert Membership.objects.count() == 2


def test_nested_scopes_restore_the_outer_one():
    a, b = MerchantFactory(), MerchantFactory()
    MembershipFactory(merchant=a)
    MembershipFactory(merchant=b)
    with tenant_scope(a.id):
        with tenant_scope(b.id):
            assert list(Membership.objects.values_list("merchant_id", flat=True)) == [b.id]
        assert list(Membership.objects.values_list("merchant_id", flat=True)) == [a.id]


@pytest.mark.django_db(transaction=True)
def test_scope_never_leaks_to_the_next_transaction_on_a_pooled_connection():
    a = MerchantFactory()
    MembershipFactory(merchant=a)
    with tenant_scope(a.id):
        assert Membership.objects.count() == 1
    for _ in range(3):  # the pool hands out the same connection again
        with transaction.atomic():
            assert Membership.objects.count() == 0
