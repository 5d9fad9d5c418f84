"""Commerce API: the merchant side (`/api/v1/merchants/<m>/products|orders`), the shopper
side (`/api/v1/s/<m>/products|orders|addresses`) and the payment webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response

from liveshop.accounts.models import User
from liveshop.api.authentication import ApiKeyPrincipal
from liveshop.api.views import MerchantAPIView, StorefrontAPIView, TransactionalAPIView
from liveshop.tenancy.permissions import Perm

from .. import fastpath, selectors, services
from ..models import Address, Order, OrderLine, OrderStatus, Product
from .serializers import (
    AddressOut,
    AddressSerializer,
    DraftIn,
    DraftLinesIn,
    OrderDetailOut,
    OrderIn,
    OrderOut,
    PayOut,
    ProductIn,
    ProductOut,
    ReasonIn,
    RefundIn,
    SendIn,
    StaffOrderDetailOut,
    StaffOrderOut,
    StockAdjustIn,
    StockOut,
    VariantIn,
    VariantOut,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per attempt (e.g. a UUID). A retry with the same key and body "
    "returns the same result; the same key with another body → 422.",
)
IDEMPOTENCY_HEADER_OPTIONAL = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Optional; a retry with the same key returns the same payment.",
)
MAX_WEBHOOK_BYTES = 64 * 1024


def _body(request: Request, allowed: set[str] | None = None) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, Mapping):
        raise exceptions.ValidationError({"non_field_errors": [gettext("Send a JSON object.")]})
    if allowed is not None:
        unknown = set(data) - allowed
        if unknown:
            raise ValidationError({k: [gettext("Unknown field.")] for k in sorted(unknown)})
    return dict(data)


def _query(request: Request, name: str, limit: int = 100) -> str:
    return str(request.query_params.get(name, ""))[:limit].strip()


LIST_FILTERS = [
    OpenApiParameter("q", OpenApiTypes.STR, description="Search name or SKU"),
    OpenApiParameter("category", OpenApiTypes.STR),
]


# --- merchant side: catalog -------------------------------------------------------------


class ProductListView(MerchantAPIView):
    """The catalog. POST accepts `{name, price, stock}` (one default variant holding `stock`)
    or `{name, price, variants: [...]}`."""

    required_perms = {"GET": Perm.VIEW_PRODUCTS, "POST": Perm.MANAGE_PRODUCTS}
    serializer_class = ProductOut
    queryset = Product.objects.none()  # for the OpenAPI schema

    @extend_schema(
        responses=ProductOut(many=True),
        parameters=[
            *LIST_FILTERS,
            OpenApiParameter("active", OpenApiTypes.BOOL, description="Only active products"),
        ],
    )
    def get(self, request: Request, m: str) -> Response:
        products = selectors.product_list(
            merchant=self.merchant,
            active_only=_query(request, "active") in ("1", "true"),
            q=_query(request, "q"),
            category=_query(request, "category", 60),
        )
        page = self.paginate_queryset(products)
        return self.get_paginated_response(
            ProductOut(page, many=True, context={"merchant": self.merchant}).data
        )

    @extend_schema(request=ProductIn, responses={201: ProductOut})
    def post(self, request: Request, m: str) -> Response:
        data = _body(request)
        stock = data.pop("stock", None)
        variants = data.pop("variants", None)
        product = services.product_create(
            actor=self.actor, data=data, stock=stock, variants=variants
        )
        product = selectors.product_get(merchant=self.merchant, product_id=product.pk)
        return Response(
            ProductOut(product, context={"merchant": self.merchant}).data,
            status=status.HTTP_201_CREATED,
        )


class ProductDetailView(MerchantAPIView):
    required_perms = {
        "GET": Perm.VIEW_PRODUCTS,
        "PATCH": Perm.MANAGE_PRODUCTS,
        "DELETE": Perm.MANAGE_PRODUCTS,
    }
    serializer_class = ProductOut

    def get(self, request: Request, m: str, product_id: int) -> Response:
        product = selectors.product_get(merchant=self.merchant, product_id=product_id)
        return Response(ProductOut(product, context={"merchant": self.merchant}).data)

    @extend_schema(request=ProductIn(partial=True), responses={200: ProductOut})
    def patch(self, request: Request, m: str, product_id: int) -> Response:
        product = selectors.product_get(merchant=self.merchant, product_id=product_id)
        services.product_update(actor=self.actor, product=product, data=_body(request))
        product = selectors.product_get(merchant=self.merchant, product_id=product_id)
        return Response(ProductOut(product, context={"merchant": self.merchant}).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, m: str, product_id: int) -> Response:
        product = selectors.product_get(merchant=self.merchant, product_id=product_id)
        services.product_delete(actor=self.actor, product=product)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VariantListView(MerchantAPIView):
    required_perms = {"POST": Perm.MANAGE_PRODUCTS}
    serializer_class = VariantOut

    @extend_schema(request=VariantIn, responses={201: VariantOut})
    def post(self, request: Request, m: str, product_id: int) -> Response:
        product = selectors.product_get(merchant=self.merchant, product_id=product_id)
        variant = services.variant_create(actor=self.actor, product=product, data=_body(request))
        return Response(
            VariantOut(variant, context={"product": product}).data, status=status.HTTP_201_CREATED
        )


class VariantDetailView(MerchantAPIView):
    """PATCH `stock` sets the units available now (under the row lock)."""

    required_perms = {"GET": Perm.VIEW_PRODUCTS, "PATCH": Perm.MANAGE_PRODUCTS}
    serializer_class = VariantOut

    def get(self, request: Request, m: str, product_id: int, variant_id: int) -> Response:
        product = selectors.product_get(merchant=self.merchant, product_id=product_id)
        variant = selectors.variant_get(
            merchant=self.merchant, product=product, variant_id=variant_id
        )
        return Response(VariantOut(variant, context={"product": product}).data)

    @extend_schema(request=VariantIn(partial=True), responses={200: VariantOut})
    def patch(self, request: Request, m: str, product_id: int, variant_id: int) -> Response:
        product = selectors.product_get(merchant=self.merchant, product_id=product_id)
        variant = selectors.variant_get(
            merchant=self.merchant, product=product, variant_id=variant_id
        )
        variant = services.variant_update(actor=self.actor, variant=variant, data=_body(request))
        return Response(VariantOut(variant, context={"product": product}).data)


class StockAdjustView(MerchantAPIView):
    """Add or remove units relative to what is there (concurrent adjustments all count)."""

    required_perms = {"POST": Perm.MANAGE_PRODUCTS}
    serializer_class = StockOut

    @extend_schema(request=StockAdjustIn, responses={200: StockOut})
    def post(self, request: Request, m: str, product_id: int, variant_id: int) -> Response:
        product = selectors.product_get(merchant=self.merchant, product_id=product_id)
        variant = selectors.variant_get(
            merchant=self.merchant, product=product, variant_id=variant_id
        )
        data = _body(request, {"delta"})
        stock = services.stock_adjust(actor=self.actor, variant=variant, delta=data.get("delta"))  # type: ignore[arg-type]
        return Response({"variant": variant.pk, "stock": stock})


# --- merchant side: orders --------------------------------------------------------------


class OrderListView(MerchantAPIView):
    """Orders, newest first. POST starts a draft cart for a shopper (Perm build_carts)."""

    required_perms = {"GET": Perm.VIEW_ORDERS, "POST": Perm.BUILD_CARTS}
    serializer_class = StaffOrderOut
    queryset = Order.objects.none()  # for the OpenAPI schema

    @extend_schema(
        responses=StaffOrderOut(many=True),
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=OrderStatus.values),
            OpenApiParameter("room", OpenApiTypes.STR, description="Room slug"),
            OpenApiParameter("q", OpenApiTypes.STR, description="Order number or shopper email"),
        ],
    )
    def get(self, request: Request, m: str) -> Response:
        status_filter = _query(request, "status", 20)
        if status_filter and status_filter not in OrderStatus.values:
            raise ValidationError(
                {"status": [gettext("One of %s.") % ", ".join(OrderStatus.values)]}
            )
        orders = selectors.order_list(
            merchant=self.merchant,
            status=status_filter,
            room=_query(request, "room", 40),
            q=_query(request, "q"),
        )
        page = self.paginate_queryset(orders)
        return self.get_paginated_response(StaffOrderOut(page, many=True).data)

    @extend_schema(request=DraftIn, responses={201: StaffOrderDetailOut})
    def post(self, request: Request, m: str) -> Response:
        data = _body(request, {"shopper", "lines", "room"})
        email = data.get("shopper")
        shopper = (
            User.objects.filter(email=email.strip().lower(), is_active=True).first()
            if isinstance(email, str)
            else None
        )
        if shopper is None:
            raise ValidationError({"shopper": [gettext("No shopper account with this email.")]})
        order = services.order_draft_create(
            actor=self.actor, shopper=shopper, lines=data.get("lines") or (), room=data.get("room")
        )
        order = selectors.order_get(merchant=self.merchant, order_id=order.pk)
        return Response(StaffOrderDetailOut(order).data, status=status.HTTP_201_CREATED)


class OrderDetailView(MerchantAPIView):
    required_perms = {"GET": Perm.VIEW_ORDERS}
    serializer_class = StaffOrderDetailOut

    def get(self, request: Request, m: str, order_id: int) -> Response:
        order = selectors.order_get(merchant=self.merchant, order_id=order_id)
        return Response(StaffOrderDetailOut(order).data)


class _OrderAction(MerchantAPIView):
    serializer_class = StaffOrderDetailOut

    def _order(self, order_id: int) -> Order:
        return selectors.order_get(merchant=self.merchant, order_id=order_id)

    def _done(self, order: Order) -> Response:
        return Response(
            StaffOrderDetailOut(selectors.order_get(merchant=self.merchant, order_id=order.pk)).data
        )


class DraftLinesView(_OrderAction):
    """Replace a draft cart's lines; stock follows."""

    required_perms = {"PUT": Perm.BUILD_CARTS}

    @extend_schema(request=DraftLinesIn, responses={200: StaffOrderDetailOut})
    def put(self, request: Request, m: str, order_id: int) -> Response:
        data = _body(request, {"lines"})
        order = services.order_draft_set_lines(
            actor=self.actor, order=self._order(order_id), lines=data.get("lines")
        )
        return self._done(order)


