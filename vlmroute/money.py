"""Money that carries its currency, and a dated FX table to convert it.

Amounts are :class:`~decimal.Decimal`; nothing silently assumes USD. Adding two amounts of
different currencies is an error: convert one first with :meth:`Money.to`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from types import MappingProxyType

from .errors import ConfigurationError, RequestError

__all__ = ["FxTable", "Money", "normalize_currency", "parse_amount"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")


def normalize_currency(code: str) -> str:
    """Return an ISO-4217-shaped code in upper case, or raise ConfigurationError."""
    upper = code.strip().upper() if isinstance(code, str) else ""
    if not _CURRENCY.match(upper):
        raise ConfigurationError(f"currency {code!r} is not a 3-letter ISO code such as USD or CNY")
    return upper


#: ``20USD``, ``0.5cny``: a number and a currency code with no space between.
_GLUED = re.compile(r"^\s*([0-9][0-9.]*)([A-Za-z]{3})\s*$")


def parse_amount(value: object, *, currency: str, what: str = "max_cost") -> Money:
    """Money from ``0.01``, ``Decimal("0.01")``, ``"0.01"``, ``"0.01 USD"``, ``"20USD"`` or
    ``"USD 0.01"`` (``currency`` when none is named). RequestError unless a finite amount of
    at least 0."""
    if isinstance(value, Money):
        return value
    named: str | None = None
    if isinstance(value, str):
        glued = _GLUED.match(value)
        parts = list(glued.groups()) if glued else value.split()
        if len(parts) == 2:
            number, named = (parts[1], parts[0]) if parts[0].isalpha() else tuple(parts)
        else:
            number = value.strip()
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        number = str(value)
    else:
        number = ""
    try:
        amount = Decimal(number)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise RequestError(
            f"{what} {value!r} is not an amount: give a number of at least 0, maybe with a "
            "currency (0.01, '0.01 USD')"
        )
    try:
        code = normalize_currency(named) if named is not None else currency
    except ConfigurationError as exc:
        raise RequestError(f"{what} {value!r}: {exc}") from None
    return Money(amount, code)


def _significant(amount: Decimal, digits: int) -> str:
    """``amount`` (under 1) rounded half-even to ``digits`` significant digits, in plain
    notation: 0.000221 -> 0.00022."""
    places = -amount.adjusted() + digits - 1
    return f"{amount.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN):f}"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency. Arithmetic keeps the currency and refuses to mix them."""

    amount: Decimal
    currency: str

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int | Decimal):
            raise TypeError(
                f"Money can be multiplied by an int or Decimal, not {type(factor).__name__}"
            )
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def to(self, currency: str, fx: FxTable) -> Money:
        """This amount in ``currency``, at the rates of ``fx``."""
        return fx.convert(self, currency)

    def rounded(self, places: int = 2) -> Money:
        """Rounded half-even to ``places`` decimals, for display."""
        return Money(
            self.amount.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN), self.currency
        )

    def __str__(self) -> str:
        """``USD 1,234.50``; an amount under a cent keeps two significant digits
        (``USD 0.00022``), so a per-request cost never shows as 0.00."""
        amount = self.amount
        if amount and abs(amount) < Decimal("0.01"):
            return f"{self.currency} {_significant(amount, 2)}"
        return f"{self.currency} {amount:,.2f}"

    def _same_currency(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise ValueError(
                f"cannot combine {self.currency} and {other.currency}: "
                "convert one with Money.to() first"
            )


@dataclass(frozen=True, slots=True)
class FxTable:
    """Exchange rates on a date: ``rates[c]`` is the value of one unit of ``c`` in ``base``."""

    base: str
    as_of: date
    rates: Mapping[str, Decimal]
    source: str = ""

    def __post_init__(self) -> None:
        base = normalize_currency(self.base)
        object.__setattr__(self, "base", base)
        rates = {normalize_currency(c): Decimal(r) for c, r in self.rates.items()}
        if rates.setdefault(base, Decimal(1)) != 1:
            raise ConfigurationError(
                f"the base currency {base} must have rate 1, got {rates[base]}"
            )
        for code, rate in rates.items():
            if rate <= 0:
                raise ConfigurationError(f"FX rate for {code} must be positive, got {rate}")
        object.__setattr__(self, "rates", MappingProxyType(rates))

    @property
    def currencies(self) -> frozenset[str]:
        return frozenset(self.rates)

    def knows(self, currency: str) -> bool:
        return currency in self.rates

    def rate(self, source: str, target: str) -> Decimal:
        """How many ``target`` one unit of ``source`` buys."""
        for code in (source, target):
            if code not in self.rates:
                known = ", ".join(sorted(self.rates))
                raise ConfigurationError(
                    f"no FX rate for {code} (known: {known}); "
                    "add it under fx.rates in a pricing file"
                )
        return self.rates[source] / self.rates[target]

    def convert(self, money: Money, currency: str) -> Money:
        if money.currency == currency:
            return money
        return Money(money.amount * self.rate(money.currency, currency), currency)
