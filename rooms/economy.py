"""The room economy: gift catalogs, coin wallets, the coin ledger, top-ups and refunds.

Coins belong to a shopper at one merchant (`Wallet`). Every movement is one `LedgerEntry`
(signed `amount`, `balance_after`) written in the same transaction as the balance change,
with the wallet row locked (`select_for_update`), so:

- no balance goes below zero (checked under the lock, and a database CHECK behind it);
- `gift_send` is idempotent by (wallet, nonce): a replay returns the first result and
  neither charges nor publishes again (a unique index makes a second row impossible);
- for every merchant, balances + coins spent on gifts = top-ups + grants − refunds
  (`ledger_totals` computes both sides; the tests hold it under random operations).

Where coins come from:
- a grant of `LIVESHOP_DEMO_COINS` when a wallet is created (0 = none; `make run` sets 1000);
- top-ups: a top-up is a commerce order without lines for the coins' price, paid through the
  payment gateway (the sandbox: the same checkout page and signed webhook as any order). The
  order's transitions drive the wallet (`topup_order_transitioned`, called by commerce inside
  the webhook's transaction): paid → credited exactly once (a replayed webhook is refused
  by commerce before it changes anything, and the top-up's status and a unique ledger index
  stop a second credit anyway); refunded → the coins are taken back (what is left of them:
  staff refunds through `topup_refund` refuse when the shopper has spent them, unless forced;
  a refund made at the gateway cannot be refused and takes back what remains).

Gift animations: `animation` is one keyword the room page animates with CSS —
`float` (rises and fades), `burst` (pops out from the centre), `rain` (falls across the
video), `spin` (turns while rising), `zoom` (grows to fill the screen, for expensive gifts).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, QuerySet, Sum
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce.money import exponent
from liveshop.errors import Conflict, DomainError
from liveshop.tenancy.access import Actor
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.permissions import Perm
from liveshop.tenancy.scope import tenant_scope
from liveshop.tenancy.services import audit_record

from .events import publish
from .models import (
    GIFT_CODE_RE,
    MAX_GIFT_COINS,
    Gift,
    GiftAnimation,
    LedgerEntry,
    LedgerKind,
    Room,
    RoomStatus,
    TopUp,
    TopUpStatus,
    Wallet,
)

MAX_GIFTS = 50  # per merchant catalog
MAX_GIFT_COUNT = 99  # per gift.send (the protocol's limit)
MAX_NONCE = 64
MAX_PENDING_TOPUPS = 5
MIN_TOPUP_COINS = 10
GIFT_FIELDS = ("code", "name", "coins", "animation", "position", "is_active")


# --- gift catalog ------------------------------------------------------------------------


def gift_public(gift: Gift) -> dict[str, Any]:
    return {"code": gift.code, "name": gift.name, "coins": gift.coins, "animation": gift.animation}


def gift_catalog(merchant: Merchant) -> list[dict[str, Any]]:
    """The active gifts of a merchant, in catalog order: `[{code, name, coins, animation}]`."""
    with tenant_scope(merchant.id):
        return [gift_public(g) for g in gift_list(merchant=merchant, active_only=True)]


def gift_list(*, merchant: Merchant, active_only: bool = False) -> QuerySet[Gift]:
    gifts = Gift.objects.filter(merchant=merchant)
    if active_only:
        gifts = gifts.filter(is_active=True)
    return gifts.order_by("position", "coins", "id")


def gift_get(*, merchant: Merchant, code: str) -> Gift:
    gift = Gift.objects.filter(merchant=merchant, code=str(code)[:40]).first()
    if gift is None:
        raise Http404("No such gift.")
    return gift


def _gift_clean(data: Any, *, creating: bool) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValidationError({"non_field_errors": [_("Send an object.")]})
    unknown = set(data) - set(GIFT_FIELDS)
    if unknown:
        raise ValidationError({k: [_("Unknown field.")] for k in sorted(unknown)})
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name in ("code", "name", "coins") if creating else ():
        if name not in data:
            errors[name] = [_("This field is required.")]
    if "code" in data:
        code = data["code"]
        if not isinstance(code, str) or not re.match(GIFT_CODE_RE, code):
            errors["code"] = [
                _("Use 1–40 lower-case letters, digits, '-' and '_', starting with a letter.")
            ]
        else:
            values["code"] = code
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 60:
            errors["name"] = [_("Give a name of at most 60 characters.")]
        else:
            values["name"] = " ".join(name.split())
    if "coins" in data:
        coins = data["coins"]
        if (
            isinstance(coins, bool)
            or not isinstance(coins, int)
            or not 1 <= coins <= MAX_GIFT_COINS
        ):
            errors["coins"] = [_("A whole number from 1 to %(n)d.") % {"n": MAX_GIFT_COINS}]
        else:
            values["coins"] = coins
    if "animation" in data:
        if data["animation"] not in GiftAnimation.values:
            errors["animation"] = [
                _("One of: %(list)s.") % {"list": ", ".join(GiftAnimation.values)}
            ]
        else:
            values["animation"] = data["animation"]
    if "position" in data:
        position = data["position"]
        if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 9999:
            errors["position"] = [_("A whole number from 0 to 9999.")]
        else:
            values["position"] = position
    if "is_active" in data:
        if not isinstance(data["is_active"], bool):
            errors["is_active"] = [_("Must be true or false.")]
        else:
            values["is_active"] = data["is_active"]
    if errors:
        raise ValidationError(errors)
    return values


def _actor_scope(actor: Actor) -> Any:
    return tenant_scope(actor.merchant.id, user_id=getattr(actor.user, "pk", None))


def gift_create(*, actor: Actor, data: Any) -> Gift:
    """Add a gift to the merchant's catalog. `data`: code, name, coins, animation?, position?,
    is_active?"""
    actor.require(Perm.MANAGE_GIFTS)
    values = _gift_clean(data, creating=True)
    merchant = actor.merchant
    with _actor_scope(actor):
        if Gift.objects.filter(merchant=merchant).count() >= MAX_GIFTS:
            raise Conflict(
                _("A catalog holds at most %(n)d gifts.") % {"n": MAX_GIFTS}, code="too_many_gifts"
            )
        if Gift.objects.filter(merchant=merchant, code=values["code"]).exists():
            raise ValidationError({"code": [_("A gift with this code exists.")]})
        try:
            with transaction.atomic():
                gift = Gift.objects.create(merchant=merchant, **values)
        except IntegrityError:
            raise ValidationError({"code": [_("A gift with this code exists.")]}) from None
        audit_record(actor=actor, action="gift.created", obj=gift, data=gift_public(gift))
    return gift


def gift_update(*, actor: Actor, gift: Gift, data: Any) -> Gift:
    """Change a gift. Its code stays (clients and the ledger know it by code)."""
    actor.require(Perm.MANAGE_GIFTS)
    values = _gift_clean(data, creating=False)
    if "code" in values and values["code"] != gift.code:
        raise ValidationError({"code": [_("A gift's code cannot change.")]})
    values.pop("code", None)
    with _actor_scope(actor):
        locked = (
            Gift.objects.select_for_update().filter(pk=gift.pk, merchant=actor.merchant).first()
        )
        if locked is None:
            raise Http404("No such gift.")
        for key, value in values.items():
            setattr(locked, key, value)
        locked.updated_at = timezone.now()
        locked.save()
        audit_record(actor=actor, action="gift.updated", obj=locked, data=dict(values))
    return locked


def gift_delete(*, actor: Actor, gift: Gift) -> bool:
    """Remove a gift from the catalog. A gift that was ever sent is deactivated instead (the
    ledger keeps it). Returns True when the row was deleted."""
    actor.require(Perm.MANAGE_GIFTS)
    with _actor_scope(actor):
        if LedgerEntry.objects.filter(merchant=actor.merchant, gift_id=gift.pk).exists():
            Gift.objects.filter(pk=gift.pk, merchant=actor.merchant).update(
                is_active=False, updated_at=timezone.now()
            )
            audit_record(actor=actor, action="gift.deactivated", obj=gift)
            return False
        audit_record(actor=actor, action="gift.deleted", obj=gift)
        Gift.objects.filter(pk=gift.pk, merchant=actor.merchant).delete()
        return True


# --- wallets ------------------------------------------------------------------------------


def _user_id(user: Any) -> int:
    if (
        user is None
        or not getattr(user, "is_authenticated", False)
        or not getattr(user, "pk", None)
    ):
        raise DomainError(_("Sign in to use coins."), code="auth_required", status=401)
    return int(user.pk)


def _wallet_locked(merchant: Merchant, user_id: int) -> Wallet:
    """The user's wallet, locked for this transaction; created (with the demo grant) first
    when missing. Two first uses at once create one wallet: the loser's insert waits on the
    unique index, fails in its savepoint and reads the winner's row."""
    wallet = Wallet.objects.select_for_update().filter(merchant=merchant, user_id=user_id).first()
    if wallet is not None:
        return wallet
    grant = max(0, int(settings.LIVESHOP_DEMO_COINS))
    try:
        with transaction.atomic():
            wallet = Wallet.objects.create(merchant=merchant, user_id=user_id, balance=grant)
            if grant:
                LedgerEntry.objects.create(
                    merchant=merchant,
                    wallet=wallet,
                    kind=LedgerKind.GRANT,
                    amount=grant,
                    balance_after=grant,
                )
    except IntegrityError:
        pass
    return Wallet.objects.select_for_update().get(merchant=merchant, user_id=user_id)


