"""The cost-vs-deadline frontier: what the cheapest plan costs at each deadline, and who serves it.

Pure: a workload and a table in, a :class:`Frontier` out. It is built only from
:func:`~vlmroute.estimate` and the public fields of its :class:`~vlmroute.Plan`, one estimate
per deadline, so it holds whatever the planner does (the planner is free to change; this
module never reads its lanes). The deadlines run from the fastest possible makespan to the
makespan of the no-deadline plan (everything on the cheapest offer), geometrically spaced
because cost falls fastest just above the fastest deadline, plus each deadline at which the
set of offers the plan needs changes (a short bisection, then the plan's own makespan).

The self-host line is the workload on the table's local GPU at its hour price: GPU time is
paid by the hour, so N GPUs finish N times sooner for the same cost, and the line is flat.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .._pricing.models import PriceTable
from ..money import Money
from .estimator import estimate
from .results import Estimate
from .workload import Workload

__all__ = [
    "BREAKPOINT_TOLERANCE",
    "SAMPLES",
    "Frontier",
    "FrontierPoint",
    "FrontierShare",
    "SelfHost",
    "dropped_offers",
    "frontier",
]

#: Geometric samples between the fastest and the no-deadline makespan (ends included).
SAMPLES = 10
#: Most breakpoints looked for (each costs about six estimates).
MAX_BREAKPOINTS = 4
#: A breakpoint is found to within this fraction of its deadline (or a second): a bisection
#: that coarse, then the makespan of the plan it found, which is exact where that plan fills
#: whole waves (estimates are not free: a finer search would cost more of them).
BREAKPOINT_TOLERANCE = 0.02

PointKind = Literal["sample", "breakpoint", "deadline"]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FrontierShare(_Result):
    """How many of the workload's requests one offer takes at a deadline."""

    offer_id: str
    requests: int


class FrontierPoint(_Result):
    """The cheapest plan that finishes by ``deadline_s``.

    ``cost`` is None when no plan can finish by then. ``kind`` says why the deadline is on
    the frontier: a geometric ``sample``, a ``breakpoint`` (the shortest deadline at which
    the plan needs this set of offers), or the workload's own ``deadline``.
    """

    deadline_s: float
    kind: PointKind
    cost: Money | None
    makespan_s: float
    meets_deadline: bool
    shares: tuple[FrontierShare, ...]

    @property
    def offers(self) -> frozenset[str]:
        return frozenset(s.offer_id for s in self.shares if s.requests)


class SelfHost(_Result):
    """The workload on the local GPU offer: ``cost`` in GPU time at its hour price
    (flat in the deadline), ``makespan_s`` on one GPU, ``monthly_cost`` for one GPU
    reserved a month (from the break-even; None when the estimate has none)."""

    offer_id: str
    gpu: str | None
    cost: Money
    makespan_s: float
    monthly_cost: Money | None


class Frontier(_Result):
    """Cost against deadline, points sorted by deadline; empty when nothing can serve it."""

    currency: str
    fastest_makespan_s: float | None
    no_deadline_makespan_s: float | None
    no_deadline_cost: Money | None
    points: tuple[FrontierPoint, ...]
    self_host: SelfHost | None


def frontier(
    workload: Workload,
    pricing: PriceTable | None = None,
    *,
    currency: str = "USD",
    include_retired: bool = False,
    local_gpus: int = 0,
    samples: int = SAMPLES,
) -> Frontier:
    """The cheapest plan's cost at ``samples`` deadlines and at each breakpoint between.

    The workload's own ``deadline_s`` is ignored for the sweep and added as a point of
    kind ``deadline`` when it falls inside it. Options are :func:`estimate`'s.
    """
    if pricing is None:
        from .._pricing.load import load_pricing

        pricing = load_pricing()
    table = pricing

    def at(deadline: float | None) -> Estimate:
        return estimate(
            workload.model_copy(update={"deadline_s": deadline}),
            table,
            currency=currency,
            include_retired=include_retired,
            local_gpus=local_gpus,
        )

    base = at(None)
    plan = base.plan
    fastest = plan.fastest_makespan_s
    empty = Frontier(
        currency=base.currency,
        fastest_makespan_s=fastest,
        no_deadline_makespan_s=None,
        no_deadline_cost=None,
        points=(),
        self_host=self_host(base, table),
    )
    if fastest is None or not plan.steps:
        return empty
    slowest = max(plan.makespan_s, fastest)
    points = [_point(d, "sample", at(d)) for d in deadlines(fastest, slowest, samples)]
    points += _breakpoints(points, lambda d: _point(d, "breakpoint", at(d)))
    own = workload.deadline_s
    if own is not None and fastest <= own <= slowest:
        points.append(_point(own, "deadline", at(own)))
    return empty.model_copy(
        update={
            "no_deadline_makespan_s": plan.makespan_s,
            "no_deadline_cost": plan.total_cost,
            "points": tuple(sorted(points, key=lambda p: p.deadline_s)),
        }
    )


