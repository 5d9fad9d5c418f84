from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.utils.translation import gettext
from rest_framework import serializers

from ..models import CURRENCIES, SLUG_RE, ApiKey, AuditEvent, Membership, Merchant, StaffInvite
from ..permissions import SCOPE_CHOICES, Role

LOCALES = settings.LANGUAGES


class MerchantOut(serializers.ModelSerializer):
    plan: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )

    class Meta:
        model = Merchant
        fields = [
            "slug",
            "name",
            "currency",
            "locale",
            "timezone",
            "allowed_origins",
            "plan",
            "created_at",
        ]


def _validate_tz(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise serializers.ValidationError(gettext("Unknown time zone."))


class MerchantIn(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    currency = serializers.ChoiceField(choices=[c for c, _ in CURRENCIES])
    locale = serializers.ChoiceField(choices=LOCALES)
    timezone = serializers.CharField(max_length=64, validators=[_validate_tz])
    allowed_origins = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=20
    )


class MerchantSignupIn(serializers.Serializer):
    slug = serializers.RegexField(SLUG_RE, max_length=40)
    name = serializers.CharField(max_length=120)
    currency = serializers.ChoiceField(choices=[c for c, _ in CURRENCIES], default="USD")
    locale = serializers.ChoiceField(choices=LOCALES, default="en")
    timezone = serializers.CharField(max_length=64, default="UTC", validators=[_validate_tz])


class MembershipOut(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    display_name = serializers.CharField(source="user.display_name")

    class Meta:
        model = Membership
        fields = ["id", "email", "display_name", "role", "created_at"]


class RoleIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InviteIn(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices)


class InviteOut(serializers.ModelSerializer):
    class Meta:
        model = StaffInvite
        fields = ["id", "email", "role", "status", "created_at", "expires_at", "accepted_at"]


class ApiKeyIn(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=SCOPE_CHOICES), min_length=1, max_length=20
    )


class ApiKeyOut(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]


class ApiKeyCreatedOut(ApiKeyOut):
    key = serializers.CharField(help_text="Shown once; store it now.")

    class Meta(ApiKeyOut.Meta):
        fields = [*ApiKeyOut.Meta.fields, "key"]


class AuditEventOut(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "data",
            "ip",
        ]

    def get_actor(self, event: AuditEvent) -> str:
        if event.api_key_id:
            return f"API key {event.api_key.name}"  # type: ignore[union-attr]
        return event.actor.email if event.actor else ""
