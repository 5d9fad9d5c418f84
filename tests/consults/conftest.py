"""Consult fixtures: agents online (presence as their console sets it), a product and a room
to ask from, and helpers to ask, accept and read consults the way the services do."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from commerce import stock_gate
from consults import services
from consults.models import Consult
from liveshop.tenancy.access import Actor, access_merchant
from liveshop.tenancy.scope import tenant_scope
from tests.factories import MembershipFactory, ProductFactory, RoomFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_gate() -> Iterator[None]:
    stock_gate.gate_reset()
    yield
    stock_gate.gate_reset()


def actor_of(user: Any, merchant: Any) -> Actor:
    return access_merchant(principal=user, slug=merchant.slug)


def go_online(user: Any, merchant: Any, **routing: Any) -> Any:
    return services.agent_presence_set(actor=actor_of(user, merchant), status="online", **routing)


@pytest.fixture
def product(merchant: Any) -> Any:
    return ProductFactory.create(merchant=merchant, name="Linen shirt", price=4500, stock=10)


@pytest.fixture
def room(merchant: Any, host: Any) -> Any:
    return RoomFactory.create(merchant=merchant, slug="launch", title="Launch", host=host)


@pytest.fixture
def agent2(merchant: Any) -> Any:
    return MembershipFactory(
        merchant=merchant, role="agent", user=UserFactory(email="agent2@acme.test")
    ).user


@pytest.fixture
def online_agent(merchant: Any, agent: Any) -> Any:
    """`agent`, online, speaking English, one consult at a time."""
    go_online(agent, merchant, languages=["en"], max_concurrent=1)
    return agent


def ask(merchant: Any, shopper: Any, **kw: Any) -> Consult:
    return services.consult_request(merchant=merchant, shopper=shopper, **kw).consult


def reload(consult: Consult) -> Consult:
    with tenant_scope(consult.merchant_id):
        return Consult.objects.select_related("agent", "shopper").get(pk=consult.pk)


def shopper_named(name: str) -> Any:
    return UserFactory(email=f"{name}@example.test", display_name=name.title())
