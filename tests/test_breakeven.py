"""Self-host break-even against the closed forms it should reduce to."""

from __future__ import annotations

from decimal import Decimal

from tests.builders import offer, table
from vlmroute import Workload, estimate

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