def deadlines(fastest: float, slowest: float, samples: int = SAMPLES) -> list[float]:
    """``samples`` deadlines from ``fastest`` to ``slowest``, geometrically spaced, ends exact.

    One deadline when the two are (about) equal: the cheapest offer is also the fastest.
    """
    if slowest <= fastest * (1 + 1e-9):
        return [fastest]
    if fastest <= 0 or samples <= 2:  # no geometric step from 0 (a lane of no latency)
        return [fastest, slowest]
    ratio = slowest / fastest
    inner = [fastest * ratio ** (i / (samples - 1)) for i in range(1, samples - 1)]
    return [fastest, *inner, slowest]


def _point(deadline: float, kind: PointKind, result: Estimate) -> FrontierPoint:
    plan = result.plan
    return FrontierPoint(
        deadline_s=deadline,
        kind=kind,
        cost=plan.total_cost,
        makespan_s=plan.makespan_s,
        meets_deadline=plan.meets_deadline,
        shares=tuple(FrontierShare(offer_id=s.offer_id, requests=s.requests) for s in plan.steps),
    )


def _breakpoints(
    samples: list[FrontierPoint], point_at: Callable[[float], FrontierPoint]
) -> list[FrontierPoint]:
    """Between neighbouring samples whose plans use different offers, the shortest deadline
    at which the later sample's set of offers is enough (bisection, then the makespan of the
    plan found)."""
    found: list[FrontierPoint] = []
    for low, high in pairwise(samples):
        if len(found) >= MAX_BREAKPOINTS:
            break
        if low.offers == high.offers:
            continue
        lo, best = low.deadline_s, high
        while best.deadline_s - lo > max(1.0, BREAKPOINT_TOLERANCE * best.deadline_s):
            middle = point_at((lo + best.deadline_s) / 2)
            if middle.offers == high.offers:
                best = middle
            else:
                lo = middle.deadline_s
        # The plan found also finishes by its own makespan: a tighter bound, if the plan
        # there still needs only these offers at that cost.
        if lo < best.makespan_s < best.deadline_s:
            exact = point_at(best.makespan_s)
            if exact.offers == high.offers and exact.cost == best.cost:
                best = exact
        if best is not high:
            found.append(best)
    return found


def dropped_offers(f: Frontier) -> list[tuple[FrontierPoint, tuple[str, ...]]]:
    """Each breakpoint and the offers the plan needs no more from its deadline on."""
    out = []
    for before, point in pairwise(f.points):
        if point.kind == "breakpoint" and (gone := tuple(sorted(before.offers - point.offers))):
            out.append((point, gone))
    return out


def self_host(result: Estimate, pricing: PriceTable) -> SelfHost | None:
    """The workload on the table's first eligible local offer, or None if it has none."""
    for row in result.offers:
        offer = pricing.offers.get(row.offer_id)
        if offer is None or not offer.is_local or not row.eligible:
            continue
        even = result.break_even
        if even is not None and even.local_offer_id != row.offer_id:
            even = None
        return SelfHost(
            offer_id=row.offer_id,
            gpu=None if even is None else even.gpu,
            cost=row.cost,
            makespan_s=row.makespan_s,
            monthly_cost=None if even is None else even.gpu_monthly_cost,
        )
    return None
