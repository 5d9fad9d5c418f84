"""Live rooms: a merchant's scheduled, live or ended shows and their product line-up.

The live behaviour (hub, chat, video) lives elsewhere in this app; this module holds the
rows everything else hangs off."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from liveshop.tenancy.models import TenantModel, slug_validator


class RoomStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    LIVE = "live", _("Live")
    ENDED = "ended", _("Ended")


class Room(TenantModel):
    slug = models.CharField(max_length=40, validators=[slug_validator])
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    cover = models.URLField(max_length=500, blank=True)
    status = models.CharField(
        max_length=20, choices=RoomStatus.choices, default=RoomStatus.SCHEDULED
    )
    scheduled_at = models.DateTimeField(null=True, blank=True)
    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "slug"], name="room_slug_unique"),
        ]
        indexes = [models.Index(fields=["merchant", "status", "scheduled_at"])]

    def __str__(self) -> str:
        return self.slug


class RoomProduct(TenantModel):
    """One product in a room's line-up, in the host's order."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="lineup")
    product = models.ForeignKey("commerce.Product", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["room", "product"], name="room_product_unique"),
            models.CheckConstraint(condition=Q(position__gte=0), name="room_product_position"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.position}:{self.product_id}"


# --- engine: moderation state, stored room events, watch sessions -----------------------------


class RestrictionKind(models.TextChoices):
    MUTE = "mute", _("Muted")
    BAN = "ban", _("Banned")


class Restriction(TenantModel):
    """A mute (may watch, may not write) or ban (may not write; the room page may refuse
    more) of one user, in one room or merchant-wide (`room` null), until a time or for good
    (`until` null). Checked on every client write (`rooms.moderation.write_refusal`)."""

    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.CASCADE, related_name="restrictions"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=RestrictionKind.choices)
    until = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "user", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} user {self.user_id} room {self.room_id or '*'}"


class RoomEvent(TenantModel):
    """Every event of a room's stream, as stored by the realtime engine (written in bulk by
    `rooms.sinks.DatabaseEventSink`, never one INSERT per event in the hot path). The
    highest `seq` per room is where a lost stream continues from."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=64)
    ts = models.BigIntegerField()
    """Milliseconds since the epoch, as in the event (one clock: the stream's)."""
    data = models.JSONField()
    """The event as delivered (with seq, type, ts and nonce)."""

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="room_event_seq_unique"),
        ]
        indexes = [models.Index(fields=["room", "type", "seq"])]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq} {self.type}"


class WatchSession(TenantModel):
    """One viewer (user, device or connection: `viewer`) watching a room in one server
    process, from the first to the last of its connections there. Analytics only."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="watch_sessions")
    viewer = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(null=True, blank=True)
    """Last known to be watching: the start, then the end (a crashed process leaves it)."""
    ended_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["room", "viewer", "ended_at"])]

    def __str__(self) -> str:
        return f"{self.room_id} {self.viewer} {self.started_at:%Y-%m-%d %H:%M}"


class RoomLikes(TenantModel):
    """A room's like total, written from the realtime counters (which live in Redis or
    process memory) so it survives them."""

    room = models.OneToOneField(Room, on_delete=models.CASCADE, related_name="likes_total")
    total = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"{self.room_id}: {self.total}"


# --- economy: gift catalog, coin wallets, the coin ledger, top-ups -------------------------
# Services in rooms/economy.py. A wallet's balance is a running total of its ledger entries
# (each entry records `balance_after`); the CHECK keeps it from ever going below zero.

GIFT_CODE_RE = r"^[a-z0-9][a-z0-9_-]{0,39}$"
MAX_GIFT_COINS = 1_000_000


class GiftAnimation(models.TextChoices):
    FLOAT = "float", _("Float up")
    BURST = "burst", _("Burst")
    RAIN = "rain", _("Rain")
    SPIN = "spin", _("Spin")
    ZOOM = "zoom", _("Zoom")


class Gift(TenantModel):
    """One gift of a merchant's catalog. Gifts that were ever sent are deactivated rather
    than deleted: the ledger keeps pointing at them."""

    code = models.CharField(max_length=40)
    name = models.CharField(max_length=60)
    coins = models.PositiveIntegerField()
    animation = models.CharField(
        max_length=20, choices=GiftAnimation.choices, default=GiftAnimation.FLOAT
    )
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["position", "coins", "id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="gift_code_unique"),
            models.CheckConstraint(
                condition=Q(coins__gte=1) & Q(coins__lte=MAX_GIFT_COINS), name="gift_coins_range"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Wallet(TenantModel):
    """A shopper's coins at one merchant."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    balance = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "user"], name="wallet_user_unique"),
            # The last line of defence: no code path can spend coins that are not there.
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id}:{self.user_id}={self.balance}"


