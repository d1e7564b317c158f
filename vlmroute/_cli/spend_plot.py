"""``vlmroute spend --plot``: spend per day and offer against the budgets, month to date,
and estimated against actual cost.

The series are pure functions of the ledger's records (:func:`daily_spend`,
:func:`month_to_date`, :func:`budget_spend`, :func:`estimated_vs_actual`), counted as
``vlmroute spend`` counts them; only :func:`spend_png` draws (matplotlib, through
:mod:`.plot`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from .._ledger import Budget, SpendRecord
from .._ledger.summary import NOT_ROUTED
from ..errors import ConfigurationError
from ..money import FxTable, Money
from .plot import new_figure, save_png

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "DailySpend",
    "budget_spend",
    "daily_spend",
    "estimated_vs_actual",
    "month_to_date",
    "spend_png",
]


@dataclass(frozen=True, slots=True)
class DailySpend:
    """Spend per UTC day and offer in one currency: ``cost[day][offer]``."""

    currency: str
    days: tuple[date, ...]
    offers: tuple[str, ...]
    cost: dict[date, dict[str, Decimal]]

    def total(self, day: date) -> Decimal:
        return sum(self.cost.get(day, {}).values(), Decimal(0))


def _in(money: Money, currency: str, fx: FxTable) -> Decimal:
    return (money if money.currency == currency else fx.convert(money, currency)).amount


def _cost(rec: SpendRecord, currency: str, fx: FxTable) -> Decimal:
    """As ``vlmroute spend`` counts it: the router's display cost where it is already in
    ``currency`` (the rate it used), else the native cost at the table's rate."""
    if rec.display_cost.currency == currency:
        return rec.display_cost.amount
    return _in(rec.cost, currency, fx)


def daily_spend(
    records: Iterable[SpendRecord],
    *,
    currency: str,
    fx: FxTable,
    days: Sequence[date] | None = None,
) -> DailySpend:
    """Spend per day and offer over ``days`` (default: every day from the first record to
    the last, so a day with no spend shows as 0)."""
    cost: dict[date, dict[str, Decimal]] = {}
    offers: set[str] = set()
    for rec in records:
        offer = rec.offer or NOT_ROUTED
        day = cost.setdefault(rec.at.date(), {})
        day[offer] = day.get(offer, Decimal(0)) + _cost(rec, currency, fx)
        offers.add(offer)
    if days is None and cost:
        first, last = min(cost), max(cost)
        days = [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]
    return DailySpend(currency, tuple(days or ()), tuple(sorted(offers)), cost)


def month_to_date(days: Sequence[date], totals: Sequence[Decimal]) -> list[Decimal]:
    """Running total of ``totals`` (one a day), starting again at each UTC month."""
    running, out, month = Decimal(0), [], (0, 0)
    for day, total in zip(days, totals, strict=True):
        if (day.year, day.month) != month:
            running, month = Decimal(0), (day.year, day.month)
        running += total
        out.append(running)
    return out


def budget_spend(
    records: Iterable[SpendRecord],
    budget: Budget,
    *,
    currency: str,
    fx: FxTable,
    days: Sequence[date],
) -> list[Decimal]:
    """What ``budget`` counts each day: the records of its provider and caller, if it has
    them (the budget book's own rule, :meth:`Budget.applies_to`)."""
    mine = [r for r in records if budget.applies_to(r.provider, r.caller)]
    spend = daily_spend(mine, currency=currency, fx=fx, days=days)
    return [spend.total(day) for day in days]


def estimated_vs_actual(
    records: Iterable[SpendRecord], *, currency: str, fx: FxTable
) -> dict[str, tuple[Decimal, Decimal]]:
    """Per offer, over the records that carry an estimate: (estimated, actual)."""
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for rec in records:
        if rec.estimated_cost is None:
            continue
        offer = rec.offer or NOT_ROUTED
        est, actual = out.get(offer, (Decimal(0), Decimal(0)))
        out[offer] = (
            est + _in(rec.estimated_cost, currency, fx),
            actual + _cost(rec, currency, fx),
        )
    return dict(sorted(out.items()))


@dataclass(frozen=True, slots=True)
class _Limit:
    """A budget as drawn: its limit in the display currency, and, for a budget of one
    provider or caller, what it counted each day (None: it counts everything drawn)."""

    budget: Budget
    limit: float
    label: str
    daily: list[Decimal] | None


def spend_png(
    records: Sequence[SpendRecord],
    path: Path,
    *,
    currency: str,
    fx: FxTable,
    budgets: Sequence[Budget] = (),
    title: str,
) -> None:
    """Daily spend per offer (stacked) against daily budgets; month-to-date against monthly
    budgets; estimated against actual per offer."""
    if not records:
        raise ConfigurationError("--plot: no spend recorded in this range: nothing to draw")
    spend = daily_spend(records, currency=currency, fx=fx)
    limits = [_limit(b, records, spend, fx) for b in budgets]
    compared = estimated_vs_actual(records, currency=currency, fx=fx)
    figure = new_figure(10.5, 11.0 if compared else 7.5)
    axes = figure.subplots(3 if compared else 2, 1)
    figure.suptitle(title, fontsize=12)
    _daily_panel(axes[0], spend, [x for x in limits if x.budget.period == "day"])
    _month_panel(axes[1], spend, [x for x in limits if x.budget.period == "month"])
    if compared:
        _estimate_panel(axes[2], compared, currency)
    save_png(figure, path)


