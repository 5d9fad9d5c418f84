"""Rate limits on the `limits` library: sliding-window counters in Redis when configured,
process memory otherwise. One place builds limiters for HTTP (sync) and WebSockets (async).

Rates are written like DRF's: "20/min", "5/s", "1000/hour", "2/10s" (2 per 10 seconds).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import limits
from django.conf import settings
from limits.aio import strategies as aio_strategies
from limits.storage import storage_from_string

_UNITS = {
    "s": "second",
    "sec": "second",
    "second": "second",
    "seconds": "second",
    "m": "minute",
    "min": "minute",
    "minute": "minute",
    "minutes": "minute",
    "h": "hour",
    "hour": "hour",
    "hours": "hour",
    "d": "day",
    "day": "day",
    "days": "day",
}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


def rate_parse(rate: str) -> limits.RateLimitItem:
    match = _RATE_RE.match(rate.lower())
    if not match or match.group(3) not in _UNITS:
        raise ValueError(f"bad rate {rate!r}: use e.g. 20/min, 5/s, 2/10s")
    amount, multiples, unit = match.groups()
    return limits.parse(f"{amount} per {multiples or 1} {_UNITS[unit]}")


def _storage_uri(asynchronous: bool) -> str:
    redis_url: str = settings.REDIS_URL
    if not redis_url:
        return "async+memory://" if asynchronous else "memory://"
    return ("async+" if asynchronous else "") + redis_url


T = TypeVar("T")


class _once(Generic[T]):
    """`functools.cache` for a zero-argument builder, built under a lock: the first requests
    after start-up arrive on several threads at once, and each would otherwise build (and
    half-initialise) its own storage."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: T | None = None

    def __call__(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value

    def cache_clear(self) -> None:
        with self._lock:
            self._value = None


@_once
def _sync_limiter() -> limits.strategies.RateLimiter:
    storage = storage_from_string(
        _storage_uri(False), key_prefix=f"{settings.LIVESHOP_REDIS_PREFIX}:rl"
    )
    return limits.strategies.SlidingWindowCounterRateLimiter(storage)


@_once
def _async_limiter() -> aio_strategies.RateLimiter:
    options: dict[str, str] = {"key_prefix": f"{settings.LIVESHOP_REDIS_PREFIX}:rl"}
    if settings.REDIS_URL:
        # limits' async Redis storage defaults to coredis, which we do not install; redis-py's
        # asyncio client is the one we have.
        options["implementation"] = "redispy"
    storage = storage_from_string(_storage_uri(True), **options)
    return aio_strategies.SlidingWindowCounterRateLimiter(storage)  # type: ignore[arg-type]


@_once
def _local_limiter() -> limits.strategies.RateLimiter:
    return limits.strategies.SlidingWindowCounterRateLimiter(storage_from_string("memory://"))


def local_hit(rate: limits.RateLimitItem, *key: str, cost: int = 1) -> bool:
    """Like `hit`, always in process memory: for keys only this process sees (one socket)."""
    return _local_limiter().hit(rate, *key, cost=cost)


def hit(rate: limits.RateLimitItem, *key: str, cost: int = 1) -> bool:
    """Count one event against `rate` for `key`; False when over the limit."""
    return _sync_limiter().hit(rate, *key, cost=cost)


def retry_after(rate: limits.RateLimitItem, *key: str) -> float:
    reset, _remaining = _sync_limiter().get_window_stats(rate, *key)
    return max(0.0, reset - time.time())


async def ahit(rate: limits.RateLimitItem, *key: str, cost: int = 1) -> bool:
    return await _async_limiter().hit(rate, *key, cost=cost)


def reset_all() -> None:
    """Tests: forget every counter."""
    _sync_limiter().storage.reset()
    _sync_limiter.cache_clear()
    _async_limiter.cache_clear()
    _local_limiter().storage.reset()
    _local_limiter.cache_clear()
