"""Opaque secrets (API tokens, API keys, invite links, stream keys): generated with `secrets`,
stored as SHA-256 only, compared through the hash index."""

from __future__ import annotations

import hashlib
import secrets


def opaque_new(prefix: str) -> str:
    """A new random secret such as `lst_3xY…` (256 bits of entropy)."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


def opaque_hash(raw: str) -> str:
    # High-entropy secrets need no slow KDF; SHA-256 lets us find the row by its hash.
    return hashlib.sha256(raw.encode()).hexdigest()
