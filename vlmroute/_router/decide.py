"""Which offers may serve a request, in which order, and why the others may not (pure).

The routing decision takes values and returns values: the request's shape (exact image
tokens, estimated text tokens, expected output), a view of each configured offer (its
pricing row, load, health verdict, observed latency), the policy and the caller's limits.
It never waits and never sends: :meth:`vlmroute.Router.plan` shows its result as a dry run.

Policies:

- ``cheapest``: this request's cost from its real token mix (free offers first); ties go to
  the faster offer, then to the configured order.
- ``fastest``: observed latency (an average of recent calls), or the table's estimate for an
  offer not yet used; ties go to the cheaper.
- ``ordered``: the configured order.
- ``weighted``: a random order, each offer first with probability proportional to its weight.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal

from .._pricing import Offer
from .._request import ChatRequest
from ..money import FxTable, Money

__all__ = ["Candidate", "OfferView", "RequestShape", "RoutePlan", "Skip", "decide", "shape_of"]


@dataclass(frozen=True, slots=True)
class RequestShape:
    """What routing needs to know of a request."""

    prompt_tokens: int
    output_tokens: int  # expected, for cost: max_tokens, or the configured expectation
    max_tokens: int | None
    images: int
    video: bool
    #: Each image's size (None: unknown), and what the images count at the published
    #: processor budget: an offer with its own (``processor:``) counts them again.
    image_sizes: tuple[tuple[int, int] | None, ...] = ()
    image_tokens: int = 0

    def prompt_on(self, offer: Offer) -> int:
        """The prompt's tokens on ``offer``: its processor's image budget, if it has one."""
        processor = offer.processor
        if processor is None or not self.image_sizes:
            return self.prompt_tokens
        images = sum(
            processor.image_prompt_tokens(*size) if size else processor.unknown_image_tokens
            for size in self.image_sizes
        )
        return self.prompt_tokens - self.image_tokens + images


def shape_of(request: ChatRequest, expected_output_tokens: int) -> RequestShape:
    expected = expected_output_tokens
    if request.max_tokens is not None:
        expected = min(expected, request.max_tokens)
    counted = request.prompt_tokens()
    images = request.images()
    return RequestShape(
        prompt_tokens=counted.total,
        output_tokens=expected,
        max_tokens=request.max_tokens,
        images=len(images),
        video=request.has_video(),
        image_sizes=tuple(part.size for part in images),
        image_tokens=counted.images,
    )


@dataclass(frozen=True, slots=True)
class OfferView:
    """One configured offer as the decision sees it at this instant."""

    offer: Offer
    order: int
    weight: float
    cap: int
    in_flight: int
    blocked: str | None  # why its health rules it out for a while (disabled, unhealthy)
    paused: str | None  # why it has no capacity right now (cooldown, open circuit)
    latency_s: float | None  # observed average, None before the first call
    configured_cap: int | None = None  # set when ``cap`` was learned below it


@dataclass(frozen=True, slots=True)
class Candidate:
    offer: str
    cost: Money  # in the display currency
    native_cost: Money
    seconds: float  # expected time of this request on this offer
    in_flight: int
    cap: int
    paused: str | None = None  # a candidate all the same: requests may wait for it
    caveat: str | None = None  # may not fit (an unconfirmed limit): tried after the others
    configured_cap: int | None = None  # set when ``cap`` is a cap learned below it


@dataclass(frozen=True, slots=True)
class Skip:
    """An offer left out: ``kind`` is ``pinned`` (outside the request's providers= or in its
    exclude=), ``fit`` (the request cannot run there), ``caller`` (the request's max_cost),
    ``health`` (cooldown, breaker, disabled) or ``budget``."""

    offer: str
    reason: str
    kind: str = "fit"


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Candidates best first, and every offer left out with its reason."""

    shape: RequestShape
    candidates: tuple[Candidate, ...]
    skipped: tuple[Skip, ...]

    @property
    def reasons(self) -> dict[str, str]:
        return {s.offer: s.reason for s in self.skipped}


BudgetCheck = Callable[[Offer, Money], str | None]
#: (native cost, cost in the display currency, expected seconds) of a request shape on an
#: offer: what :func:`quote` computes, and what a router may cache per distinct shape.
Quote = tuple[Money, Money, float]


def quote(offer: Offer, shape: RequestShape, fx: FxTable, currency: str) -> Quote:
    prompt = shape.prompt_on(offer)
    native = offer.cost(prompt, shape.output_tokens)
    seconds = offer.latency.request_seconds(prompt, shape.output_tokens)
    return native, fx.convert(native, currency), seconds


def _fit(offer: Offer, shape: RequestShape) -> str | None:
    """Why this request cannot run on this offer at all, or None."""
    if not offer.is_live:
        return f"retired on {offer.lifecycle.retired_on}"
    if shape.video and "video" not in offer.modalities:
        return "does not take video"
    if shape.images and "image" not in offer.modalities:
        return "does not take images"
    over = shape.max_tokens is not None and shape.max_tokens > offer.max_output_tokens
    if over and not offer.output_limit_unconfirmed:
        limit = offer.max_output_tokens
        return f"max_tokens {shape.max_tokens:,} is over its output limit {limit:,}"
    need = shape.prompt_on(offer) + (shape.max_tokens or 0)
    if need > offer.context_window:
        what = "prompt" if shape.max_tokens is None else "prompt + max_tokens"
        return f"{what} ({need:,} tokens) exceeds its context window ({offer.context_window:,})"
    return None


def _caveat(offer: Offer, shape: RequestShape) -> str | None:
    if shape.max_tokens is not None and shape.max_tokens > offer.max_output_tokens:
        return (
            f"max_tokens {shape.max_tokens:,} is over its output limit "
            f"{offer.max_output_tokens:,}, which is unconfirmed: tried after the others"
        )
    return None


def decide(
    shape: RequestShape,
    views: Sequence[OfferView],
    *,
    policy: str,
    fx: FxTable,
    currency: str,
    allow: Collection[str] | None = None,
    deny: Collection[str] = (),
    max_cost: Money | None = None,
    budget: BudgetCheck | None = None,
    rng: random.Random | None = None,
    quoted: Callable[[Offer, RequestShape], Quote] | None = None,
) -> RoutePlan:
    """Filter and rank the offers for one request (``quoted``: a cache of :func:`quote`)."""
    candidates: list[tuple[OfferView, Candidate]] = []
    skipped: list[Skip] = []
    for view in views:
        offer = view.offer
        native, cost, seconds = (
            quoted(offer, shape) if quoted is not None else quote(offer, shape, fx, currency)
        )
        reasons = (
            ("pinned", _pinned_out(offer, allow, deny)),
            ("fit", _fit(offer, shape)),
            ("caller", _caller_limits(offer, cost, max_cost)),
            ("health", view.blocked),
            ("budget", budget(offer, cost) if budget else None),
        )
        skip = next((Skip(offer.id, why, kind) for kind, why in reasons if why), None)
        if skip is not None:
            skipped.append(skip)
            continue
        candidate = Candidate(
            offer.id,
            cost,
            native,
            seconds,
            view.in_flight,
            view.cap,
            paused=view.paused,
            caveat=_caveat(offer, shape),
            configured_cap=view.configured_cap,
        )
        candidates.append((view, candidate))
    if len(candidates) == 1:  # nothing to rank (and no random generator to make)
        return RoutePlan(shape, (candidates[0][1],), tuple(skipped))
    ranked = _rank(candidates, policy, rng or random.Random())
    return RoutePlan(shape, tuple(ranked), tuple(skipped))


def _pinned_out(offer: Offer, allow: Collection[str] | None, deny: Collection[str]) -> str | None:
    names = {offer.id, offer.provider}
    if allow is not None and not names & set(allow):
        return "not in this request's providers= list"
    if names & set(deny):
        return "excluded by this request's exclude= list"
    return None


def _caller_limits(offer: Offer, cost: Money, max_cost: Money | None) -> str | None:
    if max_cost is not None and max_cost < cost:
        return (
            f"estimated {cost.currency} {cost.amount:.3g} is over max_cost "
            f"{max_cost.currency} {max_cost.amount:.3g}"
        )
    return None


def _rank(
    pairs: list[tuple[OfferView, Candidate]], policy: str, rng: random.Random
) -> list[Candidate]:
    def speed(pair: tuple[OfferView, Candidate]) -> float:
        view, candidate = pair
        return view.latency_s if view.latency_s is not None else candidate.seconds

    keys: dict[str, Callable[[tuple[OfferView, Candidate]], tuple[Decimal | float | int, ...]]] = {
        "cheapest": lambda p: (p[1].cost.amount, speed(p), p[0].order),
        "fastest": lambda p: (speed(p), p[1].cost.amount, p[0].order),
        "ordered": lambda p: (p[0].order,),
        # Efraimidis-Spirakis: sorting by u ** (1 / w) draws a weighted random permutation.
        "weighted": lambda p: (-(rng.random() ** (1.0 / p[0].weight)),),
    }
    key = keys[policy]
    # Offers that may not fit (an unconfirmed limit) go last, whatever the policy.
    return [c for _, c in sorted(pairs, key=lambda p: (p[1].caveat is not None, *key(p)))]
