"""Ranges, not points (issue 16, part 2): low / expected / high, checked against hand values.

Definitions (``vlmroute/_estimate/spread.py`` and ``ranges.py``): low = p5, expected = the
mean truncated at max_tokens, high = p95 (each capped at max_tokens, rounded to a whole
token); ``{p50, p95}`` is a lognormal, sigma = ln(p95 / p50) / 1.6449, so p5 = p50^2 / p95
and the mean is p50 * e^(sigma^2 / 2). Times: low outputs at the fast end of the latency
spread, high outputs at the slow end.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest

from tests.builders import offer, table
from vlmroute import Money, Workload, WorkloadError, estimate, load_pricing
from vlmroute._cli.main import main
from vlmroute._estimate.spread import Observed, Quantiles, spread

SHIPPED = load_pricing()
Z95 = 1.6448536269514722  # the standard normal's 95th percentile


def phi(x: float) -> float:
    """The standard normal CDF, from erf (not the NormalDist the code uses)."""
    return (1 + math.erf(x / math.sqrt(2))) / 2


def one_offer(**latency: Any) -> Any:
    """10 USD per million output tokens, free input, 10 in flight, 1 s + 100 tok/s."""
    data = offer(output_per_mtok=10, cap=10, ttft_s=1.0, output_tokens_per_s=100.0)
    data["latency"].update(latency)
    return table({"a": data})


def work(**extra: Any) -> Workload:
    return Workload.from_mapping({"requests": 10, **extra})


# --- output tokens: the three forms and the cap ---------------------------------------------


def test_p50_p95_is_a_lognormal() -> None:
    # sigma = ln(2000 / 500) / 1.6449 = 1.386294 / 1.644854 = 0.842807
    # mean = 500 * e^(0.842807^2 / 2) = 500 * e^0.355162 = 500 * 1.426412 = 713.206 -> 713
    # p5 = 500^2 / 2000 = 125; p95 = 2000
    sigma = math.log(4) / Z95
    assert spread(Quantiles(p50=500, p95=2000)).expected == pytest.approx(
        500 * math.exp(sigma**2 / 2)
    )
    result = estimate(work(output_tokens={"p50": 500, "p95": 2000}), one_offer())
    (profile,) = result.profiles
    assert (profile.output_tokens_low, profile.output_tokens, profile.output_tokens_high) == (
        125,
        713,
        2000,
    )
    assert (result.output_tokens_low, result.output_tokens, result.output_tokens_high) == (
        1250,
        7130,
        20_000,
    )
    (row,) = result.offers
    # 10 requests at 10 USD / M output tokens: 10 x 713 x 10 / 1e6 = 0.0713, and so on
    assert row.cost == Money(Decimal("0.0713"), "USD")
    assert row.cost_low == Money(Decimal("0.0125"), "USD")  # 10 x 125 x 10 / 1e6
    assert row.cost_high == Money(Decimal("0.2"), "USD")  # 10 x 2000 x 10 / 1e6


def test_observed_counts() -> None:
    # sorted 100 200 300 400 5000, n = 5: p5 at position 4 x 0.05 = 0.2 -> 100 + 0.2 x 100 = 120
    # p95 at 4 x 0.95 = 3.8 -> 400 + 0.8 x (5000 - 400) = 4080; mean 6000 / 5 = 1200
    result = estimate(work(output_tokens=[400, 100, 5000, 300, 200]), one_offer())
    (profile,) = result.profiles
    assert (profile.output_tokens_low, profile.output_tokens, profile.output_tokens_high) == (
        120,
        1200,
        4080,
    )
    (row,) = result.offers
    assert row.cost_low == Money(Decimal("0.012"), "USD")  # 10 x 120 x 10 / 1e6
    assert row.cost == Money(Decimal("0.12"), "USD")  # 10 x 1200 x 10 / 1e6
    assert row.cost_high == Money(Decimal("0.408"), "USD")  # 10 x 4080 x 10 / 1e6
    # {observed: [...]} is the same sample
    same = Workload.from_mapping({"requests": 10, "output_tokens": {"observed": [400, 100]}})
    assert same.output_tokens == Observed(observed=(400, 100))


def test_max_tokens_truncates_every_form() -> None:
    # observed, capped at 1000: 100 200 300 400 1000 -> mean 2000 / 5 = 400,
    # p95 = 400 + 0.8 x (1000 - 400) = 880, p5 unchanged = 120
    capped = estimate(work(output_tokens=[100, 200, 300, 400, 5000], max_tokens=1000), one_offer())
    p = capped.profiles[0]
    assert (p.output_tokens_low, p.output_tokens, p.output_tokens_high) == (120, 400, 880)
    assert p.max_tokens == 1000
    # lognormal {500, 2000} capped at m = 500 = p50, so ln m - mu = 0:
    # E[min(X, m)] = e^(mu + s^2/2) Phi(-s) + m (1 - Phi(0)) = 713.206 x Phi(-0.842807) + 250
    #             = 713.206 x 0.199668 + 250 = 392.40 -> 392; p95 capped to 500; p5 = 125
    sigma = math.log(4) / Z95
    by_hand = 500 * math.exp(sigma**2 / 2) * phi(-sigma) + 500 * (1 - phi(0))
    assert spread(Quantiles(p50=500, p95=2000), 500).expected == pytest.approx(by_hand)
    assert round(by_hand) == 392
    lognormal = estimate(work(output_tokens={"p50": 500, "p95": 2000}, max_tokens=500), one_offer())
    p = lognormal.profiles[0]
    assert (p.output_tokens_low, p.output_tokens, p.output_tokens_high) == (125, 392, 500)
    # a plain figure over the cap is the cap: no request writes more than max_tokens
    plain = estimate(work(output_tokens=1500, max_tokens=1000), one_offer())
    assert plain.profiles[0].output_tokens == 1000
    assert plain.offers[0].cost == Money(Decimal("0.1"), "USD")  # 10 x 1000 x 10 / 1e6


def test_a_profile_s_max_tokens_overrides_the_workload_s() -> None:
    result = estimate(
        work(output_tokens=900, max_tokens=800, mix=[{}, {"max_tokens": 300}]), one_offer()
    )
    assert [p.output_tokens for p in result.profiles] == [800, 300]


# --- time: the latency range ----------------------------------------------------------------


SPREAD = {"ttft_s": [0.5, 3.0], "output_tokens_per_s": [0.5, 2.0]}


def test_time_range_from_the_latency_range() -> None:
    # 4 requests of 1000 output tokens, 1 in flight, 2 s to first token and 50 tok/s:
    # expected 2 + 1000 / 50 = 22 s a request, 4 waves = 88 s
    # low (fast end): 2 x 0.5 + 1000 / (50 x 2) = 1 + 10 = 11 s, 44 s in all
    # high (slow end): 2 x 3 + 1000 / (50 x 0.5) = 6 + 40 = 46 s, 184 s in all
    data = offer(output_per_mtok=10, cap=1, ttft_s=2.0, output_tokens_per_s=50.0)
    data["latency"]["spread"] = SPREAD
    result = estimate(Workload(requests=4, output_tokens=1000), table({"a": data}))
    (row,) = result.offers
    assert row.request_seconds == pytest.approx(22)
    assert row.request_seconds_low == pytest.approx(11)
    assert row.request_seconds_high == pytest.approx(46)
    assert (row.makespan_low_s, row.makespan_s, row.makespan_high_s) == pytest.approx((44, 88, 184))
    assert result.plan.makespan_low_s == pytest.approx(44)
    assert result.plan.makespan_high_s == pytest.approx(184)
    # a plain output: the cost has no range, only the time does
    assert row.cost_low == row.cost == row.cost_high


def test_time_range_combines_outputs_and_latency() -> None:
    # {p50: 500, p95: 2000} -> 125 / 713 / 2000 tokens; 1 s + 100 tok/s, spread as above,
    # 10 requests, 10 in flight: one wave each
    # low: 0.5 + 125 / 200 = 1.125 s; expected 1 + 713 / 100 = 8.13 s; high 3 + 2000 / 50 = 43 s
    result = estimate(work(output_tokens={"p50": 500, "p95": 2000}), one_offer(spread=SPREAD))
    (row,) = result.offers
    assert (row.makespan_low_s, row.makespan_s, row.makespan_high_s) == pytest.approx(
        (1.125, 8.13, 43)
    )


def test_a_measured_latency_has_no_range() -> None:
    data = offer(cap=1, ttft_s=2.0, output_tokens_per_s=50.0)
    data["latency"]["spread"] = SPREAD
    data["sources"]["latency"] = {
        "source": "measured",
        "as_of": "2026-01-01",
        "confidence": "confirmed",
    }
    (row,) = estimate(Workload(requests=4, output_tokens=1000), table({"a": data})).offers
    assert row.makespan_low_s == row.makespan_s == row.makespan_high_s == pytest.approx(88)


def test_the_shipped_table_gives_the_api_latency_a_range() -> None:
    # Zhipu: 2 s and 50 tok/s, spread first token 0.5-3.1x, decode 0.5-2x (sources.latency)
    fast, slow = SHIPPED.offers["zhipu-flash"].latency.bounds()
    assert (fast.ttft_s, fast.output_tokens_per_s) == pytest.approx((1.0, 100.0))
    assert (slow.ttft_s, slow.output_tokens_per_s) == pytest.approx((6.2, 25.0))
    assert "spread" in SHIPPED.offers["zhipu-flash"].sources["latency"].source


# --- a plain figure: a point, as before -----------------------------------------------------


def test_a_plain_figure_gives_low_equal_expected_equal_high_cost() -> None:
    workload = Workload.from_mapping(
        {
            "requests": 10_000,
            "mix": [{"images": ["1920x1080"]}],
            "prompt_tokens": 200,
            "output_tokens": 1500,
            "deadline": "2h",
        }
    )
    result = estimate(workload, SHIPPED)
    for row in result.offers:
        assert row.cost_low == row.cost == row.cost_high, row.offer_id
    plan = result.plan
    assert plan.total_cost is not None
    assert plan.cost_low == plan.total_cost == plan.cost_high
    for step in plan.steps:
        assert step.cost_low == step.cost == step.cost_high
    assert result.output_tokens_low == result.output_tokens == result.output_tokens_high
    # the existing figures are unchanged: OpenRouter 28.99 M x 0.035 + 15 M x 0.138
    rows = {o.offer_id: o for o in result.offers}
    assert rows["openrouter"].cost == Money(Decimal("3.08465"), "USD")


# --- the plan's range: its own assignment at both ends --------------------------------------


def test_the_plan_range_prices_the_plan_s_own_steps() -> None:
    # A free lane that can take only part of the work by the deadline, then a paid one.
    priced = table(
        {
            "free": offer(cap=1, ttft_s=1.0, output_tokens_per_s=100.0),
            "paid": offer(input_per_mtok=1, output_per_mtok=10, cap=100),
        }
    )
    workload = work(requests=50, output_tokens={"p50": 500, "p95": 2000}, deadline="60s")
    result = estimate(workload, priced)
    plan = result.plan
    assert plan.total_cost is not None
    assert plan.cost_low is not None
    assert plan.cost_high is not None
    assert plan.cost_low <= plan.total_cost <= plan.cost_high

    # each step priced at 125 / 2000 output tokens a request, 6 input (the chat template)
    def at(tokens: int) -> Money:
        paid = sum(s.requests for s in plan.steps if s.offer_id == "paid")
        return Money(Decimal(paid * (6 * 1 + tokens * 10)) / 1_000_000, "USD")

    assert plan.cost_low == at(125)
    assert plan.cost_high == at(2000)
    assert plan.total_cost == at(713)
    for step in plan.steps:
        assert step.makespan_low_s is not None
        assert step.makespan_high_s is not None
        assert step.makespan_low_s <= step.makespan_s <= step.makespan_high_s
    assert plan.makespan_high_s == max(s.makespan_high_s or 0 for s in plan.steps)


def test_the_shipped_plan_range_brackets_the_expected_case() -> None:
    workload = Workload.from_mapping(
        {
            "requests": 10_000,
            "mix": [
                {"images": ["1920x1080"], "output_tokens": {"p50": 500, "p95": 2000}},
                {"images": ["1170x2532"], "output_tokens": [300, 900, 2500]},
            ],
            "deadline": "2h",
        }
    )
    plan = estimate(workload, SHIPPED).plan
    assert plan.cost_low is not None
    assert plan.cost_high is not None
    assert plan.total_cost
    assert plan.cost_low < plan.total_cost < plan.cost_high
    assert plan.makespan_low_s is not None
    assert plan.makespan_high_s is not None
    assert plan.makespan_low_s <= plan.makespan_s <= plan.makespan_high_s
    assert plan.cost_low == sum((s.cost_low for s in plan.steps if s.cost_low), Money.zero("USD"))


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "needle"),
    [
        ({"p50": 500, "p95": 300}, r"mix\.0\.output_tokens: p95 \(300\) is below p50 \(500\)"),
        ({"p50": 500, "p90": 900}, r"mix\.0\.output_tokens: .*p50 and p95 \(got keys: p50, p90\)"),
        ([], r"mix\.0\.output_tokens: a list of observed counts needs at least one"),
        ([10, -1], r"mix\.0\.output_tokens: observed\[1\] must be at least 0 \(got -1\)"),
        ({"p50": 0, "p95": 10}, r"p50 must be at least 1"),
        ("lots", r"mix\.0\.output_tokens: expected a whole number"),
        (-5, r"output_tokens: .*at least 0"),
    ],
)
def test_bad_output_figures_are_workload_errors_naming_the_field(
    output: object, needle: str
) -> None:
    with pytest.raises(WorkloadError, match=needle):
        Workload.from_mapping({"requests": 1, "mix": [{"output_tokens": output}]})


def test_reasoning_within_output() -> None:
    # two distributions nest at p5, mean and p95: reasoning {900, 2000} has mean
    # 900 e^((ln 2.222 / 1.645)^2 / 2) = 1012 under output {1000, 1800}'s 1066, p5 405 under
    # 556, but its p95 2000 is over 1800
    with pytest.raises(WorkloadError, match=r"mix\.0: reasoning_tokens .* its p95 \(2,000\)"):
        Workload.from_mapping(
            {
                "requests": 1,
                "output_tokens": {"p50": 1000, "p95": 1800},
                "reasoning_tokens": {"p50": 900, "p95": 2000},
            }
        )
    # a plain figure beside a distribution is compared with its mean:
    # output {1500, 4000} has mean 1500 e^((ln 2.667 / 1.645)^2 / 2) = 1792
    with pytest.raises(
        WorkloadError, match=r"its mean \(2,000\) is above output_tokens' \(1,792\)"
    ):
        Workload.from_mapping(
            {"requests": 1, "output_tokens": {"p50": 1500, "p95": 4000}, "reasoning_tokens": 2000}
        )
    plain = {"requests": 1, "output_tokens": {"p50": 1500, "p95": 4000}, "reasoning_tokens": 1200}
    assert Workload.from_mapping(plain).reasoning_tokens == 1200  # though output's p5 is 563
    # two plain figures: the message is as before
    with pytest.raises(WorkloadError, match=r"reasoning_tokens \(11\) is part of output_tokens"):
        Workload.from_mapping({"requests": 1, "output_tokens": 10, "reasoning_tokens": 11})
    ok = Workload.from_mapping(
        {
            "requests": 1,
            "output_tokens": {"p50": 1500, "p95": 4000},
            "reasoning_tokens": {"p50": 1200, "p95": 3500},
        }
    )
    assert estimate(ok, one_offer()).profiles[0].reasoning_tokens is not None


def test_a_workload_round_trips_through_its_dump() -> None:
    workload = work(
        output_tokens={"p50": 500, "p95": 2000},
        mix=[{"output_tokens": [1, 2, 3], "max_tokens": 2}, {}],
    )
    assert Workload.from_mapping(workload.model_dump()) == workload
    assert Workload(requests=1, output_tokens=7).output_tokens == 7  # a figure stays an int


# --- the command line -----------------------------------------------------------------------


ARGV = ["estimate", "--requests", "10000", "--image", "1920x1080", "--prompt-tokens", "200"]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code: object = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert isinstance(code, int)
    return code, out, err


def test_cli_output_p95_prints_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, *ARGV, "--output-tokens", "500", "--output-p95", "2000")
    assert code == 0, err
    # OpenRouter: 28.99 M input x 0.035 = 1.01465, plus output at 0.138 per M:
    # low 1.25 M -> 0.1725, total 1.18715; expected 7.13 M -> 0.98394, total 1.99859;
    # high 20 M -> 2.76, total 3.77465
    assert "USD 2.00 (1.19\u20133.77)" in out
    assert "713 (125\u20132,000)" in out  # output tokens per request
    assert "see the table's sources" in out
    assert "Times assume the pricing table's latency figures" in out

    code, out, _ = cli(capsys, *ARGV, "--output-tokens", "500", "--output-p95", "2000", "--json")
    assert code == 0
    data = json.loads(out)
    rows = {o["offer_id"]: o for o in data["offers"]}
    assert Decimal(rows["openrouter"]["cost_low"]["amount"]) == Decimal("1.18715")
    assert Decimal(rows["openrouter"]["cost"]["amount"]) == Decimal("1.99859")
    assert Decimal(rows["openrouter"]["cost_high"]["amount"]) == Decimal("3.77465")
    assert data["profiles"][0]["output_tokens_high"] == 2000
    plan = data["plan"]
    assert Decimal(plan["cost_low"]["amount"]) <= Decimal(plan["total_cost"]["amount"])
    assert Decimal(plan["total_cost"]["amount"]) <= Decimal(plan["cost_high"]["amount"])
    assert plan["makespan_low_s"] <= plan["makespan_s"] <= plan["makespan_high_s"]


def test_cli_max_tokens_and_a_plain_figure(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, *ARGV, "--output-tokens", "1500", "--max-tokens", "1000", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["profiles"][0]["output_tokens"] == 1000
    assert data["output_tokens"] == data["output_tokens_low"] == data["output_tokens_high"]
    assert data["output_tokens"] == 10_000_000


def test_cli_output_p95_needs_a_median(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, *ARGV, "--output-p95", "2000")
    assert code == 2
    assert "--output-p95 needs the median" in err
    code, _, err = cli(capsys, *ARGV, "--output-tokens", "500", "--output-p95", "300")
    assert code == 1
    assert "p95 (300) is below p50 (500)" in err
