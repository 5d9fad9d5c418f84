"""Storefront pages (mobile first) and the sandbox gateway's checkout page.

The cart lives in the session (it reserves nothing); checkout places the order (which
reserves the stock) and sends the shopper straight to the payment page. The checkout form
carries a one-time Idempotency-Key, so a double submit places one order."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from liveshop.errors import DomainError
from liveshop.tenancy.decorators import storefront_view

from . import selectors, services
from .forms import AddressForm, address_form_errors
from .models import ADDRESS_FIELDS, Order, OrderStatus, SandboxCharge
from .payments import sandbox

View = Callable[..., HttpResponse]
CART_LIMIT = services.MAX_LINES


def shopper_required(view: View) -> View:
    """Inside `storefront_view`: anonymous visitors go to the login page and come back."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def _merchant(request: HttpRequest) -> Any:
    return request.merchant  # type: ignore[attr-defined]


def _error_text(exc: ValidationError | DomainError) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    if hasattr(exc, "error_dict"):
        return " ".join(f"{msg}" for msgs in exc.message_dict.values() for msg in msgs)
    return " ".join(exc.messages)


# --- the cart (session) -----------------------------------------------------------------


class Cart:
    """`[{product, variant, quantity}]` per merchant in the session, plus the room the
    shopper came from (attribution)."""

    def __init__(self, request: HttpRequest, merchant_id: int) -> None:
        self.session = request.session
        self.key = f"cart:{merchant_id}"
        self.room_key = f"cart-room:{merchant_id}"

    @property
    def lines(self) -> list[dict[str, int]]:
        raw = self.session.get(self.key, [])
        return [line for line in raw if isinstance(line, dict)][:CART_LIMIT]

    @property
    def room(self) -> str:
        return str(self.session.get(self.room_key, ""))

    def save(self, lines: list[dict[str, int]]) -> None:
        self.session[self.key] = lines[:CART_LIMIT]

    def add(self, product: int, variant: int, quantity: int, room: str = "") -> None:
        lines = self.lines
        for line in lines:
            if line["variant"] == variant:
                line["quantity"] = min(services.MAX_QUANTITY, line["quantity"] + quantity)
                break
        else:
            if len(lines) >= CART_LIMIT:
                raise ValidationError(_("Your cart is full."))
            lines.append({"product": product, "variant": variant, "quantity": quantity})
        self.save(lines)
        if room:
            self.session[self.room_key] = room[:40]

    def set(self, variant: int, quantity: int) -> None:
        lines = [dict(line) for line in self.lines]
        for line in lines:
            if line["variant"] == variant:
                line["quantity"] = quantity
        self.save([line for line in lines if line["quantity"] > 0])

    def clear(self) -> None:
        self.session.pop(self.key, None)
        self.session.pop(self.room_key, None)


def _cart_view(merchant: Any, cart: Cart) -> dict[str, Any]:
    """The cart joined with the live catalog: prices, stock, lines no longer for sale."""
    wanted = cart.lines
    products = {
        p.pk: p
        for p in selectors.product_list(
            merchant=merchant, active_only=True, ids=[line["product"] for line in wanted]
        )
    }
    rows, total = [], 0
    for line in wanted:
        product = products.get(line["product"])
        variant = None
        if product is not None:
            variant = next((v for v in product.variants.all() if v.pk == line["variant"]), None)
        if product is None or variant is None:
            rows.append({"line": line, "gone": True})
            continue
        price = variant.effective_price(product)
        total += price * line["quantity"]
        rows.append(
            {
                "line": line,
                "product": product,
                "variant": variant,
                "price": price,
                "line_total": price * line["quantity"],
                "short": variant.stock < line["quantity"],
            }
        )
    return {"rows": rows, "total": total, "count": sum(line["quantity"] for line in wanted)}


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


# --- pages ----------------------------------------------------------------------------


@storefront_view
def storefront_home(request: HttpRequest) -> HttpResponse:
    from rooms.selectors import storefront_rooms

    merchant = _merchant(request)
    category = request.GET.get("category", "")[:60]
    q = request.GET.get("q", "")[:100].strip()
    products = selectors.product_list(merchant=merchant, active_only=True, category=category, q=q)
    page = Paginator(products, 24).get_page(request.GET.get("page"))
    rooms = list(storefront_rooms(merchant=merchant)[:12])
    context = {
        "merchant": merchant,
        "live_rooms": [r for r in rooms if r.status == "live"],
        "upcoming_rooms": [r for r in rooms if r.status == "scheduled"],
        "page": page,
        "categories": selectors.product_categories(merchant=merchant),
        "category": category,
        "q": q,
        "cart_count": _cart_count(request, merchant),
    }
    return render(request, "storefront/home.html", context)


