"""API throttling on `limits` (sliding windows, Redis when configured).

Keyed per account where there is one (user or API key), per IP before login. Rates come from
`LIVESHOP_THROTTLES` (`scope=rate` pairs); an API key's rate is its merchant plan's.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import limits
from django.conf import settings
from rest_framework.throttling import BaseThrottle

from liveshop import ratelimit


@cache
def _rate(rate: str) -> limits.RateLimitItem:
    return ratelimit.rate_parse(rate)


def client_ip(request: Any) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")


class AccountRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def _key_rate(self, request: Any, view: Any) -> tuple[str, str, str | None]:
        rates = settings.LIVESHOP_THROTTLES
        scope = getattr(view, "throttle_scope", None)
        key = getattr(request.user, "key", None)
        if scope:
            who = (
                f"user:{request.user.pk}"
                if getattr(request.user, "pk", None)
                else f"ip:{client_ip(request)}"
            )
            return scope, who, rates.get(scope)
        if key is not None:
            return "apikey", f"key:{key.pk}", f"{key.merchant.plan.api_rate_per_min}/min"
        if request.user is not None and request.user.is_authenticated:
            return "user", f"user:{request.user.pk}", rates.get("user")
        return "anon", f"ip:{client_ip(request)}", rates.get("anon")

    def allow_request(self, request: Any, view: Any) -> bool:
        scope, who, rate = self._key_rate(request, view)
        if not rate:
            return True
        item = _rate(rate)
        if ratelimit.hit(item, scope, who):
            return True
        self._wait = ratelimit.retry_after(item, scope, who)
        return False

    def wait(self) -> float | None:
        return self._wait
