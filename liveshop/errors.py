"""Domain errors raised by services. The API turns them into the contract's envelope
`{"error": {"code", "message", "fields"?}}`; WebSocket consumers into `error` frames."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields
        self.extra = extra


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PlanLimitReached(DomainError):
    """The merchant's plan does not allow more of a resource."""

    status = 403
    code = "plan_limit"


class NotAllowed(DomainError):
    status = 403
    code = "permission_denied"
