"""The cost-vs-deadline frontier: against hand reasoning, and against estimate() itself.

The planner is being rewritten, so figures from the shipped table are checked as properties
(each point is what estimate() says at its deadline, cost never rises with the deadline, the
ends are the fastest and the no-deadline plans); exact figures come only from a small table
whose optimum can be worked out by hand, which any correct planner must reach.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest

import vlmroute
from tests.builders import offer, table
from vlmroute._cli import render
from vlmroute._cli.frontier_text import frontier_text
from vlmroute._cli.main import main
from vlmroute._estimate.frontier import (
    BREAKPOINT_TOLERANCE,
    SAMPLES,
    Frontier,
    deadlines,
    dropped_offers,
    frontier,
)
from vlmroute._pricing import PriceTable

# Three lanes, every request 2 s on each (1 s to first token + 100 tokens at 100 tok/s):
# free (1 at a time, USD 0), cheap (2 at a time, USD 1 a request), dear (10, USD 5).
HAND = table(
    {
        "free": offer(provider="a", cap=1),
        "cheap": offer(provider="b", cap=2, output_per_mtok=10_000),
        "dear": offer(provider="c", cap=10, output_per_mtok=50_000),
    }
)
TEN = vlmroute.Workload.from_mapping({"requests": 10, "output_tokens": 100})
SECONDS = 2.0


def by_hand(deadline: float) -> Decimal:
    """k waves fit: free takes k, cheap up to 2k of the rest, dear the remainder."""
    waves = math.floor(deadline / SECONDS + 1e-9)
    free = min(waves, 10)
    cheap = min(2 * waves, 10 - free)
    return Decimal(cheap * 1 + (10 - free - cheap) * 5)


def test_the_fixture_is_what_the_hand_reasoning_assumes() -> None:
    rows = {o.offer_id: o for o in vlmroute.estimate(TEN, HAND).offers}
    assert {k: r.request_seconds for k, r in rows.items()} == dict.fromkeys(rows, SECONDS)
    assert rows["cheap"].cost_per_request.amount == 1
    assert rows["dear"].cost_per_request.amount == 5


def test_every_point_is_the_hand_optimum() -> None:
    f = frontier(TEN, HAND)
    # fastest: one wave of 2 s places 1 + 2 + 10 >= 10; no deadline: 10 waves on free
    assert f.fastest_makespan_s == pytest.approx(SECONDS)
    assert f.no_deadline_makespan_s == pytest.approx(10 * SECONDS)
    assert f.no_deadline_cost == vlmroute.Money(Decimal(0), "USD")
    assert 8 <= len(f.points) <= 20
    for point in f.points:
        assert point.cost is not None
        assert point.cost.amount == by_hand(point.deadline_s), point
        assert sum(s.requests for s in point.shares) == 10
    assert f.points[0].cost is not None
    assert f.points[0].cost.amount == 37  # free 1, cheap 2, dear 7


def test_the_breakpoint_is_exact() -> None:
    """dear is no longer needed once free + cheap place 10: 3k >= 10, k = 4 waves, 8 s."""
    ((point, gone),) = dropped_offers(frontier(TEN, HAND))
    assert gone == ("dear",)
    assert point.kind == "breakpoint"
    assert point.deadline_s == pytest.approx(4 * SECONDS)
    assert point.cost is not None
    assert point.cost.amount == 6
    assert point.offers == {"free", "cheap"}


def test_a_table_without_a_local_offer_has_no_self_host_line() -> None:
    assert frontier(TEN, HAND).self_host is None


def test_deadlines_are_geometric_with_exact_ends() -> None:
    ds = deadlines(10.0, 1000.0, 5)
    assert ds[0] == 10.0
    assert ds[-1] == 1000.0
    assert ds == pytest.approx([10.0, 10**1.5, 100.0, 10**2.5, 1000.0])
    assert deadlines(5.0, 5.0) == [5.0]  # the cheapest offer is also the fastest


# --- the shipped table: properties ----------------------------------------------------------

WORK = vlmroute.Workload.from_mapping(
    {
        "requests": 10_000,
        "mix": [{"images": ["1920x1080"]}],
        "prompt_tokens": 200,
        "output_tokens": 1500,
        "deadline": "2h",
    }
)


@pytest.fixture(scope="module")
def shipped() -> PriceTable:
    return vlmroute.load_pricing()


@pytest.fixture(scope="module")
def curve(shipped: PriceTable) -> Frontier:
    return frontier(WORK, shipped)


def at(deadline: float | None, pricing: PriceTable) -> vlmroute.Estimate:
    return vlmroute.estimate(WORK.model_copy(update={"deadline_s": deadline}), pricing)


def test_points_are_what_estimate_says_at_their_deadlines(
    curve: Frontier, shipped: PriceTable
) -> None:
    for point in curve.points:
        plan = at(point.deadline_s, shipped).plan
        assert point.cost == plan.total_cost
        assert point.makespan_s == plan.makespan_s
        assert [(s.offer_id, s.requests) for s in point.shares] == [
            (s.offer_id, s.requests) for s in plan.steps
        ]


def test_cost_never_rises_as_the_deadline_grows(curve: Frontier) -> None:
    deadlines_s = [p.deadline_s for p in curve.points]
    assert deadlines_s == sorted(deadlines_s)
    costs = [p.cost.amount for p in curve.points if p.cost is not None]
    assert len(costs) == len(curve.points)  # every deadline from the fastest on can be met
    assert all(a >= b for a, b in pairwise(costs))
    assert costs[0] > costs[-1]


def test_the_ends_are_the_fastest_and_the_no_deadline_plans(
    curve: Frontier, shipped: PriceTable
) -> None:
    free_run = at(None, shipped).plan
    first, last = curve.points[0], curve.points[-1]
    assert first.deadline_s == free_run.fastest_makespan_s == curve.fastest_makespan_s
    assert first.meets_deadline
    assert last.deadline_s == pytest.approx(free_run.makespan_s)
    assert last.cost == free_run.total_cost == curve.no_deadline_cost
    assert len([p for p in curve.points if p.kind == "sample"]) == SAMPLES


def test_a_breakpoint_is_where_the_offers_change(curve: Frontier, shipped: PriceTable) -> None:
    """Found to within the tolerance: below that, the plan still needs the offer dropped."""
    for point, gone in dropped_offers(curve):
        before = at(point.deadline_s * (1 - BREAKPOINT_TOLERANCE) - 1.0, shipped).plan
        assert set(gone) <= {s.offer_id for s in before.steps if s.requests}
        assert not set(gone) & point.offers


def test_the_workload_s_own_deadline_is_a_point(curve: Frontier, shipped: PriceTable) -> None:
    (own,) = [p for p in curve.points if p.kind == "deadline"]
    assert own.deadline_s == 7200
    assert own.cost == at(7200, shipped).plan.total_cost


def test_the_self_host_line_is_the_local_offer_s_cost(curve: Frontier, shipped: PriceTable) -> None:
    result = at(None, shipped)
    (local,) = [o for o in result.offers if shipped.offers[o.offer_id].is_local]
    assert curve.self_host is not None
    assert curve.self_host.offer_id == local.offer_id
    assert curve.self_host.cost == local.cost
    assert curve.self_host.makespan_s == local.makespan_s
    assert result.break_even is not None
    assert curve.self_host.monthly_cost == result.break_even.gpu_monthly_cost


def test_nothing_to_serve_is_an_empty_frontier(shipped: PriceTable) -> None:
    huge = WORK.model_copy(update={"output_tokens": 50_000})
    f = frontier(huge, shipped)
    assert f.points == ()
    assert frontier_text(f) == ""


# --- the CLI --------------------------------------------------------------------------------

BASE = ["estimate", "--requests", "10000", "--image", "1920x1080", "--prompt-tokens", "200"]
BASE += ["--output-tokens", "1500", "--deadline", "2h"]


def test_estimate_prints_the_frontier(
    capsys: pytest.CaptureFixture[str], shipped: PriceTable
) -> None:
    assert main(BASE) == 0
    out = capsys.readouterr().out
    assert "Cost against deadline" in out
    table_lines = out.split("Cost against deadline", 1)[1].splitlines()
    total = at(7200, shipped).plan.total_cost
    assert total is not None
    assert any("your deadline" in ln and render.money(total) in ln for ln in table_lines)
    assert "Self-host on local-gpu" in out


@pytest.mark.parametrize("columns", ["80", "100"])
def test_the_frontier_table_fits_the_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, columns: str
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    assert main(BASE) == 0
    out = capsys.readouterr().out
    section = out.split("Cost against deadline", 1)[1].split("Self-host break-even", 1)[0]
    assert max(len(line) for line in section.splitlines()) <= int(columns)


def test_estimate_json_has_the_frontier(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    points = data["frontier"]
    assert isinstance(points, list)
    assert len(points) >= SAMPLES
    first = points[0]
    assert set(first) == {"deadline_s", "kind", "cost", "makespan_s", "meets_deadline", "shares"}
    assert first["deadline_s"] == data["plan"]["fastest_makespan_s"]
    assert isinstance(first["cost"]["amount"], str)  # exact, as every amount in the JSON
    assert {"offer_id", "requests"} == set(first["shares"][0])
    assert data["self_host"]["offer_id"] == "local-gpu"