class DraftSendView(_OrderAction):
    """Send a draft cart to the shopper: it becomes payable and its reservation timer runs."""

    required_perms = {"POST": Perm.BUILD_CARTS}

    @extend_schema(request=SendIn, responses={200: StaffOrderDetailOut})
    def post(self, request: Request, m: str, order_id: int) -> Response:
        data = _body(request, {"shipping_address"})
        order = services.order_draft_send(
            actor=self.actor,
            order=self._order(order_id),
            shipping_address=data.get("shipping_address"),
        )
        return self._done(order)


class OrderFulfilView(_OrderAction):
    required_perms = {"POST": Perm.MANAGE_ORDERS}

    @extend_schema(request=ReasonIn, responses={200: StaffOrderDetailOut})
    def post(self, request: Request, m: str, order_id: int) -> Response:
        data = _body(request, {"reason"})
        order = services.order_fulfil(
            actor=self.actor, order=self._order(order_id), reason=_reason(data)
        )
        return self._done(order)


class OrderCancelView(_OrderAction):
    """Cancel an unpaid order or a draft; its stock goes back on sale."""

    required_perms = {"POST": Perm.MANAGE_ORDERS}

    @extend_schema(request=ReasonIn, responses={200: StaffOrderDetailOut})
    def post(self, request: Request, m: str, order_id: int) -> Response:
        data = _body(request, {"reason"})
        order = services.order_cancel(
            actor=self.actor, order=self._order(order_id), reason=_reason(data)
        )
        return self._done(order)


