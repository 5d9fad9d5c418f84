"""Storefront pages (mobile first)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from liveshop.tenancy.decorators import storefront_view


@storefront_view
def storefront_home(request: HttpRequest) -> HttpResponse:
    return render(request, "storefront/home.html", {"merchant": request.merchant})  # type: ignore[attr-defined]