def _cart_count(request: HttpRequest, merchant: Any) -> int:
    return sum(line.get("quantity", 0) for line in Cart(request, merchant.id).lines)


@storefront_view
def product_page(request: HttpRequest, product_id: int) -> HttpResponse:
    merchant = _merchant(request)
    product = selectors.product_get(merchant=merchant, product_id=product_id, active_only=True)
    variants = list(product.variants.all())
    chosen = _int(request.GET.get("variant"))
    selected = next((v for v in variants if v.pk == chosen), None) or next(
        (v for v in variants if v.stock > 0), variants[0] if variants else None
    )
    context = {
        "merchant": merchant,
        "product": product,
        "variants": variants,
        "selected": selected,
        "selected_price": selected.effective_price(product) if selected else product.price,
        "room": request.GET.get("room", "")[:40],
        "max_quantity": services.MAX_QUANTITY,
        "cart_count": _cart_count(request, merchant),
        "stock_url": reverse(
            "api-storefront-product", kwargs={"m": merchant.slug, "product_id": product.pk}
        ),
    }
    return render(request, "storefront/product.html", context)


@storefront_view
def cart_page(request: HttpRequest) -> HttpResponse:
    merchant = _merchant(request)
    cart = Cart(request, merchant.id)
    if request.method == "POST":
        action = request.POST.get("action", "add")
        variant = _int(request.POST.get("variant"))
        quantity = _int(request.POST.get("quantity"), 1)
        if action == "add":
            product = selectors.product_get(
                merchant=merchant, product_id=_int(request.POST.get("product")), active_only=True
            )
            if not any(v.pk == variant for v in product.variants.all()):
                messages.error(request, _("Choose a size or colour first."))
                return redirect("storefront:product", m=merchant.slug, product_id=product.pk)
            if not 1 <= quantity <= services.MAX_QUANTITY:
                messages.error(
                    request,
                    _("Choose a quantity between 1 and %(n)d.") % {"n": services.MAX_QUANTITY},
                )
                return redirect("storefront:product", m=merchant.slug, product_id=product.pk)
            try:
                # A savepoint: a refused change must leave the page's transaction usable.
                with transaction.atomic():
                    cart.add(product.pk, variant, quantity, request.POST.get("room", ""))
            except ValidationError as exc:
                messages.error(request, _error_text(exc))
                return redirect("storefront:cart", m=merchant.slug)
            if request.POST.get("buy_now"):
                return redirect("storefront:checkout", m=merchant.slug)
            messages.success(request, _("Added to your cart."))
            return redirect("storefront:cart", m=merchant.slug)
        if action == "update":
            cart.set(variant, max(0, min(services.MAX_QUANTITY, quantity)))
        elif action == "remove":
            cart.set(variant, 0)
        return redirect("storefront:cart", m=merchant.slug)
    context = {
        "merchant": merchant,
        **_cart_view(merchant, cart),
        "cart_count": _cart_count(request, merchant),
    }
    return render(request, "storefront/cart.html", context)


