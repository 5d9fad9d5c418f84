"""Catalog, stock, orders and payments. Every row belongs to one merchant (`TenantModel`).

Money is integer minor units in the merchant's currency (orders snapshot the currency).
Stock lives on `Variant.stock` and means *available to sell*: placing an order takes units
out (a reservation), expiry/cancellation/refund-with-restock puts them back. A database
CHECK keeps it from ever going negative, whatever the application does.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from liveshop.tenancy.models import TenantModel

MAX_PRICE = 100_000_000_00  # 100 million major units: far above any real item, far below int64
MAX_STOCK = 10_000_000
OPTION_ORDER = {name: i for i, name in enumerate(("color", "colour", "size", "style", "material"))}


class Product(TenantModel):
    sku = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=200)
    name_zh = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True, max_length=5000)
    description_zh = models.TextField(blank=True, max_length=5000)
    category = models.CharField(max_length=60, blank=True)
    material = models.CharField(max_length=200, blank=True)
    material_zh = models.CharField(max_length=200, blank=True)
    price = models.BigIntegerField(help_text="Minor units; variants may override it")
    images = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    purchase_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most units one shopper may buy (open orders count)"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "sku"], condition=~Q(sku=""), name="product_sku_unique"
            ),
            models.CheckConstraint(
                condition=Q(price__gte=0) & Q(price__lte=MAX_PRICE), name="product_price_range"
            ),
        ]
        indexes = [models.Index(fields=["merchant", "is_active", "id"])]

    def __str__(self) -> str:
        return self.name


class Variant(TenantModel):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    sku = models.CharField(max_length=64, blank=True)
    # Option name → value, e.g. {"color": "white", "size": "M"}; `options_zh` the same keys
    # with Chinese values for the storefront.
    options = models.JSONField(default=dict, blank=True)
    options_zh = models.JSONField(default=dict, blank=True)
    price = models.BigIntegerField(null=True, blank=True, help_text="Overrides the product price")
    stock = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            # The last line of defence against overselling: no code path can go below zero.
            models.CheckConstraint(condition=Q(stock__gte=0), name="variant_stock_nonnegative"),
            models.CheckConstraint(
                condition=Q(price__isnull=True) | (Q(price__gte=0) & Q(price__lte=MAX_PRICE)),
                name="variant_price_range",
            ),
            models.UniqueConstraint(
                fields=["merchant", "sku"], condition=~Q(sku=""), name="variant_sku_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}:{self.label or 'default'}"

    def option_names(self) -> list[str]:
        # jsonb keeps no key order: labels follow a fixed one (colour before size, then A–Z).
        return sorted(self.options, key=lambda k: (OPTION_ORDER.get(k, len(OPTION_ORDER)), k))

    @property
    def label(self) -> str:
        return " / ".join(str(self.options[k]) for k in self.option_names() if self.options[k])

    @property
    def label_zh(self) -> str:
        values = [self.options_zh.get(k) or self.options[k] for k in self.option_names()]
        return " / ".join(str(v) for v in values if v)

    def effective_price(self, product: Product | None = None) -> int:
        if self.price is not None:
            return self.price
        return (product or self.product).price


class Address(TenantModel):
    """A shopper's saved shipping address at this merchant."""

    shopper = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=120)
    line1 = models.CharField(max_length=200)
    line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    phone = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "shopper"])]

    def __str__(self) -> str:
        return f"{self.name}, {self.line1}, {self.city} {self.country}"

    def as_dict(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in ADDRESS_FIELDS}


ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")


class OrderStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING_PAYMENT = "pending_payment", _("Awaiting payment")
    PAID = "paid", _("Paid")
    FULFILLED = "fulfilled", _("Fulfilled")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")


# Statuses whose lines hold stock (taken from Variant.stock and not given back).
HOLDING_STOCK = (
    OrderStatus.DRAFT,
    OrderStatus.PENDING_PAYMENT,
    OrderStatus.PAID,
    OrderStatus.FULFILLED,
)


