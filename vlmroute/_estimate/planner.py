"""The estimate's plan: each request kind of the mix on the offers that can serve it (pure).

Builds the kinds and pairs of :mod:`.mixed` from the table's offers and the workload's
profiles (a kind's cost and time on an offer are its own, not the mix's average; a video
kind never goes to an offer that does not take video, while the image kinds still may),
runs the search, and turns the answer into a :class:`~.results.Plan`: the cheapest plan that
meets the deadline, the shortest of equal cost, and, when no plan meets the deadline, the
fastest plan possible beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from .._pricing.models import Offer, PriceTable
from ..money import FxTable, Money
from . import mixed
from .apportion import apportion
from .fits import why_not
from .results import OfferEstimate, Plan, PlanStep, ProfileTokens
from .workload import RequestProfile, Workload

__all__ = ["make_plan"]


def make_plan(
    pricing: PriceTable,
    rows: Sequence[OfferEstimate],
    workload: Workload,
    profiles: Sequence[ProfileTokens],
    counted: Mapping[str, Sequence[ProfileTokens]],
    *,
    fx: FxTable,
    display: str,
    local_gpus: int,
    include_retired: bool,
) -> Plan:
    """The plan for ``workload`` on the offers of ``rows`` the plan may use; ``counted``
    holds each offer's own count of ``profiles`` (:func:`.processor.on_offer`)."""
    mix = workload.resolved_mix()
    offers = [pricing.offers[row.offer_id] for row in rows]
    usable = [
        offer
        for offer in offers
        if not (offer.is_local and local_gpus == 0) and (offer.is_live or include_retired)
    ]
    widths = {row.offer_id: row.concurrency for row in rows}
    classes = _classes(usable, mix, profiles, counted)
    servers: list[mixed.Offer] = []
    pairs: list[mixed.Pair] = []
    for offer in usable:
        index = len(servers)
        mine = [
            _pair(
                offer, kind, index, [counted[offer.id][i] for i in members], fx=fx, display=display
            )
            for kind, (serving, members) in enumerate(classes)
            if offer.id in serving
        ]
        if mine:
            width = widths[offer.id] * (local_gpus if offer.is_local else 1)
            servers.append(
                mixed.Offer(offer.id, width, offer.rate_limits.rpm, offer.rate_limits.tpm)
            )
            pairs.extend(mine)
    requests = [sum(profiles[i].requests for i in members) for _, members in classes]
    stranded = sum(n for n, (serving, _) in zip(requests, classes, strict=True) if not serving)
    deadline = workload.deadline_s
    chosen = mixed.cheapest(requests, servers, pairs, deadline)
    unbounded = mixed.cheapest(requests, servers, pairs, None)
    reach = unbounded.makespan_s if not unbounded.left_out else None
    quickest = None if reach is None else mixed.fastest(requests, servers, pairs, reach)
    if quickest is not None and _has_ties(pairs, chosen):
        chosen = mixed.shortest_at_cost(requests, servers, pairs, chosen, quickest.makespan_s)

    def steps_of(plan: mixed.Assignment) -> tuple[PlanStep, ...]:
        return _steps(plan, servers, pairs, classes=classes, profiles=profiles, display=display)

    steps = steps_of(chosen)
    total = sum((s.cost for s in steps), Money.zero(display))
    meets = not chosen.left_out and (deadline is None or chosen.makespan_s <= deadline + 1e-9)
    fallback = () if meets or quickest is None else steps_of(quickest)
    return Plan(
        steps=steps,
        total_cost=None if chosen.left_out else total,
        placed_cost=total,
        makespan_s=chosen.makespan_s,
        deadline_s=deadline,
        meets_deadline=meets,
        unassigned=chosen.left_out,
        fastest_makespan_s=None if quickest is None else quickest.makespan_s,
        note=_note(workload, servers, chosen, stranded),
        fastest_cost=sum((s.cost for s in fallback), Money.zero(display)) if fallback else None,
        fastest_steps=fallback,
    )


def _serves(offer: Offer, profile: RequestProfile, tokens: ProfileTokens) -> bool:
    """Whether ``offer`` can take a request of this kind, as the router would decide."""
    return why_not(offer, profile, tokens) is None


