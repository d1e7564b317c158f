"""Self-host break-even: when do reserved local GPUs beat the APIs for this request mix?

Three ways to serve ``V`` requests of the workload's mix in a month, each with a monthly
cost (all sums exact ``Decimal``; only the GPU-seconds a request, from throughputs, is a
float, and it is rounded once, into ``g``):

- **All-API**, ``A(V)``: the spill plan with a one-month deadline. Free and cheap offers fill
  first, up to what their concurrency caps can finish in a month. ``A`` is piecewise linear,
  non-decreasing and convex (each further request lands on a lane at least as dear as the
  last), and infinite (None) past the APIs' total monthly capacity ``C``.
- **All-local**, ``ceil(V / g) * M``: ``M`` per reserved GPU-month (730 hours at the hour
  price), ``g`` requests a GPU serves in a month. A reserved GPU is paid for around the clock
  but busy only when traffic comes: at utilisation ``u`` (the fraction of the month it is
  actually busy) it serves ``g = floor(u * floor(730 h / s))`` requests, ``s`` the GPU-seconds
  one request of the mix takes. ``u = 1`` is a GPU busy 24/7.
- **Hybrid** with ``K`` GPUs, ``H_K(V) = K * M + A(V - L)``: how people self-host. The free
  tier goes first (offers whose cost per request is 0, up to ``F``, what their caps finish in
  a month), then the ``K`` GPUs take ``L = min(K * g, max(V - F, 0))``, and the paid APIs take
  the overflow.

The all-local break-even is the smallest ``V`` with ``ceil(V / g) * M < A(V)``, searched one
``g``-wide step of ``V`` at a time (a binary search inside each). The hybrid break-even is
the smallest ``V`` with ``H_K(V) < A(V)``. The saving ``A(V) - H_K(V)`` is ``-K * M`` up to
``F`` and then what the paid APIs would charge for the ``L`` dearest requests, less
``K * M``: non-decreasing in ``V``, because ``A`` is convex. So the hybrid is cheaper on one
interval of volumes that ends at ``C + K * g`` (past ``C`` the APIs cannot serve the volume
at all; past ``C + K * g`` neither can the hybrid), and one binary search finds its start. A
break-even above ``C`` is one of capacity, not of price. Over every ``K``, the lowest
break-even comes at ``K = 1``: by the same convexity, each further GPU displaces requests no
dearer than the first one's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from .._pricing.models import PriceTable
from ..errors import WorkloadError
from ..money import FxTable, Money
from .plan import Lane, spill_plan
from .results import BreakEven, OfferEstimate

__all__ = [
    "MONTH_SECONDS",
    "break_even",
    "check_utilisation",
    "free_requests_per_month",
    "gpu_requests_per_month",
    "hybrid_break_even",
    "monthly_api_cost",
    "monthly_hybrid_cost",
    "monthly_local_cost",
]

MONTH_SECONDS = 730 * 3600
_MAX_GPUS = 10_000


@dataclass(frozen=True, slots=True)
class _Gpus:
    """``count`` reserved GPUs, each serving ``per_gpu`` requests a month for ``month``."""

    count: int
    per_gpu: int
    month: Decimal


def check_utilisation(utilisation: Decimal) -> Decimal:
    """``utilisation`` if it is a fraction of the month in (0, 1]; a WorkloadError if not."""
    if not (utilisation.is_finite() and 0 < utilisation <= 1):
        raise WorkloadError(
            f"utilisation (--utilisation) must be above 0 and at most 1, the fraction of the "
            f"month a reserved GPU is busy (e.g. 0.6); got {utilisation}"
        )
    return utilisation


def gpu_requests_per_month(seconds_per_request: float, utilisation: Decimal = Decimal(1)) -> int:
    """Requests one GPU serves in a month, busy ``utilisation`` of it (at least 1)."""
    around_the_clock = max(math.floor(MONTH_SECONDS / seconds_per_request), 1)
    return max(math.floor(check_utilisation(utilisation) * around_the_clock), 1)


def monthly_api_cost(lanes: Sequence[Lane], volume: int) -> Decimal | None:
    """Cheapest monthly cost of ``volume`` requests on the API lanes; None if they cannot."""
    steps, unassigned = spill_plan(list(lanes), volume, MONTH_SECONDS)
    if unassigned:
        return None
    return sum((lane.cost_per_request * n for lane, n in steps), Decimal(0))


def monthly_local_cost(volume: int, per_gpu: int, month: Decimal) -> Decimal:
    """All ``volume`` requests on reserved GPUs: as many as it takes, each a whole month."""
    return math.ceil(volume / per_gpu) * month if volume > 0 else Decimal(0)


def free_requests_per_month(lanes: Sequence[Lane]) -> int:
    """What the free lanes (0 a request) finish in a month under their caps."""
    return sum(ln.capacity(MONTH_SECONDS) for ln in lanes if ln.cost_per_request == 0)


def monthly_hybrid_cost(
    lanes: Sequence[Lane], volume: int, gpus: int, per_gpu: int, month: Decimal
) -> Decimal | None:
    """Free tier first, then ``gpus`` reserved GPUs, then paid APIs; None if they cannot."""
    local = min(gpus * per_gpu, max(volume - free_requests_per_month(lanes), 0))
    rest = monthly_api_cost(lanes, volume - local)
    return None if rest is None else gpus * month + rest


def _hybrid_cheaper(lanes: Sequence[Lane], volume: int, gpus: _Gpus) -> bool:
    hybrid = monthly_hybrid_cost(lanes, volume, gpus.count, gpus.per_gpu, gpus.month)
    if hybrid is None:
        return False
    api = monthly_api_cost(lanes, volume)
    return api is None or hybrid < api


def hybrid_break_even(lanes: Sequence[Lane], gpus: int, per_gpu: int, month: Decimal) -> int | None:
    """Smallest monthly volume at which the hybrid with ``gpus`` GPUs costs less than the
    APIs alone (None if at none). Valid because the saving is non-decreasing in volume."""
    setup = _Gpus(gpus, per_gpu, month)
    low, high = 1, _capacity(lanes) + gpus * per_gpu
    if not _hybrid_cheaper(lanes, high, setup):
        return None
    while low < high:
        mid = (low + high) // 2
        if _hybrid_cheaper(lanes, mid, setup):
            high = mid
        else:
            low = mid + 1
    return low


def _cheaper_locally(lanes: Sequence[Lane], volume: int, local_cost: Decimal) -> bool:
    api = monthly_api_cost(lanes, volume)
    return api is None or local_cost < api


def break_even(
    pricing: PriceTable,
    rows: Sequence[OfferEstimate],
    api_lanes: Sequence[Lane],
    *,
    fx: FxTable,
    display: str,
    gpu_seconds_per_request: float,
    utilisation: Decimal = Decimal(1),
    gpus: int = 1,
    volume: int | None = None,
) -> BreakEven | None:
    """Break-even for the first local offer in the table (None if the table has none).

    ``utilisation`` is the fraction of the month a reserved GPU is busy; ``gpus`` the GPUs
    of the hybrid; ``volume`` a monthly volume to price all three ways (the workload's).
    """
    check_utilisation(utilisation)
    if gpus < 1:
        raise WorkloadError(f"the hybrid needs at least 1 GPU, got {gpus}")
    local = next((r for r in rows if pricing.offers[r.offer_id].is_local), None)
    if local is None:
        return None
    gpu = pricing.offers[local.offer_id].local_gpu
    assert gpu is not None
    month = gpu.monthly_cost().to(display, fx)
    hour = Money(gpu.hour_price, gpu.currency).to(display, fx)
    setup = _Gpus(gpus, gpu_requests_per_month(gpu_seconds_per_request, utilisation), month.amount)
    paid = [ln.cost_per_request for ln in api_lanes if ln.cost_per_request > 0]
    cheapest_paid = min(paid, default=None)
    match_price = None
    if cheapest_paid is not None and local.eligible:
        # A GPU-hour serves 3600 u / s requests: priced at the cheapest paid API's rate.
        price = cheapest_paid * 3600 * utilisation / Decimal(str(gpu_seconds_per_request))
        match_price = Money(price, display)
    capacity, free = _capacity(api_lanes), free_requests_per_month(api_lanes)
    if local.eligible:
        local_volume, needed, reason = _search(api_lanes, setup.per_gpu, month.amount)
        hybrid = hybrid_break_even(api_lanes, gpus, setup.per_gpu, month.amount)
        words = _plain_words(hybrid, capacity=capacity, free=free, gpus=gpus, hour=hour)
        words += _free_note(volume, free)
    else:
        local_volume, needed, hybrid = None, None, None
        reason = (
            f"{local.offer_id} cannot take these requests either ({local.skip_reason}), so "
            "self-hosting has no break-even for them"
        )
        words = f"never: {reason}"
    api, on_gpus, gpus_for_all, mixed = _costs_at(
        api_lanes, volume, setup if local.eligible else None
    )
    return BreakEven(
        local_offer_id=local.offer_id,
        gpu=gpu.gpu,
        gpu_monthly_cost=month,
        gpu_requests_per_month=setup.per_gpu,
        api_cost_per_request=None if cheapest_paid is None else Money(cheapest_paid, display),
        hour_price_to_match=match_price,
        requests_per_month=local_volume,
        gpus_needed=needed,
        reason=reason,
        capacity_bound=local_volume is not None and local_volume > capacity,
        utilisation=utilisation,
        gpu_hour_price=hour,
        free_requests_per_month=free,
        hybrid_gpus=gpus,
        hybrid_requests_per_month=hybrid,
        hybrid_capacity_bound=hybrid is not None and hybrid > capacity,
        plain_words=words,
        monthly_volume=volume,
        all_api_monthly_cost=_money(api, display),
        all_local_monthly_cost=_money(on_gpus, display),
        all_local_gpus=gpus_for_all,
        hybrid_monthly_cost=_money(mixed, display),
    )


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return None if amount is None else Money(amount, currency)


def _costs_at(
    lanes: Sequence[Lane], volume: int | None, setup: _Gpus | None
) -> tuple[Decimal | None, Decimal | None, int | None, Decimal | None]:
    """``volume`` requests a month on the APIs, on GPUs alone (and how many), and hybrid;
    the GPU figures are None without a ``setup`` (the local offer cannot take the mix)."""
    if volume is None:
        return None, None, None, None
    api = monthly_api_cost(lanes, volume)
    if setup is None:
        return api, None, None, None
    return (
        api,
        monthly_local_cost(volume, setup.per_gpu, setup.month),
        math.ceil(volume / setup.per_gpu),
        monthly_hybrid_cost(lanes, volume, setup.count, setup.per_gpu, setup.month),
    )


def _plain_words(hybrid: int | None, *, capacity: int, free: int, gpus: int, hour: Money) -> str:
    """The hybrid break-even as a sentence: from when K GPUs pay, or why they never do."""
    them = f"{gpus} GPU{'s' if gpus > 1 else ''} at {hour} per hour"
    are = "are" if gpus > 1 else "is"
    if hybrid is None:
        return f"never: {them} cost more than the APIs at any volume they can serve"
    if hybrid <= capacity:
        return f"from {_requests(hybrid)} a month, {them} {are} cheaper than the APIs"
    if capacity == 0:
        return f"never on price: the APIs cannot take these requests at all; {them} {are} needed"
    if capacity == free:
        return (
            f"never on price: the free tier serves up to {_requests(free)} a month at no "
            f"cost; from {hybrid:,} the APIs cannot keep up, and {them} {are} needed for the rest"
        )
    return (
        f"never on price: the APIs are cheaper at every volume they can serve (up to "
        f"{_requests(capacity)} a month); from {hybrid:,}, {them} {are} needed for capacity"
    )


def _free_note(volume: int | None, free: int) -> str:
    if volume is None or volume > free:
        return ""
    return (
        f"; at {_requests(volume)} a month the free tier covers it all (up to {free:,} a "
        "month), so no GPU pays for itself there"
    )


def _requests(count: int) -> str:
    return f"{count:,} request{'' if count == 1 else 's'}"


def _capacity(lanes: Sequence[Lane]) -> int:
    return sum(ln.capacity(MONTH_SECONDS) for ln in lanes)


def _search(
    lanes: Sequence[Lane], per_gpu: int, month: Decimal
) -> tuple[int | None, int | None, str]:
    capacity = _capacity(lanes)
    for gpus in range(1, _MAX_GPUS + 1):
        low, high = (gpus - 1) * per_gpu + 1, gpus * per_gpu
        local_cost = month * gpus
        if not _cheaper_locally(lanes, high, local_cost):
            continue
        while low < high:  # first volume in [low, high] where local is cheaper
            mid = (low + high) // 2
            if _cheaper_locally(lanes, mid, local_cost):
                high = mid
            else:
                low = mid + 1
        if low > capacity:
            why = (
                f"above {capacity:,} requests a month the APIs' concurrency caps cannot "
                "keep up, so local GPUs are needed for capacity, not price"
            )
        else:
            why = f"from {low:,} requests a month, {gpus} reserved GPU(s) cost less than the APIs"
        return low, gpus, why
    return None, None, f"never up to {_MAX_GPUS:,} GPUs: the APIs stay cheaper at these prices"