def _limit(
    budget: Budget, records: Sequence[SpendRecord], spend: DailySpend, fx: FxTable
) -> _Limit:
    limit = float(_in(budget.limit, spend.currency, fx))
    shown = "" if budget.currency == spend.currency else f" (= {spend.currency} {limit:,.2f})"
    scoped = budget.provider is not None or budget.caller is not None
    daily = (
        budget_spend(records, budget, currency=spend.currency, fx=fx, days=spend.days)
        if scoped
        else None
    )
    return _Limit(budget, limit, f"budget: {budget.describe()}{shown}", daily)


#: Budgets of everything are red; a budget of one provider or caller has its own colour,
#: shared by the line of what it counted.
_ALL_COLOUR = "#b03030"
_SCOPED_COLOURS = ("#6a3d9a", "#222222", "#e7298a", "#8c6d31")
_STYLES = ("--", "-.", ":")


def _colour(i: int, limit: _Limit) -> str:
    """Red for a budget of everything; the scoped ones' colours are not the bars' (tab10)."""
    return _ALL_COLOUR if limit.daily is None else _SCOPED_COLOURS[i % len(_SCOPED_COLOURS)]


def _scope(budget: Budget) -> str:
    return " ".join(x for x in (budget.provider, budget.caller and f"key {budget.caller}") if x)


def _day_axis(ax: Axes, days: Sequence[date]) -> None:
    labels = [
        d.isoformat() if i == 0 or d.day == 1 else d.strftime("%m-%d") for i, d in enumerate(days)
    ]
    ax.set_xticks(range(len(days)), labels, rotation=45 if len(days) > 10 else 0, ha="right")
    ax.set_xlabel("day (UTC)")
    ax.grid(True, axis="y", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    bars_first = sorted(range(len(handles)), key=lambda i: not hasattr(handles[i], "patches"))
    ax.legend(
        [handles[i] for i in bars_first],
        [labels[i] for i in bars_first],
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=9,
    )


def _daily_panel(ax: Axes, spend: DailySpend, limits: Sequence[_Limit]) -> None:
    xs = list(range(len(spend.days)))
    bottom = [0.0] * len(xs)
    for offer in spend.offers:
        heights = [float(spend.cost.get(d, {}).get(offer, Decimal(0))) for d in spend.days]
        if any(heights):  # a refused request costs nothing: no empty legend entry for it
            ax.bar(xs, heights, bottom=bottom, label=offer, width=0.8)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    for i, limit in enumerate(limits):
        colour = _colour(i, limit)
        ax.axhline(limit.limit, color=colour, linestyle=_STYLES[i % 3], lw=1.4, label=limit.label)
        if limit.daily is not None:
            ax.plot(
                xs,
                [float(v) for v in limit.daily],
                marker="_",
                markersize=22,
                markeredgewidth=2.5,
                linestyle="none",
                color=colour,
                label=f"what {_scope(limit.budget)} spent",
            )
    ax.set_ylabel(f"spend per day ({spend.currency})")
    ax.set_title("Spend per day, by offer", fontsize=11)
    _day_axis(ax, spend.days)


def _month_segments(days: Sequence[date]) -> list[list[int]]:
    """Indices of ``days`` by UTC month: a running total is drawn apart for each."""
    out: list[list[int]] = []
    for i, day in enumerate(days):
        if not out or (days[out[-1][0]].year, days[out[-1][0]].month) != (day.year, day.month):
            out.append([])
        out[-1].append(i)
    return out


def _month_line(
    ax: Axes, days: Sequence[date], daily: Sequence[Decimal], *, colour: str, label: str, lw: float
) -> None:
    running = month_to_date(days, daily)
    for n, segment in enumerate(_month_segments(days)):
        ys = [float(running[i]) for i in segment]
        ax.plot(
            segment,
            ys,
            marker="o",
            markersize=3 + 2 * lw,
            color=colour,
            lw=lw,
            label=label if n == 0 else None,
        )


def _month_panel(ax: Axes, spend: DailySpend, limits: Sequence[_Limit]) -> None:
    totals = [spend.total(d) for d in spend.days]
    _month_line(ax, spend.days, totals, colour="#1f4e79", label="month to date, all", lw=1.8)
    for i, limit in enumerate(limits):
        colour = _colour(i, limit)
        ax.axhline(limit.limit, color=colour, linestyle=_STYLES[i % 3], lw=1.4, label=limit.label)
        if limit.daily is not None:
            label = f"month to date, {_scope(limit.budget)}"
            _month_line(ax, spend.days, limit.daily, colour=colour, label=label, lw=1.0)
    ax.set_ylim(bottom=0)
    ax.set_ylabel(f"spend this month ({spend.currency})")
    ax.set_title("Month-to-date spend (a new month starts again at 0)", fontsize=11)
    _day_axis(ax, spend.days)


def _estimate_panel(ax: Axes, compared: dict[str, tuple[Decimal, Decimal]], currency: str) -> None:
    xs = list(range(len(compared)))
    estimated = [float(e) for e, _ in compared.values()]
    actual = [float(a) for _, a in compared.values()]
    ax.bar(
        [x - 0.2 for x in xs],
        estimated,
        width=0.4,
        label="estimated before sending",
        color="#9ecae1",
    )
    ax.bar([x + 0.2 for x in xs], actual, width=0.4, label="actual", color="#1f4e79")
    for x, (est, act) in zip(xs, compared.values(), strict=True):
        if est:
            ax.annotate(
                f"{(act - est) / est * 100:+.1f}%",
                (x + 0.2, float(act)),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                fontsize=9,
            )
    ax.set_ylim(0, max([*estimated, *actual, 0.0]) * 1.15 or 1.0)  # room for the labels
    ax.set_xticks(xs, list(compared))
    ax.set_xlabel("offer")
    ax.set_ylabel(f"cost ({currency})")
    ax.set_title("Estimated against actual cost (requests that carry an estimate)", fontsize=11)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
