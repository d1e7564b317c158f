"""The ``vlmroute`` command line, run in-process (and once for real, as a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from vlmroute._cli.main import main
from vlmroute._tokens import image_tokens, video_tokens
from vlmroute.money import Money

BASE = ["estimate", "--requests", "10000", "--image", "1920x1080"]
BASE += ["--prompt-tokens", "200", "--output-tokens", "1500"]

# 1920x1080: 2691 image tokens + 2 image wrappers + 200 text + 6 chat template
PER_REQUEST_INPUT = 2691 + 2 + 200 + 6
TOTAL_INPUT = 10_000 * PER_REQUEST_INPUT
TOTAL_OUTPUT = 10_000 * 1500
CNY_IN_USD = Decimal("0.1408")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Exit 2: argparse's own errors exit; vlmroute's usage checks return the code."""
    try:
        code: object = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    return capsys.readouterr().err


def offers_by_id(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["offer_id"]: o for o in data["offers"]}


def plan_requests(data: dict[str, Any]) -> dict[str, int]:
    return {s["offer_id"]: s["requests"] for s in data["plan"]["steps"]}


def money(value: dict[str, Any], currency: str) -> Decimal:
    assert value["currency"] == currency
    assert isinstance(value["amount"], str)  # exact, not a float
    return Decimal(value["amount"])


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- estimate -------------------------------------------------------------------------------


def test_estimate_prints_the_offer_table_and_a_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *BASE)
    assert code == 0, err
    assert err == ""
    assert "Workload: 10,000 requests, 28,990,000 input and 15,000,000 output tokens" in out
    assert "Cost and time on each offer" in out
    for offer in ("zhipu-flash", "zhipu-flashx", "openrouter", "siliconflow", "local-gpu"):
        assert offer in out
    assert "skipped: retired on 2026-05-15" in out
    assert "Cheapest plan" in out
    assert "no deadline: everything on the cheapest offer" in out
    assert "FX as of 2026-11-21" in out


def test_estimate_json_tokens_and_exact_costs(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, *BASE)
    (profile,) = data["profiles"]
    assert profile["requests"] == 10_000
    assert profile["image_tokens"] == 2691 + 2
    assert profile["text_tokens"] == 200
    assert profile["template_tokens"] == 6
    assert profile["input_tokens"] == PER_REQUEST_INPUT == 2899
    assert profile["output_tokens"] == 1500
    assert data["input_tokens"] == TOTAL_INPUT == 28_990_000
    assert data["output_tokens"] == TOTAL_OUTPUT == 15_000_000
    assert data["currency"] == "USD"

    offers = offers_by_id(data)
    openrouter = offers["openrouter"]
    expected = (TOTAL_INPUT * Decimal("0.035") + TOTAL_OUTPUT * Decimal("0.138")) / 1_000_000
    assert money(openrouter["cost"], "USD") == expected == Decimal("3.08465")
    assert money(openrouter["cost_native"], "USD") == expected
    assert money(openrouter["cost_per_request"], "USD") == expected / 10_000

    flashx = offers["zhipu-flashx"]
    native = (TOTAL_INPUT + TOTAL_OUTPUT) * Decimal(2) / 1_000_000
    assert money(flashx["cost_native"], "CNY") == native == Decimal("87.98")
    assert money(flashx["cost"], "USD") == native * CNY_IN_USD

    assert money(offers["zhipu-flash"]["cost"], "USD") == 0
    # no deadline: everything on the cheapest live offer, the free one
    assert plan_requests(data) == {"zhipu-flash": 10_000}
    assert data["plan"]["meets_deadline"] is True


def test_estimate_in_cny(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *BASE, "--currency", "CNY")
    assert code == 0
    assert "CNY 87.98" in out  # zhipu-flashx, in its own currency
    data = run_json(capsys, *BASE, "--currency", "cny")
    assert data["currency"] == "CNY"
    offers = offers_by_id(data)
    assert money(offers["zhipu-flashx"]["cost"], "CNY") == Decimal("87.98")
    openrouter_cny = money(offers["openrouter"]["cost"], "CNY")
    assert abs(openrouter_cny - Decimal("3.08465") / CNY_IN_USD) < Decimal("1e-20")
    assert money(data["plan"]["total_cost"], "CNY") == 0


