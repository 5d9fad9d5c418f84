from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext, gettext_lazy
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

MAX_BODY_BYTES = 256 * 1024


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = gettext_lazy("Request body too large.")
    default_code = "too_large"


class BoundedJSONParser(JSONParser):
    """JSON bodies up to 256 KiB; larger bodies are refused before they are read."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        request = (parser_context or {}).get("request")
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        if length > MAX_BODY_BYTES:
            raise RequestTooLarge()
        data = super().parse(stream, media_type, parser_context)
        if contains_nul(data):
            # Postgres cannot store NUL in text or jsonb; no legitimate client sends one.
            raise exceptions.ParseError(gettext("Text may not contain NUL characters."))
        return data


def contains_nul(value: Any) -> bool:
    """Whether a parsed JSON value holds a NUL character in any string, key included."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False
