"""Live selling API: the merchant's pin / unpin, flash sales, one-click moderation and the
show's counters (`/api/v1/merchants/<m>/rooms/<slug>/…`, for the host console's buttons
when the socket is not at hand); the shopper's flash-sale waitlist
(`/api/v1/s/<m>/rooms/<room>/waitlist`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from commerce.api.views import ShopperAPIView
from liveshop.api.views import MerchantAPIView
from liveshop.tenancy.permissions import Perm

from .. import moderation, selectors, selling
from ..protocol import CLIENT_FRAMES


def _body(request: Request) -> Mapping[str, Any]:
    if not isinstance(request.data, Mapping):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
    return request.data


class StatsOut(serializers.Serializer):
    viewers = serializers.IntegerField()
    likes = serializers.IntegerField()
    gifts = serializers.IntegerField()
    coins = serializers.IntegerField()
    orders = serializers.IntegerField()
    gmv = serializers.IntegerField()
    currency = serializers.CharField()


class PinIn(serializers.Serializer):
    product = serializers.IntegerField(min_value=1)


class CardOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    price = serializers.IntegerField()
    currency = serializers.CharField()
    images = serializers.ListField(child=serializers.CharField())
    variants = serializers.ListField(child=serializers.DictField())
    stock = serializers.IntegerField()


class FlashSaleIn(serializers.Serializer):
    product = serializers.IntegerField(min_value=1)
    variant = serializers.IntegerField(min_value=1, required=False)
    price = serializers.IntegerField(min_value=0)
    units = serializers.IntegerField(min_value=1, max_value=selling.SALE_MAX_UNITS)
    duration_s = serializers.IntegerField(
        min_value=selling.SALE_MIN_S, max_value=selling.SALE_MAX_S
    )


class SaleOut(serializers.Serializer):
    id = serializers.IntegerField()
    product = serializers.IntegerField()
    variant = serializers.IntegerField()
    price = serializers.IntegerField()
    units = serializers.IntegerField()
    remaining = serializers.IntegerField()
    ends_at = serializers.IntegerField(help_text="Epoch milliseconds")
    status = serializers.CharField()


class ModerateIn(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=CLIENT_FRAMES["moderate"]["properties"]["action"]["enum"]
    )
    seq = serializers.IntegerField(min_value=1, required=False)
    user = serializers.IntegerField(min_value=1, required=False)
    seconds = serializers.IntegerField(min_value=0, max_value=30 * 24 * 3600, required=False)
    scope = serializers.ChoiceField(choices=["room", "merchant"], required=False)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


class WaitlistOut(serializers.Serializer):
    sale = SaleOut(allow_null=True)
    status = serializers.ChoiceField(
        choices=["none", "waiting", "offered", "bought", "lapsed", "closed"]
    )
    position = serializers.IntegerField(allow_null=True)
    offer_expires_at = serializers.IntegerField(allow_null=True, help_text="Epoch milliseconds")


class RoomStatsView(MerchantAPIView):
    """This show's counters for the host console: viewers now, likes, and gifts, coins,
    paid orders and GMV since the room went live."""

    required_perms = {"GET": Perm.VIEW_DASHBOARD}
    serializer_class = StatsOut

    def get(self, request: Request, m: str, slug: str) -> Response:
        room = selectors.room_get(merchant=self.merchant, slug=slug)
        return Response(selling.room_stats(merchant=self.merchant, room=room))


class RoomPinView(MerchantAPIView):
    """POST pins a line-up product for every viewer (`product.pinned`); DELETE unpins."""

    required_perms = {"POST": Perm.HOST_ROOMS, "DELETE": Perm.HOST_ROOMS}
    serializer_class = CardOut

    @extend_schema(request=PinIn, responses={200: CardOut})
    def post(self, request: Request, m: str, slug: str) -> Response:
        room = selectors.room_get(merchant=self.merchant, slug=slug)
        data = PinIn(data=_body(request))
        data.is_valid(raise_exception=True)
        card = selling.pin_product(
            actor=self.actor, room=room, product_id=data.validated_data["product"]
        )
        return Response(card)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, m: str, slug: str) -> Response:
        room = selectors.room_get(merchant=self.merchant, slug=slug)
        selling.unpin_product(actor=self.actor, room=room)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomFlashSaleView(MerchantAPIView):
    """POST starts a flash sale (10–300 s; the room must be live; one at a time); DELETE
    stops the running one."""

    required_perms = {"POST": Perm.HOST_ROOMS, "DELETE": Perm.HOST_ROOMS}
    serializer_class = SaleOut

    @extend_schema(request=FlashSaleIn, responses={201: SaleOut})
    def post(self, request: Request, m: str, slug: str) -> Response:
        room = selectors.room_get(merchant=self.merchant, slug=slug)
        data = FlashSaleIn(data=_body(request))
        data.is_valid(raise_exception=True)
        values = data.validated_data
        sale = selling.flash_sale_start(
            actor=self.actor,
            room=room,
            product_id=values["product"],
            variant_id=values.get("variant"),
            price=values["price"],
            units=values["units"],
            duration_s=values["duration_s"],
        )
        return Response(selling.sale_public(sale), status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, m: str, slug: str) -> Response:
        room = selectors.room_get(merchant=self.merchant, slug=slug)
        selling.flash_sale_stop(actor=self.actor, room=room)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomModerationView(MerchantAPIView):
    """One-click moderation from the console: the `moderate` frame's actions over HTTP
    (delete a message by seq, mute/ban/unmute/unban a user, slow mode, promote/demote a room
    moderator)."""

    required_perms = {"POST": Perm.MODERATE}
    serializer_class = ModerateIn

    @extend_schema(request=ModerateIn, responses={204: None})
    def post(self, request: Request, m: str, slug: str) -> Response:
        room = selectors.room_get(merchant=self.merchant, slug=slug)
        data = ModerateIn(data=_body(request))
        data.is_valid(raise_exception=True)
        moderation.moderate(
            actor=self.actor,
            user=self.actor.user,
            room=room,
            frame={"type": "moderate", **data.validated_data},
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class WaitlistView(ShopperAPIView):
    """The room's flash-sale waitlist: GET shows the shopper's place or offer, POST joins
    (only once the sale is sold out; joining twice keeps one place). An offer holds one unit
    for the shopper at the sale price until `offer_expires_at`: order it as usual with
    `room`."""

    serializer_class = WaitlistOut

    def get(self, request: Request, m: str, room: str) -> Response:
        found = selectors.room_get(merchant=self.merchant, slug=room)
        return Response(
            selling.waitlist_status(merchant=self.merchant, shopper=request.user, room=found)
        )

    @extend_schema(request=None, responses={200: WaitlistOut})
    def post(self, request: Request, m: str, room: str) -> Response:
        found = selectors.room_get(merchant=self.merchant, slug=room)
        return Response(
            selling.waitlist_join(merchant=self.merchant, shopper=request.user, room=found)
        )
