"""Every example and the benchmark script run, so none of them rots."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.slow
def test_estimate_example_script() -> None:
    out = run("examples/estimate_workload.py")
    assert "50,000 requests" in out
    assert "meets the 8 h deadline" in out


@pytest.mark.slow
def test_workload_yaml_through_the_cli() -> None:
    out = run("-m", "vlmroute._cli.main", "estimate", "--workload", "examples/workload.yaml")
    assert "Cheapest plan (deadline 8h 00m)" in out
    assert "meets the deadline" in out


@pytest.mark.slow
def test_benchmarks_run_quick() -> None:
    out = run("benchmarks/run.py", "--quick")
    assert "estimate(), 1,000,000 requests" in out


@pytest.mark.slow
def test_dropin_benchmark_runs_quick() -> None:
    out = run("benchmarks/dropin.py", "--quick")
    for row in ("translation (WireApp)", "drop-in: +", "SDK's own", "(b) 256 in flight"):
        assert row in out


@pytest.mark.slow
def test_router_benchmark_runs_quick() -> None:
    out = run("benchmarks/router.py", "--quick")
    assert "(c) 100 at once, cap 5" in out
    assert "router: 0 x 429, peak 5 in flight" in out


@pytest.mark.slow
def test_limits_benchmark_runs_quick() -> None:
    """Every row of issue 13's table is measured (the figures are the benchmark's to show,
    not a test's to bound); the learned cap loses no request."""
    rows = json.loads(run("benchmarks/limits.py", "--quick", "--json"))
    measures = [r["measure"].strip() for r in rows]
    for wanted in (
        "client CPU per request, concurrency 1",
        "client CPU per request, streaming",
        "throughput, 256 in flight, 50-ms server",
        "peak RSS at 256 in flight",
        "default SQLite ledger on, CPU per request",
        "python -c 'from vlmroute import AsyncRouter'",
        "100 at once, tier V3 (cap 20), server allows 5",
    ):
        assert wanted in measures
    assert "0 failed" in rows[-1]["vlmroute"]


@pytest.mark.slow
def test_gateway_benchmark_runs_quick() -> None:
    """Issue 14's rows are measured (LiteLLM's say why they were skipped in a quick run)."""
    rows = json.loads(run("benchmarks/gateway.py", "--quick", "--json"))
    measures = {r["measure"].strip(): r for r in rows}
    for wanted in (
        "gateway added latency, concurrency 1",
        "one bare aiohttp hop (a relay) over raw aiohttp",
        "gateway throughput, 256 in flight, 50-ms server",
        "gateway, --workers 2",
    ):
        assert wanted in measures
    assert "skipped" in measures["gateway against LiteLLM proxy"]["baseline"]


@pytest.mark.slow
def test_route_two_providers_example_spills_with_no_429() -> None:
    out = run("examples/route_two_providers.py")
    assert "5 on zhipu-flash (free, cap 5), 35 spilled to openrouter" in out
    assert "peak in flight: zhipu-flash 5 (cap 5), 429s sent: 0" in out


@pytest.mark.slow
def test_every_provider_example_gets_a_typed_answer_in_each_dialect() -> None:
    out = run("examples/every_provider.py")
    for offer in ("zhipu-flash", "zhipu-flashx", "openrouter", "siliconflow", "local-gpu"):
        assert f"{offer:13} answer='The cat is on the mat.' reasoning='Let me look" in out
    assert out.count("streamed answer='The cat is on the mat.'") == 5


@pytest.mark.slow
def test_openai_app_fallback_example() -> None:
    out = run("examples/openai_app_fallback.py")
    assert "openai.OpenAI:   busy, try later" in out
    assert "vlmroute.OpenAI: The cat is on the mat." in out
    assert "next request: openrouter (Flash rests after its 429), cost USD 0.0000" in out
    assert "tries: openrouter ok" in out


@pytest.mark.slow
def test_quickstart_and_local_gpu_examples() -> None:
    assert "answer:    A sun over a green field." in run("examples/quickstart.py")
    out = run("examples/local_gpu.py")
    assert "server up: True" in out
    assert "reasoning: Let me look at the image." in out


@pytest.mark.slow
def test_estimate_then_run_example() -> None:
    out = run("examples/estimate_then_run.py")
    assert "Estimate for 200 requests of a 640x480 image:" in out
    assert "Estimated vs actual cost" in out
    assert "Total: 200 requests (0 failed)" in out


@pytest.mark.slow
def test_budgets_example_refuses_after_a_restart() -> None:
    out = run("examples/budgets.py")
    assert "after a restart: USD 0.0010" in out
    assert "refused before sending: a request to openrouter would exceed the budget" in out
    assert "the provider saw 3 requests" in out


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("redis-server") is None and not os.environ.get("CI"),
    reason="redis-server not installed (apt-get install redis-server)",
)
def test_several_workers_example_holds_the_cap_only_with_the_store() -> None:
    out = run("examples/several_workers.py")
    alone, shared = (line for line in out.splitlines() if "peak in flight" in line)
    assert "answered 60/60" not in alone  # three workers each holding 5 provoke 429s
    assert "429s  0" not in alone
    assert shared.endswith("peak in flight at the provider  5, 429s  0, answered 60/60")


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("redis-server") is None and not os.environ.get("CI"),
    reason="redis-server not installed (apt-get install redis-server)",
)
def test_redis_store_benchmark_runs_quick() -> None:
    out = run("benchmarks/redis_store.py", "--quick")
    assert "Redis store: +" in out
    assert "Redis store: peak 5, 0 x 429" in out


@pytest.mark.slow
def test_several_workers_without_the_redis_package_says_what_to_install() -> None:
    """It used to hang 120 s and die with _queue.Empty after a plain ``pip install .``."""
    code = (
        "import sys, runpy; sys.modules['redis'] = None; "
        "runpy.run_path('examples/several_workers.py', run_name='__main__')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert "pip install 'vlmroute[redis]'" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_batch_benchmark_runs_quick() -> None:
    """``vlmroute run``'s rows are measured: pricing, peak RSS priced and run, throughput."""
    rows = json.loads(run("benchmarks/batch.py", "--quick", "--json"))
    measures = {r["measure"].strip(): r for r in rows}
    for wanted in (
        "pricing the input, plan_batch",
        "peak RSS, pricing",
        "peak RSS, running",
        "arun_batch throughput, 256 in flight",
    ):
        assert wanted in measures
        assert float(measures[wanted]["ratio"]) > 0


@pytest.mark.slow
def test_the_ray_example_runs_offline() -> None:
    """Two Ray actors on one Redis store, against a capped fake (examples/ray_batch.py)."""
    pytest.importorskip("ray", reason="pip install 'vlmroute[ray]'")
    out = run("examples/ray_batch.py")
    assert "40 rows through 2 Ray actor(s): status codes {200: 40}" in out
    assert "peak in flight 4 (cap 4), 429s 0" in out
