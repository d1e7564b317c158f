"""Budgets: reserve before sending, settle with the record, periods that roll over by a clock."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.test_ledger import FX, spend
from vlmroute import BudgetExceededError, RequestError
from vlmroute._ledger import Budget, BudgetBook, MemoryLedger, SqliteLedger, period_bounds
from vlmroute.money import Money


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def budget(amount: str, period: str = "day", **extra: Any) -> Budget:
    return Budget.model_validate({"amount": amount, "currency": "USD", "period": period, **extra})


def settle(
    book: BudgetBook, clock: Clock, request_id: str, cost_usd: str, provider: str = "zhipu"
) -> None:
    """Reserve and settle one request that cost ``cost_usd`` (recorded in USD), now."""
    reservation = book.reserve(request_id, provider, usd(cost_usd))
    record = spend(request_id, at=clock.now, provider=provider, cost=cost_usd, currency="USD")
    assert book.settle(reservation, record) is True


START = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


def test_budget_is_validated_like_the_router_config() -> None:
    b = Budget.model_validate({"amount": 5, "currency": "usd", "period": "day"})
    assert (b.limit, b.provider) == (usd("5"), None)
    assert b.describe() == "USD 5 a day across all providers"
    assert budget("200", "month", provider="zhipu").describe().endswith("a month on zhipu")
    for bad in (
        {"amount": 0, "currency": "USD", "period": "day"},
        {"amount": 1, "currency": "dollars", "period": "day"},
        {"amount": 1, "currency": "USD", "period": "week"},
        {"amount": 1, "currency": "USD", "period": "day", "limit": 3},
        {"amount": 1, "period": "day"},
    ):
        with pytest.raises(ValidationError):
            Budget.model_validate(bad)
    with pytest.raises(ValidationError):
        b.amount = Decimal(9)  # type: ignore[misc]


def test_period_bounds_are_utc_days_and_calendar_months() -> None:
    assert period_bounds("day", START) == (
        datetime(2026, 11, 30, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert period_bounds("month", datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_a_day_budget_refuses_then_rolls_over_at_utc_midnight() -> None:
    clock = Clock(START)
    book = BudgetBook(MemoryLedger(), [budget("1")], FX, clock=clock)
    settle(book, clock, "a", "0.9")
    assert book.check("zhipu", usd("0.1")) is None  # exactly the limit fits
    assert book.check("zhipu", usd("0.2")) == budget("1")
    clock.now = START + timedelta(hours=1)  # 00:00 the next day
    assert book.check("zhipu", usd("0.2")) is None
    assert book.remaining() == [(budget("1"), usd("1"))]


def test_a_month_budget_outlives_the_day_budget() -> None:
    clock = Clock(datetime(2026, 11, 10, 12, tzinfo=UTC))
    day, month = budget("1"), budget("2", "month")
    book = BudgetBook(MemoryLedger(), [day, month], FX, clock=clock)
    settle(book, clock, "a", "0.9")
    clock.now += timedelta(days=1)
    settle(book, clock, "b", "0.9")
    assert book.remaining() == [(day, usd("0.1")), (month, usd("0.2"))]
    clock.now += timedelta(days=1)
    assert book.check("zhipu", usd("0.5")) == month
    clock.now = datetime(2026, 12, 1, tzinfo=UTC)
    assert book.check("zhipu", usd("0.5")) is None


def test_a_provider_budget_and_a_total_budget() -> None:
    zhipu, everything = budget("0.5", provider="zhipu"), budget("1")
    clock = Clock(START)
    book = BudgetBook(MemoryLedger(), [zhipu, everything], FX, clock=clock)
    settle(book, clock, "a", "0.4", provider="zhipu")
    settle(book, clock, "b", "0.4", provider="openrouter")
    assert book.check("zhipu", usd("0.2")) == zhipu
    assert book.check("openrouter", usd("0.2")) is None
    assert book.check("openrouter", usd("0.3")) == everything
    assert book.remaining("openrouter") == [(everything, usd("0.2"))]
    assert book.remaining("zhipu") == [(zhipu, usd("0.1")), (everything, usd("0.2"))]


def test_reservations_count_until_settled() -> None:
    ledger = MemoryLedger()
    book = BudgetBook(ledger, [budget("1")], FX, clock=Clock(START))
    held = book.reserve("a", "zhipu", usd("0.7"))
    assert book.check("zhipu", usd("0.4")) is not None
    assert book.settle(held, None) is False  # nothing spent: the hold is released
    assert book.check("zhipu", usd("0.4")) is None
    assert ledger.rows() == []


def test_settle_writes_once_and_counts_once() -> None:
    ledger = MemoryLedger()
    book = BudgetBook(ledger, [budget("1")], FX, clock=Clock(START))
    held = book.reserve("a", "zhipu", usd("0.1"))
    record = spend("a", at=START, cost="0.3", currency="USD")  # the actual cost, over the estimate
    assert book.settle(held, record) is True
    assert book.settle(held, record) is False
    assert len(ledger.rows()) == 1
    assert book.remaining() == [(budget("1"), usd("0.7"))]
    with pytest.raises(ValueError, match="does not settle"):
        book.settle(book.reserve("b", "zhipu", usd("0")), record)


def test_a_failed_ledger_write_still_counts_and_a_retry_does_not_double_count() -> None:
    class Flaky(MemoryLedger):
        fail = True

        def record(self, rec: Any) -> bool:
            if self.fail:
                self.fail = False
                raise OSError("disk full")
            return super().record(rec)

    ledger = Flaky()
    book = BudgetBook(ledger, [budget("1")], FX, clock=Clock(START))
    held = book.reserve("a", "zhipu", usd("0.1"))
    record = spend("a", at=START, cost="0.4", currency="USD")
    with pytest.raises(OSError, match="disk full"):
        book.settle(held, record)
    assert book.remaining() == [(budget("1"), usd("0.6"))]
    assert book.settle(held, record) is True  # the retried write
    assert book.remaining() == [(budget("1"), usd("0.6"))]


def test_a_refusal_is_a_typed_request_error_that_says_what_to_do() -> None:
    clock = Clock(START)
    book = BudgetBook(MemoryLedger(), [budget("5")], FX, clock=clock)
    settle(book, clock, "a", "4.98")
    with pytest.raises(BudgetExceededError) as info:
        book.reserve("b", "zhipu", usd("0.03"))
    err = info.value
    assert isinstance(err, RequestError)
    assert (err.budget, err.provider, err.period) == (budget("5").describe(), "zhipu", "day")
    assert (err.spent, err.limit, err.estimated) == (Decimal("4.98"), Decimal(5), Decimal("0.03"))
    assert err.currency == "USD"
    assert err.resets_at == datetime(2026, 12, 1, tzinfo=UTC)
    message = str(err)
    assert "USD 5 a day across all providers" in message
    assert "USD 0.02 is left" in message
    assert "raise the budget's amount under budgets:" in message


def test_a_free_request_fits_an_exhausted_budget() -> None:
    ledger = MemoryLedger()
    book = BudgetBook(ledger, [budget("1")], FX, clock=Clock(START))
    held = book.reserve("a", "zhipu", usd("0.5"))
    book.settle(held, spend("a", at=START, cost="1.2", currency="USD"))  # cost more than guessed
    assert book.check("zhipu", usd("0")) is None
    assert book.remaining() == [(budget("1"), usd("0"))]


def test_100_threads_cannot_reserve_past_a_budget_that_fits_10() -> None:
    book = BudgetBook(MemoryLedger(), [budget("1")], FX, clock=Clock(START))
    start = threading.Barrier(100)
    granted: list[str] = []
    refused: list[BudgetExceededError] = []

    def try_reserve(i: int) -> None:
        start.wait()
        try:
            granted.append(book.reserve(f"r{i}", "zhipu", usd("0.1")).request_id)
        except BudgetExceededError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=try_reserve, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(granted), len(refused)) == (10, 90)
    assert book.remaining() == [(budget("1"), usd("0"))]


def test_a_restart_keeps_this_months_spend(tmp_path: Path) -> None:
    path = tmp_path / "spend.sqlite3"
    clock = Clock(datetime(2026, 11, 20, 9, tzinfo=UTC))
    month = budget("10", "month")
    with SqliteLedger(path) as ledger:
        ledger.record(spend("october", at=datetime(2026, 10, 31, 23, tzinfo=UTC), cost="9"))
        book = BudgetBook(ledger, [month, budget("5")], FX, clock=clock)
        settle(book, clock, "a", "3")
        clock.now += timedelta(days=1)
        settle(book, clock, "b", "1.5")
    with SqliteLedger(path) as ledger:
        again = BudgetBook(ledger, [month, budget("5")], FX, clock=clock)
        assert again.remaining() == [(month, usd("5.5")), (budget("5"), usd("3.5"))]
        assert again.check("zhipu", usd("5.6")) == month


def test_cny_spend_counts_against_a_usd_budget() -> None:
    ledger = MemoryLedger()
    ledger.record(spend("zhipu", at=START, cost="10", currency="CNY"))  # USD 1.408
    book = BudgetBook(ledger, [budget("2")], FX, clock=Clock(START))
    assert book.remaining() == [(budget("2"), usd("0.592"))]
    cny_estimate = Money(Decimal("5"), "CNY")  # USD 0.704: over what is left
    assert book.check("zhipu", cny_estimate) == budget("2")
    held = book.reserve("small", "zhipu", Money(Decimal("4"), "CNY"))  # USD 0.5632
    assert held.holds == ((0, Decimal("0.5632")),)
    record = spend("small", at=START, cost="4", currency="CNY")
    book.settle(held, record)
    assert book.remaining() == [(budget("2"), usd("0.0288"))]


def test_shared_totals_name_each_period_and_only_ever_grow() -> None:
    """What a shared store (Redis) exchanges: a key per budget period, and running totals."""
    clock = Clock(START)
    day, zhipu_month = budget("2"), budget("30", "month", provider="zhipu")
    twin_day = budget("5")  # another amount, same scope and period: one shared total
    book = BudgetBook(MemoryLedger(), [day, zhipu_month, twin_day], FX, clock=clock)
    day_key = f"all:day:USD:{int(datetime(2026, 11, 30, tzinfo=UTC).timestamp())}"
    month_key = f"zhipu:month:USD:{int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())}"
    assert book.shared_keys() == [day_key, month_key]

    record = spend("r1", at=START, provider="zhipu", cost="10", currency="CNY")
    assert book.shares(record) == [(day_key, Decimal("1.408")), (month_key, Decimal("1.408"))]
    other = spend("r2", at=START, provider="openrouter", cost="0.5", currency="USD")
    assert book.shares(other) == [(day_key, Decimal("0.5"))]

    book.observe_total(day_key, Decimal("1.5"))  # another process spent USD 1.5 today
    assert [m for _b, m in book.remaining()] == [usd("0.5"), usd("30"), usd("3.5")]
    with pytest.raises(BudgetExceededError):
        book.reserve("r3", "zhipu", usd("0.6"))
    book.observe_total(day_key, Decimal("1.2"))  # late message: totals never go back
    book.observe_total("all:day:USD:0", Decimal("9"))  # another period: not this one
    assert [m for _b, m in book.remaining()] == [usd("0.5"), usd("30"), usd("3.5")]

    clock.now = START + timedelta(hours=2)  # past midnight: a new day, a new key
    assert book.shared_keys()[0] != day_key
    assert book.remaining()[0][1] == usd("2")


def test_a_caller_s_budget_counts_only_its_requests_and_holds_across_restarts() -> None:
    """A gateway key's budget (caller set) counts that key's spend; the total budget counts
    everyone's; a restarted book reads both back from the ledger."""
    clock = Clock(START)
    ledger = MemoryLedger()
    budgets = [budget("10"), budget("1", caller="web-app")]
    book = BudgetBook(ledger, budgets, FX, clock=clock)
    web = book.reserve("w1", "zhipu", usd("0.6"), caller="web-app")
    book.settle(
        web,
        dataclasses.replace(spend("w1", at=START, cost="0.6", currency="USD"), caller="web-app"),
    )
    other = book.reserve("b1", "zhipu", usd("3"), caller="batch")  # batch has no budget of its own
    book.settle(
        other, dataclasses.replace(spend("b1", at=START, cost="3", currency="USD"), caller="batch")
    )
    with pytest.raises(BudgetExceededError, match="for gateway key web-app"):
        book.reserve("w2", "zhipu", usd("0.5"), caller="web-app")
    assert book.check("zhipu", usd("0.5"), "batch") is None
    assert book.check("zhipu", usd("0.5")) is None  # in-process: only the total applies
    restarted = BudgetBook(ledger, budgets, FX, clock=clock)
    left = {b.describe(): m for b, m in restarted.remaining()}
    assert left["USD 10 a day across all providers"] == usd("6.4")
    assert left["USD 1 a day across all providers for gateway key web-app"] == usd("0.4")
    assert restarted.shared_keys() == sorted(
        [
            f"all:day:USD:{int(START.replace(hour=0).timestamp())}",
            f"all@web-app:day:USD:{int(START.replace(hour=0).timestamp())}",
        ]
    )
