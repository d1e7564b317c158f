"""The spill plan equals a brute-force optimum; capacities and finish times are exact."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from vlmroute._estimate.plan import Lane, spill_plan


def brute_force(lanes: list[Lane], requests: int, deadline: float) -> Decimal | None:
    caps = [min(lane.capacity(deadline), requests) for lane in lanes]
    best: Decimal | None = None
    for counts in itertools.product(*(range(c + 1) for c in caps)):
        if sum(counts) != requests:
            continue
        cost = sum(
            (lane.cost_per_request * n for lane, n in zip(lanes, counts, strict=True)), Decimal(0)
        )
        best = cost if best is None else min(best, cost)
    return best


lane_st = st.builds(
    Lane,
    key=st.text("abcdef", min_size=1, max_size=3),
    cost_per_request=st.integers(0, 50).map(lambda c: Decimal(c) / 100),
    concurrency=st.integers(1, 4),
    request_seconds=st.sampled_from([1.0, 1.5, 2.0, 3.0, 7.0]),
    rpm=st.none() | st.integers(30, 240),
)


@settings(max_examples=150, deadline=None)
@given(
    lanes=st.lists(lane_st, min_size=1, max_size=3),
    requests=st.integers(1, 12),
    deadline=st.sampled_from([1.0, 2.0, 3.5, 6.0, 10.0]),
)
def test_spill_plan_matches_brute_force(lanes: list[Lane], requests: int, deadline: float) -> None:
    steps, unassigned = spill_plan(lanes, requests, deadline)
    optimum = brute_force(lanes, requests, deadline)
    if optimum is None:
        assert unassigned > 0
        return
    assert unassigned == 0
    cost = sum((lane.cost_per_request * n for lane, n in steps), Decimal(0))
    assert cost == optimum
    for lane, n in steps:  # every lane finishes its share by the deadline
        assert lane.finish_seconds(n) <= deadline + 1e-9


def test_no_deadline_puts_everything_on_the_cheapest_lane() -> None:
    cheap = Lane("free", Decimal(0), 5, 30.0)
    paid = Lane("paid", Decimal("0.01"), 100, 10.0)
    steps, unassigned = spill_plan([paid, cheap], 1000, None)
    assert [(lane.key, n) for lane, n in steps] == [("free", 1000)]
    assert unassigned == 0


def test_deadline_spills_exactly_what_the_cheap_lane_cannot_finish() -> None:
    cheap = Lane("free", Decimal(0), 5, 30.0)
    paid = Lane("paid", Decimal("0.01"), 100, 10.0)
    steps, unassigned = spill_plan([paid, cheap], 1000, 600.0)
    # free: 5 in flight x floor(600 / 30) = 20 waves = 100 requests; the rest spills
    assert [(lane.key, n) for lane, n in steps] == [("free", 100), ("paid", 900)]
    assert unassigned == 0


def test_ties_on_price_prefer_the_faster_lane() -> None:
    slow = Lane("slow", Decimal(0), 5, 30.0)
    fast = Lane("fast", Decimal(0), 5, 10.0)
    steps, _ = spill_plan([slow, fast], 10, None)
    assert steps[0][0].key == "fast"


def test_finish_and_capacity_agree() -> None:
    lane = Lane("x", Decimal(0), 5, 32.362375)
    assert lane.finish_seconds(10000) == 2000 * 32.362375
    assert lane.capacity(7200) == 5 * math.floor(7200 / 32.362375)
    assert lane.capacity(lane.finish_seconds(37)) >= 37


def test_rate_limit_bounds_capacity() -> None:
    lane = Lane("x", Decimal(0), 100, 1.0, rpm=60)
    assert lane.capacity(60.0) == 60
    assert lane.finish_seconds(120) == 120.0