class LedgerKind(models.TextChoices):
    GRANT = "grant", _("Welcome coins")
    TOPUP = "topup", _("Top-up")
    GIFT = "gift", _("Gift")
    REFUND = "refund", _("Top-up refunded")


class TopUpStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting payment")
    CREDITED = "credited", _("Credited")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")


class TopUp(TenantModel):
    """Coins bought with money: paid as a commerce order (no lines) through the payment
    gateway; credited once when that order is paid, debited when it is refunded."""

    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="topups")
    coins = models.PositiveIntegerField()
    price = models.BigIntegerField(help_text="Minor units of `currency`")
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=20, choices=TopUpStatus.choices, default=TopUpStatus.PENDING
    )
    order = models.OneToOneField(
        "commerce.Order", on_delete=models.RESTRICT, related_name="topup", null=True, blank=True
    )
    # The client's Idempotency-Key (optional): the same key returns the same top-up.
    client_key = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=now)
    credited_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(coins__gte=1), name="topup_coins_positive"),
            models.CheckConstraint(condition=Q(price__gte=0), name="topup_price_nonnegative"),
            models.UniqueConstraint(
                fields=["wallet", "client_key"],
                condition=~Q(client_key=""),
                name="topup_client_key_unique",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "status", "-id"])]

    def __str__(self) -> str:
        return f"topup#{self.pk} {self.coins}"


