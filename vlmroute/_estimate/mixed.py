"""The plan for a workload of several request kinds: each kind on the offers that can serve
it, jointly under the deadline (pure).

A *kind* is one profile of the mix (its requests, tokens and media); a *pair* is a kind on
an offer that can serve it, with the cost and the wall time of one such request there. An
offer runs its ``concurrency`` requests at once, kind after kind, in waves: ``x`` requests
of a kind take ``ceil(x / concurrency)`` waves of that kind's request time, so an offer
holding kinds ``x_1 .. x_n`` finishes after ``sum(ceil(x_i / c) * t_i)`` seconds. This is a
schedule the offer can run, and for one kind it is the single-kind waves of :mod:`.plan`
(``c * floor(D / t)`` requests by a deadline ``D``). Per-minute request and token limits
cap an offer's total.

The cheapest plan is an integer program: how many requests of each kind go to each offer
(``x``), in how many waves (``w``), and how many are left out (``u``, at a cost above any
placement, so the plan places all it can and then pays the least):

    min  sum(cost_p * x_p) + M * sum(u_k)
    s.t. sum(x_p for p of kind k) + u_k == n_k         every request placed or left out
         x_p <= c_o * w_p,  w_p <= floor(D / t_p)        waves of each pair
         sum(t_p * w_p for p on offer o) <= D            the offer's time
         sum(x_p on o) <= floor(D * rpm_o / 60)          its request limit
         sum(tokens_k * x_p on o) <= D * tpm_o / 60      its token limit

solved by branch and bound over :func:`.lp.solve_lp` relaxations, best bound first, from
an incumbent that rounds the relaxation down and places the rest greedily. Every candidate
is checked exactly (integers and Decimal); the search stops after :data:`NODE_LIMIT`
relaxations, keeping the best plan found (small workloads are solved to the optimum, which
``tests/test_mixed_plan.py`` checks against brute force). Among plans of equal cost the
shortest is taken: the smallest deadline at which the cheapest cost is still reached, found
by bisection.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from .lp import Row, solve_lp

__all__ = ["Assignment", "Offer", "Pair", "cheapest", "fastest", "shortest_at_cost"]

#: Relaxations solved per search at most; past it, the best plan found so far stands.
NODE_LIMIT = 60
_TOL = 1e-6
#: Deadline searches stop within this fraction of the answer (a second in three hours).
_PRECISION = 1e-4


@dataclass(frozen=True, slots=True)
class Offer:
    """An offer as a server: requests at once, and per-minute limits (None: none)."""

    key: str
    concurrency: int
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True, slots=True)
class Pair:
    """Kind ``kind`` (an index) on offer ``offer`` (an index): one request's cost and time,
    and its tokens (for a per-minute token limit)."""

    kind: int
    offer: int
    cost: Decimal
    seconds: float
    tokens: float = 0.0


@dataclass(slots=True)
class Assignment:
    """Requests per pair (the order of the pairs given), and the kinds' requests left out."""

    counts: list[int]
    unassigned: list[int]
    cost: Decimal = Decimal(0)
    makespan_s: float = 0.0
    offer_seconds: dict[int, float] = field(default_factory=dict)

    @property
    def left_out(self) -> int:
        return sum(self.unassigned)


@dataclass(frozen=True, slots=True)
class _Problem:
    requests: Sequence[int]  # per kind
    offers: Sequence[Offer]
    pairs: Sequence[Pair]
    deadline: float | None

    def usable(self) -> list[int]:
        """The pairs that can finish one request by the deadline."""
        d = self.deadline
        return [i for i, p in enumerate(self.pairs) if d is None or p.seconds <= d + _TOL]


