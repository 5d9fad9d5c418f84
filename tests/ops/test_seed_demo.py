"""`seed_demo` gives the contract's demo data, adds what is missing and resets nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from liveshop.accounts.models import User
from liveshop.tenancy.models import Membership, Merchant
from liveshop.tenancy.scope import tenant_scope
from tests.factories import plan_default

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plans(db):
    plan_default()


def test_seed_demo_creates_the_contract_data():
    call_command("seed_demo", verbosity=0)
    for slug in ("demo", "rival"):
        merchant = Merchant.objects.get(slug=slug)
        assert merchant.allowed_origins == ["http://127.0.0.1:8000", "http://localhost:8000"]
        with tenant_scope(merchant.id):
            roles = dict(
                Membership.objects.filter(merchant=merchant).values_list("user__email", "role")
            )
        assert roles == {
            f"owner@{slug}.test": "owner",
            f"host@{slug}.test": "host",
            f"agent@{slug}.test": "agent",
        }
    shoppers = User.objects.filter(email__endswith="@example.test").order_by("id")
    assert [u.email for u in shoppers] == [f"shopper{i}@example.test" for i in range(1, 6)]
    for email in ("owner@demo.test", "shopper5@example.test"):
        assert authenticate(username=email, password="liveshop-demo") is not None


def test_seed_demo_is_idempotent_and_resets_nothing():
    call_command("seed_demo", verbosity=0)
    user = User.objects.get(email="host@demo.test")
    user.set_password("changed-by-host")
    user.save()
    Merchant.objects.filter(slug="demo").update(name="Renamed by owner")
    call_command("seed_demo", "--shoppers", "8", verbosity=0)
    assert User.objects.filter(email__endswith="@example.test").count() == 8
    assert authenticate(username="host@demo.test", password="changed-by-host") is not None
    assert Merchant.objects.get(slug="demo").name == "Renamed by owner"
    assert Merchant.objects.count() == 2


def test_seed_demo_rejects_a_bad_count():
    with pytest.raises(SystemExit):
        call_command("seed_demo", "--shoppers", "-1", verbosity=0)