def test_estimate_unknown_display_currency_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *BASE, "--currency", "EUR")
    assert code == 1
    assert out == ""
    assert "no FX rate for EUR (known: CNY, USD)" in err


def test_deadline_spills_from_the_free_offer_to_the_next_cheapest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = run_json(capsys, *BASE, "--deadline", "2h")
    plan = data["plan"]
    assert plan["deadline_s"] == 7200
    assert plan["meets_deadline"] is True
    assert plan["unassigned"] == 0
    assert plan["makespan_s"] <= 7200
    steps = plan["steps"]
    assert steps[0]["offer_id"] == "zhipu-flash"
    assert 0 < steps[0]["requests"] < 10_000  # 5 in flight cannot do 10,000 in 2 h
    offers = offers_by_id(data)
    # local-gpu is priced but not planned without --local-gpus
    paid = [
        o
        for o in data["offers"]
        if o["eligible"] and o["offer_id"] not in {"zhipu-flash", "local-gpu"}
    ]
    cheapest = min(paid, key=lambda o: Decimal(o["cost"]["amount"]))
    assert steps[1]["offer_id"] == cheapest["offer_id"] == "openrouter"
    assert sum(s["requests"] for s in steps) == 10_000
    for step in steps:
        assert step["makespan_s"] <= 7200
        per_request = money(offers[step["offer_id"]]["cost_per_request"], "USD")
        assert money(step["cost"], "USD") == per_request * step["requests"]
    code, out, _ = run(capsys, *BASE, "--deadline", "2h")
    assert code == 0
    assert "(deadline 2h 00m)" in out
    assert "meets the deadline" in out


def test_tier_changes_the_concurrency(capsys: pytest.CaptureFixture[str]) -> None:
    default = offers_by_id(run_json(capsys, *BASE))
    assert default["zhipu-flash"]["tier"] == "V0"
    assert default["zhipu-flash"]["concurrency"] == 5
    v3 = offers_by_id(run_json(capsys, *BASE, "--tier", "zhipu=V3"))
    assert v3["zhipu-flash"]["tier"] == "V3"
    assert v3["zhipu-flash"]["concurrency"] == 20
    assert v3["zhipu-flashx"]["concurrency"] == 100
    assert v3["zhipu-flash"]["makespan_s"] < default["zhipu-flash"]["makespan_s"]
    assert v3["openrouter"]["concurrency"] == default["openrouter"]["concurrency"]


def test_unknown_tier_is_exit_1_naming_the_tiers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *BASE, "--tier", "zhipu=V9")
    assert code == 1
    assert out == ""
    assert err.startswith("vlmroute: error:")
    assert "'V9'" in err
    assert "V0, V1, V2, V3" in err


def test_unknown_tier_provider_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *BASE, "--tier", "acme=gold")
    assert code == 1
    assert "no provider 'acme'" in err
    assert "zhipu" in err


@pytest.mark.parametrize("tier", ["badformat", "=V2", "zhipu="])
def test_malformed_tier_is_a_usage_error(capsys: pytest.CaptureFixture[str], tier: str) -> None:
    err = usage_error(capsys, *BASE, "--tier", tier)
    assert "PROVIDER=TIER" in err


def test_image_shares_make_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(
        capsys,
        "estimate",
        "--requests",
        "10000",
        "--image",
        "1920x1080:3",
        "--image",
        "1170x2532:1",
        "--output-tokens",
        "100",
    )
    landscape, portrait = data["profiles"]
    assert landscape["requests"] == 7500
    assert portrait["requests"] == 2500
    assert landscape["image_tokens"] == image_tokens(1920, 1080) + 2
    assert portrait["image_tokens"] == image_tokens(1170, 2532) + 2
    total = 7500 * landscape["input_tokens"] + 2500 * portrait["input_tokens"]
    assert data["input_tokens"] == total


def test_images_without_shares_all_go_in_one_request(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(
        capsys, "estimate", "--requests", "10", "--image", "1920x1080", "--image", "1920x1080"
    )
    (profile,) = data["profiles"]
    assert profile["image_tokens"] == 2 * (2691 + 2)
    assert profile["input_tokens"] == 2 * (2691 + 2) + 6


def test_mixing_shared_and_unshared_images_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = usage_error(
        capsys, "estimate", "--requests", "100", "--image", "1920x1080:3", "--image", "1170x2532"
    )
    assert ":SHARE on every --image or on none" in err


def test_non_numeric_share_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "estimate", "--requests", "100", "--image", "1920x1080:lots")
    assert "share" in err