def evaluate(
    requests: Sequence[int],
    offers: Sequence[Offer],
    pairs: Sequence[Pair],
    counts: Sequence[int],
) -> Assignment:
    """The exact cost and finish times of ``counts`` requests per pair (waves, kind by kind)."""
    placed = [0] * len(requests)
    seconds: dict[int, float] = {}
    cost = Decimal(0)
    for pair, n in zip(pairs, counts, strict=True):
        if n:
            placed[pair.kind] += n
            cost += pair.cost * n
            waves = math.ceil(n / offers[pair.offer].concurrency)
            seconds[pair.offer] = seconds.get(pair.offer, 0.0) + waves * pair.seconds
    for o, total in _offer_totals(offers, pairs, counts).items():
        offer = offers[o]
        if offer.rpm:
            seconds[o] = max(seconds[o], total[0] * 60 / offer.rpm)
        if offer.tpm and total[1]:
            seconds[o] = max(seconds[o], total[1] * 60 / offer.tpm)
    return Assignment(
        counts=list(counts),
        unassigned=[n - p for n, p in zip(requests, placed, strict=True)],
        cost=cost,
        makespan_s=max(seconds.values(), default=0.0),
        offer_seconds=seconds,
    )


def _offer_totals(
    offers: Sequence[Offer], pairs: Sequence[Pair], counts: Sequence[int]
) -> dict[int, tuple[int, float]]:
    totals: dict[int, tuple[int, float]] = {}
    for pair, n in zip(pairs, counts, strict=True):
        if n:
            r, t = totals.get(pair.offer, (0, 0.0))
            totals[pair.offer] = (r + n, t + n * pair.tokens)
    return totals


def fits(problem: _Problem, counts: Sequence[int]) -> bool:
    """Whether ``counts`` finish by the deadline on every offer."""
    if problem.deadline is None:
        return True
    done = evaluate(problem.requests, problem.offers, problem.pairs, counts)
    return all(s <= problem.deadline + _TOL for s in done.offer_seconds.values())


# ------------------------------------------------------------------ the search


def cheapest(
    requests: Sequence[int],
    offers: Sequence[Offer],
    pairs: Sequence[Pair],
    deadline: float | None,
    *,
    placing: bool = False,
) -> Assignment:
    """The plan that places the most requests by ``deadline`` and, of those, costs least.
    With ``placing``, the first plan found that places every request will do (the question
    is only whether one exists)."""
    problem = _Problem(requests, offers, pairs, deadline)
    if deadline is None:
        return _cheapest_unbounded(problem)
    return _branch_and_bound(problem, placing)


