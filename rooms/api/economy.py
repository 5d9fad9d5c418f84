"""Economy API: the shopper's wallet and top-ups, the gift catalog, sending gifts over HTTP,
a room's leaderboard (`/api/v1/s/<m>/…`); the merchant's gift catalog, a room's gift totals
and top-up refunds (`/api/v1/merchants/<m>/…`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from commerce.api.views import IDEMPOTENCY_HEADER_OPTIONAL, ShopperAPIView
from liveshop.api.views import MerchantAPIView, StorefrontAPIView
from liveshop.errors import DomainError
from liveshop.tenancy.permissions import Perm

from .. import economy, selectors
from ..models import Gift, GiftAnimation, LedgerEntry, LedgerKind, TopUp, TopUpStatus

# --- serializers --------------------------------------------------------------------------


class GiftOut(serializers.ModelSerializer):
    class Meta:
        model = Gift
        fields = ["code", "name", "coins", "animation"]


class StaffGiftOut(serializers.ModelSerializer):
    class Meta:
        model = Gift
        fields = ["code", "name", "coins", "animation", "position", "is_active", "created_at"]


class GiftIn(serializers.Serializer):
    code = serializers.RegexField(r"^[a-z0-9][a-z0-9_-]{0,39}$", max_length=40)
    name = serializers.CharField(max_length=60)
    coins = serializers.IntegerField(min_value=1, max_value=1_000_000)
    animation = serializers.ChoiceField(choices=GiftAnimation.choices, required=False)
    position = serializers.IntegerField(min_value=0, max_value=9999, required=False)
    is_active = serializers.BooleanField(required=False)


class EntryOut(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=LedgerKind.choices)
    gift = serializers.SerializerMethodField()
    room = serializers.SerializerMethodField()
    topup: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )

    class Meta:
        model = LedgerEntry
        fields = ["id", "kind", "amount", "balance_after", "gift", "count", "room", "topup"]
        fields += ["created_at"]

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="Gift code"))
    def get_gift(self, entry: LedgerEntry) -> str | None:
        return entry.gift.code if entry.gift_id and entry.gift else None

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="Room slug"))
    def get_room(self, entry: LedgerEntry) -> str | None:
        return entry.room.slug if entry.room_id and entry.room else None


class GifterOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TopUpOut(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=TopUpStatus.choices)
    order: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )

    class Meta:
        model = TopUp
        fields = ["id", "coins", "price", "currency", "status", "order", "created_at"]
        fields += ["credited_at", "refunded_at"]


class StaffTopUpOut(TopUpOut):
    user = serializers.SerializerMethodField()

    class Meta(TopUpOut.Meta):
        fields = [*TopUpOut.Meta.fields, "user"]

    @extend_schema_field(GifterOut)
    def get_user(self, topup: TopUp) -> dict[str, Any]:
        user = topup.wallet.user
        return {"id": user.pk, "name": user.display_name}


class WalletOut(serializers.Serializer):
    balance = serializers.IntegerField()
    entries = EntryOut(
        many=True, help_text="50 movements, newest first (`?before=<id>` pages back)"
    )
    topups = TopUpOut(many=True, help_text="The latest 10 top-ups, newest first")
    packages = serializers.ListField(child=serializers.DictField(), help_text="{coins, price}")
    currency = serializers.CharField()


class TopUpIn(serializers.Serializer):
    coins = serializers.IntegerField(help_text="Coins to buy")


class TopUpStartedOut(TopUpOut):
    pay_url = serializers.CharField(help_text="Send the shopper here to pay")

    class Meta(TopUpOut.Meta):
        fields = [*TopUpOut.Meta.fields, "pay_url"]


class GiftSendIn(serializers.Serializer):
    gift = serializers.CharField(max_length=40)
    count = serializers.IntegerField(min_value=1, max_value=99, required=False)
    nonce = serializers.CharField(max_length=64)


class GiftSentOut(serializers.Serializer):
    gift = GiftOut()
    count = serializers.IntegerField()
    coins = serializers.IntegerField(help_text="Coins charged")
    balance = serializers.IntegerField(help_text="Balance after this gift")
    nonce = serializers.CharField()
    replayed = serializers.BooleanField()


class LeaderRowOut(serializers.Serializer):
    user = GifterOut()
    coins = serializers.IntegerField()


class LeaderboardOut(serializers.Serializer):
    results = LeaderRowOut(many=True)


class GiftTotalRowOut(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    animation = serializers.CharField()
    count = serializers.IntegerField()
    coins = serializers.IntegerField()


class GiftTotalsOut(serializers.Serializer):
    gifts = serializers.IntegerField(help_text="Gifts received (counting each of a batch)")
    coins = serializers.IntegerField()
    senders = serializers.IntegerField()
    by_gift = GiftTotalRowOut(many=True)
    top = LeaderRowOut(many=True, help_text="Top gifters, most coins first")


class TopUpRefundIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False)
    force = serializers.BooleanField(
        required=False, help_text="Refund even if the shopper spent some of the coins"
    )


def _body(request: Request, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(request.data, Mapping):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
    unknown = set(request.data) - allowed
    if unknown:
        raise ValidationError({k: [gettext("Unknown field.")] for k in sorted(unknown)})
    return dict(request.data)


# --- shopper side -------------------------------------------------------------------------


class WalletView(ShopperAPIView):
    """Your coins at this merchant: balance, latest movements and top-ups, and the top-up
    packages on offer. A first visit opens the wallet (with the demo grant, if any)."""

    serializer_class = WalletOut

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "before", OpenApiTypes.INT, description="Entries older than this entry id"
            )
        ]
    )
    def get(self, request: Request, m: str) -> Response:
        raw = str(request.query_params.get("before", ""))[:19]
        before = int(raw) if raw.isdigit() else None
        wallet = economy.wallet_get_or_create(merchant=self.merchant, user=request.user)
        topups = economy.topup_list(merchant=self.merchant, user=request.user)[:10]
        return Response(
            {
                "balance": wallet.balance,
                "currency": self.merchant.currency,
                "entries": EntryOut(
                    economy.wallet_entries(wallet=wallet, before=before), many=True
                ).data,
                "topups": TopUpOut(topups, many=True).data,
                "packages": economy.topup_packages(self.merchant),
            }
        )


class TopUpListView(ShopperAPIView):
    """Buy coins: opens an order for their price and its sandbox checkout (`pay_url`). The
    coins arrive when the gateway's webhook reports the payment."""

    serializer_class = TopUpStartedOut
    throttle_scope = "topup"

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER_OPTIONAL],
        request=TopUpIn,
        responses={201: TopUpStartedOut, 200: TopUpStartedOut},
        description="400 when `coins` is out of range; 409 `too_many_topups` with 5 unpaid; "
        "with an Idempotency-Key a retry answers 200 with the same top-up, another amount "
        "under the same key → 422.",
    )
    def post(self, request: Request, m: str) -> Response:
        data = _body(request, {"coins"})
        started = economy.topup_start(
            merchant=self.merchant,
            user=request.user,
            coins=data.get("coins"),
            base_url=request.build_absolute_uri("/"),
            client_key=request.headers.get("Idempotency-Key") or None,
        )
        body = {**TopUpOut(started.topup).data, "pay_url": started.pay_url}
        response = Response(
            body, status=status.HTTP_200_OK if started.replayed else status.HTTP_201_CREATED
        )
        if started.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class StorefrontGiftListView(StorefrontAPIView):
    """The gift catalog (active gifts, in order)."""

    serializer_class = GiftOut
    queryset = Gift.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=GiftOut(many=True), auth=[])
    def get(self, request: Request, m: str) -> Response:
        page = self.paginate_queryset(economy.gift_list(merchant=self.merchant, active_only=True))
        return self.get_paginated_response(GiftOut(page, many=True).data)


