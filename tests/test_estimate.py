"""The estimator's numbers, checked against values computed by hand from the facts files."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from tests.builders import offer, table
from vlmroute import Money, Workload, WorkloadError, estimate, load_pricing
from vlmroute._estimate import RequestProfile, profile_tokens
from vlmroute._estimate.apportion import apportion

SHIPPED = load_pricing()


def issue_workload(**extra: object) -> Workload:
    """The issue's example: 10,000 requests, one 1920x1080 image, 200 text, 1500 out."""
    return Workload.from_mapping(
        {
            "requests": 10_000,
            "mix": [{"images": ["1920x1080"]}],
            "prompt_tokens": 200,
            "output_tokens": 1500,
            **extra,
        }
    )


def test_prompt_tokens_are_exact() -> None:
    # facts §1: 1920x1080 -> 2691 image tokens, +2 wrappers; §4: 6 template tokens
    tokens = profile_tokens(RequestProfile(images=("1920x1080", "3840x2160"), prompt_tokens=50))
    assert tokens.image_tokens == 2693 + 6034
    assert tokens.input_tokens == 2693 + 6034 + 50 + 6


def test_issue_example_costs_by_hand() -> None:
    result = estimate(issue_workload(), SHIPPED)
    assert result.input_tokens == 10_000 * 2899
    assert result.output_tokens == 15_000_000
    rows = {o.offer_id: o for o in result.offers}
    # OpenRouter, USD: 28.99 M x 0.035 + 15 M x 0.138
    assert rows["openrouter"].cost == Money(Decimal("3.08465"), "USD")
    # FlashX, CNY 2/M both ways: 43.99 M x 2 = 87.98 CNY, at the table's 0.1408 USD per CNY
    assert rows["zhipu-flashx"].cost_native == Money(Decimal("87.98"), "CNY")
    assert rows["zhipu-flashx"].cost == Money(Decimal("87.98") * Decimal("0.1408"), "USD")
    assert rows["zhipu-flash"].cost.amount == 0
    # time: 2 s first token + 2899 / 8000 prefill + 1500 / 50 decode, 2000 waves of 5
    assert rows["zhipu-flash"].request_seconds == pytest.approx(2 + 2899 / 8000 + 1500 / 50)
    assert rows["zhipu-flash"].makespan_s == pytest.approx(2000 * (2 + 2899 / 8000 + 30))
    assert not rows["siliconflow"].eligible
    assert rows["siliconflow"].skip_reason == "retired on 2026-05-15"


def test_display_currency() -> None:
    result = estimate(issue_workload(), SHIPPED, currency="cny")
    rows = {o.offer_id: o for o in result.offers}
    assert rows["zhipu-flashx"].cost == Money(Decimal("87.98"), "CNY")
    assert rows["openrouter"].cost == Money(Decimal("3.08465") / Decimal("0.1408"), "CNY")


def test_deadline_plan_spills_from_free_to_next_cheapest() -> None:
    result = estimate(issue_workload(deadline="2h"), SHIPPED)
    seconds = 2 + 2899 / 8000 + 1500 / 50
    free = 5 * math.floor(7200 / seconds)  # 5 in flight, whole waves within 2 h
    steps = [(s.offer_id, s.requests) for s in result.plan.steps]
    assert steps == [("zhipu-flash", free), ("openrouter", 10_000 - free)]
    per_request = (2899 * Decimal("0.035") + 1500 * Decimal("0.138")) / 1_000_000
    assert result.plan.total_cost == Money(per_request * (10_000 - free), "USD")
    assert result.plan.meets_deadline
    assert result.plan.makespan_s <= 7200


def test_impossible_deadline_reports_shortfall_and_fastest() -> None:
    result = estimate(issue_workload(deadline="60s"), SHIPPED)
    assert not result.plan.meets_deadline
    assert result.plan.unassigned > 0
    assert result.plan.fastest_makespan_s is not None
    assert result.plan.fastest_makespan_s > 60


def test_tier_raises_the_cap() -> None:
    result = estimate(issue_workload(tiers={"zhipu": "V3"}), SHIPPED)
    rows = {o.offer_id: o for o in result.offers}
    assert rows["zhipu-flash"].concurrency == 20
    assert rows["zhipu-flashx"].concurrency == 100


@pytest.mark.parametrize(
    ("tiers", "needle"), [({"zhipu": "V9"}, "V0, V1, V2, V3"), ({"nobody": "V1"}, "known:")]
)
def test_bad_tier_is_a_workload_error(tiers: dict[str, str], needle: str) -> None:
    with pytest.raises(WorkloadError, match=needle):
        estimate(issue_workload(tiers=tiers), SHIPPED)


