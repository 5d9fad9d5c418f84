"""Standard Webhooks (https://www.standardwebhooks.com/) signing and verification.

Headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
(space-separated `v1,<base64 HMAC-SHA256>` entries). The signed content is
`"{id}.{timestamp}.{body}"`; the key is the base64 part of the `whsec_…` secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass

SECRET_PREFIX = "whsec_"
MAX_ID_LENGTH = 100


class WebhookVerificationError(Exception):
    """The request is not a fresh, correctly signed webhook. `code` says which check failed."""

    def __init__(self, message: str, code: str = "webhook_invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class VerifiedWebhook:
    webhook_id: str
    timestamp: int
    body: bytes


def _key(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(raw)


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for this message."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers_for(secret: str, webhook_id: str, body: bytes, timestamp: int | None = None) -> dict:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, webhook_id, ts, body),
        "content-type": "application/json",
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> VerifiedWebhook:
    """Check the signature and the timestamp window. `headers` keys are lower-case."""
    webhook_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not webhook_id or not stamp or not signatures:
        raise WebhookVerificationError(
            "Missing webhook-id, webhook-timestamp or webhook-signature header.", "webhook_headers"
        )
    if len(webhook_id) > MAX_ID_LENGTH:
        raise WebhookVerificationError("webhook-id is too long.", "webhook_headers")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError(
            "webhook-timestamp is not an integer.", "webhook_timestamp"
        ) from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is more than {tolerance} s away from now.", "webhook_timestamp"
        )
    expected = sign(secret, webhook_id, timestamp, body).split(",", 1)[1]
    for entry in signatures.split(" ")[:10]:
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return VerifiedWebhook(webhook_id=webhook_id, timestamp=timestamp, body=body)
    raise WebhookVerificationError("No valid webhook signature.", "webhook_signature")