@pytest.mark.parametrize("size", ["abc", "1920x", "0x0"])
def test_malformed_image_size_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], size: str
) -> None:
    err = usage_error(capsys, "estimate", "--requests", "100", "--image", size)
    assert f"'{size}'" in err
    assert "WIDTHxHEIGHT" in err


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--requests", "-5"], "--requests"),
        (["--requests", "10", "--deadline", "2x"], "--deadline"),
        (["--requests", "ten"], "--requests"),
        (["--requests", "10", "--output-tokens", "-1"], "--output-tokens"),
    ],
)
def test_bad_numbers_are_usage_errors_naming_the_flag(
    capsys: pytest.CaptureFixture[str], argv: list[str], flag: str
) -> None:
    assert flag in usage_error(capsys, "estimate", *argv)


def test_the_help_s_own_image_mix_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "estimate", "--requests", "100", "--output-tokens", "10",
        "--image", "1920x1080:3", "1170x2532:1",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("Workload: 100 requests")


def test_images_file_with_sizes_and_a_real_image(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_module = pytest.importorskip("PIL.Image")
    folder = tmp_path / "shots"
    folder.mkdir()
    image_module.new("RGB", (640, 480), (200, 30, 30)).save(folder / "shot.png")
    listing = write(
        folder / "images.txt", "# one image per line\n1920x1080:2\nshot.png\n\n1170x2532\n"
    )
    monkeypatch.chdir(tmp_path)  # the relative path is found next to the listing
    data = run_json(capsys, "estimate", "--requests", "100", "--images", str(listing))
    tokens = [p["image_tokens"] for p in data["profiles"]]
    assert tokens == [
        image_tokens(1920, 1080) + 2,
        image_tokens(640, 480) + 2,
        image_tokens(1170, 2532) + 2,
    ]
    # shares 2 : 1 (a path has share 1) : 1 (no share given)
    assert [p["requests"] for p in data["profiles"]] == [50, 25, 25]


def test_images_file_with_an_absolute_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    image_module = pytest.importorskip("PIL.Image")
    image = tmp_path / "wide.png"
    image_module.new("RGB", (300, 100)).save(image)
    listing = write(tmp_path / "list.txt", f"{image}\n")
    data = run_json(capsys, "estimate", "--requests", "10", "--images", str(listing))
    (profile,) = data["profiles"]
    assert profile["image_tokens"] == image_tokens(300, 100) + 2


def test_images_file_missing_image_is_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # relative names keep the message short (long paths are cut to about 60 characters)
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "list.txt", "1920x1080\nnot-there.png\n")
    code, _, err = run(capsys, "estimate", "--requests", "10", "--images", "list.txt")
    assert code == 1
    assert "not-there.png" in err


@pytest.mark.parametrize("text", ["", "# only a comment\n\n"])
def test_empty_images_file_is_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str
) -> None:
    listing = write(tmp_path / "list.txt", text)
    code, _, err = run(capsys, "estimate", "--requests", "10", "--images", str(listing))
    assert code == 1
    assert "lists no images" in err


def test_images_file_indented_comment_is_skipped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    listing = write(tmp_path / "list.txt", "1920x1080\n  # an indented comment\n")
    code, _, err = run(capsys, "estimate", "--requests", "10", "--images", str(listing), "--json")
    assert code == 0, err


