from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from commerce.api.serializers import ProductOut

from ..models import Room, RoomStatus


class HostOut(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


class RoomOut(serializers.ModelSerializer):
    host = HostOut(read_only=True)
    status = serializers.ChoiceField(choices=RoomStatus.choices, read_only=True)
    products = serializers.SerializerMethodField(help_text="The line-up, in order (ids)")

    class Meta:
        model = Room
        fields = [
            "slug",
            "title",
            "description",
            "cover",
            "status",
            "scheduled_at",
            "started_at",
            "ended_at",
            "host",
            "products",
            "created_at",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_products(self, room: Room) -> list[int]:
        return [entry.product_id for entry in room.lineup.all()]


class RoomDetailOut(RoomOut):
    """A room with its line-up's products (shopper side)."""

    lineup = serializers.SerializerMethodField()

    class Meta(RoomOut.Meta):
        fields = [*RoomOut.Meta.fields, "lineup"]

    @extend_schema_field(ProductOut(many=True))
    def get_lineup(self, room: Room) -> Any:
        products = self.context.get("lineup", [])
        return ProductOut(products, many=True, context=self.context).data


class RoomIn(serializers.Serializer):
    slug = serializers.RegexField(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$", max_length=40)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    cover = serializers.URLField(max_length=500, required=False, allow_blank=True)
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True)
    host = serializers.IntegerField(required=False, help_text="User id of a host on your staff")
    products = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=100,
        help_text="The line-up: product ids in order",
    )


class LineupIn(serializers.Serializer):
    products = serializers.ListField(child=serializers.IntegerField(min_value=1), max_length=100)
