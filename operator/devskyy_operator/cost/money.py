"""Money as integer micro-units of the currency (1 USD = 1,000,000), shown as
decimal strings with six places ("0.012345").

Integers add without drift, so a sum over a million tasks equals the sum of
what each task shows. Each part of a cost is rounded half-up to a micro-unit
once; a total is the sum of its rounded parts, never re-rounded.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MICROS = Decimal(1_000_000)
PLACES = 6


def to_micros(amount: Decimal) -> int:
    """An exact amount of currency, rounded half-up to micro-units."""
    return int((amount * MICROS).to_integral_value(rounding=ROUND_HALF_UP))


def format_micros(micros: int) -> str:
    """Micro-units as the decimal string the status, the API and the CLI show."""
    return f"{Decimal(micros).scaleb(-PLACES):.{PLACES}f}"


def parse_amount(text: str) -> int:
    """A decimal string (as format_micros writes) back to micro-units; ValueError if not one."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {text!r}")
    return to_micros(value)
