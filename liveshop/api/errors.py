"""One error envelope for the whole API: `{"error": {"code", "message", "fields"?}}`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext
from rest_framework import exceptions
from rest_framework.response import Response

from liveshop.errors import DomainError


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
        return gettext("Invalid input.")
    if isinstance(detail, list):
        return _flatten_first(detail[0]) if detail else gettext("Invalid input.")
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
        code = str(exc.default_code)  # DRF's: not_authenticated, permission_denied, throttled…
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