def _cheapest_unbounded(problem: _Problem) -> Assignment:
    """No deadline: every request on its kind's cheapest offer (ties: the quicker one)."""
    counts = [0] * len(problem.pairs)
    for kind, n in enumerate(problem.requests):
        options = [i for i, p in enumerate(problem.pairs) if p.kind == kind]
        if options and n:
            best = min(options, key=lambda i: (problem.pairs[i].cost, problem.pairs[i].seconds))
            counts[best] = n
    return evaluate(problem.requests, problem.offers, problem.pairs, counts)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each variable sits: x per usable pair, then w per usable pair, then u per kind."""

    usable: list[int]

    def x(self, i: int) -> int:
        return i

    def w(self, i: int) -> int:
        return len(self.usable) + i

    def u(self, kind: int) -> int:
        return 2 * len(self.usable) + kind


def _rows(problem: _Problem, layout: _Layout) -> list[Row]:
    d = problem.deadline
    assert d is not None
    rows: list[Row] = []
    pairs = [problem.pairs[j] for j in layout.usable]
    for kind, n in enumerate(problem.requests):
        terms = [(layout.x(i), 1.0) for i, p in enumerate(pairs) if p.kind == kind]
        rows.append(Row((*terms, (layout.u(kind), 1.0)), "==", float(n)))
    for i, p in enumerate(pairs):
        width = problem.offers[p.offer].concurrency
        rows.append(Row(((layout.x(i), 1.0), (layout.w(i), -float(width))), "<=", 0.0))
        rows.append(Row(((layout.w(i), 1.0),), "<=", float(math.floor(d / p.seconds + _TOL))))
    for o, offer in enumerate(problem.offers):
        mine = [i for i, p in enumerate(pairs) if p.offer == o]
        if not mine:
            continue
        rows.append(Row(tuple((layout.w(i), pairs[i].seconds) for i in mine), "<=", d))
        if offer.rpm:
            limit = float(math.floor(d * offer.rpm / 60 + _TOL))
            rows.append(Row(tuple((layout.x(i), 1.0) for i in mine), "<=", limit))
        if offer.tpm:
            tokens = tuple((layout.x(i), pairs[i].tokens) for i in mine if pairs[i].tokens)
            if tokens:
                rows.append(Row(tokens, "<=", d * offer.tpm / 60))
    return rows


def _costs(problem: _Problem, layout: _Layout) -> list[float]:
    pairs = [problem.pairs[j] for j in layout.usable]
    dearest = max((float(p.cost) for p in pairs), default=0.0)
    # A request left out costs more than placing every request on the dearest offer.
    left_out = 1.0 + dearest * (sum(problem.requests) + 1)
    return [
        *(float(p.cost) for p in pairs),
        *([0.0] * len(pairs)),
        *([left_out] * len(problem.requests)),
    ]


def _branch_and_bound(problem: _Problem, placing: bool) -> Assignment:
    layout = _Layout(problem.usable())
    rows = _rows(problem, layout)
    costs = _costs(problem, layout)
    best = _incumbent(problem, layout, None)
    best_key = _key(best)
    if placing and not best.left_out:
        return best
    heap: list[tuple[float, int, tuple[Row, ...]]] = [(0.0, 0, ())]
    solved = 0
    order = 1
    while heap and solved < NODE_LIMIT:
        bound, _, extra = heapq.heappop(heap)
        if bound >= _objective(best, costs, layout) - _TOL and solved:
            continue
        relaxed = solve_lp(costs, [*rows, *extra])
        solved += 1
        if relaxed is None:
            continue
        value, x = relaxed
        if placing and sum(x[layout.u(k)] for k in range(len(problem.requests))) > _TOL:
            if not extra:
                return best  # even the relaxation leaves some out: no plan places them all
            continue
        if value >= _objective(best, costs, layout) - _TOL:
            continue
        candidate = _incumbent(problem, layout, x)
        if _key(candidate) < best_key:
            best, best_key = candidate, _key(candidate)
            if placing and not best.left_out:
                return best
        branch = _fractional(x, layout)
        if branch is None:
            continue
        var, level = branch
        for row in (
            Row(((var, 1.0),), "<=", float(math.floor(level))),
            Row(((var, 1.0),), ">=", float(math.ceil(level))),
        ):
            heapq.heappush(heap, (value, order, (*extra, row)))
            order += 1
    return best


def _key(a: Assignment) -> tuple[int, Decimal]:
    return a.left_out, a.cost


def _objective(a: Assignment, costs: Sequence[float], layout: _Layout) -> float:
    """``a``'s value in the relaxation's terms (every left-out request at its price)."""
    return float(a.cost) + (costs[layout.u(0)] * a.left_out if a.left_out else 0.0)


def _fractional(x: Sequence[float], layout: _Layout) -> tuple[int, float] | None:
    """The variable to branch on: the most fractional wave count, else request count."""
    for group in (range(len(layout.usable), 2 * len(layout.usable)), range(len(layout.usable))):
        worst, at = 0.0, -1
        for j in group:
            frac = x[j] - math.floor(x[j])
            gap = min(frac, 1 - frac)
            if gap > _TOL and gap > worst:
                worst, at = gap, j
        if at >= 0:
            return at, x[at]
    return None


def _incumbent(problem: _Problem, layout: _Layout, x: Sequence[float] | None) -> Assignment:
    """An integer plan near ``x`` (None: from nothing): its counts rounded down, cut until
    they fit, then the requests still out placed one at a time on the cheapest pair that
    still finishes in time."""
    counts = [0] * len(problem.pairs)
    if x is not None:
        for i, j in enumerate(layout.usable):
            counts[j] = max(0, math.floor(x[layout.x(i)] + _TOL))
        _cut_to_fit(problem, counts)
    left = list(problem.requests)
    for j, n in enumerate(counts):
        left[problem.pairs[j].kind] -= n
    by_cost = sorted(layout.usable, key=lambda j: (problem.pairs[j].cost, problem.pairs[j].seconds))
    for kind, out in enumerate(left):
        rest = out
        for j in (j for j in by_cost if problem.pairs[j].kind == kind):
            if rest == 0:
                break
            rest -= _fill(problem, counts, j, rest)
    return evaluate(problem.requests, problem.offers, problem.pairs, counts)


def _fill(problem: _Problem, counts: list[int], j: int, most: int) -> int:
    """Add as many requests (up to ``most``) to pair ``j`` as still fit; how many."""
    low, high = 0, most
    start = counts[j]
    while low < high:  # the largest addition that fits (fitting is monotone in the count)
        mid = (low + high + 1) // 2
        counts[j] = start + mid
        if fits(problem, counts):
            low = mid
        else:
            high = mid - 1
    counts[j] = start + low
    return low


def _cut_to_fit(problem: _Problem, counts: list[int]) -> None:
    """Take requests off the dearest pairs of any offer that runs late, until it does not."""
    while not fits(problem, counts):
        late = [
            j
            for j, n in enumerate(counts)
            if n and not _offer_fits(problem, counts, problem.pairs[j].offer)
        ]
        j = max(late, key=lambda j: (problem.pairs[j].cost, problem.pairs[j].seconds))
        width = problem.offers[problem.pairs[j].offer].concurrency
        counts[j] -= min(counts[j], (counts[j] - 1) % width + 1)  # its last wave


def _offer_fits(problem: _Problem, counts: Sequence[int], offer: int) -> bool:
    mine = [n if p.offer == offer else 0 for p, n in zip(problem.pairs, counts, strict=True)]
    return fits(problem, mine)


# ------------------------------------------------------------------ deadlines


def fastest(
    requests: Sequence[int], offers: Sequence[Offer], pairs: Sequence[Pair], upper: float
) -> Assignment | None:
    """The plan that places every request soonest (of those, the cheapest), searching
    deadlines up to ``upper`` (one known to place them all); None if none can. It does not
    depend on the workload's deadline, so it is kept for the last problems asked (a
    cost-against-deadline frontier asks the same one at every deadline)."""
    found = _fastest(tuple(requests), tuple(offers), tuple(pairs), upper)
    if found is None:
        return None
    return replace(
        found,
        counts=list(found.counts),
        unassigned=list(found.unassigned),
        offer_seconds=dict(found.offer_seconds),
    )


@functools.lru_cache(maxsize=32)
def _fastest(
    requests: tuple[int, ...], offers: tuple[Offer, ...], pairs: tuple[Pair, ...], upper: float
) -> Assignment | None:
    if _left_out(requests, offers, pairs, upper):
        return None
    # No plan beats one request of its slowest kind on that kind's quickest offer.
    quickest = [
        min((p.seconds for p in pairs if p.kind == k), default=0.0)
        for k, n in enumerate(requests)
        if n
    ]
    low = max(quickest, default=0.0)
    high = upper
    while high - low > max(_PRECISION * high, 1e-3):
        mid = (low + high) / 2
        found = cheapest(requests, offers, pairs, mid, placing=True)
        if found.left_out:
            low = mid
        else:
            high = min(mid, found.makespan_s)
    return cheapest(requests, offers, pairs, high)


def _left_out(
    requests: Sequence[int], offers: Sequence[Offer], pairs: Sequence[Pair], deadline: float
) -> int:
    return cheapest(requests, offers, pairs, deadline, placing=True).left_out


def shortest_at_cost(
    requests: Sequence[int],
    offers: Sequence[Offer],
    pairs: Sequence[Pair],
    plan: Assignment,
    low: float,
) -> Assignment:
    """Among plans placing as many requests as ``plan`` at no more cost, the one that finishes
    soonest: bisection on the deadline between ``low`` and ``plan``'s own makespan."""
    high = plan.makespan_s
    best = plan
    while high - low > max(_PRECISION * high, 1e-3):
        mid = (low + high) / 2
        trial = cheapest(requests, offers, pairs, mid)
        if _key(trial) <= _key(plan):
            best, high = trial, min(mid, trial.makespan_s)
        else:
            low = mid
    return best
