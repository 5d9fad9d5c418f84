"""The compiled catalogs the i18n tests read. `make test` compiles them first (`make
messages`); a bare `pytest` run compiles them here when a .po is newer than its .mo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils.translation import trans_real

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"


def _stale() -> bool:
    for po in LOCALE_DIR.glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            return True
    return False


@pytest.fixture(scope="session")
def compiled_messages() -> Iterator[None]:
    if _stale():
        call_command("compilemessages", verbosity=0, ignore_patterns=[".venv"])
        trans_real._translations = {}  # drop catalogs loaded before the compile
        trans_real._default = None
    yield