def test_video_tokens_match_the_token_module(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(
        capsys,
        "estimate",
        "--requests",
        "10",
        "--video",
        "10s:1280x720@30",
        "--prompt-tokens",
        "50",
    )
    (profile,) = data["profiles"]
    expected = video_tokens(10, 1280, 720, src_fps=30).prompt_tokens
    assert profile["video_tokens"] == expected
    assert profile["image_tokens"] == 0
    assert profile["input_tokens"] == expected + 50 + 6
    offers = offers_by_id(data)
    assert offers["openrouter"]["eligible"] is False
    assert offers["openrouter"]["skip_reason"] == "does not take video"
    assert offers["zhipu-flash"]["eligible"] is True


def test_video_fps_defaults_to_30_and_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    default = run_json(capsys, "estimate", "--requests", "1", "--video", "10s:1280x720")
    at_1fps = run_json(capsys, "estimate", "--requests", "1", "--video", "10s:1280x720@1")
    assert default["profiles"][0]["video_tokens"] == video_tokens(10, 1280, 720).prompt_tokens
    assert at_1fps["profiles"][0]["video_tokens"] == (
        video_tokens(10, 1280, 720, src_fps=1).prompt_tokens
    )


@pytest.mark.parametrize("video", ["1280x720", "10s-1280x720", "10s:1280x720@fast"])
def test_malformed_video_is_a_usage_error(capsys: pytest.CaptureFixture[str], video: str) -> None:
    err = usage_error(capsys, "estimate", "--requests", "1", "--video", video)
    assert "DURATION:WxH[@FPS]" in err


WORKLOAD = """\
requests: 400
prompt_tokens: 100
output_tokens: 1000
deadline: 1h
tiers:
  zhipu: V2
mix:
  - share: 3
    images: [1920x1080]
  - share: 1
    images: [1170x2532]
    output_tokens: 2000
"""


def test_workload_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "work.yaml", WORKLOAD)
    data = run_json(capsys, "estimate", "--workload", str(path))
    assert data["requests"] == 400
    first, second = data["profiles"]
    assert (first["requests"], second["requests"]) == (300, 100)
    assert first["input_tokens"] == image_tokens(1920, 1080) + 2 + 100 + 6
    assert (first["output_tokens"], second["output_tokens"]) == (1000, 2000)
    assert data["plan"]["deadline_s"] == 3600
    assert offers_by_id(data)["zhipu-flash"]["concurrency"] == 15


def test_flags_override_the_workload_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path / "work.yaml", WORKLOAD)
    data = run_json(
        capsys,
        "estimate",
        "--workload",
        str(path),
        "--requests",
        "800",
        "--deadline",
        "30m",
        "--tier",
        "zhipu=V3",
        "--prompt-tokens",
        "10",
    )
    assert data["requests"] == 800
    assert [p["requests"] for p in data["profiles"]] == [600, 200]
    assert data["profiles"][0]["text_tokens"] == 10
    assert data["plan"]["deadline_s"] == 1800
    assert offers_by_id(data)["zhipu-flash"]["concurrency"] == 20


def test_workload_mix_and_image_flags_cannot_combine(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path / "work.yaml", WORKLOAD)
    err = usage_error(capsys, "estimate", "--workload", str(path), "--image", "640x480")
    assert "cannot be combined" in err


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("requests: 10\ncolour: blue\n", "colour"),
        ("requests: 0\n", "requests"),
        ("requests: 10\nmix:\n  - share: -1\n", "mix.0.share"),
        ("requests: 10\ndeadline: soon\n", "deadline"),
        ("requests: 10\noutput_tokens: 10\nreasoning_tokens: 20\n", "reasoning_tokens"),
    ],
)
def test_workload_with_a_bad_field_is_exit_1_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, field: str
) -> None:
    path = write(tmp_path / "work.yaml", text)
    code, out, err = run(capsys, "estimate", "--workload", str(path))
    assert code == 1
    assert out == ""
    assert err.startswith("vlmroute: error:")
    assert field in err


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "requests: [\n"])
def test_workload_that_is_not_a_mapping_is_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str
) -> None:
    path = write(tmp_path / "work.yaml", text)
    code, _, err = run(capsys, "estimate", "--workload", str(path))
    assert code == 1
    assert str(path) in err


def test_missing_workload_file_is_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "absent.yaml"
    code, _, err = run(capsys, "estimate", "--workload", str(path))
    assert code == 1
    assert str(path) in err


def test_missing_requests_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "estimate", "--image", "1920x1080")
    assert "--requests" in err


def test_workload_without_requests_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path / "work.yaml", "prompt_tokens: 10\n")
    err = usage_error(capsys, "estimate", "--workload", str(path))
    assert "--requests" in err


def test_bad_pricing_file_is_exit_1_naming_file_and_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path / "prices.yaml", "offers:\n  openrouter:\n    input_per_mtok: -1\n")
    for argv in (BASE, ["prices"]):
        code, out, err = run(capsys, *argv, "--pricing", str(path))
        assert code == 1
        assert out == ""
        assert str(path) in err
        assert "offers.openrouter.input_per_mtok" in err


