"""Join tokens: how a party proves, in the consult socket's `auth` frame, that it may join.

A token is signed with the project's SECRET_KEY (Django's TimestampSigner, its own salt) and
names the merchant, the consult, the user, their party and their grants (`publish`,
`subscribe`). It expires after LIVESHOP_CONSULTS["JOIN_TOKEN_TTL_S"] (at most 2 minutes),
is refused for any other consult, and works once: its nonce is burnt in the cache (Redis in
production) on first use, so a leaked token cannot open a second socket. Parties fetch a
fresh token for every (re)connection from the API.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.utils import timezone

SALT = "liveshop.consults.join"
PARTIES = ("shopper", "agent", "supervisor")
GRANTS = {
    "shopper": ("publish", "subscribe"),
    "agent": ("publish", "subscribe"),
    # A silent supervisor watches and listens; nothing it does reaches the call.
    "supervisor": ("subscribe",),
}
MAX_TOKEN_LENGTH = 400


def token_ttl() -> int:
    return min(120, int(settings.LIVESHOP_CONSULTS["JOIN_TOKEN_TTL_S"]))


@dataclass(frozen=True)
class JoinToken:
    token: str
    expires_at: Any
    party: str
    grants: tuple[str, ...]


@dataclass(frozen=True)
class JoinClaim:
    """What a valid token says."""

    merchant_id: int
    consult: str  # public id
    user_id: int
    party: str
    grants: tuple[str, ...]
    nonce: str


def join_token_issue(*, merchant_id: int, consult: str, user_id: int, party: str) -> JoinToken:
    if party not in PARTIES:
        raise ValueError(f"unknown party {party!r}")
    grants = GRANTS[party]
    payload = {
        "m": merchant_id,
        "c": consult,
        "u": user_id,
        "p": party,
        "g": list(grants),
        "n": secrets.token_urlsafe(12),
    }
    token = signing.dumps(payload, salt=SALT, compress=False)
    return JoinToken(
        token=token,
        expires_at=timezone.now() + timedelta(seconds=token_ttl()),
        party=party,
        grants=grants,
    )


def join_token_read(raw: Any, *, merchant_id: int, consult: str) -> JoinClaim | None:
    """The claim of a valid, unexpired token for exactly this merchant and consult, or None.
    Does not burn it (see `join_token_burn`)."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    try:
        data = signing.loads(raw, salt=SALT, max_age=token_ttl())
    except signing.BadSignature:  # SignatureExpired is a BadSignature too
        return None
    if not isinstance(data, dict):
        return None
    try:
        claim = JoinClaim(
            merchant_id=int(data["m"]),
            consult=str(data["c"]),
            user_id=int(data["u"]),
            party=str(data["p"]),
            grants=tuple(str(g) for g in data["g"]),
            nonce=str(data["n"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    if claim.merchant_id != merchant_id or claim.consult != consult:
        return None  # a token for another consult (or merchant) opens nothing here
    if claim.party not in PARTIES or not set(claim.grants) <= set(GRANTS[claim.party]):
        return None
    return claim


def join_token_burn(claim: JoinClaim) -> bool:
    """Mark the token used; False if it was used before."""
    return bool(cache.add(f"consults:jt:{claim.nonce}", 1, timeout=token_ttl() + 5))