@storefront_view
@shopper_required
def checkout_page(request: HttpRequest) -> HttpResponse:
    merchant = _merchant(request)
    cart = Cart(request, merchant.id)
    summary = _cart_view(merchant, cart)
    if not cart.lines:
        messages.info(request, _("Your cart is empty."))
        return redirect("storefront:home", m=merchant.slug)
    addresses = list(selectors.address_list(merchant=merchant, shopper=request.user)[:10])
    form = AddressForm(request.POST or None, prefix="ship")
    error = ""
    if request.method == "POST":
        choice = request.POST.get("address", "new")
        shipping: Any = None
        if choice != "new" and any(str(a.pk) == choice for a in addresses):
            shipping = int(choice)
        elif form.is_valid():
            shipping = {f: form.cleaned_data.get(f, "") for f in ADDRESS_FIELDS}
        if shipping is not None:
            try:
                # A savepoint: a refused change must leave the page's transaction usable.
                with transaction.atomic():
                    if isinstance(shipping, dict) and request.POST.get("save_address"):
                        services.address_save(
                            merchant=merchant, shopper=request.user, data=shipping
                        )
                    placed = services.order_place(
                        merchant=merchant,
                        shopper=request.user,
                        lines=cart.lines,
                        idempotency_key=request.POST.get("idempotency_key", "")[:255],
                        room=cart.room or None,
                        shipping_address=shipping,
                    )
            except ValidationError as exc:
                address_form_errors(form, exc)
                error = _error_text(exc)
            except DomainError as exc:
                error = exc.message
            else:
                cart.clear()
                return _pay(request, merchant, placed.order)
    context = {
        "merchant": merchant,
        **summary,
        "addresses": addresses,
        "form": form,
        "error": error,
        "idempotency_key": request.POST.get("idempotency_key") or uuid.uuid4().hex,
        "selected_address": request.POST.get("address")
        or (str(addresses[0].pk) if addresses else "new"),
        "ttl_minutes": int(settings.LIVESHOP_RESERVATION_TTL.total_seconds() // 60),
    }
    return render(request, "storefront/checkout.html", context, status=400 if error else 200)


def _pay(request: HttpRequest, merchant: Any, order: Order) -> HttpResponse:
    """Open the payment for `order` and send the shopper to the gateway's page."""
    try:
        # A savepoint: a refused change must leave the page's transaction usable.
        with transaction.atomic():
            started = services.payment_start(
                merchant=merchant,
                shopper=request.user,
                order=order,
                base_url=request.build_absolute_uri("/"),
            )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("storefront:order", m=merchant.slug, order_id=order.pk)
    return HttpResponseRedirect(started.payment.redirect_url)


@storefront_view
@shopper_required
def orders_page(request: HttpRequest) -> HttpResponse:
    merchant = _merchant(request)
    orders = selectors.shopper_orders(merchant=merchant, shopper=request.user)
    page = Paginator(orders, 20).get_page(request.GET.get("page"))
    return render(
        request,
        "storefront/orders.html",
        {"merchant": merchant, "page": page, "cart_count": _cart_count(request, merchant)},
    )


# The sandbox checkout returns here; in a consult call both are framed by the same origin.
@xframe_options_sameorigin
@storefront_view
@shopper_required
def order_page(request: HttpRequest, order_id: int) -> HttpResponse:
    merchant = _merchant(request)
    order = selectors.shopper_order_get(merchant=merchant, shopper=request.user, order_id=order_id)
    payments = list(order.payments.all())
    context = {
        "merchant": merchant,
        "order": order,
        "lines": list(order.lines.all()),
        "transitions": list(order.transitions.all()),
        "latest_payment": payments[0] if payments else None,
        # Back from the payment page: the webhook may still be on its way.
        "confirming": request.GET.get("from") == "checkout"
        and order.status == OrderStatus.PENDING_PAYMENT
        and any(p.status == "pending" for p in payments),
        "cart_count": _cart_count(request, merchant),
    }
    return render(request, "storefront/order.html", context)


@require_POST
@storefront_view
@shopper_required
def order_pay(request: HttpRequest, order_id: int) -> HttpResponse:
    merchant = _merchant(request)
    order = selectors.shopper_order_get(merchant=merchant, shopper=request.user, order_id=order_id)
    return _pay(request, merchant, order)


@require_POST
@storefront_view
@shopper_required
def order_cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    merchant = _merchant(request)
    order = selectors.shopper_order_get(merchant=merchant, shopper=request.user, order_id=order_id)
    try:
        # A savepoint: a refused change must leave the page's transaction usable.
        with transaction.atomic():
            services.order_cancel_by_shopper(merchant=merchant, shopper=request.user, order=order)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Order cancelled. The items went back on sale."))
    return redirect("storefront:order", m=merchant.slug, order_id=order.pk)


# --- the sandbox gateway's page (a platform page, not a merchant's) -------------------------


# Same-origin framing only: the consult call page shows this checkout in an overlay, so the
# shopper pays without leaving the call (hosted checkouts offer such an embedded mode).
@xframe_options_sameorigin
def sandbox_pay(request: HttpRequest, ref: str) -> HttpResponse:
    """What a payment provider's hosted checkout would be: confirm or decline."""
    charge = sandbox.sandbox_charge_get(ref)
    if charge is None:
        raise Http404("No such payment.")
    error = ""
    if request.method == "POST":
        approve = request.POST.get("decision") == "confirm"
        try:
            # A savepoint: a refused change must leave the page's transaction usable.
            with transaction.atomic():
                charge = sandbox.sandbox_decide(payment_ref=charge.payment_ref, approve=approve)
        except DomainError as exc:
            error = exc.message
        else:
            target = charge.return_url
            if url_has_allowed_host_and_scheme(
                target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                return HttpResponseRedirect(target)
            return redirect("sandbox-pay", ref=charge.payment_ref)
    return render(
        request,
        "sandbox/pay.html",
        {"charge": charge, "error": error, "open": charge.state == SandboxCharge.State.OPEN},
        status=409 if error else 200,
    )
