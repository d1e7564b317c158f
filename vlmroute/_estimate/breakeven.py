"""Self-host break-even: when does a reserved local GPU beat the APIs for this request mix?

The APIs' monthly cost ``A(V)`` for ``V`` requests a month is the spill plan with a one-month
deadline: free and cheap offers fill first, up to what their concurrency caps can finish
in a month. It is piecewise linear and non-decreasing, and infinite past the APIs' total
monthly capacity. A local setup costs ``ceil(V / g) * M``: ``M`` per reserved GPU-month,
``g`` requests a GPU can serve in a month at its assumed throughput. The break-even is the
smallest ``V`` with ``ceil(V/g) * M < A(V)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from .._pricing.models import PriceTable
from ..money import FxTable, Money
from .plan import Lane, spill_plan
from .results import BreakEven, OfferEstimate

__all__ = ["MONTH_SECONDS", "break_even", "monthly_api_cost"]

MONTH_SECONDS = 730 * 3600
_MAX_GPUS = 10_000


def monthly_api_cost(lanes: Sequence[Lane], volume: int) -> Decimal | None:
    """Cheapest monthly cost of ``volume`` requests on the API lanes; None if they cannot."""
    steps, unassigned = spill_plan(list(lanes), volume, MONTH_SECONDS)
    if unassigned:
        return None
    return sum((lane.cost_per_request * n for lane, n in steps), Decimal(0))


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
) -> BreakEven | None:
    """Break-even for the first local offer in the table (None if the table has none)."""
    local = next((r for r in rows if pricing.offers[r.offer_id].is_local), None)
    if local is None:
        return None
    gpu = pricing.offers[local.offer_id].local_gpu
    assert gpu is not None
    month = gpu.monthly_cost().to(display, fx)
    per_gpu = max(math.floor(MONTH_SECONDS / gpu_seconds_per_request), 1)
    paid = [ln.cost_per_request for ln in api_lanes if ln.cost_per_request > 0]
    cheapest_paid = min(paid, default=None)
    match_price = None
    if cheapest_paid is not None:
        price = cheapest_paid * 3600 / Decimal(str(gpu_seconds_per_request))
        match_price = Money(price, display)
    if not local.eligible:
        volume, gpus = None, None
        reason = (
            f"{local.offer_id} cannot take these requests either ({local.skip_reason}), so "
            "self-hosting has no break-even for them"
        )
        match_price = None
    else:
        volume, gpus, reason = _search(api_lanes, per_gpu, month.amount)
    return BreakEven(
        local_offer_id=local.offer_id,
        gpu=gpu.gpu,
        gpu_monthly_cost=month,
        gpu_requests_per_month=per_gpu,
        api_cost_per_request=None if cheapest_paid is None else Money(cheapest_paid, display),
        hour_price_to_match=match_price,
        requests_per_month=volume,
        gpus_needed=gpus,
        reason=reason,
        capacity_bound=volume is not None and volume > _capacity(api_lanes),
    )


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