def wallet_get_or_create(*, merchant: Merchant, user: Any) -> Wallet:
    """The shopper's wallet at this merchant; a new one starts with LIVESHOP_DEMO_COINS."""
    user_id = _user_id(user)
    with tenant_scope(merchant.id, user_id=user_id):
        return _wallet_locked(merchant, user_id)


def wallet_entries(
    *, wallet: Wallet, limit: int = 50, before: int | None = None
) -> list[LedgerEntry]:
    """A wallet's movements, newest first; `before` (an entry id) pages back in time."""
    entries = LedgerEntry.objects.filter(merchant_id=wallet.merchant_id, wallet=wallet)
    if before is not None:
        entries = entries.filter(id__lt=before)
    return list(
        entries.select_related("gift", "room", "topup").order_by("-id")[: max(1, min(limit, 200))]
    )


def _move(wallet: Wallet, amount: int, kind: str, **fields: Any) -> LedgerEntry:
    """Apply one movement to a wallet locked by the caller and record it."""
    after = wallet.balance + amount
    if after < 0:  # callers check first; this keeps a bug from reaching the CHECK as a 500
        raise Conflict(_("Not enough coins."), code="insufficient_coins")
    now = timezone.now()
    Wallet.objects.filter(pk=wallet.pk).update(balance=after, updated_at=now)
    wallet.balance = after
    wallet.updated_at = now
    return LedgerEntry.objects.create(
        merchant_id=wallet.merchant_id,
        wallet=wallet,
        kind=kind,
        amount=amount,
        balance_after=after,
        created_at=now,
        **fields,
    )