def test_pricing_file_overrides_prices(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "prices.yaml", "offers:\n  openrouter:\n    input_per_mtok: 0\n")
    data = run_json(capsys, *BASE, "--pricing", str(path))
    cost = money(offers_by_id(data)["openrouter"]["cost"], "USD")
    assert cost == TOTAL_OUTPUT * Decimal("0.138") / 1_000_000


def test_retired_offers_are_skipped_unless_included(capsys: pytest.CaptureFixture[str]) -> None:
    default = offers_by_id(run_json(capsys, *BASE))
    for key, day in (("siliconflow", "2026-05-15"), ("siliconflow-pro", "2026-02-09")):
        assert default[key]["eligible"] is False
        assert default[key]["live"] is False
        assert default[key]["skip_reason"] == f"retired on {day}"
    data = run_json(capsys, *BASE, "--include-retired")
    included = offers_by_id(data)
    assert included["siliconflow"]["eligible"] is True
    assert included["siliconflow-pro"]["eligible"] is True
    assert included["siliconflow"]["skip_reason"] is None
    # free, like zhipu-flash, but a request finishes sooner there: the plan now uses it
    assert set(plan_requests(data)) <= {"siliconflow", "zhipu-flash"}
    assert "siliconflow" in plan_requests(data)


def test_local_gpus_let_the_plan_use_the_local_offer(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*BASE, "--requests", "20000", "--deadline", "2h"]
    without = run_json(capsys, *argv)
    assert "local-gpu" not in plan_requests(without)
    with_gpu = run_json(capsys, *argv, "--local-gpus", "1")
    steps = plan_requests(with_gpu)
    assert steps.get("local-gpu", 0) > 0
    assert sum(steps.values()) == 20_000
    assert with_gpu["plan"]["meets_deadline"] is True
    # the local GPU is cheaper per request than FlashX, so it displaces FlashX requests
    assert steps.get("zhipu-flashx", 0) < plan_requests(without).get("zhipu-flashx", 0)
    assert with_gpu["break_even"]["local_offer_id"] == "local-gpu"


def test_gpu_flags_set_the_local_offer(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(
        capsys,
        *BASE,
        "--gpu-hour-price",
        "0.36",
        "--gpu-tokens-per-s",
        "50",
        "--gpu-streams",
        "20",
    )
    local = offers_by_id(data)["local-gpu"]
    assert local["concurrency"] == 20
    # input 0.36 * (1e6 / 5000 prefill) / 3600 = 0.02; output 0.36 * 1e6 / (50 * 20) / 3600 = 0.1
    expected = (TOTAL_INPUT * Decimal("0.02") + TOTAL_OUTPUT * Decimal("0.1")) / 1_000_000
    assert money(local["cost_native"], "USD") == expected == Decimal("2.0798")
    assert data["break_even"]["gpu_monthly_cost"]["amount"] == str(Decimal("0.36") * 730)


def test_gpu_hour_price_that_is_not_a_number_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = usage_error(capsys, *BASE, "--gpu-hour-price", "cheap")
    assert "--gpu-hour-price" in err


@pytest.mark.parametrize(
    ("flag", "value", "field"),
    [("--gpu-hour-price", "-1", "hour_price"), ("--gpu-streams", "0", "streams")],
)
def test_bad_gpu_figures_are_usage_errors(
    capsys: pytest.CaptureFixture[str], flag: str, value: str, field: str
) -> None:
    del field
    assert flag in usage_error(capsys, *BASE, flag, value)


def test_gpu_decode_speed_changes_the_time_to_finish(capsys: pytest.CaptureFixture[str]) -> None:
    slow = offers_by_id(run_json(capsys, *BASE, "--gpu-tokens-per-s", "65"))["local-gpu"]
    fast = offers_by_id(run_json(capsys, *BASE, "--gpu-tokens-per-s", "260"))["local-gpu"]
    assert money(fast["cost"], "USD") < money(slow["cost"], "USD")
    assert fast["makespan_s"] < slow["makespan_s"]


def test_negative_local_gpus_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--local-gpus" in usage_error(capsys, *BASE, "--local-gpus", "-1")


# --- prices ---------------------------------------------------------------------------------


def test_prices_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "prices")
    assert code == 0, err
    assert "RETIRED 2026-05-15" in out
    assert "RETIRED 2026-02-09" in out
    assert "V0=5 V1=10 V2=15 V3=20" in out
    assert "V0=30 V1=50 V2=80 V3=100" in out
    assert "USD 0.035 / USD 0.138" in out
    assert "CNY 2.000 / CNY 2.000" in out
    assert "self-hosted: A100 80GB at USD 1.50/h" in out
    assert "FX as of 2026-11-21" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "live" in lines["openrouter"]
    assert "RETIRED" not in lines["openrouter"]


