"""Every example and the benchmark script run, so none of them rots."""

from __future__ import annotations

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
def test_router_benchmark_runs_quick() -> None:
    out = run("benchmarks/router.py", "--quick")
    assert "(c) 100 at once, cap 5" in out
    assert "router: 0 x 429, peak 5 in flight" in out