# --- sending gifts ------------------------------------------------------------------------


def _gift_result(entry: LedgerEntry, gift: Gift, *, replayed: bool) -> dict[str, Any]:
    return {
        "gift": gift_public(gift),
        "count": entry.count,
        "coins": -entry.amount,
        "balance": entry.balance_after,
        "nonce": entry.nonce,
        "replayed": replayed,
    }


def gift_send(
    *, merchant: Merchant, room: Room, user: Any, gift_code: str, count: int = 1, nonce: str
) -> dict[str, Any]:
    """Send `count` of a gift in `room`, paid from the sender's wallet, in one transaction.

    Returns `{gift, count, coins, balance, nonce, replayed}`. The same nonce again (from the
    same sender) returns the first result with `replayed: true`, charging and publishing
    nothing. After commit the room hears `{"type": "gift", "user", "gift", "count", "nonce"}`.
    Raises DomainError `unknown_gift`, `insufficient_coins` (409), `invalid`, `room_ended`."""
    user_id = _user_id(user)
    if not isinstance(gift_code, str) or not 1 <= len(gift_code) <= 40:
        raise DomainError(_("Unknown gift."), code="unknown_gift")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_GIFT_COUNT:
        raise DomainError(
            _("Send between 1 and %(n)d at once.") % {"n": MAX_GIFT_COUNT}, code="invalid"
        )
    if not isinstance(nonce, str) or not 1 <= len(nonce) <= MAX_NONCE:
        raise DomainError(_("Give a nonce of 1–64 characters."), code="invalid")
    if room.merchant_id != merchant.id:
        raise Http404("No such room.")
    with tenant_scope(merchant.id, user_id=user_id):
        # The lock serialises this sender's gifts: the nonce check and the balance check
        # below see every earlier send of theirs committed.
        wallet = _wallet_locked(merchant, user_id)
        first = (
            LedgerEntry.objects.filter(wallet=wallet, kind=LedgerKind.GIFT, nonce=nonce)
            .select_related("gift")
            .first()
        )
        if first is not None and first.gift is not None:
            return _gift_result(first, first.gift, replayed=True)
        if room.status == RoomStatus.ENDED:
            raise Conflict(_("This show has ended."), code="room_ended")
        gift = Gift.objects.filter(merchant=merchant, code=gift_code, is_active=True).first()
        if gift is None:
            raise DomainError(_("Unknown gift."), code="unknown_gift")
        cost = gift.coins * count
        if wallet.balance < cost:
            raise Conflict(
                _(
                    "Not enough coins: this costs %(cost)d and you have %(balance)d. Top up your wallet."
                )
                % {"cost": cost, "balance": wallet.balance},
                code="insufficient_coins",
                cost=cost,
                balance=wallet.balance,
            )
        entry = _move(
            wallet, -cost, LedgerKind.GIFT, room=room, gift=gift, count=count, nonce=nonce
        )
        sender = user
        if getattr(user, "pk", None) != user_id or not hasattr(user, "display_name"):
            from django.contrib.auth import get_user_model

            sender = get_user_model().objects.get(pk=user_id)
        publish(
            room,
            {
                "type": "gift",
                "user": {"id": user_id, "name": sender.display_name},
                "gift": gift_public(gift),
                "count": count,
                "nonce": nonce,
            },
        )
        return _gift_result(entry, gift, replayed=False)


