"""A ledger in memory: the SQLite ledger's semantics, for tests and ``ledger: false`` configs."""

from __future__ import annotations

import threading
from datetime import datetime
from types import TracebackType

from ..money import FxTable, Money
from .record import SpendRecord, in_range, sum_costs, utc

__all__ = ["MemoryLedger", "NullLedger"]


class MemoryLedger:
    """Records kept in a dict by request_id, behind a lock; safe from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, SpendRecord] = {}

    def record(self, rec: SpendRecord) -> bool:
        with self._lock:
            if rec.request_id in self._by_id:
                return False
            self._by_id[rec.request_id] = rec
            return True

    def spent(
        self,
        *,
        provider: str | None = None,
        since: datetime,
        until: datetime | None = None,
        currency: str,
        fx: FxTable,
        caller: str | None = None,
    ) -> Money:
        costs = [
            r.cost
            for r in self.rows(since=since, until=until)
            if provider in (None, r.provider) and caller in (None, r.caller)
        ]
        return sum_costs(costs, currency, fx)

    def rows(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[SpendRecord]:
        low = None if since is None else utc(since, "since")
        high = None if until is None else utc(until, "until")
        with self._lock:
            records = list(self._by_id.values())
        # sorted() is stable: records at the same instant stay in the order they were recorded.
        return sorted((r for r in records if in_range(r.at, low, high)), key=lambda r: r.at)

    def close(self) -> None:
        """Nothing to release; the records stay readable."""

    def __enter__(self) -> MemoryLedger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class NullLedger:
    """Keeps nothing: for ``ledger: false`` with no budgets (nothing needs the records)."""

    def record(self, rec: SpendRecord) -> bool:
        return True

    def spent(
        self,
        *,
        provider: str | None = None,
        since: datetime,
        until: datetime | None = None,
        currency: str,
        fx: FxTable,
        caller: str | None = None,
    ) -> Money:
        return Money.zero(currency)

    def rows(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[SpendRecord]:
        return []

    def close(self) -> None:
        return None
