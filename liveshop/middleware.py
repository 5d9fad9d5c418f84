"""Edge guards that apply to every request."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from liveshop.api.errors import envelope


class RejectNulMiddleware:
    """A NUL character in the path or query string is never legitimate, and Postgres cannot
    store one in a text column: answer 400 at the edge instead of failing deep inside."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in raw or "\x00" in unquote(raw):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    envelope("invalid", "NUL characters are not allowed."), status=400
                )
            return HttpResponseBadRequest("NUL characters are not allowed.")
        return self.get_response(request)
