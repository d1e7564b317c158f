"""What :func:`vlmroute.estimate` returns: frozen, JSON-ready results."""

from __future__ import annotations

from datetime import date

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


class PlanStep(_Result):
    offer_id: str
    requests: int
    cost: Money
    makespan_s: float


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

    @property
    def complete(self) -> bool:
        """Every request placed (whether or not by the deadline: see ``meets_deadline``)."""
        return self.unassigned == 0


class BreakEven(_Result):
    """Monthly volume above which a reserved local GPU costs less than the APIs."""

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
