"""Money as the costs ledger keeps it: ISO 4217 codes, integer minor units, exact decimals.

A currency's minor units (2 for EUR, 0 for JPY, 3 for KWD) are CLDR's, through Babel. Amounts enter as
decimal text in major units ("12.50") and are kept as integers of minor units (1250): never floats.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

from babel.numbers import get_currency_precision, list_currencies
from pydantic import AfterValidator

_KNOWN = frozenset(list_currencies())


def _currency(value: str) -> str:
    if value not in _KNOWN:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (three capital letters, such as EUR, USD, JPY)")
    return value


Currency = Annotated[str, AfterValidator(_currency)]
"""An ISO 4217 currency code that CLDR knows."""


def digits(currency: str) -> int:
    """How many decimals the currency's minor unit has."""
    return int(get_currency_precision(currency))


def to_minor(amount: str | Decimal | int, currency: str) -> int:
    """`amount` in major units as an integer of minor units; refused (ValueError, saying what would be
    accepted) when it is not a number, not positive, or has more decimals than the currency allows."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not an amount: write it in {currency} as digits, such as 12.50") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"an amount must be more than zero, not {amount}")
    places = digits(currency)
    minor = value.scaleb(places)
    if minor != minor.to_integral_value():
        allowed = f"at most {places} decimal(s)" if places else "no decimals"
        raise ValueError(f"{amount} {currency} has more decimals than {currency} allows ({allowed})")
    if minor >= MAX_MINOR:
        raise ValueError(f"an amount must be less than {to_major(MAX_MINOR, currency)} {currency}, not {amount}")
    return int(minor)


MAX_MINOR = 10**15
"""Amounts are kept below this many minor units (ten trillion euros): within JSON's exact integers."""


def to_major(minor: int, currency: str) -> Decimal:
    """Minor units as the exact decimal amount in major units (1250 EUR -> 12.50)."""
    return Decimal(minor).scaleb(-digits(currency))
