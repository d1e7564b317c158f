"""An estimate's ranges in words: ``USD 2.74 (1.90-4.10)`` (an en dash), and what times assume."""

from __future__ import annotations

from .._estimate import Estimate, Plan
from ..money import Money
from . import render

__all__ = ["deadline_risk", "money_range", "time_note", "time_range", "tokens_range"]

_DASH = "\u2013"


def money_range(expected: Money, low: Money | None, high: Money | None) -> str:
    """``USD 2.74 (1.90-4.10)``; the expected figure alone where the ends meet it."""
    text = render.money(expected)
    if low is None or high is None or low.amount == high.amount:
        return text
    ends = (render.money(low), render.money(high))
    prefix = f"{expected.currency} "
    if all(e.startswith(prefix) for e in ends):  # the currency once, not three times
        ends = (ends[0].removeprefix(prefix), ends[1].removeprefix(prefix))
    return f"{text} ({ends[0]}{_DASH}{ends[1]})"


def time_range(expected: float, low: float | None, high: float | None) -> str:
    """``2h 00m (19m 01s-10h 24m)``; the expected time alone where the ends meet it."""
    text = render.duration(expected)
    if low is None or high is None:
        return text
    ends = (render.duration(low), render.duration(high))
    if ends[0] == ends[1] == text:
        return text
    return f"{text} ({ends[0]}{_DASH}{ends[1]})"


def tokens_range(expected: int, low: int | None, high: int | None) -> str:
    text = render.tokens(expected)
    if low is None or high is None or low == high:
        return text
    return f"{text} ({render.tokens(low)}{_DASH}{render.tokens(high)})"


def time_note(result: Estimate) -> str:
    """What every time printed rests on, and where to read it."""
    assumed = [o.offer_id for o in result.offers if "latency" in o.assumptions]
    which = f", assumptions on {', '.join(assumed)}" if assumed else ""
    return (
        f"Figures are expected, with low{_DASH}high in brackets: every output at p5 or p95, "
        "at the fast or slow end of the latency range. Times assume the pricing table's "
        f"latency figures{which}: see the table's sources (vlmroute prices --json)."
    )


def deadline_risk(plan: Plan) -> str:
    """A sentence when the plan meets its deadline only in the expected case, else ''."""
    high = plan.makespan_high_s
    if plan.deadline_s is None or high is None or not plan.meets_deadline:
        return ""
    if high <= plan.deadline_s + 1e-9:
        return ""
    return (
        f"In the high case (outputs at p95, slow latency) this plan takes "
        f"{render.duration(high)}, past the deadline."
    )
