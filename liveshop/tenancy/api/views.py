"""Merchant-side tenancy API: the merchant itself, staff, invites, API keys, audit log."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from liveshop.api.authentication import ApiKeyPrincipal
from liveshop.api.views import MerchantAPIView, TransactionalAPIView

from .. import selectors, services
from ..models import ApiKey, AuditEvent, Membership, Merchant, StaffInvite
from ..permissions import Perm
from .serializers import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    AuditEventOut,
    InviteIn,
    InviteOut,
    MembershipOut,
    MerchantIn,
    MerchantOut,
    MerchantSignupIn,
    RoleIn,
)


class MerchantListView(TransactionalAPIView):
    """Merchants you are staff of; POST signs up a new merchant with you as its owner."""

    serializer_class = MerchantOut
    queryset = Merchant.objects.none()

    def _person(self, request: Request) -> Any:
        if isinstance(request.user, ApiKeyPrincipal):
            raise exceptions.PermissionDenied("API keys act for a merchant, not a person.")
        return request.user

    @extend_schema(responses={200: MerchantOut(many=True)})
    def get(self, request: Request) -> Response:
        rows = selectors.merchants_of_user(user_id=self._person(request).pk)
        page: Any = self.paginate_queryset([m for m, _role in rows])  # type: ignore[arg-type]
        return self.get_paginated_response(MerchantOut(page, many=True).data)

    @extend_schema(request=MerchantSignupIn, responses={201: MerchantOut})
    def post(self, request: Request) -> Response:
        data = MerchantSignupIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["timezone_name"] = values.pop("timezone", "UTC")
        merchant = services.merchant_signup(user=self._person(request), **values)
        return Response(MerchantOut(merchant).data, status=status.HTTP_201_CREATED)


class MerchantDetailView(MerchantAPIView):
    required_perms = {"GET": Perm.VIEW_DASHBOARD, "PATCH": Perm.MANAGE_SETTINGS}
    serializer_class = MerchantOut

    def get(self, request: Request, m: str) -> Response:
        return Response(MerchantOut(self.merchant).data)

    @extend_schema(request=MerchantIn, responses={200: MerchantOut})
    def patch(self, request: Request, m: str) -> Response:
        data = MerchantIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        merchant = services.merchant_update(actor=self.actor, **data.validated_data)
        return Response(MerchantOut(merchant).data)


class StaffListView(mixins.ListModelMixin, MerchantAPIView):
    required_perms = {"GET": Perm.VIEW_DASHBOARD}
    serializer_class = MembershipOut
    queryset = Membership.objects.none()

    def merchant_queryset(self) -> Any:
        return selectors.staff_list(merchant=self.merchant)

    def get(self, request: Request, m: str) -> Response:
        return self.list(request)


class StaffDetailView(MerchantAPIView):
    required_perms = {
        "GET": Perm.VIEW_DASHBOARD,
        "PATCH": Perm.MANAGE_STAFF,
        "DELETE": Perm.MANAGE_STAFF,
    }
    serializer_class = MembershipOut

    def get(self, request: Request, m: str, membership_id: int) -> Response:
        return Response(
            MembershipOut(
                selectors.staff_get(merchant=self.merchant, membership_id=membership_id)
            ).data
        )

    @extend_schema(request=RoleIn, responses={200: MembershipOut})
    def patch(self, request: Request, m: str, membership_id: int) -> Response:
        membership = selectors.staff_get(merchant=self.merchant, membership_id=membership_id)
        data = RoleIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.membership_change_role(
            actor=self.actor, membership=membership, role=data.validated_data["role"]
        )
        return Response(MembershipOut(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, m: str, membership_id: int) -> Response:
        membership = selectors.staff_get(merchant=self.merchant, membership_id=membership_id)
        services.membership_remove(actor=self.actor, membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InviteListView(mixins.ListModelMixin, MerchantAPIView):
    required_perms = {"GET": Perm.MANAGE_STAFF, "POST": Perm.MANAGE_STAFF}
    serializer_class = InviteOut
    queryset = StaffInvite.objects.none()

    def merchant_queryset(self) -> Any:
        return selectors.invites_list(merchant=self.merchant)

    def get(self, request: Request, m: str) -> Response:
        return self.list(request)

    @extend_schema(request=InviteIn, responses={201: InviteOut})
    def post(self, request: Request, m: str) -> Response:
        data = InviteIn(data=request.data)
        data.is_valid(raise_exception=True)
        invite, _raw = services.invite_create(actor=self.actor, **data.validated_data)
        return Response(InviteOut(invite).data, status=status.HTTP_201_CREATED)


class InviteDetailView(MerchantAPIView):
    required_perms = {"DELETE": Perm.MANAGE_STAFF}

    @extend_schema(responses={204: None})
    def delete(self, request: Request, m: str, invite_id: int) -> Response:
        services.invite_revoke(actor=self.actor, invite_id=invite_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyListView(mixins.ListModelMixin, MerchantAPIView):
    required_perms = {"GET": Perm.MANAGE_KEYS, "POST": Perm.MANAGE_KEYS}
    serializer_class = ApiKeyOut
    queryset = ApiKey.objects.none()

    def merchant_queryset(self) -> Any:
        return selectors.api_keys_list(merchant=self.merchant)

    def get(self, request: Request, m: str) -> Response:
        return self.list(request)

    @extend_schema(request=ApiKeyIn, responses={201: ApiKeyCreatedOut})
    def post(self, request: Request, m: str) -> Response:
        data = ApiKeyIn(data=request.data)
        data.is_valid(raise_exception=True)
        key, raw = services.api_key_create(actor=self.actor, **data.validated_data)
        return Response({**ApiKeyOut(key).data, "key": raw}, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(MerchantAPIView):
    required_perms = {"DELETE": Perm.MANAGE_KEYS}

    @extend_schema(responses={204: None})
    def delete(self, request: Request, m: str, key_id: int) -> Response:
        key = selectors.api_key_get(merchant=self.merchant, key_id=key_id)
        services.api_key_revoke(actor=self.actor, key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditLogView(mixins.ListModelMixin, MerchantAPIView):
    required_perms = {"GET": Perm.VIEW_AUDIT}
    serializer_class = AuditEventOut
    queryset = AuditEvent.objects.none()

    def merchant_queryset(self) -> Any:
        action = str(self.request.query_params.get("action", ""))[:60] or None
        return selectors.audit_list(merchant=self.merchant, action=action)

    @extend_schema(
        parameters=[OpenApiParameter("action", str, description="Action prefix, e.g. `staff.`")]
    )
    def get(self, request: Request, m: str) -> Response:
        return self.list(request)
