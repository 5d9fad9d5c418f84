"""One error envelope for the whole API: `{"error": {"code", "message", "fields"?}}`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from liveshop.errors import DomainError

_CODES = {
    status.HTTP_400_BAD_REQUEST: "invalid",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def envelope(code: str, message: str, fields: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    body.update(extra)
    return {"error": body}


def _flatten_first(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            text = _flatten_first(value)
            return text if key in ("non_field_errors", "detail") else f"{key}: {text}"
        return "Invalid input."
    if isinstance(detail, list):
        return _flatten_first(detail[0]) if detail else "Invalid input."
    return str(detail)


def _fields(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {k: _fields(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_fields(v) for v in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        body = envelope(exc.code, exc.message, exc.fields, **exc.extra)
        response = Response(body, status=exc.status)
    elif isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        response = Response(
            envelope("invalid", _flatten_first(detail), _fields(detail)), status=400
        )
    else:
        if isinstance(exc, Http404):
            exc = exceptions.NotFound()
        elif isinstance(exc, DjangoPermissionDenied):
            exc = exceptions.PermissionDenied()
        if not isinstance(exc, exceptions.APIException):
            return None  # a real bug: Django's 500 handler answers with the envelope
        code = _CODES.get(exc.status_code, "error")
        if isinstance(exc, exceptions.AuthenticationFailed):
            code = "authentication_failed"
        elif isinstance(exc, exceptions.ParseError):
            code = "parse_error"
        if isinstance(exc, exceptions.ValidationError):
            fields: Any = (
                exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            )
            body = envelope("invalid", _flatten_first(fields), _fields(fields))
        else:
            body = envelope(code, _flatten_first(exc.detail))
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait) + 1)  # type: ignore[attr-defined]
        response = Response(body, status=exc.status_code, headers=headers)
    return response
