"""Commerce API shapes. Output serializers render; input serializers document the request
bodies (the services validate them, with errors naming the field, e.g. `lines[0].quantity`)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import (
    ADDRESS_FIELDS,
    MAX_PRICE,
    MAX_STOCK,
    Address,
    Order,
    OrderLine,
    OrderStatus,
    OrderTransition,
    Payment,
    Product,
    Variant,
)
from ..services import MAX_LINES, MAX_QUANTITY


class VariantOut(serializers.ModelSerializer):
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]  # a field, not Field.label
    price = serializers.SerializerMethodField(help_text="Effective unit price, minor units")
    price_override = serializers.IntegerField(
        source="price", read_only=True, allow_null=True, help_text="The variant's own price"
    )

    class Meta:
        model = Variant
        fields = [
            "id",
            "sku",
            "options",
            "options_zh",
            "label",
            "price",
            "price_override",
            "stock",
            "is_active",
            "position",
        ]

    @extend_schema_field(OpenApiTypes.INT)
    def get_price(self, variant: Variant) -> int:
        product = self.context.get("product") or variant.product
        return variant.effective_price(product)


class ProductOut(serializers.ModelSerializer):
    currency = serializers.SerializerMethodField()
    stock = serializers.SerializerMethodField(help_text="Units available over all variants")
    variants = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "name",
            "name_zh",
            "description",
            "description_zh",
            "category",
            "material",
            "material_zh",
            "price",
            "currency",
            "images",
            "is_active",
            "purchase_limit",
            "stock",
            "variants",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(OpenApiTypes.STR)
    def get_currency(self, product: Product) -> str:
        return str(self.context["merchant"].currency)

    @extend_schema_field(OpenApiTypes.INT)
    def get_stock(self, product: Product) -> int:
        total = getattr(product, "total_stock", None)
        if total is None:
            total = sum(v.stock for v in product.variants.all() if v.is_active)
        return int(total)

    @extend_schema_field(VariantOut(many=True))
    def get_variants(self, product: Product) -> Any:
        return VariantOut(
            product.variants.all(), many=True, context={**self.context, "product": product}
        ).data


class VariantIn(serializers.Serializer):
    sku = serializers.CharField(max_length=64, required=False, allow_blank=True)
    options = serializers.DictField(
        child=serializers.CharField(max_length=60), required=False, help_text='{"color": "red"}'
    )
    options_zh = serializers.DictField(child=serializers.CharField(max_length=60), required=False)
    price = serializers.IntegerField(
        min_value=0, max_value=MAX_PRICE, required=False, allow_null=True
    )
    stock = serializers.IntegerField(min_value=0, max_value=MAX_STOCK, required=False)
    is_active = serializers.BooleanField(required=False)
    position = serializers.IntegerField(min_value=0, max_value=9999, required=False)


class ProductIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    price = serializers.IntegerField(min_value=0, max_value=MAX_PRICE, help_text="Minor units")
    stock = serializers.IntegerField(
        min_value=0,
        max_value=MAX_STOCK,
        required=False,
        help_text="Units of the default variant (when no `variants` are given)",
    )
    variants = VariantIn(many=True, required=False)
    sku = serializers.CharField(max_length=64, required=False, allow_blank=True)
    name_zh = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    description_zh = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    category = serializers.CharField(max_length=60, required=False, allow_blank=True)
    material = serializers.CharField(max_length=200, required=False, allow_blank=True)
    material_zh = serializers.CharField(max_length=200, required=False, allow_blank=True)
    images = serializers.ListField(child=serializers.URLField(max_length=500), required=False)
    is_active = serializers.BooleanField(required=False)
    purchase_limit = serializers.IntegerField(
        min_value=1, max_value=10000, required=False, allow_null=True
    )


class StockAdjustIn(serializers.Serializer):
    delta = serializers.IntegerField(help_text="Units to add (negative to remove)")


class StockOut(serializers.Serializer):
    variant = serializers.IntegerField()
    stock = serializers.IntegerField()


class AddressSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, help_text="ISO 3166-1 alpha-2, e.g. US")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)


class AddressOut(serializers.ModelSerializer):
    class Meta:
        model = Address
        fields = ["id", *ADDRESS_FIELDS, "created_at"]


class LineIn(serializers.Serializer):
    product = serializers.IntegerField(min_value=1)
    variant = serializers.IntegerField(
        min_value=1, required=False, help_text="Needed when the product has several variants"
    )
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)


class OrderIn(serializers.Serializer):
    lines = LineIn(many=True, help_text=f"1–{MAX_LINES} lines")
    room = serializers.CharField(required=False, help_text="Slug of the room it was bought in")
    shipping_address = AddressSerializer(
        required=False, help_text="An address object, or the id of a saved address"
    )


class OrderLineOut(serializers.ModelSerializer):
    line_total = serializers.IntegerField(read_only=True)

    class Meta:
        model = OrderLine
        fields = [
            "id",
            "product",
            "variant",
            "name",
            "variant_label",
            "quantity",
            "unit_price",
            "line_total",
        ]


class TransitionOut(serializers.ModelSerializer):
    class Meta:
        model = OrderTransition
        fields = ["from_status", "to_status", "actor_kind", "actor_label", "reason", "created_at"]


class PaymentOut(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = [
            "id",
            "gateway",
            "external_id",
            "status",
            "amount",
            "currency",
            "refunded_amount",
            "redirect_url",
            "failure_reason",
            "created_at",
        ]


class OrderOut(serializers.ModelSerializer):
    number = serializers.CharField(read_only=True)
    room: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    lines = OrderLineOut(many=True, read_only=True)
    status = serializers.ChoiceField(choices=OrderStatus.choices, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "number",
            "status",
            "currency",
            "subtotal",
            "total",
            "refunded_amount",
            "lines",
            "shipping_address",
            "room",
            "reserved_until",
            "created_at",
            "updated_at",
            "paid_at",
        ]


class ShopperOut(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    display_name = serializers.CharField()


class OrderDetailOut(OrderOut):
    transitions = TransitionOut(many=True, read_only=True)
    payments = PaymentOut(many=True, read_only=True)

    class Meta(OrderOut.Meta):
        fields = [*OrderOut.Meta.fields, "transitions", "payments"]


class StaffOrderOut(OrderOut):
    shopper = ShopperOut(read_only=True)
    created_by: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(
        read_only=True
    )
    consult: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="public_id",
        read_only=True,
        help_text="The video consult whose agent (`created_by`) built this cart",
    )

    class Meta(OrderOut.Meta):
        fields = [*OrderOut.Meta.fields, "shopper", "created_by", "consult"]


class StaffOrderDetailOut(StaffOrderOut):
    transitions = TransitionOut(many=True, read_only=True)
    payments = PaymentOut(many=True, read_only=True)

    class Meta(StaffOrderOut.Meta):
        fields = [*StaffOrderOut.Meta.fields, "transitions", "payments"]


class DraftIn(serializers.Serializer):
    shopper = serializers.EmailField(help_text="The shopper's account email")
    lines = LineIn(many=True, required=False)
    room = serializers.CharField(required=False)


class DraftLinesIn(serializers.Serializer):
    lines = LineIn(many=True)


class SendIn(serializers.Serializer):
    shipping_address = AddressSerializer(required=False)


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)


class RefundIn(ReasonIn):
    restock = serializers.BooleanField(
        required=False, default=False, help_text="Put the units back on sale"
    )


class PayOut(serializers.Serializer):
    payment = PaymentOut()
    redirect_url = serializers.CharField()


class WebhookOut(serializers.Serializer):
    received = serializers.BooleanField()
    payment = serializers.CharField()
    event = serializers.CharField()
    order_status = serializers.CharField()