def test_prices_in_cny(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "prices", "--currency", "cny")
    assert code == 0
    assert "(CNY)" in out
    code, _, err = run(capsys, "prices", "--currency", "EUR")
    assert code == 1
    assert "no FX rate for EUR" in err


def test_prices_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "prices")
    offers = data["offers"]
    assert Decimal(offers["openrouter"]["input_per_mtok"]) == Decimal("0.035")
    assert offers["openrouter"]["context_window"] == 65_536
    assert offers["siliconflow"]["lifecycle"] == {"state": "retired", "retired_on": "2026-05-15"}
    assert offers["zhipu-flashx"]["concurrency"]["tiers"] == {
        "V0": 30,
        "V1": 50,
        "V2": 80,
        "V3": 100,
    }
    assert data["fx"]["rates"]["CNY"] == "0.1408"
    assert offers["openrouter"]["sources"]["input_per_mtok"]["confidence"] == "confirmed"


def test_prices_with_a_pricing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "offers:\n  openrouter:\n    output_per_mtok: 0.2\n")
    data = run_json(capsys, "prices", "--pricing", str(path))
    assert Decimal(data["offers"]["openrouter"]["output_per_mtok"]) == Decimal("0.2")


# --- tokens ---------------------------------------------------------------------------------


def test_tokens_of_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tokens", "1920x1080", "3840x2160")
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[2:]]
    assert rows == [
        ["1920x1080", "1920x1080", "1932x1092", "2691", "2693"],
        ["3840x2160", "3840x2160", "2912x1624", "6032", "6034"],
    ]


def test_tokens_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tokens", "1920x1080", "--json")
    assert code == 0
    assert json.loads(out) == [
        {
            "image": "1920x1080",
            "width": 1920,
            "height": 1080,
            "resized_width": 1932,
            "resized_height": 1092,
            "image_tokens": 2691,
            "prompt_tokens": 2693,
        }
    ]


def test_tokens_extreme_aspect_ratio_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tokens", "1x201")
    assert code == 1
    assert "aspect ratio" in err
    assert "200" in err
    assert "1x201" not in out.splitlines()[-1]


def test_tokens_reports_good_images_when_one_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tokens", "1x201", "1920x1080", "--json")
    assert code == 1
    bad, good = json.loads(out)
    assert "aspect ratio" in bad["error"]
    assert good["image_tokens"] == 2691
    assert "aspect ratio" in err


def test_tokens_of_an_image_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image")
    path = tmp_path / "screen.png"
    image_module.new("RGB", (1170, 2532)).save(path)
    code, out, err = run(capsys, "tokens", str(path), "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert (row["width"], row["height"]) == (1170, 2532)
    assert row["image_tokens"] == image_tokens(1170, 2532)


def test_tokens_of_a_missing_file_is_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "tokens", "absent.png")
    assert code == 1
    assert "absent.png" in err


# --- help, usage and the real entry points -------------------------------------------------


@pytest.mark.parametrize("command", ["estimate", "prices", "tokens"])
def test_subcommand_help_shows_an_example(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out
    assert f"vlmroute {command}" in out


def test_top_level_help_lists_commands_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("estimate", "prices", "tokens", "examples:"):
        assert command in out


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["estimate", "--requests", "many"], ["tokens"], ["prices", "--bogus"]],
)
def test_argparse_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    err = usage_error(capsys, *argv)
    assert "usage:" in err


