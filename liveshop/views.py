"""Platform pages: the landing page, health check and error pages (JSON under /api/)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache

from liveshop.api.errors import envelope
from liveshop.tenancy.models import Merchant


def landing(request: HttpRequest) -> HttpResponse:
    demos = Merchant.objects.filter(slug__in=["demo", "rival"], is_active=True).order_by("slug")
    return render(request, "landing.html", {"demos": demos})


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse(
        {"ok": True, "database": connection.vendor, "redis": bool(settings.REDIS_URL)}
    )


def _error(request: HttpRequest, status: int, code: str, message: str, title: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(envelope(code, message), status=status)
    return render(
        request, "error.html", {"status": status, "title": title, "message": message}, status=status
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400, "bad_request", gettext("Bad request."), gettext("Bad request"))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = (
        str(exception)
        if exception and str(exception)
        else gettext("You do not have permission to do this.")
    )
    return _error(request, 403, "permission_denied", message, gettext("Not allowed"))


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "not_found", gettext("Not found."), gettext("Page not found"))


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(
            envelope("server_error", gettext("Something went wrong on our side.")), status=500
        )
    return HttpResponse(
        "<!doctype html><title>{}</title><h1>{}</h1><p>{}</p>".format(
            gettext("Server error"),
            gettext("Something went wrong"),
            gettext("We have been told. Please try again."),
        ),
        status=500,
    )