class RoomGiftSendView(ShopperAPIView):
    """Send a gift in a room (what the `gift.send` frame does, over HTTP). Idempotent by
    `nonce`: a replay answers 200 with the first result and charges nothing."""

    serializer_class = GiftSentOut

    @extend_schema(
        request=GiftSendIn,
        responses={201: GiftSentOut, 200: GiftSentOut},
        description="400 `unknown_gift`; 409 `insufficient_coins` (top up), `room_ended`; "
        "403 `banned`/`muted`.",
    )
    def post(self, request: Request, m: str, room: str) -> Response:
        data = _body(request, {"gift", "count", "nonce"})
        found = selectors.room_get(merchant=self.merchant, slug=room)
        _refuse_if_restricted(room=found, user=request.user)
        result = economy.gift_send(
            merchant=self.merchant,
            room=found,
            user=request.user,
            gift_code=data.get("gift"),  # type: ignore[arg-type]
            count=data.get("count", 1),  # type: ignore[arg-type]
            nonce=data.get("nonce"),  # type: ignore[arg-type]
        )
        return Response(
            result, status=status.HTTP_200_OK if result["replayed"] else status.HTTP_201_CREATED
        )


def _refuse_if_restricted(*, room: Any, user: Any) -> None:
    """Muted or banned users cannot gift over HTTP either (the room engine's check)."""
    from rooms.moderation import write_refusal

    refusal = write_refusal(room=room, user=user)
    if refusal is not None:
        code, message = refusal
        raise DomainError(message, code=code, status=403)


SINCE_PARAM = OpenApiParameter(
    "since", OpenApiTypes.DATETIME, description="Only gifts from then on (e.g. the show's start)"
)


def _since(request: Request) -> Any:
    raw = str(request.query_params.get("since", ""))[:40]
    if not raw:
        return None
    try:
        since = parse_datetime(raw)
    except ValueError:
        since = None
    if since is None:
        raise ValidationError({"since": [gettext("Give an ISO 8601 date and time.")]})
    return since


LIMIT_PARAM = OpenApiParameter("limit", OpenApiTypes.INT, description="1–50, default 10")