@pytest.mark.slow
def test_module_entry_point_runs_as_a_subprocess(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vlmroute._cli.main", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "examples:" in result.stdout

    script = Path(sys.executable).parent / "vlmroute"
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable}")
    tokens = subprocess.run(
        [str(script), "tokens", "1920x1080"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert tokens.returncode == 0, tokens.stderr
    assert "2691" in tokens.stdout
    bad = subprocess.run(
        [str(script), "tokens", "1x201"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert bad.returncode == 1
    assert "aspect ratio" in bad.stderr
    usage = subprocess.run(
        [str(script), "estimate"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert usage.returncode == 2
    assert "--requests" in usage.stderr


# --- issue 12, part 4: an estimate never looks like success when it is not -----------------


def test_a_workload_nothing_can_serve_says_so_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys, "estimate", "--requests", "10", "--output-tokens", "50000", "--image", "1920x1080"
    )
    assert code == 1
    assert "Nothing can serve these requests" in out
    assert "Total USD 0" not in out
    assert "local-gpu cannot take these requests either" in out.lower()


def test_a_cheaper_local_gpu_left_out_of_the_plan_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, *BASE, "--deadline", "2h", "--gpu-hour-price", "0.1")
    assert code == 0
    assert "local-gpu (USD" in out
    assert "give local_gpus (--local-gpus N)" in out


def test_output_tokens_not_given_are_assumed_out_loud(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "estimate", "--requests", "10", "--image", "1920x1080")
    assert code == 0
    assert "assuming 1,500 per request" in err
    assert "15,000 output tokens in all" in out


def test_the_break_even_is_said_in_plain_words(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, *BASE, "--gpu-hour-price", "0.3")[1]
    assert "In plain words: below about 1,115,993 of these requests a month the APIs" in out


def test_utilisation_flag_reaches_the_break_even(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # whole lines, not wrapped to a terminal
    full = run_json(capsys, *BASE)["break_even"]
    half = run_json(capsys, *BASE, "--utilisation", "0.5")["break_even"]
    assert (full["utilisation"], half["utilisation"]) == ("1", "0.5")
    # busy half the month: floor(0.5 * g) requests a GPU
    assert half["gpu_requests_per_month"] == full["gpu_requests_per_month"] // 2
    out = run(capsys, *BASE, "--utilisation", "0.5")[1]
    assert "busy 0.5 of the month" in out
    assert f"then paid APIs, in plain words: {half['plain_words']}." in out


@pytest.mark.parametrize("bad", ["0", "1.5", "-1", "most"])
def test_bad_utilisation_is_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    code, out, err = run(capsys, *BASE, "--utilisation", bad)
    assert code == 1
    assert out == ""
    assert "utilisation: must" in err
    if bad != "most":
        assert "--utilisation" in err


@pytest.mark.parametrize("columns", ["80", "100"])
def test_tables_fit_the_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, columns: str
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    for argv in ([*BASE, "--deadline", "2h"], ["prices"]):
        code, out, err = run(capsys, *argv)
        assert code == 0, err
        assert max(len(line) for line in out.splitlines()) <= int(columns)


def test_small_figures_read_as_people_write_them() -> None:
    from vlmroute._cli import render

    assert render.money(Money(Decimal("0.00000073"), "USD")) == "USD 0.00000073"
    assert render.duration(12475839 * 86400.0).endswith("years")
    assert render.duration(3 * 86400 + 7200) == "3d 02h"
    assert render.plural(1, "request") == "1 request"
    assert render.plural(10_000, "request") == "10,000 requests"


def test_a_video_share_makes_a_mixed_workload(capsys: pytest.CaptureFixture[str]) -> None:
    """--video 10s:1280x720:1 beside --image 1920x1080:99: 1% of the requests carry the
    video, which goes where video is taken; the images still go to OpenRouter."""
    flags = ["--requests", "10000", "--prompt-tokens", "200", "--output-tokens", "1500"]
    mixed = [*flags, "--image", "1920x1080:99", "--video", "10s:1280x720:1", "--deadline", "2h"]
    data = run_json(capsys, "estimate", *mixed)
    assert [p["requests"] for p in data["profiles"]] == [9900, 100]
    assert data["profiles"][1]["video_tokens"] == video_tokens(10, 1280, 720).prompt_tokens
    steps = {s["offer_id"]: s["profile_requests"] for s in data["plan"]["steps"]}
    assert steps["openrouter"][1] == 0
    assert sum(counts[1] for counts in steps.values()) == 100
    assert data["plan"]["unassigned"] == 0
    code, out, _ = run(capsys, "estimate", *mixed)
    assert code == 0
    assert "of which" in out
    assert "100 video" in out
    assert "some of it: does not take video (see the plan)" in out  # OpenRouter's row
    # A share on the video but not on the images is ambiguous: a usage error.
    assert ":SHARE" in usage_error(
        capsys, "estimate", *flags, "--image", "1920x1080", "--video", "10s:1280x720:1"
    )
