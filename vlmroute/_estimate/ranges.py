"""Ranges, not points: every cost and time of an estimate at its low and high ends (pure).

An estimate's existing figures are the **expected** case: each request writes the expected
output (the mean of its distribution, truncated at ``max_tokens``: ``spread.py``) at the
offer's latency figures. Around it:

- **low**: every request writes its low output (p5) and, where an offer's latency figures
  are assumptions (``sources.latency`` says ``assumption`` or ``unknown``), runs at the fast
  end of their ``latency.spread`` (the shortest time to first token, the highest decode
  rate);
- **high**: every request writes its high output (p95) at the slow end of that range.

Cost moves only with output tokens (input tokens are exact); time moves with both. These
are scenarios, not confidence bounds of a total (see ``spread.py``): the high end is what
the bill and the clock come to if outputs run long and the latency assumptions are slow.

The plan is made for the expected case; its range prices **the plan's own assignment** at
the low and high ends: each step's ``profile_requests`` (or, where a step leaves it empty,
the whole mix in proportion) on that step's offer. It is not a plan made again for the
high case, so a plan that meets its deadline may show a high makespan past it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from .._pricing.models import Latency, Offer, PriceTable
from ..money import FxTable, Money
from .plan import Lane
from .results import Estimate, OfferEstimate, Plan, PlanStep, ProfileTokens

__all__ = ["with_ranges"]

_ASSUMED = ("assumption", "unknown")


def latency_bounds(offer: Offer) -> tuple[Latency, Latency]:
    """The fast and slow latency of ``offer``: the ends of its spread where its latency
    figures are assumptions, else its figures twice (a measured figure has no spread)."""
    source = offer.sources.get("latency")
    if source is None or source.confidence not in _ASSUMED:
        return offer.latency, offer.latency
    return offer.latency.bounds()


def with_ranges(result: Estimate, pricing: PriceTable, *, fx: FxTable, local_gpus: int) -> Estimate:
    """``result`` with the low and high ends filled in on its offers, its plan and totals."""
    profiles = result.profiles
    rows = tuple(_offer_row(r, pricing.offers[r.offer_id], profiles, fx) for r in result.offers)
    by_id = {r.offer_id: r for r in rows}
    plan = _plan(result.plan, by_id, pricing, profiles, local_gpus=local_gpus, fx=fx)
    return result.model_copy(
        update={
            "offers": rows,
            "plan": plan,
            "output_tokens_low": sum(_low(p) * p.requests for p in profiles),
            "output_tokens_high": sum(_high(p) * p.requests for p in profiles),
        }
    )


def _low(p: ProfileTokens) -> int:
    return p.output_tokens if p.output_tokens_low is None else p.output_tokens_low


def _high(p: ProfileTokens) -> int:
    return p.output_tokens if p.output_tokens_high is None else p.output_tokens_high


class _End:
    """One end (low or high) of an offer: per-request seconds and tokens over a mix."""

    def __init__(self, latency: Latency, outputs: Sequence[int]) -> None:
        self.latency = latency
        self.outputs = outputs

    def seconds_and_tokens(
        self, profiles: Sequence[ProfileTokens], weights: Sequence[Decimal]
    ) -> tuple[float, float]:
        total = float(sum(weights)) or 1.0
        seconds = sum(
            self.latency.request_seconds(p.input_tokens, out) * float(w)
            for p, out, w in zip(profiles, self.outputs, weights, strict=True)
        )
        tokens = sum(
            (p.input_tokens + out) * float(w)
            for p, out, w in zip(profiles, self.outputs, weights, strict=True)
        )
        return seconds / total, tokens / total


def _ends(offer: Offer, profiles: Sequence[ProfileTokens]) -> tuple[_End, _End]:
    fast, slow = latency_bounds(offer)
    return _End(fast, [_low(p) for p in profiles]), _End(slow, [_high(p) for p in profiles])


def _lane(offer: Offer, width: int, seconds: float, tokens: float) -> Lane:
    limits = offer.rate_limits
    return Lane(offer.id, Decimal(0), width, seconds, limits.rpm, limits.tpm, tokens)


def _output_delta(offer: Offer, tokens: Decimal, display: str, fx: FxTable) -> Money:
    """What ``tokens`` more (or fewer) output tokens cost on ``offer``, in ``display``."""
    return offer.cost(0, tokens).to(display, fx)


def _offer_row(
    row: OfferEstimate, offer: Offer, profiles: Sequence[ProfileTokens], fx: FxTable
) -> OfferEstimate:
    requests = sum(p.requests for p in profiles)
    weights = [Decimal(p.requests) for p in profiles]
    low, high = _ends(offer, profiles)
    fields: dict[str, Any] = {}
    for name, end in (("low", low), ("high", high)):
        output = sum(out * p.requests for out, p in zip(end.outputs, profiles, strict=True))
        fields[f"cost_{name}"] = offer.cost(row.input_tokens, output).to(row.cost.currency, fx)
        seconds, tokens = end.seconds_and_tokens(profiles, weights)
        fields[f"request_seconds_{name}"] = seconds
        lane = _lane(offer, row.concurrency, seconds, tokens)
        fields[f"makespan_{name}_s"] = lane.finish_seconds(requests)
    # The ends bracket the expected case even where a cap or a limit rounds them together.
    fields["request_seconds_low"] = min(fields["request_seconds_low"], row.request_seconds)
    fields["request_seconds_high"] = max(fields["request_seconds_high"], row.request_seconds)
    fields["makespan_low_s"] = min(fields["makespan_low_s"], row.makespan_s)
    fields["makespan_high_s"] = max(fields["makespan_high_s"], row.makespan_s)
    return row.model_copy(update=fields)


def _step_weights(step: PlanStep, profiles: Sequence[ProfileTokens]) -> list[Decimal]:
    """How many of each profile the step holds: its own counts, or the mix in proportion."""
    if len(step.profile_requests) == len(profiles):
        return [Decimal(n) for n in step.profile_requests]
    total = Decimal(sum(p.requests for p in profiles))
    return [Decimal(step.requests) * p.requests / total for p in profiles]


def _plan(
    plan: Plan,
    rows: dict[str, OfferEstimate],
    pricing: PriceTable,
    profiles: Sequence[ProfileTokens],
    *,
    local_gpus: int,
    fx: FxTable,
) -> Plan:
    steps = []
    for step in plan.steps:
        offer = pricing.offers[step.offer_id]
        width = rows[step.offer_id].concurrency * (local_gpus if offer.is_local else 1)
        steps.append(_plan_step(step, offer, width, profiles, fx))
    complete = plan.total_cost is not None
    return plan.model_copy(
        update={
            "steps": tuple(steps),
            "cost_low": _total(steps, "cost_low", plan) if complete else None,
            "cost_high": _total(steps, "cost_high", plan) if complete else None,
            "makespan_low_s": max((s.makespan_low_s or 0.0 for s in steps), default=0.0),
            "makespan_high_s": max((s.makespan_high_s or 0.0 for s in steps), default=0.0),
        }
    )


def _plan_step(
    step: PlanStep, offer: Offer, width: int, profiles: Sequence[ProfileTokens], fx: FxTable
) -> PlanStep:
    """The step's own requests at both ends. Input tokens are the same at both, so the
    cost moves by the output tokens alone: ``step.cost`` plus what the difference costs."""
    weights = _step_weights(step, profiles)
    fields: dict[str, Any] = {}
    for name, end in zip(("low", "high"), _ends(offer, profiles), strict=True):
        rows = zip(profiles, end.outputs, weights, strict=True)
        delta = sum((w * (out - p.output_tokens) for p, out, w in rows), Decimal(0))
        fields[f"cost_{name}"] = step.cost + _output_delta(offer, delta, step.cost.currency, fx)
        seconds, tokens = end.seconds_and_tokens(profiles, weights)
        lane = _lane(offer, width, seconds, tokens)
        fields[f"makespan_{name}_s"] = lane.finish_seconds(step.requests)
    fields["makespan_low_s"] = min(fields["makespan_low_s"], step.makespan_s)
    fields["makespan_high_s"] = max(fields["makespan_high_s"], step.makespan_s)
    return step.model_copy(update=fields)


def _total(steps: Sequence[PlanStep], field: str, plan: Plan) -> Money:
    zero = Money.zero(plan.placed_cost.currency)
    return sum((getattr(s, field) or zero for s in steps), zero)
