"""Page decorators. Like the API base views, each page runs in one transaction scoped to the
URL's merchant; outsiders get 404, missing permissions 403, anonymous users the login page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from liveshop.i18n import activate_merchant_default

from .access import access_merchant, merchant_get
from .permissions import Perm
from .scope import tenant_scope

View = Callable[..., HttpResponse]


def dashboard_view(perm: Perm = Perm.VIEW_DASHBOARD) -> Callable[[View], View]:
    """`/dashboard/<m>/…` pages: sets `request.actor` (the staff member in merchant m)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, m: str, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            actor = access_merchant(
                principal=request.user, slug=m, ip=request.META.get("REMOTE_ADDR")
            )
            actor.require(perm)
            request.actor = actor  # type: ignore[attr-defined]
            with tenant_scope(actor.merchant.id, user_id=request.user.pk):
                return view(request, *args, **kwargs)

        return wrapper

    return decorate


def storefront_view(view: View) -> View:
    """`/s/<m>/…` pages: sets `request.merchant`; public unless the view says otherwise."""

    @wraps(view)
    def wrapper(request: HttpRequest, m: str, *args: Any, **kwargs: Any) -> HttpResponse:
        merchant = merchant_get(m)
        request.merchant = merchant  # type: ignore[attr-defined]
        activate_merchant_default(request, merchant)
        user_id = request.user.pk if request.user.is_authenticated else None
        with tenant_scope(merchant.id, user_id=user_id):
            return view(request, *args, **kwargs)

    return wrapper
