"""Self-host break-even against the closed forms it should reduce to."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import offer, table
from vlmroute import Workload, estimate
from vlmroute._estimate.breakeven import (
    break_even,
    free_requests_per_month,
    gpu_requests_per_month,
    hybrid_break_even,
    monthly_api_cost,
    monthly_hybrid_cost,
    monthly_local_cost,
)
from vlmroute._estimate.plan import Lane
from vlmroute._pricing import PriceTable
from vlmroute.errors import WorkloadError
from vlmroute.money import Money

# A request of 994 text tokens + 6 template tokens = 1000 input tokens and no output.
WORK = Workload(requests=1, prompt_tokens=994)
MONTH = 730 * 3600
# 1 USD/h GPU: 730 USD a month; 1000 tokens at 1000 tok/s prefill = 1 GPU-second a request.
GPU = {
    "gpu": "test-gpu",
    "hour_price": "1",
    "currency": "USD",
    "decode_tokens_per_s_per_stream": 10,
    "streams": 1,
    "prefill_tokens_per_s": 1000,
}


def test_single_paid_api() -> None:
    # API: 1 USD per M input -> 0.001 USD a request. Local wins when 730 < 0.001 V.
    priced = table({"api": offer(input_per_mtok=1, cap=100), "local": offer(local_gpu=GPU)})
    b = estimate(WORK, priced).break_even
    assert b is not None
    assert b.gpu_monthly_cost.amount == 730
    assert b.gpu_requests_per_month == MONTH
    assert b.requests_per_month == 730_001
    assert b.gpus_needed == 1
    assert b.api_cost_per_request is not None
    assert b.api_cost_per_request.amount == Decimal("0.001")
    # matching price: 0.001 USD per GPU-second = 3.6 USD an hour
    assert b.hour_price_to_match is not None
    assert b.hour_price_to_match.amount == Decimal("3.6")


def test_free_tier_first_then_paid() -> None:
    # free: 1 in flight, 1 s a request -> MONTH = 2,628,000 free requests a month; then
    # 0.01 USD each. Local: 4 GPU-seconds a request -> 657,000 a GPU-month at 730 USD.
    # k GPUs win when (V - 2,628,000) * 0.01 > 730 k, i.e. V > 2,628,000 + 73,000 k, with
    # V <= 657,000 k: first at k = 5, V = 2,993,001.
    priced = table(
        {
            "free": offer(cap=1, ttft_s=1.0),
            "paid": offer(input_per_mtok=10, cap=100),
            "local": offer(local_gpu={**GPU, "prefill_tokens_per_s": 250}),
        }
    )
    b = estimate(WORK, priced).break_even
    assert b is not None
    assert b.gpu_requests_per_month == 657_000
    assert b.requests_per_month == 2_993_001
    assert b.gpus_needed == 5
    assert "cost less" in b.reason


def test_api_capacity_limit() -> None:
    # the API finishes one request per 10 s with 1 in flight: MONTH / 10 a month at most
    priced = table(
        {"api": offer(input_per_mtok=1, cap=1, ttft_s=10.0), "local": offer(local_gpu=GPU)}
    )
    b = estimate(WORK, priced).break_even
    assert b is not None
    assert b.requests_per_month == MONTH // 10 + 1
    assert "capacity" in b.reason


def test_no_local_offer_no_break_even() -> None:
    assert estimate(WORK, table({"api": offer(input_per_mtok=1)})).break_even is None


# free: 1 in flight, 1 s a request -> F = MONTH = 2,628,000 free requests a month; paid:
# 10 USD per M input -> 0.01 USD a request, 100 in flight; local: 1000 tokens at 250 tok/s
# = 4 GPU-seconds a request -> 657,000 requests a GPU-month around the clock, 730 USD.
def free_paid_local() -> PriceTable:
    return table(
        {
            "free": offer(cap=1, ttft_s=1.0),
            "paid": offer(input_per_mtok=10, cap=100),
            "local": offer(local_gpu={**GPU, "prefill_tokens_per_s": 250}),
        }
    )


def test_free_tier_then_one_gpu_then_paid_overflow_is_cheapest() -> None:
    # At V = 3,300,000 a month:
    #   all-API:   (3,300,000 - 2,628,000) * 0.01 = 6,720 USD
    #   all-local: ceil(3,300,000 / 657,000) = 6 GPUs (5 serve 3,285,000) * 730 = 4,380 USD
    #   hybrid, 1 GPU: free 2,628,000, GPU 657,000, paid 3,300,000 - 3,285,000 = 15,000:
    #              730 + 15,000 * 0.01 = 880 USD (a 2nd GPU, 1,460 USD, would cost more)
    work = Workload(requests=3_300_000, prompt_tokens=994)
    b = estimate(work, free_paid_local()).break_even
    assert b is not None
    assert b.free_requests_per_month == MONTH
    assert b.monthly_volume == 3_300_000
    assert b.all_api_monthly_cost == Money(Decimal(6720), "USD")
    assert b.all_local_monthly_cost == Money(Decimal(4380), "USD")
    assert b.all_local_gpus == 6
    assert b.hybrid_monthly_cost == Money(Decimal(880), "USD")
    assert b.hybrid_gpus == 1
    # hybrid beats the APIs once the paid part of A(V), 0.01 (V - 2,628,000), passes one
    # GPU-month: V - 2,628,000 > 73,000, at V = 2,701,001 (<= F + 657,000, the GPU's room);
    # all GPUs alone need 5 of them and 2,993,001 (test_free_tier_first_then_paid)
    assert b.hybrid_requests_per_month == 2_701_001
    assert b.hybrid_capacity_bound is False
    assert b.requests_per_month == 2_993_001


def test_the_break_even_in_plain_words() -> None:
    b = estimate(Workload(requests=3_300_000, prompt_tokens=994), free_paid_local()).break_even
    assert b is not None
    assert b.gpu_hour_price == Money(Decimal(1), "USD")
    assert b.plain_words == (
        "from 2,701,001 requests a month, 1 GPU at USD 1.00 per hour is cheaper than the APIs"
    )


def test_more_gpus_in_the_hybrid() -> None:
    # 2 GPUs (1,460 USD) pay once 0.01 (V - 2,628,000) > 1,460: V = 2,774,001; and the
    # workload's 10,000 a month sit inside the free tier
    work = Workload(requests=10_000, prompt_tokens=994)
    b = estimate(work, free_paid_local(), local_gpus=2).break_even
    assert b is not None
    assert b.hybrid_gpus == 2
    assert b.hybrid_requests_per_month == 2_774_001
    assert b.plain_words == (
        "from 2,774,001 requests a month, 2 GPUs at USD 1.00 per hour are cheaper than the "
        "APIs; at 10,000 requests a month the free tier covers it all (up to 2,628,000 a "
        "month), so no GPU pays for itself there"
    )
    assert b.all_api_monthly_cost == Money(Decimal(0), "USD")
    assert b.hybrid_monthly_cost == Money(Decimal(1460), "USD")


def test_utilisation_below_one() -> None:
    # u = 0.5: a GPU serves floor(0.5 * 657,000) = 328,500 requests a month.
    #   all-local: k GPUs win when 0.01 (V - 2,628,000) > 730 k with V <= 328,500 k, i.e.
    #   2,628,000 + 73,000 k < 328,500 k: k > 10.29, k = 11, V = 2,628,000 + 803,000 + 1.
    #   hybrid, 1 GPU: still 2,701,001 (the GPU's 73,000 requests fit in its 328,500).
    #   At 3,300,000: hybrid = 730 + (672,000 - 328,500) * 0.01 = 730 + 3,435 = 4,165 USD;
    #   all-local = 11 GPUs (10 serve 3,285,000) * 730 = 8,030 USD.
    #   match price: 0.01 USD a request * 3600 s * 0.5 / 4 s = 4.5 USD a GPU-hour.
    work = Workload(requests=3_300_000, prompt_tokens=994, utilisation=Decimal("0.5"))
    b = estimate(work, free_paid_local()).break_even
    assert b is not None
    assert b.utilisation == Decimal("0.5")
    assert b.gpu_requests_per_month == 328_500
    assert (b.requests_per_month, b.gpus_needed) == (3_431_001, 11)
    assert b.hybrid_requests_per_month == 2_701_001
    assert b.hybrid_monthly_cost == Money(Decimal(4165), "USD")
    assert b.all_local_monthly_cost == Money(Decimal(8030), "USD")
    assert b.all_local_gpus == 11
    assert b.hour_price_to_match == Money(Decimal("4.5"), "USD")


def test_a_busy_quarter_of_the_month_never_pays_on_price() -> None:
    # One paid API at 0.001 USD a request, 100 in flight, 1 s each: 262,800,000 a month.
    # u = 1: 2,628,000 a GPU, from 730,001 (test_single_paid_api). u = 0.25: 657,000 a GPU,
    # worth 657 USD of API a month against its 730 USD: never on price, only past the
    # APIs' capacity; all-local needs 262,800,000 / 657,000 + 1 = 401 GPUs there.
    priced = table({"api": offer(input_per_mtok=1, cap=100), "local": offer(local_gpu=GPU)})
    b = estimate(Workload(requests=1, prompt_tokens=994, utilisation=Decimal("0.25")), priced)
    be = b.break_even
    assert be is not None
    assert be.gpu_requests_per_month == 657_000
    assert (be.requests_per_month, be.gpus_needed, be.capacity_bound) == (262_800_001, 401, True)
    assert be.hybrid_requests_per_month == 262_800_001
    assert be.hybrid_capacity_bound is True
    # 0.001 * 3600 * 0.25 / 1 s = 0.9 USD a GPU-hour would match the API
    assert be.hour_price_to_match == Money(Decimal("0.9"), "USD")
    assert be.plain_words == (
        "never on price: the APIs are cheaper at every volume they can serve (up to "
        "262,800,000 requests a month); from 262,800,001, 1 GPU at USD 1.00 per hour is "
        "needed for capacity"
    )


def test_a_local_offer_that_cannot_take_the_mix_never_pays() -> None:
    priced = table(
        {
            "api": offer(input_per_mtok=1, cap=100),
            "local": offer(local_gpu=GPU, context_window=500, max_output_tokens=100),
        }
    )
    b = estimate(Workload(requests=10, prompt_tokens=994), priced).break_even
    assert b is not None
    assert b.plain_words.startswith("never: local cannot take these requests either")
    assert b.hybrid_requests_per_month is None
    assert b.all_local_monthly_cost is None
    assert b.hybrid_monthly_cost is None
    # 10 requests * 0.001 USD
    assert b.all_api_monthly_cost == Money(Decimal("0.010"), "USD")


@pytest.mark.parametrize("bad", [0, "-0.1", "1.5", "nan"])
def test_bad_utilisation_is_refused_at_the_edge(bad: object) -> None:
    with pytest.raises(WorkloadError, match=r"^workload: utilisation: "):
        Workload.from_mapping({"requests": 1, "utilisation": bad})


def test_bad_utilisation_is_refused_before_the_break_even_runs() -> None:
    with pytest.raises(WorkloadError, match=r"utilisation \(--utilisation\) must be above 0"):
        break_even(
            free_paid_local(),
            [],
            [],
            fx=free_paid_local().fx_table(),
            display="USD",
            gpu_seconds_per_request=1.0,
            utilisation=Decimal(0),
        )


def test_default_utilisation_keeps_todays_figures() -> None:
    assert gpu_requests_per_month(4.0) == gpu_requests_per_month(4.0, Decimal(1)) == 657_000
    assert gpu_requests_per_month(4.0, Decimal("0.6")) == 394_200  # floor(0.6 * 657,000)
    assert gpu_requests_per_month(MONTH * 2, Decimal("0.1")) == 1  # never below one


# Small lanes: capacity(MONTH) = concurrency * waves when a request takes MONTH / waves.
small_lane = st.builds(
    lambda cost, width, waves: Lane("x", Decimal(cost), width, MONTH / waves),
    st.sampled_from(["0", "0", "1", "2", "5"]),
    st.integers(1, 3),
    st.integers(1, 4),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(small_lane, min_size=0, max_size=3),
    st.integers(1, 3),
    st.integers(1, 6),
    st.integers(0, 12),
)
def test_hybrid_break_even_is_the_first_volume_a_scan_finds(
    lanes: list[Lane], gpus: int, per_gpu: int, month: int
) -> None:
    # The binary search rests on the saving A(V) - H(V) being non-decreasing: check it
    # against a plain scan of every volume up to what the hybrid can serve.
    def cheaper(v: int) -> bool:
        hybrid = monthly_hybrid_cost(lanes, v, gpus, per_gpu, Decimal(month))
        api = monthly_api_cost(lanes, v)
        return hybrid is not None and (api is None or hybrid < api)

    top = sum(ln.capacity(MONTH) for ln in lanes) + gpus * per_gpu
    scan = next((v for v in range(1, top + 1) if cheaper(v)), None)
    assert hybrid_break_even(lanes, gpus, per_gpu, Decimal(month)) == scan
    assert monthly_local_cost(0, per_gpu, Decimal(month)) == 0
    assert free_requests_per_month(lanes) == sum(
        ln.capacity(MONTH) for ln in lanes if ln.cost_per_request == 0
    )
