"""Minor units ↔ what people read. Prices are stored as integers in minor units."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from liveshop.tenancy.models import CURRENCY_EXPONENT

SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "CNY": "¥",
    "JPY": "¥",
    "MYR": "RM",
    "SGD": "S$",
    "HKD": "HK$",
}


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENT.get(currency, 2)


def money_format(amount: int | None, currency: str) -> str:
    """1900, "USD" → "$19.00"; 1900, "JPY" → "¥1,900"."""
    if amount is None:
        return ""
    digits = exponent(currency)
    value = Decimal(amount).scaleb(-digits)
    sign = "-" if value < 0 else ""
    return f"{sign}{SYMBOLS.get(currency, currency + ' ')}{abs(value):,.{digits}f}"


def money_parse(text: str, currency: str) -> int:
    """ "19.90" → 1990 (USD). Raises ValueError for anything that is not an amount in this
    currency's precision."""
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not value.is_finite():
        raise ValueError("not a number")
    minor = value.scaleb(exponent(currency))
    if minor != minor.to_integral_value():
        raise ValueError("too many decimals")
    return int(minor)
