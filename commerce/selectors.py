"""Commerce reads. Always filtered by merchant (RLS is the second guard, on Postgres only);
missing and foreign objects both raise Http404."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from liveshop.tenancy.models import Merchant

from .models import Address, Order, OrderLine, OrderStatus, Payment, Product, Variant


def _variants(merchant: Merchant, *, active_only: bool) -> Prefetch:
    variants = Variant.objects.filter(merchant=merchant).order_by("position", "id")
    if active_only:
        variants = variants.filter(is_active=True)
    return Prefetch("variants", queryset=variants)


def product_list(
    *,
    merchant: Merchant,
    active_only: bool = False,
    q: str = "",
    category: str = "",
    ids: list[int] | None = None,
) -> QuerySet[Product]:
    """Products with their variants prefetched (storefront: active ones only). Each has
    `.total_stock`, the units available over its (active) variants."""
    products = Product.objects.filter(merchant=merchant)
    if active_only:
        products = products.filter(is_active=True)
        stock_filter = Q(variants__is_active=True)
    else:
        stock_filter = Q()
    if q:
        products = products.filter(
            Q(name__icontains=q) | Q(name_zh__icontains=q) | Q(sku__iexact=q)
        )
    if category:
        products = products.filter(category=category)
    if ids is not None:
        products = products.filter(pk__in=ids)
    return (
        products.annotate(total_stock=Sum("variants__stock", filter=stock_filter, default=0))
        .prefetch_related(_variants(merchant, active_only=active_only))
        .order_by("id")
    )


def product_get(*, merchant: Merchant, product_id: int, active_only: bool = False) -> Product:
    product = product_list(merchant=merchant, active_only=active_only).filter(pk=product_id).first()
    if product is None:
        raise Http404("No such product.")
    return product


def variant_get(*, merchant: Merchant, product: Product, variant_id: int) -> Variant:
    variant = Variant.objects.filter(merchant=merchant, product=product, pk=variant_id).first()
    if variant is None:
        raise Http404("No such variant.")
    return variant


def product_categories(*, merchant: Merchant) -> list[str]:
    return list(
        Product.objects.filter(merchant=merchant, is_active=True)
        .exclude(category="")
        .values_list("category", flat=True)
        .distinct()
        .order_by("category")
    )


def catalog_stats(*, merchant: Merchant) -> dict[str, int]:
    products = product_list(merchant=merchant, active_only=True)
    active = products.count()
    sold_out = products.filter(total_stock=0).count()  # type: ignore[misc]  # an annotation
    return {"active": active, "sold_out": sold_out}


def _orders(merchant: Merchant) -> QuerySet[Order]:
    return Order.objects.filter(merchant=merchant).select_related("room", "shopper")


def order_list(
    *,
    merchant: Merchant,
    status: str = "",
    room: str = "",
    q: str = "",
    shopper_id: int | None = None,
) -> QuerySet[Order]:
    """Staff's view: every order, newest first, with filters."""
    orders = _orders(merchant)
    if status:
        orders = orders.filter(status=status)
    if room:
        orders = orders.filter(room__slug=room)
    if shopper_id is not None:
        orders = orders.filter(shopper_id=shopper_id)
    if q:
        q = q.strip().lstrip("#")
        match = Q(shopper__email__icontains=q)
        if q.isascii() and q.isdigit() and len(q) <= 18:  # "¹".isdigit() too; stay in bigint
            match |= Q(pk=int(q))
        orders = orders.filter(match)
    return orders.prefetch_related(_lines(merchant)).order_by("-id")


def _lines(merchant: Merchant) -> Prefetch:
    return Prefetch("lines", queryset=OrderLine.objects.filter(merchant=merchant).order_by("id"))


def order_get(*, merchant: Merchant, order_id: int) -> Order:
    order = (
        _orders(merchant)
        .prefetch_related(
            _lines(merchant),
            "transitions",
            Prefetch("payments", queryset=Payment.objects.filter(merchant=merchant)),
        )
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise Http404("No such order.")
    return order


def shopper_orders(*, merchant: Merchant, shopper: Any) -> QuerySet[Order]:
    """A shopper's own orders at this merchant (staff drafts stay hidden until sent)."""
    return (
        _orders(merchant)
        .filter(shopper_id=shopper.pk)
        .exclude(status=OrderStatus.DRAFT)
        .prefetch_related(_lines(merchant))
        .order_by("-id")
    )


def shopper_order_get(*, merchant: Merchant, shopper: Any, order_id: int) -> Order:
    order = (
        shopper_orders(merchant=merchant, shopper=shopper)
        .prefetch_related(
            "transitions", Prefetch("payments", queryset=Payment.objects.filter(merchant=merchant))
        )
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise Http404("No such order.")
    return order


def order_stats(*, merchant: Merchant) -> dict[str, int]:
    since = timezone.now() - timedelta(days=1)
    row = Order.objects.filter(merchant=merchant).aggregate(
        today=Count("id", filter=Q(created_at__gte=since) & ~Q(status=OrderStatus.DRAFT)),
        pending=Count("id", filter=Q(status=OrderStatus.PENDING_PAYMENT)),
    )
    return {"today": row["today"] or 0, "pending": row["pending"] or 0}


def address_list(*, merchant: Merchant, shopper: Any) -> QuerySet[Address]:
    return Address.objects.filter(merchant=merchant, shopper_id=shopper.pk).order_by("-id")
