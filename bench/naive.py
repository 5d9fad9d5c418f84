"""The baseline of bench/flash_sale.py: order placement the naive way (read the stock, check
it in Python, write it back). It lives only in the bench: it oversells under concurrency,
which is what the benchmark shows. Auth, throttling, tenant scope, idempotency and the
order rows are the same as the real endpoint's; there is no sold-out gate."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from commerce.api.views import ShopperAPIView, _body
from commerce.models import Order, OrderLine, OrderStatus, Variant
from commerce.services.orders import (
    SCOPE_PLACE,
    OutOfStock,
    _claim,
    _replayed_order,
    fingerprint,
    idempotency_key_check,
    lines_parse,
)


class NaiveOrderView(ShopperAPIView):
    def post(self, request: Request, m: str) -> Response:
        data = _body(request, {"lines"})
        [line] = lines_parse(data.get("lines"))[:1]
        key = idempotency_key_check(request.headers.get("Idempotency-Key", ""))
        key_id, existing = _claim(self.merchant, request.user, SCOPE_PLACE, key, fingerprint(data))
        if existing is not None:
            return Response({"id": _replayed_order(existing).pk}, status=status.HTTP_201_CREATED)
        variant = Variant.objects.select_related("product").get(
            merchant=self.merchant, product_id=line.product, is_active=True
        )
        if variant.stock < line.quantity:  # read …
            raise OutOfStock("sold out", line=0, available=variant.stock)
        variant.stock -= line.quantity  # … then write back: concurrent buyers overwrite
        variant.save(update_fields=["stock"])
        now = timezone.now()
        price = variant.effective_price(variant.product)
        order: Any = Order.objects.create(
            merchant=self.merchant,
            shopper=request.user,  # type: ignore[misc]
            status=OrderStatus.PENDING_PAYMENT,
            currency=self.merchant.currency,
            subtotal=price * line.quantity,
            total=price * line.quantity,
            reserved_until=now + settings.LIVESHOP_RESERVATION_TTL,
            idempotency_key_id=key_id,
        )
        OrderLine.objects.create(
            merchant=self.merchant,
            order=order,
            product=variant.product,
            variant=variant,
            name=variant.product.name,
            quantity=line.quantity,
            unit_price=price,
        )
        return Response({"id": order.pk, "status": order.status}, status=status.HTTP_201_CREATED)
