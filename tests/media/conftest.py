"""Media tests run relays and aiortc clients on loopback ICE (opt-in, tests only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from media.relay import passthrough


@pytest.fixture(autouse=True)
def _loopback_ice() -> Iterator[None]:
    was = passthrough.loopback_ice_enabled()
    passthrough.enable_loopback_ice()
    yield
    if not was:
        passthrough.disable_loopback_ice()