class LedgerEntry(TenantModel):
    """One movement of coins. Append-only; `amount` is signed (gifts and refunds negative)."""

    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=10, choices=LedgerKind.choices)
    amount = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    room = models.ForeignKey(
        Room, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    gift = models.ForeignKey(
        Gift, on_delete=models.RESTRICT, null=True, blank=True, related_name="+"
    )
    count = models.PositiveIntegerField(default=0)
    # gift.send's client nonce: a replay finds this row and charges nothing.
    nonce = models.CharField(max_length=64, blank=True)
    topup = models.ForeignKey(
        TopUp, on_delete=models.RESTRICT, null=True, blank=True, related_name="entries"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["wallet", "nonce"], condition=Q(kind="gift"), name="ledger_gift_nonce"
            ),
            # A top-up is credited at most once and refunded at most once.
            models.UniqueConstraint(
                fields=["topup", "kind"],
                condition=Q(topup__isnull=False),
                name="ledger_topup_once",
            ),
            models.CheckConstraint(
                condition=(Q(kind__in=["grant", "topup"]) & Q(amount__gt=0))
                | (Q(kind="gift") & Q(amount__lt=0) & Q(count__gte=1))
                | (Q(kind="refund") & Q(amount__lte=0)),
                name="ledger_amount_sign",
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="ledger_balance_after_nonnegative"
            ),
        ]
        indexes = [
            models.Index(fields=["wallet", "-id"]),
            models.Index(fields=["merchant", "room", "kind"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d}"


# --- selling: pins, flash sales and their waitlist, room orders, moderators, chat settings ---


class RoomSelling(TenantModel):
    """A room's live selling and chat state: the pinned product, whether paid orders show as
    "someone just bought X", and the room's slow mode (null = the merchant's default)."""

    room = models.OneToOneField(Room, on_delete=models.CASCADE, related_name="selling")
    pinned_product = models.ForeignKey(
        "commerce.Product", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    pinned_at = models.DateTimeField(null=True, blank=True)
    purchase_events = models.BooleanField(default=True)
    slow_mode_s = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"{self.room_id}: pinned {self.pinned_product_id}"


class FlashSaleStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    ENDED = "ended", _("Ended")


class FlashSale(TenantModel):
    """A price for `units` units of one variant during a 10–300 s window. `sold` counts units
    in open or paid orders placed through the sale, `held` units offered to waitlisted
    shoppers; `sold + held <= units` is a database constraint, and both move only with
    conditional UPDATEs, so no code path sells more than `units`."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="flash_sales")
    product = models.ForeignKey("commerce.Product", on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey("commerce.Variant", on_delete=models.CASCADE, related_name="+")
    price = models.BigIntegerField()
    units = models.PositiveIntegerField()
    sold = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0)
    per_shopper = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=10, choices=FlashSaleStatus.choices, default=FlashSaleStatus.RUNNING
    )
    end_reason = models.CharField(max_length=20, blank=True)
    starts_at = models.DateTimeField(default=now)
    ends_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    # Released units go to the waitlist until then (after the window, at the sale price).
    waitlist_until = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(sold__lte=models.F("units") - models.F("held")),
                name="flash_sale_never_oversold",
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="flash_sale_price"),
            models.UniqueConstraint(
                fields=["room"], condition=Q(status="running"), name="flash_sale_one_running"
            ),
        ]
        indexes = [models.Index(fields=["status", "waitlist_until"])]

    def __str__(self) -> str:
        return f"sale#{self.pk} {self.sold}+{self.held}/{self.units}"


class RoomOrderStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    RELEASED = "released", _("Released")


class RoomOrder(TenantModel):
    """An order placed from a live room: which product was pinned or on sale when it was
    placed, and for a flash sale, the units it holds of the sale (`released` when the order
    expired, was cancelled or refunded, so the units went back to the sale)."""

    order = models.OneToOneField("commerce.Order", on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    shopper = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    pinned_product = models.ForeignKey(
        "commerce.Product", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    flash_sale = models.ForeignKey(
        FlashSale, on_delete=models.CASCADE, null=True, blank=True, related_name="orders"
    )
    quantity = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=RoomOrderStatus.choices, default=RoomOrderStatus.ACTIVE
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One open flash-sale order per shopper per sale.
            models.UniqueConstraint(
                fields=["flash_sale", "shopper"],
                condition=Q(status="active", flash_sale__isnull=False),
                name="room_order_one_per_sale",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id} in room {self.room_id}"


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    OFFERED = "offered", _("Offered")
    BOUGHT = "bought", _("Bought")
    LAPSED = "lapsed", _("Lapsed")
    CLOSED = "closed", _("Closed")


class WaitlistEntry(TenantModel):
    """A shopper waiting for a unit of a sold-out flash sale. Released units are offered in
    id order; an offer holds one unit for `LIVESHOP_FLASH_WAITLIST_HOLD_S`."""

    sale = models.ForeignKey(FlashSale, on_delete=models.CASCADE, related_name="waitlist")
    shopper = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING
    )
    created_at = models.DateTimeField(default=now)
    offered_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sale", "shopper"],
                condition=Q(status__in=["waiting", "offered"]),
                name="waitlist_once_per_sale",
            ),
        ]
        indexes = [models.Index(fields=["sale", "status", "id"])]

    def __str__(self) -> str:
        return f"sale {self.sale_id} #{self.pk} {self.status}"


class RoomModerator(TenantModel):
    """A shopper promoted to moderate one room's chat (delete, mute, slow mode)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="moderators")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="room_moderator_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}: {self.user_id}"


class ModerationSettings(TenantModel):
    """A merchant's chat rules: extra blocked keywords (one per line, on top of the built-in
    Chinese and English list unless `use_defaults` is off) and the default slow mode."""

    keywords = models.TextField(blank=True, max_length=20_000)
    use_defaults = models.BooleanField(default=True)
    slow_mode_s = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant"], name="moderation_settings_unique"),
        ]

    def __str__(self) -> str:
        return f"moderation settings of {self.merchant_id}"
