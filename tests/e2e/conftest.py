"""Browser tests: Playwright drives Debian's Chromium (fake camera and microphone) against a
whole LiveShop stack started like `make run` (Postgres + Redis, seeded demo data).
Recipe: ../shared/research/browser-e2e.md. These run in the Postgres pass only."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings

from liveshop.ops.launch import Stack, stack_prepare

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROME_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--use-fake-device-for-media-stream",  # else getUserMedia → NotFoundError
    "--use-fake-ui-for-media-stream",  # else → NotAllowedError
    "--allow-loopback-in-peer-connection",  # WebRTC over 127.0.0.1 when lo is the only interface
    "--autoplay-policy=no-user-gesture-required",
]
PASSWORD = "liveshop-demo"


def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium (scripts/ensure_chromium.sh)"
        )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROME_ARGS}


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """One LiveShop stack per test worker, as `make run` starts it (auth and limits on)."""
    if not settings.DB_IS_POSTGRES:
        pytest.fail("browser tests run in the Postgres + Redis pass")
    db = settings.DATABASES["default"]
    postgres_url = f"postgres://{os.environ.get('LIVESHOP_TEST_PG_USER', 'postgres')}@{db['HOST']}:{db['PORT']}/postgres"
    stack = stack_prepare(
        postgres_url=postgres_url,
        redis_url=settings.REDIS_URL,
        extra_env={"LIVESHOP_ICE_LOOPBACK": "1"},
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.destroy()


@pytest.fixture(scope="session")
def base_url(stack: Stack) -> str:
    return stack.url


@pytest.fixture
def login(base_url: str) -> Callable[[Any, str], None]:
    """`login(page, "owner@demo.test")` signs in through the login page."""

    def do(page: Any, email: str, next_path: str = "/") -> None:
        page.goto(f"{base_url}/accounts/login/?next={next_path}")
        page.fill("input[name=username]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("domcontentloaded")

    return do