class OrderRefundView(_OrderAction):
    """Refund a paid or fulfilled order in full; `restock` puts its units back on sale."""

    required_perms = {"POST": Perm.MANAGE_ORDERS}

    @extend_schema(request=RefundIn, responses={200: StaffOrderDetailOut})
    def post(self, request: Request, m: str, order_id: int) -> Response:
        data = _body(request, {"reason", "restock"})
        restock = data.get("restock", False)
        if not isinstance(restock, bool):
            raise ValidationError({"restock": [gettext("Must be true or false.")]})
        order = services.order_refund(
            actor=self.actor, order=self._order(order_id), restock=restock, reason=_reason(data)
        )
        return self._done(order)


def _reason(data: Mapping[str, Any]) -> str:
    reason = data.get("reason") or ""
    if not isinstance(reason, str) or len(reason) > 300:
        raise ValidationError({"reason": [gettext("Text of at most 300 characters.")]})
    return reason


# --- shopper side -----------------------------------------------------------------------


class StorefrontProductListView(StorefrontAPIView):
    """Products on sale, with live stock per variant."""

    serializer_class = ProductOut
    queryset = Product.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=ProductOut(many=True), parameters=LIST_FILTERS, auth=[])
    def get(self, request: Request, m: str) -> Response:
        products = selectors.product_list(
            merchant=self.merchant,
            active_only=True,
            q=_query(request, "q"),
            category=_query(request, "category", 60),
        )
        page = self.paginate_queryset(products)
        return self.get_paginated_response(
            ProductOut(page, many=True, context={"merchant": self.merchant}).data
        )