class Order(TenantModel):
    shopper = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT
    )
    currency = models.CharField(max_length=3)
    subtotal = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    refunded_amount = models.BigIntegerField(default=0)
    shipping_address = models.JSONField(null=True, blank=True)
    # Attribution: the live room the order came from (or the consult's room).
    room = models.ForeignKey(
        "rooms.Room", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Staff who built a draft cart for the shopper (consults); null for the shopper's own.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Attribution: the 1v1 consult whose agent (`created_by`) built this cart.
    consult = models.ForeignKey(
        "consults.Consult",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
    )
    reserved_until = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.OneToOneField(
        "IdempotencyKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="order"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "status", "-id"]),
            models.Index(fields=["merchant", "shopper", "-id"]),
            # The expiry sweep: pending orders past their reservation.
            models.Index(
                fields=["reserved_until"],
                condition=Q(status="pending_payment"),
                name="order_pending_expiry",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_nonnegative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=models.F("total")),
                name="order_refund_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk}"

    @property
    def number(self) -> str:
        return f"{self.pk:06d}"


class OrderLine(TenantModel):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="+")
    # Snapshots: what the shopper saw when ordering, whatever the catalog says later.
    name = models.CharField(max_length=200)
    variant_label = models.CharField(max_length=200, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.BigIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderline_quantity_positive")
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.name}"

    @property
    def line_total(self) -> int:
        return self.quantity * self.unit_price


class OrderTransition(TenantModel):
    """One state change of an order: when, from what, to what, by whom and why."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # "shopper", "staff", "api_key", "system" or "gateway:<name>", plus a readable label.
    actor_kind = models.CharField(max_length=30)
    actor_label = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=now)
    # Set when the shopper's status email for this transition went out (idempotent task).
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status or '∅'} → {self.to_status}"


class IdempotencyKey(TenantModel):
    """`Idempotency-Key` of a shopper's write, scoped to shopper + merchant + operation.

    The row is written in the same transaction as the effect, so a key either names a
    committed result or does not exist (failed requests keep nothing and may be retried).
    The result points back at its key (`Order.idempotency_key`, `Payment.idempotency_key`):
    claiming the key is the first write, and nothing needs updating afterwards."""

    shopper = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    scope = models.CharField(max_length=30)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "shopper", "scope", "key"], name="idempotency_key_unique"
            )
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    REFUNDED = "refunded", _("Refunded")


class Payment(TenantModel):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="payments")
    gateway = models.CharField(max_length=30)
    # The gateway's id for this payment (the sandbox's `sbx_pay_…`); webhooks name it.
    external_id = models.CharField(max_length=100, unique=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    refunded_amount = models.BigIntegerField(default=0)
    redirect_url = models.CharField(max_length=500, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    idempotency_key = models.OneToOneField(
        IdempotencyKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="payment"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_nonnegative"),
            # At most one open checkout per order: paying twice starts no second charge.
            models.UniqueConstraint(
                fields=["order"], condition=Q(status="pending"), name="payment_one_open_per_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gateway}:{self.external_id}"


class WebhookEvent(TenantModel):
    """A payment webhook we processed. The unique (gateway, webhook id) makes a replay a
    conflict; the row commits together with its effect, so a crash leaves neither."""

    gateway = models.CharField(max_length=30)
    webhook_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=60)
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="+")
    payload = models.JSONField()
    received_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gateway", "webhook_id"], name="webhook_event_unique")
        ]

    def __str__(self) -> str:
        return f"{self.gateway}:{self.webhook_id}"


# --- the sandbox gateway's own records ---------------------------------------------------
# They stand in for a payment provider's database, which is not ours and not per tenant:
# no TenantModel, only reached through the sandbox pages and the delivery job.


class SandboxCharge(models.Model):
    class State(models.TextChoices):
        OPEN = "open", _("Open")
        SUCCEEDED = "succeeded", _("Succeeded")
        DECLINED = "declined", _("Declined")
        VOIDED = "voided", _("Voided")
        REFUNDED = "refunded", _("Refunded")

    payment_ref = models.CharField(max_length=100, unique=True)
    merchant_name = models.CharField(max_length=120)
    description = models.CharField(max_length=200)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    return_url = models.CharField(max_length=500)
    # Where this charge's events go (the merchant's webhook endpoint at a real provider).
    webhook_url = models.CharField(max_length=500)
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN)
    refunded_amount = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=now)
    decided_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.payment_ref


class SandboxDelivery(models.Model):
    """The sandbox's webhook outbox: every event is stored with the state change that caused
    it and retried until the endpoint takes it, so a crash anywhere loses no event."""

    webhook_id = models.CharField(max_length=100, unique=True)
    event_type = models.CharField(max_length=60)
    payload = models.JSONField()
    url = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=now)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.IntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(delivered_at__isnull=True),
                name="sandbox_delivery_due",
            )
        ]

    def __str__(self) -> str:
        return self.webhook_id
