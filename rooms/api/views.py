"""Rooms API: merchant side `/api/v1/merchants/<m>/rooms[/<slug>]`, shopper side
`/api/v1/s/<m>/rooms[/<room>]`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from commerce import selectors as commerce_selectors
from liveshop.api.views import MerchantAPIView, StorefrontAPIView
from liveshop.tenancy.permissions import Perm

from .. import selectors, services
from ..models import Room
from .serializers import LineupIn, RoomDetailOut, RoomIn, RoomOut

ROOM_INPUT = {"slug", "title", "description", "cover", "scheduled_at", "host", "products"}


def _room_data(request: Request, *, partial: bool) -> tuple[dict[str, Any], list[Any] | None]:
    if not isinstance(request.data, Mapping):
        raise exceptions.ValidationError({"non_field_errors": [gettext("Send a JSON object.")]})
    unknown = set(request.data) - ROOM_INPUT
    if unknown:
        raise ValidationError({k: [gettext("Unknown field.")] for k in sorted(unknown)})
    parsed = RoomIn(data=request.data, partial=partial)
    parsed.is_valid(raise_exception=True)
    data = dict(parsed.validated_data)
    products = data.pop("products", None)
    return data, products


class RoomListView(MerchantAPIView):
    """Rooms. POST creates one (scheduled); `products` sets its line-up."""

    required_perms = {"GET": Perm.VIEW_DASHBOARD, "POST": Perm.MANAGE_ROOMS}
    serializer_class = RoomOut
    queryset = Room.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=RoomOut(many=True))
    def get(self, request: Request, m: str) -> Response:
        page = self.paginate_queryset(selectors.room_list(merchant=self.merchant))
        return self.get_paginated_response(RoomOut(page, many=True).data)

    @extend_schema(request=RoomIn, responses={201: RoomOut})
    def post(self, request: Request, m: str) -> Response:
        data, products = _room_data(request, partial=False)
        room = services.room_create(actor=self.actor, data=data)
        if products is not None:
            services.room_lineup_set(actor=self.actor, room=room, product_ids=products)
        room = selectors.room_get(merchant=self.merchant, slug=room.slug)
        return Response(RoomOut(room).data, status=status.HTTP_201_CREATED)


class RoomDetailView(MerchantAPIView):
    required_perms = {
        "GET": Perm.VIEW_DASHBOARD,
        "PATCH": Perm.MANAGE_ROOMS,
        "DELETE": Perm.MANAGE_ROOMS,
    }
    serializer_class = RoomOut

    def _room(self, slug: str) -> Room:
        return selectors.room_get(merchant=self.merchant, slug=slug)

    def get(self, request: Request, m: str, slug: str) -> Response:
        return Response(RoomOut(self._room(slug)).data)

    @extend_schema(request=RoomIn(partial=True), responses={200: RoomOut})
    def patch(self, request: Request, m: str, slug: str) -> Response:
        data, products = _room_data(request, partial=True)
        room = services.room_update(actor=self.actor, room=self._room(slug), data=data)
        if products is not None:
            services.room_lineup_set(actor=self.actor, room=room, product_ids=products)
        return Response(RoomOut(self._room(room.slug)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, m: str, slug: str) -> Response:
        services.room_delete(actor=self.actor, room=self._room(slug))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomLineupView(MerchantAPIView):
    """Replace the line-up: product ids in the host's order."""

    required_perms = {"PUT": Perm.MANAGE_ROOMS}
    serializer_class = RoomOut

    @extend_schema(request=LineupIn, responses={200: RoomOut})
    def put(self, request: Request, m: str, slug: str) -> Response:
        room = selectors.room_get(merchant=self.merchant, slug=slug)
        if not isinstance(request.data, Mapping):
            raise exceptions.ValidationError({"non_field_errors": [gettext("Send a JSON object.")]})
        services.room_lineup_set(
            actor=self.actor,
            room=room,
            product_ids=request.data.get("products"),  # type: ignore[arg-type]
        )
        return Response(RoomOut(selectors.room_get(merchant=self.merchant, slug=slug)).data)


class RoomGoLiveView(MerchantAPIView):
    """Start the show. Refused (403 `plan_limit`) beyond the plan's rooms live at once."""

    required_perms = {"POST": Perm.HOST_ROOMS}
    serializer_class = RoomOut

    @extend_schema(request=None, responses={200: RoomOut})
    def post(self, request: Request, m: str, slug: str) -> Response:
        room = services.room_go_live(
            actor=self.actor, room=selectors.room_get(merchant=self.merchant, slug=slug)
        )
        return Response(RoomOut(selectors.room_get(merchant=self.merchant, slug=room.slug)).data)


class RoomEndView(MerchantAPIView):
    required_perms = {"POST": Perm.HOST_ROOMS}
    serializer_class = RoomOut

    @extend_schema(request=None, responses={200: RoomOut})
    def post(self, request: Request, m: str, slug: str) -> Response:
        room = services.room_end(
            actor=self.actor, room=selectors.room_get(merchant=self.merchant, slug=slug)
        )
        return Response(RoomOut(selectors.room_get(merchant=self.merchant, slug=room.slug)).data)


class StorefrontRoomListView(StorefrontAPIView):
    """Live rooms first, then upcoming ones."""

    serializer_class = RoomOut
    queryset = Room.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=RoomOut(many=True), auth=[])
    def get(self, request: Request, m: str) -> Response:
        page = self.paginate_queryset(selectors.storefront_rooms(merchant=self.merchant))
        return self.get_paginated_response(RoomOut(page, many=True).data)


class StorefrontRoomDetailView(StorefrontAPIView):
    """A room with the products of its line-up (active ones, with live stock)."""

    serializer_class = RoomDetailOut

    @extend_schema(auth=[])
    def get(self, request: Request, m: str, room: str) -> Response:
        found = selectors.room_get(merchant=self.merchant, slug=room)
        ids = [entry.product_id for entry in found.lineup.all()]
        products = {
            p.pk: p
            for p in commerce_selectors.product_list(
                merchant=self.merchant, active_only=True, ids=ids
            )
        }
        lineup = [products[pid] for pid in ids if pid in products]
        return Response(
            RoomDetailOut(found, context={"merchant": self.merchant, "lineup": lineup}).data
        )
