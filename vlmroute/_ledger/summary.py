"""Spend records summed by provider and/or UTC day, and estimates compared with actual cost.

Pure: records in, a :class:`SpendSummary` out. Costs are shown in one currency: a record's
``display_cost`` where it is already in that currency (the rate the router used), else its
native ``cost`` converted at the FX table given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from ..money import FxTable, Money
from .record import SpendRecord

__all__ = ["NOT_ROUTED", "EstimateLine", "GroupKey", "SpendLine", "SpendSummary", "summarize"]

GroupKey = Literal["provider", "day"]
#: The provider column of requests refused before any offer was tried.
NOT_ROUTED = "(not routed)"


@dataclass(frozen=True, slots=True)
class SpendLine:
    """Totals of one group; ``provider`` or ``day`` is None where the grouping leaves it out."""

    provider: str | None
    day: date | None
    requests: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cost: Money


@dataclass(frozen=True, slots=True)
class EstimateLine:
    """The router's estimates beside the actual cost, over one provider's estimated records."""

    provider: str
    requests: int
    estimated: Money
    actual: Money

    @property
    def difference_pct(self) -> Decimal | None:
        """``(actual - estimated) / estimated`` in percent; None when nothing was estimated."""
        if self.estimated.amount == 0:
            return None
        return (self.actual.amount - self.estimated.amount) / self.estimated.amount * 100


@dataclass(frozen=True, slots=True)
class SpendSummary:
    currency: str
    by: tuple[GroupKey, ...]
    lines: tuple[SpendLine, ...]
    total: SpendLine
    estimates: tuple[EstimateLine, ...]


@dataclass(slots=True)
class _Tally:
    requests: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = field(default_factory=Decimal)

    def add(self, rec: SpendRecord, cost: Money) -> None:
        self.requests += 1
        self.failed += 0 if rec.ok else 1
        self.prompt_tokens += rec.prompt_tokens
        self.completion_tokens += rec.completion_tokens
        self.reasoning_tokens += rec.reasoning_tokens or 0
        self.cost += cost.amount

    def line(self, provider: str | None, day: date | None, currency: str) -> SpendLine:
        return SpendLine(
            provider,
            day,
            self.requests,
            self.failed,
            self.prompt_tokens,
            self.completion_tokens,
            self.reasoning_tokens,
            Money(self.cost, currency),
        )


def _in(money: Money, currency: str, fx: FxTable) -> Money:
    return money if money.currency == currency else fx.convert(money, currency)


def summarize(
    records: Iterable[SpendRecord],
    *,
    currency: str,
    fx: FxTable,
    by: Sequence[GroupKey] = ("provider", "day"),
) -> SpendSummary:
    """Group ``records`` by ``by`` (sorted by provider, then day) and total them."""
    groups: dict[tuple[str | None, date | None], _Tally] = {}
    total = _Tally()
    estimated: dict[str, tuple[int, Decimal, Decimal]] = {}
    for rec in records:
        cost = (
            rec.display_cost
            if rec.display_cost.currency == currency
            else fx.convert(rec.cost, currency)
        )
        key = (
            (rec.provider or NOT_ROUTED) if "provider" in by else None,
            rec.at.date() if "day" in by else None,
        )
        groups.setdefault(key, _Tally()).add(rec, cost)
        total.add(rec, cost)
        if rec.estimated_cost is not None:
            provider = rec.provider or NOT_ROUTED
            count, est, actual = estimated.get(provider, (0, Decimal(0), Decimal(0)))
            est += _in(rec.estimated_cost, currency, fx).amount
            estimated[provider] = (count + 1, est, actual + cost.amount)
    lines = tuple(
        tally.line(provider, day, currency)
        for (provider, day), tally in sorted(
            groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or date.min)
        )
    )
    estimates = tuple(
        EstimateLine(p, n, Money(est, currency), Money(actual, currency))
        for p, (n, est, actual) in sorted(estimated.items())
    )
    return SpendSummary(currency, tuple(by), lines, total.line(None, None, currency), estimates)