class LeaderboardView(StorefrontAPIView):
    """Top gifters of a room, by coins spent there."""

    serializer_class = LeaderboardOut

    @extend_schema(parameters=[LIMIT_PARAM, SINCE_PARAM], auth=[])
    def get(self, request: Request, m: str, room: str) -> Response:
        found = selectors.room_get(merchant=self.merchant, slug=room)
        raw = str(request.query_params.get("limit", "10"))[:6]
        limit = int(raw) if raw.isdigit() else 10
        rows = economy.leaderboard(
            merchant=self.merchant, room=found, limit=limit, since=_since(request)
        )
        return Response({"results": rows})


# --- merchant side ------------------------------------------------------------------------


class GiftListView(MerchantAPIView):
    """The gift catalog, inactive gifts included. POST adds a gift."""

    required_perms = {"GET": Perm.VIEW_DASHBOARD, "POST": Perm.MANAGE_GIFTS}
    serializer_class = StaffGiftOut
    queryset = Gift.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=StaffGiftOut(many=True))
    def get(self, request: Request, m: str) -> Response:
        page = self.paginate_queryset(economy.gift_list(merchant=self.merchant))
        return self.get_paginated_response(StaffGiftOut(page, many=True).data)

    @extend_schema(request=GiftIn, responses={201: StaffGiftOut})
    def post(self, request: Request, m: str) -> Response:
        gift = economy.gift_create(actor=self.actor, data=_body(request, set(economy.GIFT_FIELDS)))
        return Response(StaffGiftOut(gift).data, status=status.HTTP_201_CREATED)


class GiftDetailView(MerchantAPIView):
    """One gift by code. PATCH changes it (not its code); DELETE removes it, or deactivates
    it when it was ever sent (the ledger keeps it)."""

    required_perms = {
        "GET": Perm.VIEW_DASHBOARD,
        "PATCH": Perm.MANAGE_GIFTS,
        "DELETE": Perm.MANAGE_GIFTS,
    }
    serializer_class = StaffGiftOut

    def get(self, request: Request, m: str, gift_code: str) -> Response:
        return Response(StaffGiftOut(economy.gift_get(merchant=self.merchant, code=gift_code)).data)

    @extend_schema(request=GiftIn(partial=True), responses={200: StaffGiftOut})
    def patch(self, request: Request, m: str, gift_code: str) -> Response:
        gift = economy.gift_get(merchant=self.merchant, code=gift_code)
        data = _body(request, set(economy.GIFT_FIELDS))
        gift = economy.gift_update(actor=self.actor, gift=gift, data=data)
        return Response(StaffGiftOut(gift).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, m: str, gift_code: str) -> Response:
        gift = economy.gift_get(merchant=self.merchant, code=gift_code)
        economy.gift_delete(actor=self.actor, gift=gift)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomGiftTotalsView(MerchantAPIView):
    """What a room received in gifts: totals, per gift, and the top gifters."""

    required_perms = {"GET": Perm.VIEW_DASHBOARD}
    serializer_class = GiftTotalsOut

    @extend_schema(parameters=[SINCE_PARAM])
    def get(self, request: Request, m: str, slug: str) -> Response:
        room = selectors.room_get(merchant=self.merchant, slug=slug)
        return Response(
            economy.gift_totals(merchant=self.merchant, room=room, since=_since(request))
        )


class StaffTopUpListView(MerchantAPIView):
    """Coin top-ups of this merchant's shoppers, newest first (`status` filters)."""

    required_perms = {"GET": Perm.VIEW_ORDERS}
    serializer_class = StaffTopUpOut
    queryset = TopUp.objects.none()  # for the OpenAPI schema

    @extend_schema(
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=TopUpStatus.values)],
        responses=StaffTopUpOut(many=True),
    )
    def get(self, request: Request, m: str) -> Response:
        wanted = str(request.query_params.get("status", ""))
        if wanted and wanted not in TopUpStatus.values:
            raise ValidationError({"status": [gettext("Unknown status.")]})
        page = self.paginate_queryset(economy.topup_list(merchant=self.merchant, status=wanted))
        return self.get_paginated_response(StaffTopUpOut(page, many=True).data)


class TopUpRefundView(MerchantAPIView):
    """Refund a credited top-up: the money goes back through the gateway and the coins leave
    the wallet. 409 `coins_spent` when the shopper spent some (send `force: true` to take
    back what is left); 409 `not_refundable` unless credited."""

    required_perms = {"POST": Perm.MANAGE_ORDERS}
    serializer_class = StaffTopUpOut

    @extend_schema(request=TopUpRefundIn, responses={200: StaffTopUpOut})
    def post(self, request: Request, m: str, topup_id: int) -> Response:
        data = _body(request, {"reason", "force"})
        force = data.get("force", False)
        if not isinstance(force, bool):
            raise ValidationError({"force": [gettext("Must be true or false.")]})
        reason = data.get("reason") or ""
        if not isinstance(reason, str) or len(reason) > 300:
            raise ValidationError({"reason": [gettext("Text of at most 300 characters.")]})
        topup = economy.topup_get(merchant=self.merchant, topup_id=topup_id)
        topup = economy.topup_refund(actor=self.actor, topup=topup, reason=reason, force=force)
        return Response(
            StaffTopUpOut(economy.topup_get(merchant=self.merchant, topup_id=topup.pk)).data
        )
