"""What :func:`vlmroute.estimate` returns: frozen, JSON-ready results."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from ..money import Money

__all__ = ["BreakEven", "Estimate", "OfferEstimate", "Plan", "PlanStep", "ProfileTokens"]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProfileTokens(_Result):
    """Tokens of one request of a profile, and how many requests of it the workload has."""

    requests: int
    image_tokens: int
    video_tokens: int
    text_tokens: int
    template_tokens: int
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int | None
    #: Output tokens per request at the low and high ends (``output_tokens`` is the
    #: expected figure), after the ``max_tokens`` cap; see ``_estimate/spread.py``.
    output_tokens_low: int | None = None
    output_tokens_high: int | None = None
    max_tokens: int | None = None


class OfferEstimate(_Result):
    """The whole workload on one offer (or why it cannot take it)."""

    offer_id: str
    provider: str
    model: str
    live: bool
    eligible: bool
    skip_reason: str | None
    tier: str
    concurrency: int
    input_tokens: int
    output_tokens: int
    cost_native: Money
    cost: Money
    cost_per_request: Money
    request_seconds: float
    makespan_s: float
    assumptions: tuple[str, ...]
    #: The range around ``cost`` and the times (which are the expected case): low outputs
    #: on the fast end of the latency range, high outputs on the slow end (``ranges.py``).
    cost_low: Money | None = None
    cost_high: Money | None = None
    request_seconds_low: float | None = None
    request_seconds_high: float | None = None
    makespan_low_s: float | None = None
    makespan_high_s: float | None = None


class PlanStep(_Result):
    """What one offer takes in the plan: ``requests`` of them, ``profile_requests[i]`` of
    the workload's profile ``i`` (the order of :attr:`Estimate.profiles`)."""

    offer_id: str
    requests: int
    cost: Money
    makespan_s: float
    profile_requests: tuple[int, ...] = ()
    #: This step's requests priced, and timed, at the low and high ends (``ranges.py``).
    cost_low: Money | None = None
    cost_high: Money | None = None
    makespan_low_s: float | None = None
    makespan_high_s: float | None = None


class Plan(_Result):
    """Cheapest assignment of the requests that finishes by the deadline (if one is set).

    ``total_cost`` is None unless every request is placed (``unassigned == 0``): a total
    over part of the work is not the workload's cost. ``placed_cost`` is always the cost of
    the requests the steps hold. ``left_out`` names eligible offers the plan could not use
    and why (the local GPU without ``local_gpus``).
    """

    steps: tuple[PlanStep, ...]
    total_cost: Money | None
    placed_cost: Money
    makespan_s: float
    deadline_s: float | None
    meets_deadline: bool
    unassigned: int
    fastest_makespan_s: float | None
    note: str
    left_out: tuple[str, ...] = ()
    #: When the plan does not meet the deadline: the fastest plan that places every request
    #: (its makespan is ``fastest_makespan_s``), what making it would cost, and its steps.
    fastest_cost: Money | None = None
    fastest_steps: tuple[PlanStep, ...] = ()
    #: The plan's own assignment priced and timed at the low and high ends; the plan is
    #: made for the expected case. The costs are None where ``total_cost`` is.
    cost_low: Money | None = None
    cost_high: Money | None = None
    makespan_low_s: float | None = None
    makespan_high_s: float | None = None

    @property
    def complete(self) -> bool:
        """Every request placed (whether or not by the deadline: see ``meets_deadline``)."""
        return self.unassigned == 0


class BreakEven(_Result):
    """Monthly volume above which reserved local GPUs cost less than the APIs.

    ``requests_per_month`` and ``gpus_needed`` are the all-local break-even (every request on
    your GPUs); the ``hybrid_*`` fields are free tier first, then ``hybrid_gpus`` GPUs, then
    paid APIs for the overflow, and ``plain_words`` says that one in a sentence. GPU figures
    are at ``utilisation`` (the fraction of the month a reserved GPU is busy).
    """

    local_offer_id: str
    gpu: str
    gpu_monthly_cost: Money
    gpu_requests_per_month: int
    api_cost_per_request: Money | None
    hour_price_to_match: Money | None
    requests_per_month: int | None
    gpus_needed: int | None
    reason: str
    #: True when past ``requests_per_month`` the APIs cannot serve the volume at all (their
    #: concurrency caps), rather than costing more.
    capacity_bound: bool = False
    utilisation: Decimal = Decimal(1)
    gpu_hour_price: Money | None = None
    #: What the free offers (0 a request) finish in a month under their caps.
    free_requests_per_month: int = 0
    hybrid_gpus: int = 1
    #: Smallest monthly volume at which the hybrid costs less than the APIs alone.
    hybrid_requests_per_month: int | None = None
    hybrid_capacity_bound: bool = False
    #: "from N requests a month, K GPUs at P per hour are cheaper than the APIs", or why never.
    plain_words: str = ""
    #: A monthly volume (the workload's requests) priced all-API, all-local and hybrid; a
    #: cost is None where that setup cannot serve the volume.
    monthly_volume: int | None = None
    all_api_monthly_cost: Money | None = None
    all_local_monthly_cost: Money | None = None
    all_local_gpus: int | None = None
    hybrid_monthly_cost: Money | None = None


class Estimate(_Result):
    requests: int
    currency: str
    fx_as_of: date
    profiles: tuple[ProfileTokens, ...]
    input_tokens: int
    output_tokens: int
    offers: tuple[OfferEstimate, ...]
    plan: Plan
    break_even: BreakEven | None
    #: All output tokens at the low and high ends (``output_tokens`` is the expected case).
    output_tokens_low: int | None = None
    output_tokens_high: int | None = None