# --- top-ups ------------------------------------------------------------------------------


def topup_price(coins: int, currency: str) -> int:
    """The price of `coins` in minor units of `currency` (rounded up to a whole minor unit)."""
    per_unit = max(1, int(settings.LIVESHOP_COINS_PER_UNIT))
    return math.ceil(coins * 10 ** exponent(currency) / per_unit)


def topup_packages(merchant: Merchant) -> list[dict[str, Any]]:
    return [
        {"coins": coins, "price": topup_price(coins, merchant.currency)}
        for coins in settings.LIVESHOP_TOPUP_PACKAGES
    ]


@dataclass(frozen=True)
class TopUpStarted:
    topup: TopUp
    pay_url: str
    replayed: bool


def wallet_path(merchant: Merchant) -> str:
    return reverse("storefront:wallet", kwargs={"m": merchant.slug})


def topup_start(
    *, merchant: Merchant, user: Any, coins: Any, base_url: str, client_key: str | None = None
) -> TopUpStarted:
    """Buy `coins`: opens a commerce order (no lines) for their price and its gateway
    checkout. Returns the top-up and the URL to pay at; the coins arrive when the gateway
    reports the payment. With `client_key` (the Idempotency-Key) a retry returns the same
    top-up; the same key for another amount → 422."""
    from commerce.models import Order, OrderStatus
    from commerce.services import Who
    from commerce.services.orders import _record, idempotency_key_check

    user_id = _user_id(user)
    limit = int(settings.LIVESHOP_TOPUP_MAX_COINS)
    if (
        isinstance(coins, bool)
        or not isinstance(coins, int)
        or not MIN_TOPUP_COINS <= coins <= limit
    ):
        raise ValidationError(
            {
                "coins": [
                    _("Between %(lo)d and %(hi)d coins.") % {"lo": MIN_TOPUP_COINS, "hi": limit}
                ]
            }
        )
    key = idempotency_key_check(client_key) if client_key else ""
    with tenant_scope(merchant.id, user_id=user_id):
        wallet = _wallet_locked(merchant, user_id)
        topup = None
        if key:
            topup = TopUp.objects.filter(wallet=wallet, client_key=key).first()
            if topup is not None and topup.coins != coins:
                raise DomainError(
                    _("This Idempotency-Key was used for a different request."),
                    code="idempotency_key_reused",
                    status=422,
                )
        replayed = topup is not None
        if topup is None:
            now = timezone.now()
            pending = TopUp.objects.filter(
                wallet=wallet,
                status=TopUpStatus.PENDING,
                created_at__gte=now - settings.LIVESHOP_RESERVATION_TTL,
            ).count()
            if pending >= MAX_PENDING_TOPUPS:
                raise Conflict(
                    _("You have %(n)d top-ups waiting for payment. Pay or wait for them first.")
                    % {"n": pending},
                    code="too_many_topups",
                )
            price = topup_price(coins, merchant.currency)
            order = Order.objects.create(
                merchant=merchant,
                shopper_id=user_id,
                status=OrderStatus.PENDING_PAYMENT,
                currency=merchant.currency,
                subtotal=price,
                total=price,
                reserved_until=now + settings.LIVESHOP_RESERVATION_TTL,
                created_at=now,
                updated_at=now,
            )
            _record(
                order,
                "",
                OrderStatus.PENDING_PAYMENT,
                Who("shopper", user if getattr(user, "pk", None) else None, "coin top-up"),
                reason=f"coin top-up: {coins} coins",
            )
            topup = TopUp.objects.create(
                merchant=merchant,
                wallet=wallet,
                coins=coins,
                price=price,
                currency=merchant.currency,
                order=order,
                client_key=key,
                created_at=now,
            )
        return TopUpStarted(topup, _checkout(merchant, topup, base_url), replayed)


