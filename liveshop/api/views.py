"""Base API views. Every tenant endpoint runs in one transaction scoped to its merchant
(Postgres RLS, see tenancy/scope.py); the merchant comes from the URL, never the body."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from rest_framework import generics, permissions
from rest_framework.request import Request

from liveshop.tenancy.access import Actor, access_merchant, merchant_get
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.permissions import Perm
from liveshop.tenancy.scope import tenant_scope

from .throttling import client_ip


class TransactionalAPIView(generics.GenericAPIView):
    """Runs the whole request in one transaction; a failed request keeps nothing it wrote."""

    _scopes: ExitStack

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        with ExitStack() as stack:
            self._scopes = stack
            stack.enter_context(transaction.atomic())
            return super().dispatch(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Any:
        response = super().handle_exception(exc)
        transaction.set_rollback(True)  # nothing a failed request wrote survives it
        return response

    def enter_tenant(self, merchant: Merchant, user_id: int | None) -> None:
        # The top of this request's own transaction: no savepoint needed.
        self._scopes.enter_context(tenant_scope(merchant.id, user_id=user_id, savepoint=False))


class MerchantAPIView(TransactionalAPIView):
    """`/api/v1/merchants/<m>/…`: staff and API keys of merchant `m` only.

    Anonymous → 401; anyone not of `m` → 404 for every method and path (before 405);
    staff whose role lacks `required_perms[method]` → 403."""

    required_perms: dict[str, Perm] = {}
    actor: Actor
    # List/detail views set `queryset = Model.objects.none()` (for the schema); the rows they
    # read come from `merchant_queryset()`, which always filters by `self.merchant`.
    queryset: Any = None

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request
            return self.queryset
        return self.merchant_queryset()

    def merchant_queryset(self) -> Any:
        """The view's model, this merchant's rows only. Override to narrow or annotate."""
        model = getattr(self.queryset, "model", None)
        if model is None:
            raise ImproperlyConfigured(f"{type(self).__name__} sets no queryset to list")
        return model.objects.filter(merchant=self.merchant)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, IsAuthenticated, throttles
        self.actor = access_merchant(
            principal=request.user, slug=kwargs["m"], ip=client_ip(request)
        )
        self.enter_tenant(self.actor.merchant, getattr(request.user, "pk", None))
        perm = self.required_perms.get(request.method or "GET")
        if perm is None and request.method in ("HEAD", "OPTIONS"):
            perm = self.required_perms.get("GET")
        if perm is not None:
            self.actor.require(perm)

    @property
    def merchant(self) -> Merchant:
        return self.actor.merchant


class StorefrontAPIView(TransactionalAPIView):
    """`/api/v1/s/<m>/…`: the shopper side of merchant `m`. Reads are public by default."""

    permission_classes = [permissions.AllowAny]
    merchant: Merchant

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.merchant = merchant_get(kwargs["m"])
        self.enter_tenant(self.merchant, getattr(request.user, "pk", None))
