"""``vlmroute spend`` over a ledger built in a temporary directory, run in-process."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.test_ledger import spend
from vlmroute._cli.main import main
from vlmroute._ledger import SpendRecord, SqliteLedger
from vlmroute._ledger.record import COLUMNS
from vlmroute._pricing import load_pricing

DAY1 = datetime(2026, 11, 19, 10, tzinfo=UTC)
DAY2 = datetime(2026, 11, 20, 15, tzinfo=UTC)


def records() -> list[SpendRecord]:
    """Zhipu bills CNY (USD 1.408 per CNY 10 at the shipped rate); OpenRouter USD."""
    failed = spend("f", at=DAY2, provider="openrouter", cost="0", currency="USD")
    return [
        spend("z1", at=DAY1, cost="10", display="1.408", estimated="1.2"),
        spend("z2", at=DAY1, cost="10", display="1.408", estimated="1.2"),
        spend("z3", at=DAY2, cost="5", display="0.704"),
        spend("o1", at=DAY2, provider="openrouter", cost="0.5", currency="USD", estimated="0.4"),
        replace(failed, outcome="RateLimitedError"),
    ]


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "spend.sqlite3"
    with SqliteLedger(path) as ledger:
        for rec in records():
            assert ledger.record(rec)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["spend", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def test_tables_show_spend_by_provider_and_day(
    capsys: pytest.CaptureFixture[str], ledger_path: Path
) -> None:
    code, out, _ = run(capsys, "--ledger", str(ledger_path))
    assert code == 0
    lines = out.splitlines()
    assert any(
        ln.split() == ["openrouter", "2026-11-20", "2", "1", "2,000", "1,000", "USD", "0.5000"]
        for ln in lines
    )
    assert any(
        ln.split() == ["zhipu", "2026-11-19", "2", "0", "2,000", "1,000", "USD", "2.8160"]
        for ln in lines
    )
    assert "Total: 5 requests (1 failed), 5,000 tokens in, 2,500 out" in out
    assert "USD 4.02." in out
    assert any(
        ln.split() == ["zhipu", "2", "USD", "2.4000", "USD", "2.8160", "+17.3%"] for ln in lines
    )
    assert any(
        ln.split() == ["openrouter", "1", "USD", "0.4000", "USD", "0.5000", "+25.0%"]
        for ln in lines
    )


def test_json_parses_with_exact_amounts(
    capsys: pytest.CaptureFixture[str], ledger_path: Path
) -> None:
    data = run_json(capsys, "--ledger", str(ledger_path), "--by", "provider")
    assert data["by"] == ["provider"]
    groups = {g["provider"]: g for g in data["groups"]}
    assert groups["zhipu"]["requests"] == 3
    assert groups["zhipu"]["cost"] == {"amount": "3.520", "currency": "USD"}
    assert "day" not in groups["zhipu"]
    assert data["total"]["cost"] == {"amount": "4.020", "currency": "USD"}
    assert data["total"]["failed"] == 1
    estimates = {e["provider"]: e for e in data["estimates"]}
    assert estimates["openrouter"]["difference_pct"] == "25.00"


def test_another_currency_converts_at_the_pricing_fx(
    capsys: pytest.CaptureFixture[str], ledger_path: Path
) -> None:
    fx = load_pricing().fx_table()
    data = run_json(capsys, "--ledger", str(ledger_path), "--currency", "cny", "--by", "day")
    expected = Decimal(25) + fx.rate("USD", "CNY") * Decimal("0.5")
    assert Decimal(data["total"]["cost"]["amount"]) == expected
    assert [g["day"] for g in data["groups"]] == ["2026-11-19", "2026-11-20"]


def test_since_and_until_take_days_inclusive(
    capsys: pytest.CaptureFixture[str], ledger_path: Path
) -> None:
    later = run_json(capsys, "--ledger", str(ledger_path), "--since", "2026-11-20")
    assert later["total"]["requests"] == 3
    first = run_json(capsys, "--ledger", str(ledger_path), "--until", "2026-11-19")
    assert first["total"]["requests"] == 2
    assert first["until"] == "2026-11-20T00:00:00+00:00"
    code, out, _ = run(capsys, "--ledger", str(ledger_path), "--since", "2030-01-01")
    assert code == 0
    assert "No spend recorded" in out
    recent = run_json(capsys, "--ledger", str(ledger_path), "--since", "7d")
    assert recent["since"] is not None


def test_csv_exports_every_record(
    capsys: pytest.CaptureFixture[str], ledger_path: Path, tmp_path: Path
) -> None:
    target = tmp_path / "spend.csv"
    code, _, err = run(capsys, "--ledger", str(ledger_path), "--csv", str(target))
    assert code == 0
    assert "wrote 5 records" in err
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 6
    first = dict(zip(COLUMNS, rows[1], strict=True))
    assert (first["request_id"], first["cost_amount"], first["cost_currency"]) == (
        "z1",
        "10",
        "CNY",
    )
    assert first["at"] == "2026-11-19T10:00:00.000000Z"


def test_a_missing_ledger_is_an_empty_result_that_says_where_it_will_be(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A fresh install has routed nothing: that is an empty result (exit 0), not an error."""
    path = tmp_path / "nowhere" / "spend.sqlite3"
    code, out, err = run(capsys, "--ledger", str(path))
    assert code == 0
    assert out.startswith("No spend recorded in")
    assert str(path) in err
    assert "routed requests are recorded there" in err
    assert not path.exists()
    code, out, _ = run(capsys, "--ledger", str(path), "--json")
    assert code == 0
    assert json.loads(out)["total"]["requests"] == 0


def test_the_default_ledger_comes_from_the_environment(
    capsys: pytest.CaptureFixture[str], ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLMROUTE_LEDGER", str(ledger_path))
    assert run_json(capsys)["ledger"] == str(ledger_path)


@pytest.mark.parametrize("argv", [["--since", "last week"], ["--since", "0d"], ["--by", "model"]])
def test_bad_flags_are_usage_errors(
    capsys: pytest.CaptureFixture[str], ledger_path: Path, argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["spend", "--ledger", str(ledger_path), *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "vlmroute spend: error: argument" in err
    assert "expected" in err or "N >= 1" in err