def _checkout(merchant: Merchant, topup: TopUp, base_url: str) -> str:
    """The gateway checkout of a pending top-up's order (the open one, if any); "" when the
    top-up waits for nothing."""
    from commerce.services import payment_start

    if topup.order is None or topup.status != TopUpStatus.PENDING:
        return ""
    started = payment_start(
        merchant=merchant,
        shopper=topup.order.shopper,
        order=topup.order,
        base_url=base_url,
        return_path=f"{wallet_path(merchant)}?topup={topup.pk}",
        description=_("%(n)d coins") % {"n": topup.coins},
    )
    return started.payment.redirect_url


def topup_pay(*, merchant: Merchant, user: Any, topup: TopUp, base_url: str) -> str:
    """The checkout URL of the user's pending top-up (to pay again after leaving the page).
    Raises Conflict `order_not_payable` / `reservation_expired` when its time is up."""
    user_id = _user_id(user)
    with tenant_scope(merchant.id, user_id=user_id):
        found = topup_get(merchant=merchant, topup_id=topup.pk, user=user)
        if found.status != TopUpStatus.PENDING:
            raise Conflict(
                _("This top-up is no longer waiting for payment."), code="topup_not_pending"
            )
        return _checkout(merchant, found, base_url)


def topup_get(*, merchant: Merchant, topup_id: int, user: Any = None) -> TopUp:
    """A top-up of this merchant (and of `user`, when given); Http404 otherwise."""
    topups = TopUp.objects.filter(merchant=merchant, pk=topup_id).select_related(
        "wallet__user", "order"
    )
    if user is not None:
        topups = topups.filter(wallet__user_id=int(getattr(user, "pk", 0) or 0))
    topup = topups.first()
    if topup is None:
        raise Http404("No such top-up.")
    return topup