class StorefrontProductDetailView(StorefrontAPIView):
    serializer_class = ProductOut

    @extend_schema(auth=[])
    def get(self, request: Request, m: str, product_id: int) -> Response:
        product = selectors.product_get(
            merchant=self.merchant, product_id=product_id, active_only=True
        )
        return Response(ProductOut(product, context={"merchant": self.merchant}).data)


class ShopperAPIView(StorefrontAPIView):
    """Shopper endpoints: a signed-in person (API keys act for merchants, not shoppers)."""

    permission_classes = [permissions.IsAuthenticated]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if isinstance(request.user, ApiKeyPrincipal):
            raise exceptions.PermissionDenied(
                gettext("API keys act for a merchant, not a shopper.")
            )


def _with_lines(order: Order) -> Order:
    """Serialise a just-placed order without reading its lines back."""
    lines = getattr(order, "_placed_lines", None)
    if lines is not None:
        cached = OrderLine.objects.none()
        cached._result_cache = lines  # type: ignore[attr-defined]
        cached._prefetch_done = True  # type: ignore[attr-defined]
        order._prefetched_objects_cache = {"lines": cached}  # type: ignore[attr-defined]
    return order


class ShopperOrderListView(ShopperAPIView):
    """Your orders at this merchant. POST places one: stock is reserved until it is paid or
    the reservation runs out (10 minutes by default)."""

    serializer_class = OrderOut
    queryset = Order.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=OrderOut(many=True))
    def get(self, request: Request, m: str) -> Response:
        orders = selectors.shopper_orders(merchant=self.merchant, shopper=request.user)
        page = self.paginate_queryset(orders)
        return self.get_paginated_response(OrderOut(page, many=True).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER],
        request=OrderIn,
        responses={201: OrderOut},
        description="409 `out_of_stock` names the line (`line`, `product`, `variant`, "
        "`available`); 409 `purchase_limit`; 422 `idempotency_key_reused`. A replay answers "
        "201 with the original order and header `Idempotent-Replayed: true`.",
    )
    def post(self, request: Request, m: str) -> Response:
        data = _body(request, {"lines", "room", "shipping_address"})
        placed = services.order_place(
            merchant=self.merchant,
            shopper=request.user,
            lines=data.get("lines"),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            room=data.get("room"),
            shipping_address=data.get("shipping_address"),
        )
        response = Response(
            OrderOut(_with_lines(placed.order)).data, status=status.HTTP_201_CREATED
        )
        if placed.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            # This merchant is real and active: the sold-out gate may act for it a while.
            fastpath.learn_merchant(slug=self.merchant.slug, merchant_id=self.merchant.id)


