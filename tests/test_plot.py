"""``--plot``: the data behind the pictures by hand, the PNGs they make, and the missing extra."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

import vlmroute
from vlmroute._cli.main import main
from vlmroute._cli.plot import INSTALL_HINT, frontier_png
from vlmroute._cli.spend_plot import (
    budget_spend,
    daily_spend,
    estimated_vs_actual,
    month_to_date,
    spend_png,
)
from vlmroute._estimate.frontier import frontier
from vlmroute._ledger import Budget, MemoryLedger, SpendRecord, SqliteLedger
from vlmroute.money import Money

FX = vlmroute.load_pricing().fx_table()


def rec(
    request_id: str,
    day: date,
    offer: str | None,
    cost: str,
    *,
    currency: str = "USD",
    display: str | None = None,
    estimated: str | None = None,
) -> SpendRecord:
    """A record on ``day``; ``display`` and ``estimated`` are USD (display defaults to the
    cost converted at the shipped rate)."""
    native = Money(Decimal(cost), currency)
    return SpendRecord(
        request_id=request_id,
        at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
        provider=None if offer is None else offer.split("-")[0],
        offer=offer,
        model=None if offer is None else "glm-4.1v-thinking",
        prompt_tokens=1000,
        completion_tokens=500,
        reasoning_tokens=250,
        cost=native,
        display_cost=Money(Decimal(display), "USD") if display else FX.convert(native, "USD"),
        estimated_cost=None if estimated is None else Money(Decimal(estimated), "USD"),
        latency_s=1.0,
        outcome="ok",
    )


D1, D2, D4 = date(2026, 11, 29), date(2026, 11, 30), date(2026, 12, 2)


def records() -> list[SpendRecord]:
    return [
        rec("a", D1, "openrouter", "0.50", estimated="0.40"),
        rec("b", D1, "zhipu-flashx", "10", currency="CNY", display="1.40", estimated="1.00"),
        rec("c", D2, "openrouter", "0.25"),
        rec("d", D4, "openrouter", "1.00", estimated="1.00"),
        rec("e", D4, None, "0"),  # refused before any offer was tried
    ]


# --- the data, by hand ----------------------------------------------------------------------


def test_daily_spend_per_offer_by_hand() -> None:
    spend = daily_spend(records(), currency="USD", fx=FX)
    assert spend.days == (D1, D2, date(2026, 12, 1), D4)  # the empty day is a bar of 0
    assert spend.offers == ("(not routed)", "openrouter", "zhipu-flashx")
    assert spend.cost[D1] == {"openrouter": Decimal("0.50"), "zhipu-flashx": Decimal("1.40")}
    assert spend.total(D1) == Decimal("1.90")  # the router's own display cost, not re-converted
    assert spend.total(date(2026, 12, 1)) == 0
    assert spend.total(D4) == Decimal("1.00")


def test_another_currency_converts_the_native_cost() -> None:
    spend = daily_spend(records(), currency="CNY", fx=FX)
    assert spend.cost[D1]["zhipu-flashx"] == Decimal(10)  # its own currency: exact
    assert spend.cost[D1]["openrouter"] == FX.convert(Money(Decimal("0.50"), "USD"), "CNY").amount


def test_month_to_date_starts_again_each_month() -> None:
    spend = daily_spend(records(), currency="USD", fx=FX)
    totals = [spend.total(d) for d in spend.days]
    assert month_to_date(spend.days, totals) == [
        Decimal("1.90"),
        Decimal("2.15"),
        0,  # 1 December: a new month
        Decimal("1.00"),
    ]


def test_a_budget_of_one_provider_counts_only_its_records() -> None:
    spend = daily_spend(records(), currency="USD", fx=FX)
    zhipu = Budget(amount=Decimal(20), currency="CNY", period="month", provider="zhipu")
    every = Budget(amount=Decimal(5), currency="USD", period="month")
    assert budget_spend(records(), zhipu, currency="USD", fx=FX, days=spend.days) == [
        Decimal("1.40"),
        0,
        0,
        0,
    ]
    assert budget_spend(records(), every, currency="USD", fx=FX, days=spend.days) == [
        spend.total(d) for d in spend.days
    ]


def test_estimated_against_actual_by_hand() -> None:
    compared = estimated_vs_actual(records(), currency="USD", fx=FX)
    assert compared == {
        "openrouter": (Decimal("1.40"), Decimal("1.50")),  # c carries no estimate
        "zhipu-flashx": (Decimal("1.00"), Decimal("1.40")),
    }


# --- the pictures ---------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, least: tuple[int, int] = (800, 600)) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = vlmroute.image_size(path)
    assert width >= least[0]
    assert height >= least[1]
    assert len(data) > 20_000  # lines, labels and legends, not a blank canvas


def test_frontier_png(tmp_path: Path) -> None:
    work = vlmroute.Workload.from_mapping(
        {"requests": 10_000, "mix": [{"images": ["1920x1080"]}], "output_tokens": 1500}
    )
    out = tmp_path / "frontier.png"
    frontier_png(frontier(work), out, title="test")
    assert_png(out)


def test_spend_png_with_and_without_estimates(tmp_path: Path) -> None:
    budgets = [
        Budget(amount=Decimal(2), currency="USD", period="day"),
        Budget(amount=Decimal(20), currency="CNY", period="month", provider="zhipu"),
    ]
    out = tmp_path / "spend.png"
    spend_png(records(), out, currency="USD", fx=FX, budgets=budgets, title="test")
    assert_png(out, (900, 1000))  # three panels
    plain = [r for r in records() if r.estimated_cost is None]
    spend_png(plain, out, currency="USD", fx=FX, title="test")
    assert_png(out, (900, 700))  # no estimates: two panels


def test_estimate_plot_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "f.png"
    argv = ["estimate", "--requests", "10000", "--image", "1920x1080", "--output-tokens", "1500"]
    assert main([*argv, "--deadline", "2h", "--plot", str(out)]) == 0
    assert f"wrote the cost-against-deadline plot to {out}" in capsys.readouterr().err
    assert_png(out)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    path = tmp_path / "spend.sqlite3"
    with SqliteLedger(path) as ledger:
        for r in records():
            assert ledger.record(r)
    return path


def test_spend_plot_from_the_cli_with_the_config_s_budgets(
    tmp_path: Path, ledger_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "router.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "offers": [{"offer": "openrouter"}],
                "budgets": [
                    {"amount": 2, "currency": "USD", "period": "day"},
                    {"amount": 5, "currency": "USD", "period": "month"},
                ],
                "ledger": False,
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "spend.png"
    argv = ["spend", "--ledger", str(ledger_path), "--plot", str(out), "--config", str(config)]
    assert main(argv) == 0
    assert f"wrote the spend plot to {out}" in capsys.readouterr().err
    assert_png(out)


def test_the_same_records_from_a_memory_ledger_draw_the_same_data() -> None:
    ledger = MemoryLedger()
    for r in records():
        ledger.record(r)
    assert daily_spend(ledger.rows(), currency="USD", fx=FX) == daily_spend(
        records(), currency="USD", fx=FX
    )


def test_an_empty_range_writes_no_plot(
    tmp_path: Path, ledger_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "spend.png"
    argv = ["spend", "--ledger", str(ledger_path), "--since", "2030-01-01", "--plot", str(out)]
    assert main(argv) == 0  # an empty ledger is an empty result, as without --plot
    assert "no plot written" in capsys.readouterr().err
    assert not out.exists()


def test_an_unwritable_plot_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no" / "such" / "dir" / "f.png"
    argv = ["estimate", "--requests", "10", "--output-tokens", "10", "--plot", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vlmroute: error: --plot ")
    assert "cannot write it" in err
    assert len(err.splitlines()) == 1


# --- without matplotlib ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["estimate", "--requests", "10", "--output-tokens", "10", "--plot", "x.png"],
        ["spend", "--ledger", "nowhere.sqlite3", "--plot", "x.png"],
    ],
)
def test_without_matplotlib_plot_is_a_usage_error(
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # ``import matplotlib`` now fails
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().splitlines() == [
        f"vlmroute {argv[0]}: error: --plot needs matplotlib: {INSTALL_HINT}"
    ]
    assert not (tmp_path / "x.png").exists()


@pytest.mark.slow
def test_without_matplotlib_in_a_fresh_process(tmp_path: Path) -> None:
    """The console script as a user runs it: one line, exit 2, no traceback."""
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from vlmroute._cli.main import entry; entry()\n"
    )
    argv = ["estimate", "--requests", "10", "--output-tokens", "10", "--plot", "x.png"]
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "vlmroute estimate: error: --plot needs matplotlib: pip install 'vlmroute[plot]'"
    )
