"""Shared fixtures. Every test class has the cast of STYLE.md: `merchant` with its `owner`,
`admin`, `host` and `agent`; a `shopper`; and the `outsider` (staff of `other_merchant`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.utils import translation
from rest_framework.test import APIClient

from liveshop import ratelimit
from liveshop.accounts.services import token_issue
from liveshop.tenancy.models import Merchant
from tests.factories import PASSWORD, MembershipFactory, MerchantFactory, UserFactory


def _use_role(user: str, password: str) -> None:
    for conn in connections.all():
        conn.close()
        if hasattr(conn, "close_pool"):
            conn.close_pool()
        conn.settings_dict["USER"] = user
        conn.settings_dict["PASSWORD"] = password


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """On Postgres, tests run as the app role (no BYPASSRLS), like `make run`: row-level
    security is live for every test. Migrations and teardown run as the owner."""
    if not settings.DB_IS_POSTGRES:
        yield
        return
    from django.core.management import call_command

    from liveshop.tenancy.rls import rls_install

    owner = dict(connections["default"].settings_dict)
    with django_db_blocker.unblock():
        call_command("db_bootstrap", verbosity=0)
        rls_install(using="default")  # grants for the role, now that it surely exists
        _use_role(settings.LIVESHOP_DB_APP_ROLE, settings.LIVESHOP_DB_APP_PASSWORD)
    yield
    with django_db_blocker.unblock():
        _use_role(owner["USER"], owner["PASSWORD"])


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    yield
    ratelimit.reset_all()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """A page request leaves its language active in the thread (LocaleMiddleware does not
    undo it): the next test starts in the default language again."""
    yield
    translation.deactivate()


# --- the cast ---------------------------------------------------------------------------


@pytest.fixture
def merchant(db: Any) -> Merchant:
    return MerchantFactory.create(
        slug="acme", name="Acme Live", allowed_origins=["https://acme.example"]
    )


@pytest.fixture
def other_merchant(db: Any) -> Merchant:
    return MerchantFactory.create(slug="rivalco", name="Rival Co")


def _staff(merchant: Merchant, role: str, email: str) -> Any:
    return MembershipFactory(merchant=merchant, role=role, user=UserFactory(email=email)).user


@pytest.fixture
def owner(merchant: Merchant) -> Any:
    return _staff(merchant, "owner", "owner@acme.test")


@pytest.fixture
def admin(merchant: Merchant) -> Any:
    return _staff(merchant, "admin", "admin@acme.test")


@pytest.fixture
def host(merchant: Merchant) -> Any:
    return _staff(merchant, "host", "host@acme.test")


@pytest.fixture
def agent(merchant: Merchant) -> Any:
    return _staff(merchant, "agent", "agent@acme.test")


@pytest.fixture
def outsider(other_merchant: Merchant) -> Any:
    """The owner of another merchant: everything of `merchant` is 404 to them."""
    return _staff(other_merchant, "owner", "owner@rivalco.test")


@pytest.fixture
def shopper(db: Any) -> Any:
    return UserFactory(email="shopper@example.test", display_name="Sam Shopper")


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def api() -> Callable[..., APIClient]:
    """`api(user)` → an APIClient sending that user's bearer token; `api()` → anonymous;
    `api(key="lsk_…")` → a merchant API key."""

    def make(user: Any = None, *, key: str | None = None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)[1]}")
        elif key is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client

    return make


def error_code(response: Any) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every event published to a room, as (room key, stored event with seq and ts): the real
    writer still runs. Only what this test publishes, whatever the stream held before."""
    from rooms.realtime.engine import get_engine

    writer = get_engine().writer
    seen: list[tuple[str, dict[str, Any]]] = []
    original = writer.publish_sync

    def record(room: str, events: Any) -> Any:
        stored = original(room, events)
        seen.extend((room, dict(e)) for e in stored)
        return stored

    monkeypatch.setattr(writer, "publish_sync", record)
    return seen


def cache_clear_ours() -> None:
    """Empty this test run's cache. Django's RedisCache.clear() is FLUSHDB: on the shared Redis
    it would wipe other xdist workers' (and other people's) keys, so delete only our prefix."""
    from django.core.cache import cache
    from django.core.cache.backends.redis import RedisCache

    if not isinstance(cache, RedisCache):
        cache.clear()
        return
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    keys = list(client.scan_iter(match=cache.make_key("*"), count=1000))
    if keys:
        client.delete(*keys)
