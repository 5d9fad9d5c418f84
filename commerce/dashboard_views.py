"""Merchant dashboard pages: products and variants (create, edit, stock) and orders (filters,
detail, state changes, refunds). Buttons show by permission; services enforce it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from liveshop.errors import DomainError
from liveshop.forms import form_errors
from liveshop.tenancy.decorators import dashboard_view
from liveshop.tenancy.permissions import Perm

from . import selectors, services
from .forms import ProductForm, StockAdjustForm, VariantForm, money_initial
from .models import OrderStatus, Product


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def _message(exc: ValidationError | DomainError) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    return " ".join(exc.messages)


# --- products ---------------------------------------------------------------------------


@dashboard_view(Perm.VIEW_PRODUCTS)
def products(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    q = request.GET.get("q", "")[:100].strip()
    show = request.GET.get("show", "")
    items = selectors.product_list(merchant=actor.merchant, q=q)
    if show == "active":
        items = items.filter(is_active=True)
    elif show == "inactive":
        items = items.filter(is_active=False)
    elif show == "soldout":
        items = items.filter(total_stock=0)  # type: ignore[misc]  # an annotation
    page = Paginator(items, 50).get_page(request.GET.get("page"))
    return render(request, "dashboard/products/list.html", {"page": page, "q": q, "show": show})


@dashboard_view(Perm.MANAGE_PRODUCTS)
def product_new(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    currency = actor.merchant.currency
    form = ProductForm(request.POST or None, currency=currency, creating=True)
    if request.method == "POST" and form.is_valid():
        try:
            # A savepoint: a refused change must leave the page's transaction usable.
            with transaction.atomic():
                product = services.product_create(
                    actor=actor, data=form.product_data(), stock=form.cleaned_data["stock"]
                )
        except (ValidationError, DomainError) as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Product %(name)s created.") % {"name": product.name})
            return redirect("dashboard:product", m=actor.merchant.slug, product_id=product.pk)
    return render(request, "dashboard/products/form.html", {"form": form, "creating": True})


def _product_initial(product: Product, currency: str) -> dict[str, Any]:
    return {
        "name": product.name,
        "name_zh": product.name_zh,
        "sku": product.sku,
        "category": product.category,
        "description": product.description,
        "description_zh": product.description_zh,
        "material": product.material,
        "images": "\n".join(product.images),
        "purchase_limit": product.purchase_limit,
        "is_active": product.is_active,
        "price": money_initial(product.price, currency),
    }


@dashboard_view(Perm.VIEW_PRODUCTS)
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    actor = _actor(request)
    merchant = actor.merchant
    product = selectors.product_get(merchant=merchant, product_id=product_id)
    form = ProductForm(
        request.POST or None,
        currency=merchant.currency,
        creating=False,
        initial=_product_initial(product, merchant.currency),
    )
    if request.method == "POST":
        actor.require(Perm.MANAGE_PRODUCTS)
        if form.is_valid():
            try:
                # A savepoint: a refused change must leave the page's transaction usable.
                with transaction.atomic():
                    services.product_update(actor=actor, product=product, data=form.product_data())
            except (ValidationError, DomainError) as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Product saved."))
                return redirect("dashboard:product", m=merchant.slug, product_id=product.pk)
    variants = [
        {
            "variant": v,
            "price": money_initial(v.price, merchant.currency),
        }
        for v in product.variants.all()
    ]
    context = {
        "product": product,
        "form": form,
        "variants": variants,
        "variant_form": VariantForm(currency=merchant.currency, initial={"stock": 0}),
        "can_manage": actor.can(Perm.MANAGE_PRODUCTS),
    }
    return render(request, "dashboard/products/detail.html", context)


@require_POST
@dashboard_view(Perm.MANAGE_PRODUCTS)
def product_delete(request: HttpRequest, product_id: int) -> HttpResponse:
    actor = _actor(request)
    product = selectors.product_get(merchant=actor.merchant, product_id=product_id)
    try:
        # A savepoint: a refused change must leave the page's transaction usable.
        with transaction.atomic():
            services.product_delete(actor=actor, product=product)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:product", m=actor.merchant.slug, product_id=product.pk)
    messages.success(request, _("Product deleted."))
    return redirect("dashboard:products", m=actor.merchant.slug)


@require_POST
@dashboard_view(Perm.MANAGE_PRODUCTS)
def variant_new(request: HttpRequest, product_id: int) -> HttpResponse:
    actor = _actor(request)
    product = selectors.product_get(merchant=actor.merchant, product_id=product_id)
    form = VariantForm(request.POST, currency=actor.merchant.currency)
    if form.is_valid():
        try:
            # A savepoint: a refused change must leave the page's transaction usable.
            with transaction.atomic():
                services.variant_create(actor=actor, product=product, data=form.variant_data())
        except (ValidationError, DomainError) as exc:
            messages.error(request, _message(exc))
        else:
            messages.success(request, _("Variant added."))
    else:
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect("dashboard:product", m=actor.merchant.slug, product_id=product.pk)


@require_POST
@dashboard_view(Perm.MANAGE_PRODUCTS)
def variant_update(request: HttpRequest, product_id: int, variant_id: int) -> HttpResponse:
    """Edit a variant row: set its stock, price and options, or add/remove units."""
    actor = _actor(request)
    product = selectors.product_get(merchant=actor.merchant, product_id=product_id)
    variant = selectors.variant_get(merchant=actor.merchant, product=product, variant_id=variant_id)
    try:
        # A savepoint: a refused change must leave the page's transaction usable.
        with transaction.atomic():
            if request.POST.get("action") == "adjust":
                adjust = StockAdjustForm(request.POST)
                if not adjust.is_valid():
                    raise ValidationError(_("Give a whole number of units."))
                stock = services.stock_adjust(
                    actor=actor, variant=variant, delta=adjust.cleaned_data["delta"]
                )
                messages.success(request, _("Stock is now %(n)d.") % {"n": stock})
            else:
                form = VariantForm(request.POST, currency=actor.merchant.currency)
                if not form.is_valid():
                    raise ValidationError(
                        " ".join(str(e) for errs in form.errors.values() for e in errs)
                    )
                services.variant_update(actor=actor, variant=variant, data=form.variant_data())
                messages.success(request, _("Variant saved."))
    except (ValidationError, DomainError) as exc:
        messages.error(request, _message(exc))
    return redirect("dashboard:product", m=actor.merchant.slug, product_id=product.pk)


# --- orders -----------------------------------------------------------------------------


@dashboard_view(Perm.VIEW_ORDERS)
def orders(request: HttpRequest) -> HttpResponse:
    from rooms.selectors import room_list

    actor = _actor(request)
    status = request.GET.get("status", "")
    if status not in OrderStatus.values:
        status = ""
    room = request.GET.get("room", "")[:40]
    q = request.GET.get("q", "")[:100].strip()
    items = selectors.order_list(merchant=actor.merchant, status=status, room=room, q=q)
    page = Paginator(items, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "room": room,
        "q": q,
        "statuses": OrderStatus.choices,
        "rooms": room_list(merchant=actor.merchant).values_list("slug", flat=True)[:100],
    }
    return render(request, "dashboard/orders/list.html", context)


@dashboard_view(Perm.VIEW_ORDERS)
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    actor = _actor(request)
    order = selectors.order_get(merchant=actor.merchant, order_id=order_id)
    can_manage = actor.can(Perm.MANAGE_ORDERS)
    context = {
        "order": order,
        "lines": list(order.lines.all()),
        "transitions": list(order.transitions.all()),
        "payments": list(order.payments.all()),
        "can_fulfil": can_manage and order.status == OrderStatus.PAID,
        "can_cancel": can_manage
        and order.status in (OrderStatus.DRAFT, OrderStatus.PENDING_PAYMENT),
        "can_refund": can_manage and order.status in (OrderStatus.PAID, OrderStatus.FULFILLED),
    }
    return render(request, "dashboard/orders/detail.html", context)


@require_POST
@dashboard_view(Perm.MANAGE_ORDERS)
def order_action(request: HttpRequest, order_id: int) -> HttpResponse:
    actor = _actor(request)
    order = selectors.order_get(merchant=actor.merchant, order_id=order_id)
    action = request.POST.get("action", "")
    reason = request.POST.get("reason", "")[:300]
    try:
        # A savepoint: a refused change must leave the page's transaction usable.
        with transaction.atomic():
            if action == "fulfil":
                services.order_fulfil(actor=actor, order=order, reason=reason)
                messages.success(request, _("Order marked as fulfilled."))
            elif action == "cancel":
                services.order_cancel(actor=actor, order=order, reason=reason)
                messages.success(request, _("Order cancelled; its stock is back on sale."))
            elif action == "refund":
                restock = bool(request.POST.get("restock"))
                services.order_refund(actor=actor, order=order, restock=restock, reason=reason)
                messages.success(
                    request,
                    _("Order refunded and restocked.") if restock else _("Order refunded."),
                )
            else:
                messages.error(request, _("Unknown action."))
    except (ValidationError, DomainError) as exc:
        messages.error(request, _message(exc))
    return redirect("dashboard:order", m=actor.merchant.slug, order_id=order.pk)
