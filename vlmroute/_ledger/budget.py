"""A spending limit per UTC day or UTC calendar month, for one provider or for all of them.

::

    # router.yaml
    budgets:
      - {amount: 5, currency: USD, period: day}                      # all providers together
      - {amount: 200, currency: CNY, period: month, provider: zhipu}

A gateway key's own budgets (``gateway: keys: [{name, budgets}]``) are budgets with
``caller`` set to the key's name: they count only the requests sent with that key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..money import Money, normalize_currency
from .record import utc

__all__ = ["Budget", "Period", "period_bounds"]

Period = Literal["day", "month"]


def period_bounds(period: Period, now: datetime) -> tuple[datetime, datetime]:
    """The UTC day or UTC calendar month holding ``now``: ``(start, end)``, end exclusive."""
    now = utc(now, "now")
    if period == "day":
        start = datetime(now.year, now.month, now.day, tzinfo=UTC)
        return start, start + timedelta(days=1)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return start, datetime(year, month, 1, tzinfo=UTC)


class Budget(BaseModel):
    """At most ``amount`` ``currency`` per ``period``; ``provider=None`` caps the total, and
    ``caller=None`` counts every caller's requests (a name: only that gateway key's)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
    currency: str
    period: Period
    provider: Annotated[str, Field(min_length=1)] | None = None
    caller: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return normalize_currency(value)

    @property
    def limit(self) -> Money:
        return Money(self.amount, self.currency)

    def applies_to(self, provider: str | None, caller: str | None = None) -> bool:
        return (self.provider is None or self.provider == provider) and (
            self.caller is None or self.caller == caller
        )

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        return period_bounds(self.period, now)

    def describe(self) -> str:
        """``USD 5 a day across all providers``, ``CNY 200 a month on zhipu``."""
        scope = "across all providers" if self.provider is None else f"on {self.provider}"
        who = "" if self.caller is None else f" for gateway key {self.caller}"
        return f"{self.currency} {self.amount:,f} a {self.period} {scope}{who}"
