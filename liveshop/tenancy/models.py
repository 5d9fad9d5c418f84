"""Merchants (tenants), their plans, staff, API keys and audit log."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .permissions import Role

SLUG_RE = r"^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$"
slug_validator = RegexValidator(
    SLUG_RE, _("Use 2–40 lower-case letters, digits and hyphens, not starting or ending with '-'.")
)
RESERVED_SLUGS = frozenset(
    {"new", "admin", "api", "static", "media", "ws", "www", "dashboard", "s"}
)
CURRENCIES = [
    ("USD", "USD"),
    ("EUR", "EUR"),
    ("GBP", "GBP"),
    ("CNY", "CNY"),
    ("JPY", "JPY"),
    ("MYR", "MYR"),
    ("SGD", "SGD"),
    ("HKD", "HKD"),
]
# Minor units per currency (ISO 4217 exponent): JPY has none.
CURRENCY_EXPONENT = {"JPY": 0}


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Unknown time zone."))


class Plan(models.Model):
    """A commercial plan: its limits are data, enforced by the issue that owns each resource."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    staff_seats = models.PositiveIntegerField()
    rooms_live = models.PositiveIntegerField(help_text="Rooms live at once")
    webrtc_viewers_per_room = models.PositiveIntegerField()
    stream_minutes_month = models.PositiveIntegerField()
    api_rate_per_min = models.PositiveIntegerField(help_text="API requests per minute per key")
    price_month = models.PositiveIntegerField(default=0, help_text="Minor units, USD")

    class Meta:
        ordering = ["price_month", "id"]

    def __str__(self) -> str:
        return self.name


class Merchant(models.Model):
    """The tenant. Its slug is public (it appears in every URL); everything else it owns is
    reached through a row that carries `merchant`."""

    slug = models.CharField(max_length=40, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=120)
    currency = models.CharField(max_length=3, choices=CURRENCIES, default="USD")
    locale = models.CharField(max_length=10, choices=settings.LANGUAGES, default="en")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    allowed_origins = models.JSONField(default=list, blank=True)
    record_shows = models.BooleanField(
        default=False,
        help_text="Keep every live show's HLS rendition as a replay (needs HLS on the platform).",
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="merchants")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.slug

    @property
    def currency_exponent(self) -> int:
        return CURRENCY_EXPONENT.get(self.currency, 2)


class TenantModel(models.Model):
    """Base of every tenant-owned row. The table gets FORCE row-level security on Postgres,
    keyed by `app.merchant_id` (see `rls.py`). Set `rls_user_column` to also let a user see
    their own rows across merchants (e.g. their memberships)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")

    rls_user_column: str | None = None

    class Meta:
        abstract = True


class Membership(TenantModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(default=now)

    rls_user_column = "user_id"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "user"], name="membership_unique")
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.merchant_id}:{self.role}"


INVITE_STATUS_LABELS = {
    "pending": pgettext_lazy("invitation", "Pending"),
    "accepted": pgettext_lazy("invitation", "Accepted"),
    "revoked": pgettext_lazy("invitation", "Revoked"),
    "expired": pgettext_lazy("invitation", "Expired"),
}


class StaffInvite(TenantModel):
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"invite {self.email} as {self.role}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= now():
            return "expired"
        return "pending"

    @property
    def status_label(self) -> str:
        """`status` as people read it, in the current language."""
        return str(INVITE_STATUS_LABELS[self.status])


class ApiKey(TenantModel):
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None


class AuditEvent(TenantModel):
    """Who did what, when, on which object. Append-only; owners read it."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["merchant", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"