def _has_ties(pairs: Sequence[mixed.Pair], plan: mixed.Assignment) -> bool:
    """Whether another plan could cost the same: a kind the plan places with a second offer
    at the same price (two free offers, say). Without one, the cheapest plan's shape is
    forced and the search for a shorter one of equal cost is skipped."""
    for i, pair in enumerate(pairs):
        if plan.counts[i] and any(
            other.kind == pair.kind and other.offer != pair.offer and other.cost == pair.cost
            for other in pairs
        ):
            return True
    return False


def _steps(
    plan: mixed.Assignment,
    servers: Sequence[mixed.Offer],
    pairs: Sequence[mixed.Pair],
    *,
    classes: Sequence[tuple[frozenset[str], list[int]]],
    profiles: Sequence[ProfileTokens],
    display: str,
) -> tuple[PlanStep, ...]:
    steps = []
    for index, server in enumerate(servers):
        by_profile = [0] * len(profiles)
        cost = Money.zero(display)
        for pair, n in zip(pairs, plan.counts, strict=True):
            if pair.offer == index and n:
                members = classes[pair.kind][1]
                shares = [Decimal(profiles[i].requests) for i in members]
                for i, part in zip(members, apportion(n, shares), strict=True):
                    by_profile[i] += part
                cost = cost + Money(pair.cost * n, display)
        if sum(by_profile):
            steps.append(
                PlanStep(
                    offer_id=server.key,
                    requests=sum(by_profile),
                    cost=cost,
                    makespan_s=plan.offer_seconds.get(index, 0.0),
                    profile_requests=tuple(by_profile),
                )
            )
    # Cheapest a request first, as the single-kind plan listed its lanes.
    return tuple(sorted(steps, key=lambda s: (s.cost.amount / s.requests, s.makespan_s)))


def _classes(
    offers: Sequence[Offer],
    mix: Sequence[RequestProfile],
    profiles: Sequence[ProfileTokens],
    counted: Mapping[str, Sequence[ProfileTokens]],
) -> list[tuple[frozenset[str], list[int]]]:
    """The mix's profiles grouped by the offers that can serve them. A group is planned as
    one kind, its requests spread over its offers in the mix's proportions: each offer's
    share costs exactly its part of the group's tokens, and the program stays a handful of
    kinds however many profiles the mix has (twenty image sizes are one kind)."""
    groups: dict[frozenset[str], list[int]] = {}
    for i, (profile, tokens) in enumerate(zip(mix, profiles, strict=True)):
        if tokens.requests:
            serving = frozenset(o.id for o in offers if _serves(o, profile, counted[o.id][i]))
            groups.setdefault(serving, []).append(i)
    return [(serving, members) for serving, members in groups.items() if serving] + [
        (serving, members) for serving, members in groups.items() if not serving
    ]


def _pair(
    offer: Offer,
    kind: int,
    index: int,
    members: Sequence[ProfileTokens],
    *,
    fx: FxTable,
    display: str,
) -> mixed.Pair:
    """A group on an offer: the cost, time and tokens of its average request there."""
    count = sum(p.requests for p in members)
    total_in = sum(p.input_tokens * p.requests for p in members)
    total_out = sum(p.output_tokens * p.requests for p in members)
    cost = offer.cost(total_in, total_out).to(display, fx).amount / count
    seconds = (
        sum(
            offer.latency.request_seconds(p.input_tokens, p.output_tokens) * p.requests
            for p in members
        )
        / count
    )
    return mixed.Pair(kind, index, cost, seconds, (total_in + total_out) / count)


def _note(
    workload: Workload,
    servers: Sequence[mixed.Offer],
    chosen: mixed.Assignment,
    stranded: int,
) -> str:
    if not servers:
        return "no eligible offer can take these requests (see each offer's skip reason)"
    if stranded:
        return (
            f"{stranded:,} of {workload.requests:,} requests are of a kind no eligible offer "
            "can take (see the offers' skip reasons); the others are planned"
        )
    if chosen.left_out:
        said = (
            f"{chosen.left_out:,} of {workload.requests:,} requests cannot finish by the "
            "deadline on the eligible offers"
        )
        return said + "; raise your tier, use --local-gpus, or allow more time"
    if workload.deadline_s is None:
        if len(workload.mix) > 1:
            return "no deadline: each kind of request on its cheapest offer"
        return "no deadline: everything on the cheapest offer"
    if len(workload.mix) > 1:
        return "cheapest offers filled first, each kind where it can go, up to the deadline"
    return "cheapest offers filled first up to what they finish by the deadline"
