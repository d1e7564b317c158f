"""The spend ledger: idempotent writes, exact sums, SQLite shared by threads and processes."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from vlmroute._ledger import Ledger, MemoryLedger, SpendRecord, SqliteLedger, default_ledger_path
from vlmroute._ledger.record import COLUMNS, from_row, to_row
from vlmroute._ledger.sqlite import SCHEMA_VERSION
from vlmroute.errors import ConfigurationError
from vlmroute.money import FxTable, Money

NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FX = FxTable(base="USD", as_of=date(2026, 11, 21), rates={"CNY": Decimal("0.1408")})


def spend(
    request_id: str,
    *,
    at: datetime = NOON,
    provider: str = "zhipu",
    cost: str = "0.01",
    currency: str = "CNY",
    display: str | None = None,
    estimated: str | None = None,
    outcome: str = "ok",
    prompt_tokens: int = 1000,
    completion_tokens: int = 500,
) -> SpendRecord:
    """A record; ``display`` and ``estimated`` are USD amounts."""
    native = Money(Decimal(cost), currency)
    return SpendRecord(
        request_id=request_id,
        at=at,
        provider=provider,
        offer=f"{provider}-offer",
        model="glm-4.1v-thinking",
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        reasoning_tokens=completion_tokens // 2,
        cost=native,
        display_cost=Money(Decimal(display), "USD") if display else FX.convert(native, "USD"),
        estimated_cost=None if estimated is None else Money(Decimal(estimated), "USD"),
        latency_s=1.5,
        outcome=outcome,
        provider_request_id=f"up-{request_id}",
    )


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    made: Ledger = MemoryLedger() if request.param == "memory" else SqliteLedger(tmp_path / "l.db")
    yield made
    made.close()


def total(
    ledger: Ledger,
    *,
    provider: str | None = None,
    since: datetime = NOON - timedelta(days=365),
    until: datetime | None = None,
) -> Money:
    return ledger.spent(provider=provider, since=since, until=until, currency="CNY", fx=FX)


def test_a_duplicate_request_id_is_refused_and_not_counted(ledger: Ledger) -> None:
    assert ledger.record(spend("a", cost="1.5")) is True
    assert ledger.record(spend("a", cost="99")) is False
    assert ledger.record(spend("b", cost="0.25")) is True
    assert [r.request_id for r in ledger.rows()] == ["a", "b"]
    assert total(ledger) == Money(Decimal("1.75"), "CNY")


def test_rows_round_trip_every_field(ledger: Ledger) -> None:
    original = spend("x", cost="0.000123456789", estimated="0.00002")
    failed = SpendRecord(
        "y", NOON, "openrouter", "openrouter", "m", 10, 0, None, Money(Decimal(0), "USD"),
        Money(Decimal(0), "USD"), None, None, "RateLimitedError", attempts=3,
    )  # fmt: skip
    ledger.record(original)
    ledger.record(failed)
    assert ledger.rows() == [original, failed]
    assert ledger.rows()[0].cost.amount == Decimal("0.000123456789")


def test_spent_filters_by_provider_and_half_open_range(ledger: Ledger) -> None:
    ledger.record(spend("a", at=NOON - timedelta(hours=1), cost="1"))
    ledger.record(spend("b", at=NOON, cost="2"))
    ledger.record(spend("c", at=NOON + timedelta(hours=1), cost="4", provider="siliconflow"))
    assert total(ledger, since=NOON) == Money(Decimal(6), "CNY")
    assert total(ledger, until=NOON) == Money(Decimal(1), "CNY")
    assert total(ledger, provider="zhipu") == Money(Decimal(3), "CNY")
    assert total(ledger, provider="openrouter") == Money(Decimal(0), "CNY")
    assert [r.request_id for r in ledger.rows(since=NOON, until=NOON + timedelta(hours=1))] == ["b"]


def test_spent_converts_each_currency_at_the_fx_table(ledger: Ledger) -> None:
    ledger.record(spend("cny", cost="10", currency="CNY"))
    ledger.record(spend("usd", cost="0.5", currency="USD", provider="openrouter"))
    usd = ledger.spent(since=NOON, currency="USD", fx=FX)
    assert usd == Money(Decimal("1.408") + Decimal("0.5"), "USD")


def test_rows_are_in_time_order(ledger: Ledger) -> None:
    for i, hours in enumerate([3, 1, 2]):
        ledger.record(spend(f"r{i}", at=NOON + timedelta(hours=hours)))
    assert [r.request_id for r in ledger.rows()] == ["r1", "r2", "r0"]


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        spend("a", at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        MemoryLedger().rows(since=datetime(2026, 1, 1))


def test_an_instant_in_another_zone_is_stored_in_utc() -> None:
    plus8 = datetime(2026, 11, 21, 2, 0, tzinfo=timezone(timedelta(hours=8)))
    rec = spend("a", at=plus8)
    assert rec.at == datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    assert rec.at.tzinfo is UTC


def test_the_flat_row_keeps_amounts_exact() -> None:
    rec = spend("a", cost="1E-9", estimated="0.1")
    row = to_row(rec)
    assert dict(zip(COLUMNS, row, strict=True))["cost_amount"] == "0.000000001"
    assert from_row(row) == rec


def test_eight_threads_write_4000_rows_with_an_exact_sum(tmp_path: Path) -> None:
    shared = SqliteLedger(tmp_path / "threads.db")
    start = threading.Barrier(8)
    results: list[bool] = []

    def writer(k: int) -> None:
        start.wait()
        for i in range(500):
            results.append(shared.record(spend(f"t{k}-{i}", cost=f"0.000{i % 7 + 1}")))
        results.append(shared.record(spend(f"t{k}-0")))  # a retried write

    with shared:
        threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expected = 8 * sum((Decimal(f"0.000{i % 7 + 1}") for i in range(500)), Decimal(0))
        assert results.count(True) == 4000
        assert results.count(False) == 8
        assert len(shared.rows()) == 4000
        assert total(shared) == Money(expected, "CNY")
        assert expected == Decimal("1.5952")  # 8 x (71 x (1+...+7) + 1+2+3) / 10,000


def test_two_ledgers_on_one_file_see_each_other_once_committed(tmp_path: Path) -> None:
    """Each ledger's rows reach the file within 50 ms (or at flush); a request id recorded
    through both is still one row."""
    path = tmp_path / "shared.db"
    with SqliteLedger(path) as first, SqliteLedger(path) as second:
        assert first.record(spend("a", cost="1"))
        assert second.record(spend("b", cost="2"))
        assert first.record(spend("a")) is False  # this ledger knows it wrote "a"
        second.record(spend("a"))  # the other does not; the file keeps one row all the same
        first.flush()
        second.flush()
        assert [r.request_id for r in first.rows()] == ["a", "b"]
        assert total(second) == Money(Decimal(3), "CNY")


def test_without_write_behind_a_duplicate_across_ledgers_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "direct.db"
    with (
        SqliteLedger(path, write_behind=False) as first,
        SqliteLedger(path, write_behind=False) as second,
    ):
        assert first.record(spend("a", cost="1"))
        assert second.record(spend("a")) is False
        assert [r.request_id for r in second.rows()] == ["a"]


@pytest.mark.slow
def test_another_process_writes_to_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "procs.db"
    code = (
        "import sys; from tests.test_ledger import spend; "
        "from vlmroute._ledger import SqliteLedger\n"
        "with SqliteLedger(sys.argv[1]) as led:\n"
        "    print(sum(led.record(spend(f'p{i}', cost='0.5')) for i in range(50)))"
    )
    with SqliteLedger(path) as ledger:
        ledger.record(spend("parent", cost="1"))
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
        )
        assert out.stdout.strip() == "50"
        assert len(ledger.rows()) == 51
        assert total(ledger) == Money(Decimal(26), "CNY")


def test_the_file_is_versioned_wal_and_stores_amounts_as_text(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "spend.sqlite3"
    with SqliteLedger(path) as ledger:
        ledger.record(spend("a", cost="0.1"))
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        kinds = conn.execute("SELECT typeof(cost_amount), cost_amount FROM spend").fetchone()
        assert kinds == ("text", "0.1")
    finally:
        conn.close()


def test_a_version_1_ledger_is_migrated_and_then_takes_unrouted_requests(
    tmp_path: Path,
) -> None:
    """Schema 2 lets provider, offer and model be NULL (a request refused before any offer
    was tried); a file of schema 1 keeps its rows through the migration."""
    from vlmroute._ledger.sqlite import _MIGRATIONS

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for statement in _MIGRATIONS[1]:
            conn.execute(statement)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        old = COLUMNS[: COLUMNS.index("caller")]  # schema 1's columns
        columns, marks = ", ".join(old), ", ".join("?" * len(old))
        row = to_row(spend("old"))[: len(old)]
        conn.execute(f"INSERT INTO spend ({columns}) VALUES ({marks})", row)
    conn.close()
    refused = SpendRecord(
        request_id="refused",
        at=NOON,
        provider=None,
        offer=None,
        model=None,
        prompt_tokens=0,
        completion_tokens=0,
        reasoning_tokens=None,
        cost=Money(Decimal(0), "USD"),
        display_cost=Money(Decimal(0), "USD"),
        estimated_cost=None,
        latency_s=0.5,
        outcome="NoRouteError",
        attempts=0,
    )
    with SqliteLedger(path) as ledger:
        assert [r.request_id for r in ledger.rows()] == ["old"]
        assert ledger.record(refused)
        rows = {r.request_id: r for r in ledger.rows()}
    assert rows["old"] == spend("old")
    assert rows["refused"] == refused


def test_schemas_3_and_4_record_caller_and_label_and_sum_a_caller_s_spend(
    tmp_path: Path,
) -> None:
    """A version 2 file gains the caller column (its rows have none), and a journal line an
    older vlmroute left, one column short, is still added."""
    from vlmroute._ledger.sqlite import _MIGRATIONS

    path = tmp_path / "v2.sqlite3"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for step in (1, 2):
            for statement in _MIGRATIONS[step]:
                conn.execute(statement)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '2')")
        old = COLUMNS[: COLUMNS.index("caller")]  # schema 2's columns
        columns, marks = ", ".join(old), ", ".join("?" * len(old))
        conn.execute(
            f"INSERT INTO spend ({columns}) VALUES ({marks})", to_row(spend("v2"))[: len(old)]
        )
    conn.close()
    orphan = path.with_name(path.name + ".pending-999999-0")
    orphan.write_text(json.dumps(list(to_row(spend("journal"))[: len(old)])) + "\n")
    web = dataclasses.replace(spend("web"), caller="web-app", label="line-7")
    with SqliteLedger(path) as ledger:
        assert ledger.record(web)
        rows = {r.request_id: r for r in ledger.rows()}
        day = NOON - timedelta(days=1)
        mine = ledger.spent(since=day, currency="USD", fx=FX, caller="web-app")
        everyone = ledger.spent(since=day, currency="USD", fx=FX)
    assert set(rows) == {"v2", "journal", "web"}
    assert rows["v2"].caller is None
    assert rows["journal"].caller is None
    assert rows["web"] == web
    assert mine == FX.convert(web.cost, "USD")
    assert everyone == FX.convert(web.cost * 3, "USD")


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SqliteLedger(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(ConfigurationError, match="schema version 99"):
        SqliteLedger(path)


def test_a_file_that_is_not_a_database_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not sqlite at all, but long enough to have a header " * 20)
    with pytest.raises(ConfigurationError, match=r"notes\.txt"):
        SqliteLedger(path)


def test_create_false_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no spend ledger at"):
        SqliteLedger(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"VLMROUTE_LEDGER": "/data/spend.db", "XDG_STATE_HOME": "/x"}, "/data/spend.db"),
        ({"XDG_STATE_HOME": "/state"}, "/state/vlmroute/spend.sqlite3"),
        ({"XDG_STATE_HOME": "relative"}, "HOME/.local/state/vlmroute/spend.sqlite3"),
        ({}, "HOME/.local/state/vlmroute/spend.sqlite3"),
    ],
)
def test_default_ledger_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    for name in ("VLMROUTE_LEDGER", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_ledger_path() == Path(expected.replace("HOME", str(tmp_path)))