def test_context_and_modality_filters() -> None:
    priced = table(
        {
            "small": offer(input_per_mtok=1, context_window=4000, max_output_tokens=2000),
            "big": offer(input_per_mtok=2),
        }
    )
    work = Workload.from_mapping(
        {
            "requests": 10,
            "mix": [{"images": ["1920x1080"]}],
            "prompt_tokens": 1000,
            "output_tokens": 1500,
        }
    )
    rows = {o.offer_id: o for o in estimate(work, priced).offers}
    assert rows["small"].skip_reason == "a request needs 5199 tokens; its context is 4000"
    assert [s.offer_id for s in estimate(work, priced).plan.steps] == ["big"]


def test_retired_offers_join_the_plan_only_when_asked() -> None:
    priced = table({"old": offer(state="retired"), "new": offer(input_per_mtok=1)})
    work = Workload(requests=3)
    assert [s.offer_id for s in estimate(work, priced).plan.steps] == ["new"]
    steps = estimate(work, priced, include_retired=True).plan.steps
    assert [s.offer_id for s in steps] == ["old"]


def test_mix_shares_apportion_exactly() -> None:
    assert apportion(10, [Decimal(1), Decimal(1), Decimal(1)]) == [4, 3, 3]
    assert apportion(10_000, [Decimal(3), Decimal(1)]) == [7500, 2500]
    work = Workload.from_mapping(
        {
            "requests": 7,
            "output_tokens": 10,
            "mix": [{"images": ["224x224"], "share": 2}, {"images": ["640x480"], "share": 1}],
        }
    )
    result = estimate(work, table({"a": offer(input_per_mtok=1)}))
    assert [p.requests for p in result.profiles] == [5, 2]
    assert result.input_tokens == 5 * (64 + 2 + 6) + 2 * (391 + 2 + 6)


def test_video_profile_uses_video_tokens() -> None:
    # facts §6: a 10 s 1080p30 clip costs 26,942 prompt tokens in all
    work = Workload.from_mapping(
        {
            "requests": 1,
            "mix": [{"video": {"duration_s": 10, "width": 1920, "height": 1080, "fps": 30}}],
        }
    )
    result = estimate(work, SHIPPED)
    assert result.profiles[0].video_tokens == 26_942
    rows = {o.offer_id: o for o in result.offers}
    assert rows["openrouter"].skip_reason == "does not take video"


def test_workload_validation_names_the_field() -> None:
    with pytest.raises(WorkloadError, match="requests"):
        Workload.from_mapping({"requests": 0})
    with pytest.raises(WorkloadError, match=r"mix\.0\.images\.0"):
        Workload.from_mapping({"requests": 1, "mix": [{"images": ["big"]}]})
    with pytest.raises(WorkloadError, match="reasoning_tokens"):
        Workload.from_mapping({"requests": 1, "output_tokens": 10, "reasoning_tokens": 11})
    with pytest.raises(WorkloadError, match="deadline"):
        Workload.from_mapping({"requests": 1, "deadline": "soon"})
    with pytest.raises(WorkloadError, match=r"unknown_field|Extra inputs"):
        Workload.from_mapping({"requests": 1, "unknown_field": 1})


def test_local_gpu_joins_the_plan_only_with_gpus() -> None:
    gpu = {
        "gpu": "test",
        "hour_price": "1",
        "currency": "USD",
        "decode_tokens_per_s_per_stream": 10,
        "streams": 2,
        "prefill_tokens_per_s": 1000,
    }
    priced = table({"api": offer(input_per_mtok=100), "local": offer(local_gpu=gpu, cap=2)})
    work = Workload(requests=4)
    assert [s.offer_id for s in estimate(work, priced).plan.steps] == ["api"]
    assert [s.offer_id for s in estimate(work, priced, local_gpus=1).plan.steps] == ["local"]


def test_an_incomplete_plan_has_no_total_only_the_placed_cost() -> None:
    """Issue 12: a plan that places only part of the work must not offer a total for it."""
    pricing = load_pricing()
    workload = Workload.from_mapping(
        {"requests": 100_000, "output_tokens": 1500, "deadline": "10m"}
    )
    plan = estimate(workload, pricing).plan
    assert plan.unassigned > 0
    assert not plan.complete
    assert plan.total_cost is None
    assert plan.placed_cost.amount > 0
    assert plan.placed_cost == sum((s.cost for s in plan.steps), Money.zero("USD"))