def topup_list(*, merchant: Merchant, user: Any = None, status: str = "") -> QuerySet[TopUp]:
    topups = TopUp.objects.filter(merchant=merchant).select_related("wallet__user", "order")
    if user is not None:
        topups = topups.filter(wallet__user_id=int(getattr(user, "pk", 0) or 0))
    if status:
        topups = topups.filter(status=status)
    return topups.order_by("-id")


def topup_order_transitioned(*, order: Any, to_status: str) -> None:
    """Commerce calls this (inside the transition's transaction, order locked) when an order
    is paid, refunded, expired or cancelled; a top-up's wallet follows its order."""
    from commerce.models import OrderStatus

    topup = (
        TopUp.objects.select_for_update()
        .filter(merchant_id=order.merchant_id, order_id=order.pk)
        .first()
    )
    if topup is None:
        return
    now = timezone.now()
    if to_status == OrderStatus.PAID:
        if topup.status in (TopUpStatus.CREDITED, TopUpStatus.REFUNDED):
            return  # credited once, whatever happens to the order again
        wallet = Wallet.objects.select_for_update().get(pk=topup.wallet_id)
        _move(wallet, topup.coins, LedgerKind.TOPUP, topup=topup)
        TopUp.objects.filter(pk=topup.pk).update(status=TopUpStatus.CREDITED, credited_at=now)
    elif to_status == OrderStatus.REFUNDED:
        if topup.status != TopUpStatus.CREDITED:
            return
        wallet = Wallet.objects.select_for_update().get(pk=topup.wallet_id)
        # Coins already spent on gifts cannot come back: take what is left of them.
        taken = min(wallet.balance, topup.coins)
        _move(wallet, -taken, LedgerKind.REFUND, topup=topup)
        TopUp.objects.filter(pk=topup.pk).update(status=TopUpStatus.REFUNDED, refunded_at=now)
    elif to_status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED) and (
        topup.status == TopUpStatus.PENDING
    ):
        TopUp.objects.filter(pk=topup.pk).update(status=to_status)


def topup_refund(*, actor: Actor, topup: TopUp, reason: str = "", force: bool = False) -> TopUp:
    """Staff refund a credited top-up: the money goes back through the gateway and the coins
    leave the wallet. Refused (409 `coins_spent`) when the shopper has already spent some of
    them, unless `force` (then what is left is taken back)."""
    from commerce.models import Order
    from commerce.services import order_refund

    actor.require(Perm.MANAGE_ORDERS)
    merchant = actor.merchant
    with _actor_scope(actor):
        # The order first, as the payment webhook does: the two cannot deadlock.
        order = (
            Order.objects.select_for_update()
            .filter(merchant=merchant, pk=topup.order_id or 0)
            .first()
        )
        locked = TopUp.objects.select_for_update().filter(merchant=merchant, pk=topup.pk).first()
        if order is None or locked is None:
            raise Http404("No such top-up.")
        if locked.status != TopUpStatus.CREDITED:
            raise Conflict(
                _("Only a credited top-up can be refunded (this one is %(status)s).")
                % {"status": TopUpStatus(locked.status).label.lower()},
                code="not_refundable",
            )
        wallet = Wallet.objects.select_for_update().get(pk=locked.wallet_id)
        if wallet.balance < locked.coins and not force:
            raise Conflict(
                _(
                    "The shopper has %(balance)d coins left of the %(coins)d bought. "
                    "Refund anyway to take back what is left."
                )
                % {"balance": wallet.balance, "coins": locked.coins},
                code="coins_spent",
            )
        order_refund(actor=actor, order=order, reason=reason or "coin top-up refunded")
        locked.refresh_from_db()
        audit_record(
            actor=actor,
            action="topup.refunded",
            obj=locked,
            data={"coins": locked.coins, "price": locked.price, "force": force},
        )
    return locked