class ShopperOrderDetailView(ShopperAPIView):
    serializer_class = OrderDetailOut

    def get(self, request: Request, m: str, order_id: int) -> Response:
        order = selectors.shopper_order_get(
            merchant=self.merchant, shopper=request.user, order_id=order_id
        )
        return Response(OrderDetailOut(order).data)


class ShopperOrderPayView(ShopperAPIView):
    """Start paying an unpaid order in the sandbox gateway: send the shopper to
    `redirect_url`. The order turns `paid` when the gateway's signed webhook arrives."""

    serializer_class = PayOut

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER_OPTIONAL],
        request=None,
        responses={201: PayOut, 200: PayOut},
    )
    def post(self, request: Request, m: str, order_id: int) -> Response:
        order = selectors.shopper_order_get(
            merchant=self.merchant, shopper=request.user, order_id=order_id
        )
        started = services.payment_start(
            merchant=self.merchant,
            shopper=request.user,
            order=order,
            base_url=request.build_absolute_uri("/"),
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        payment = started.payment
        from .serializers import PaymentOut

        response = Response(
            {"payment": PaymentOut(payment).data, "redirect_url": payment.redirect_url},
            status=status.HTTP_200_OK if started.replayed else status.HTTP_201_CREATED,
        )
        if started.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class ShopperOrderCancelView(ShopperAPIView):
    """Give up an unpaid order; its stock goes back on sale at once."""

    serializer_class = OrderDetailOut

    @extend_schema(request=None, responses={200: OrderDetailOut})
    def post(self, request: Request, m: str, order_id: int) -> Response:
        order = selectors.shopper_order_get(
            merchant=self.merchant, shopper=request.user, order_id=order_id
        )
        services.order_cancel_by_shopper(merchant=self.merchant, shopper=request.user, order=order)
        order = selectors.shopper_order_get(
            merchant=self.merchant, shopper=request.user, order_id=order_id
        )
        return Response(OrderDetailOut(order).data)


class AddressListView(ShopperAPIView):
    """Your saved shipping addresses at this merchant."""

    serializer_class = AddressOut
    queryset = Address.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=AddressOut(many=True))
    def get(self, request: Request, m: str) -> Response:
        page = self.paginate_queryset(
            selectors.address_list(merchant=self.merchant, shopper=request.user)
        )
        return self.get_paginated_response(AddressOut(page, many=True).data)

    @extend_schema(request=AddressSerializer, responses={201: AddressOut})
    def post(self, request: Request, m: str) -> Response:
        address = services.address_save(
            merchant=self.merchant, shopper=request.user, data=_body(request)
        )
        return Response(AddressOut(address).data, status=status.HTTP_201_CREATED)


class AddressDetailView(ShopperAPIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, m: str, address_id: int) -> Response:
        services.address_delete(merchant=self.merchant, shopper=request.user, address_id=address_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- platform: payment webhooks -----------------------------------------------------------


class PaymentWebhookView(TransactionalAPIView):
    """Gateways report payments here, signed per Standard Webhooks (`webhook-id`,
    `webhook-timestamp`, `webhook-signature`). Bad signature, a timestamp more than 300 s
    away, an unknown payment or a replayed webhook id → 400 and nothing changes."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes: list[Any] = []  # signature-checked; the gateway must always get through

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        responses={200: OpenApiTypes.OBJECT},
        auth=[],
    )
    def post(self, request: Request, gateway: str) -> Response:
        body = request.body
        if len(body) > MAX_WEBHOOK_BYTES:
            raise exceptions.ValidationError({"non_field_errors": ["Webhook body too large."]})
        headers = {key.lower(): value for key, value in request.headers.items()}
        outcome = services.payment_webhook_receive(gateway=gateway, headers=headers, body=body)
        return Response(
            {
                "received": True,
                "payment": outcome.payment,
                "event": outcome.event,
                "order_status": outcome.order_status,
            }
        )
