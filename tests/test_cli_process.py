"""The ``vlmroute`` command as a shell runs it: exit codes, closed pipes, Ctrl-C, crashes.

Issue 12, part 3. Every case runs the real command in a child process (``python -m vlmroute``)
and reads its exit status and its stderr: no traceback may reach the user.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from vlmroute._cli import prices_cmd
from vlmroute._cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def vlmroute(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vlmroute", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=ROOT,
    )


@pytest.mark.slow
def test_version_and_python_dash_m() -> None:
    out = vlmroute("--version")
    assert out.returncode == 0
    assert out.stdout.strip().startswith("vlmroute 0.")


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly_with_sigpipe_s_code() -> None:
    """``vlmroute prices | head -1``: the reader is gone before the writer writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE, deterministically
    try:
        done = subprocess.run(
            [sys.executable, "-m", "vlmroute", "prices"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=60,
            cwd=ROOT,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert done.stderr == ""


@pytest.mark.slow
def test_an_unknown_flag_shows_the_subcommand_s_usage() -> None:
    out = vlmroute("estimate", "--requests", "1", "--nope")
    assert out.returncode == 2
    assert out.stderr.startswith("usage: vlmroute estimate")
    assert "unrecognized arguments: --nope" in out.stderr


@pytest.mark.slow
def test_ctrl_c_during_route_is_one_line_and_130(tmp_path: Path) -> None:
    from vlmroute.testing import FakeProvider

    with FakeProvider("zhipu", latency_s=30) as fake:
        config = {"offers": [{"offer": "zhipu-flash", "base_url": fake.base_url}], "ledger": False}
        path = tmp_path / "router.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        env = {**os.environ, "ZHIPUAI_API_KEY": "test-key"}
        child = subprocess.Popen(
            [sys.executable, "-m", "vlmroute", "route", "--config", str(path), "--prompt", "hi"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        try:
            for _ in range(600):  # until the request is in flight at the fake (30 s at most)
                if fake.stats.requests_seen or child.poll() is not None:
                    break
                time.sleep(0.05)
            assert fake.stats.requests_seen == 1
            child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=30)
        finally:
            child.kill()
    assert child.returncode == 130
    assert err == "vlmroute: interrupted\n"


def test_a_crash_is_one_line_with_its_own_exit_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_args: object) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(prices_cmd, "run", broken)
    monkeypatch.delenv("VLMROUTE_DEBUG", raising=False)
    code = main(["prices"])
    err = capsys.readouterr().err
    assert code == 3  # not 1 (a vlmroute error) nor 2 (usage)
    assert err.count("\n") == 1
    assert "internal error (ZeroDivisionError: a bug)" in err
    assert "Traceback" not in err


def test_route_max_cost_that_is_not_an_amount_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for bad in ("abc", "NaN", "-1", "1 dollars"):
        with pytest.raises(SystemExit) as info:
            main(["route", "--explain", "--max-cost", bad])
        assert info.value.code == 2
        assert "--max-cost" in capsys.readouterr().err
