"""Rate limits on the `limits` library: sliding-window counters in Redis when configured,
process memory otherwise. One place builds limiters for HTTP (sync) and WebSockets (async).

Rates are written like DRF's: "20/min", "5/s", "1000/hour", "2/10s" (2 per 10 seconds).
"""

from __future__ import annotations

import re
import time
from functools import cache

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


@cache
def _sync_limiter() -> limits.strategies.RateLimiter:
    storage = storage_from_string(
        _storage_uri(False), key_prefix=f"{settings.LIVESHOP_REDIS_PREFIX}:rl"
    )
    return limits.strategies.SlidingWindowCounterRateLimiter(storage)


@cache
def _async_limiter() -> aio_strategies.RateLimiter:
    options: dict[str, str] = {"key_prefix": f"{settings.LIVESHOP_REDIS_PREFIX}:rl"}
    if settings.REDIS_URL:
        # limits' async Redis storage defaults to coredis, which we do not install; redis-py's
        # asyncio client is the one we have.
        options["implementation"] = "redispy"
    storage = storage_from_string(_storage_uri(True), **options)
    return aio_strategies.SlidingWindowCounterRateLimiter(storage)  # type: ignore[arg-type]


def hit(rate: limits.RateLimitItem, *key: str, cost: int = 1) -> bool:
    """Count one event against `rate` for `key`; False when over the limit."""
    return _sync_limiter().hit(rate, *key, cost=cost)


def retry_after(rate: limits.RateLimitItem, *key: str) -> float:
    reset, _remaining = _sync_limiter().get_window_stats(rate, *key)
    return max(0.0, reset - time.time())


async def ahit(rate: limits.RateLimitItem, *key: str, cost: int = 1) -> bool:
    return await _async_limiter().hit(rate, *key, cost=cost)


@cache
def _local_async_limiter() -> aio_strategies.RateLimiter:
    storage = storage_from_string("async+memory://")
    return aio_strategies.SlidingWindowCounterRateLimiter(storage)  # type: ignore[arg-type]


async def ahit_local(rate: limits.RateLimitItem, *key: str, cost: int = 1) -> bool:
    """`ahit` counted in this process only, with no Redis round trip: for budgets checked on
    every frame of a socket, where a per-process count is enough (a flood arrives on one
    socket, in one process)."""
    return await _local_async_limiter().hit(rate, *key, cost=cost)


def reset_all() -> None:
    """Tests: forget every counter."""
    _sync_limiter().storage.reset()
    _sync_limiter.cache_clear()
    _async_limiter.cache_clear()
    _local_async_limiter.cache_clear()
