"""The sold-out gate: an in-process memory of variants seen at zero stock, so a flash-sale
stampede is refused before it costs a database transaction.

It only ever answers "sold out" for a variant this process saw at zero within the last
`TTL` seconds (from the committed result of a stock update), so it can delay a sale of
units that came back (expiry, cancellation) by at most that long, never oversell. Restocks
committed by this process reopen it at once. Each process keeps its own; no coordination is
needed because the database stays the single source of truth.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

TTL = 1.0

_lock = threading.Lock()
# Keyed by (merchant id, variant id): one merchant's gate never answers for another's ids.
_sold_out: dict[tuple[int, int], float] = {}  # → monotonic deadline
# (merchant, product) → (its only active variant, deadline): gates lines naming the product.
_single_variant: dict[tuple[int, int], tuple[int, float]] = {}
# (merchant, variant) → what to call it in a refusal ("Tee (red / S)").
_names: dict[tuple[int, int], str] = {}


def gate_closed(merchant_id: int, variant_id: int) -> bool:
    deadline = _sold_out.get((merchant_id, variant_id))
    return deadline is not None and deadline > time.monotonic()


def variant_for_product(merchant_id: int, product_id: int) -> int | None:
    entry = _single_variant.get((merchant_id, product_id))
    if entry is None or entry[1] <= time.monotonic():
        return None
    return entry[0]


def remember_single_variant(merchant_id: int, product_id: int, variant_id: int) -> None:
    if len(_single_variant) > 10_000:
        _single_variant.clear()
    _single_variant[(merchant_id, product_id)] = (variant_id, time.monotonic() + 10 * TTL)


def remember_name(merchant_id: int, variant_id: int, name: str) -> None:
    if len(_names) > 10_000:
        _names.clear()
    _names[(merchant_id, variant_id)] = name


def name_of(merchant_id: int, variant_id: int | None) -> str | None:
    return None if variant_id is None else _names.get((merchant_id, variant_id))


def stock_observed(merchant_id: int, levels: Iterable[tuple[int, int]]) -> None:
    """Committed stock levels (variant id, units): close the gate at 0, open it above."""
    deadline = time.monotonic() + TTL
    with _lock:
        for variant_id, stock in levels:
            if stock <= 0:
                _sold_out[(merchant_id, variant_id)] = deadline
            else:
                _sold_out.pop((merchant_id, variant_id), None)
        if len(_sold_out) > 10_000:  # bound memory: forget the stale ones
            now = time.monotonic()
            for key in [k for k, d in _sold_out.items() if d <= now]:
                del _sold_out[key]


def gate_reset() -> None:
    """Tests: forget everything."""
    with _lock:
        _sold_out.clear()
        _single_variant.clear()
        _names.clear()