# --- leaderboard, totals, the ledger invariant ------------------------------------------


def leaderboard(
    *, merchant: Merchant, room: Room, limit: int = 10, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Top gifters of a room by coins spent there (since `since`, e.g. the show's start):
    `[{user: {id, name}, coins}]`, most coins first."""
    entries = LedgerEntry.objects.filter(merchant=merchant, room=room, kind=LedgerKind.GIFT)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    rows = (
        entries.values("wallet__user_id", "wallet__user__display_name")
        .annotate(spent=Sum("amount"))
        .order_by("spent", "wallet__user_id")[: max(1, min(limit, 50))]
    )
    return [
        {
            "user": {"id": row["wallet__user_id"], "name": row["wallet__user__display_name"]},
            "coins": -int(row["spent"] or 0),
        }
        for row in rows
    ]


def gift_totals(*, merchant: Merchant, room: Room, since: datetime | None = None) -> dict[str, Any]:
    """What a room received: `{gifts, coins, senders, by_gift: [{code, name, animation,
    count, coins}], top: the top gifters}` (since `since`, when given)."""
    entries = LedgerEntry.objects.filter(merchant=merchant, room=room, kind=LedgerKind.GIFT)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    totals = entries.aggregate(
        coins=Sum("amount"), gifts=Sum("count"), senders=Count("wallet", distinct=True)
    )
    by_gift = (
        entries.values("gift__code", "gift__name", "gift__animation")
        .annotate(count=Sum("count"), spent=Sum("amount"))
        .order_by("spent", "gift__code")
    )
    return {
        "gifts": int(totals["gifts"] or 0),
        "coins": -int(totals["coins"] or 0),
        "senders": int(totals["senders"] or 0),
        "by_gift": [
            {
                "code": row["gift__code"],
                "name": row["gift__name"],
                "animation": row["gift__animation"],
                "count": int(row["count"] or 0),
                "coins": -int(row["spent"] or 0),
            }
            for row in by_gift
        ],
        "top": leaderboard(merchant=merchant, room=room, since=since),
    }


def ledger_totals(*, merchant: Merchant) -> dict[str, int]:
    """Both sides of the invariant: balances + spent == topups + grants - refunds, and
    `drift`: how many wallets' balance differs from the sum of their entries (always 0)."""
    by_kind = dict(
        LedgerEntry.objects.filter(merchant=merchant)
        .values("kind")
        .annotate(total=Sum("amount"))
        .values_list("kind", "total")
    )
    balances = Wallet.objects.filter(merchant=merchant).aggregate(total=Sum("balance"))["total"]
    drift = (
        Wallet.objects.filter(merchant=merchant)
        .annotate(ledger=Sum("entries__amount"))
        .exclude(balance=F("ledger"))
        .exclude(balance=0, ledger__isnull=True)
        .count()
    )
    return {
        "balances": int(balances or 0),
        "spent": -int(by_kind.get(LedgerKind.GIFT, 0) or 0),
        "topups": int(by_kind.get(LedgerKind.TOPUP, 0) or 0),
        "grants": int(by_kind.get(LedgerKind.GRANT, 0) or 0),
        "refunds": -int(by_kind.get(LedgerKind.REFUND, 0) or 0),
        "drift": drift,
    }
