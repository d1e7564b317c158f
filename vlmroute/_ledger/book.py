"""Budgets enforced before a request is sent: reserve its estimate, settle with what it cost.

The book keeps, per budget, what was spent in the current period and what requests in flight
have reserved, in the budget's own currency, behind one lock; so a check is a few Decimal
additions, and 50 concurrent requests cannot all pass a nearly spent budget. Spend is read
from the ledger at construction and whenever a period rolls over (by the injected clock), so
budgets hold across restarts; in between, only this process's settlements are added (call
:meth:`BudgetBook.refresh` to pick up other processes' spend sooner).

A router sends a request like this::

    reservation = book.reserve(request_id, provider, estimate)  # BudgetExceededError: skip
    ...                                                         # send it
    book.settle(reservation, record)                            # or None if nothing spent

A request that fails over settles its reservation with ``None`` and reserves again for the
next provider. A request estimated at zero (a free offer) always fits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from ..errors import BudgetExceededError
from ..money import FxTable, Money
from .budget import Budget
from .record import Ledger, SpendRecord, utc

__all__ = ["BudgetBook", "Reservation"]

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Reservation:
    """An estimate held against every budget that applies to ``provider`` until settled.

    ``holds`` pairs each budget's index in the book with the amount held, in its currency.
    """

    request_id: str
    provider: str
    estimated: Money
    holds: tuple[tuple[int, Decimal], ...]


class BudgetBook:
    """Running totals of spend and reservations for ``budgets``, over ``ledger``. Thread-safe."""

    def __init__(
        self,
        ledger: Ledger,
        budgets: Iterable[Budget],
        fx: FxTable,
        *,
        clock: Clock = _utc_now,
    ) -> None:
        self._ledger = ledger
        self._budgets = tuple(budgets)
        self._fx = fx
        self._clock = clock
        for budget in self._budgets:
            fx.rate(budget.currency, budget.currency)  # an unknown currency fails here
        count = len(self._budgets)
        self._lock = threading.Lock()
        self._starts: list[datetime | None] = [None] * count
        self._ends: list[datetime] = [datetime.min.replace(tzinfo=UTC)] * count
        self._spent = [Decimal(0)] * count
        self._reserved = [Decimal(0)] * count
        self._reservations: dict[str, Reservation] = {}
        self._unwritten: set[str] = set()  # counted, but the ledger write raised
        with self._lock:
            self._roll()

    @property
    def budgets(self) -> tuple[Budget, ...]:
        return self._budgets

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    def check(self, provider: str, estimated: Money, caller: str | None = None) -> Budget | None:
        """The first budget a request of this estimate to ``provider`` (from ``caller``)
        would exceed, or None."""
        holds = self._holds(provider, estimated, caller)
        with self._lock:
            self._roll()
            index = self._first_over(holds)
        return None if index is None else self._budgets[index]

    def reserve(
        self, request_id: str, provider: str, estimated: Money, caller: str | None = None
    ) -> Reservation:
        """Hold ``estimated`` against the budgets that apply to ``provider`` and ``caller``,
        or raise :class:`BudgetExceededError`."""
        holds = self._holds(provider, estimated, caller)
        with self._lock:
            if request_id in self._reservations:
                raise ValueError(
                    f"request {request_id} already holds a reservation: settle it first"
                )
            self._roll()
            index = self._first_over(holds)
            if index is not None:
                raise self._refusal(index, provider, holds)
            for i, amount in holds:
                self._reserved[i] += amount
            reservation = Reservation(request_id, provider, estimated, holds)
            self._reservations[request_id] = reservation
            return reservation

    def settle(self, reservation: Reservation, record: SpendRecord | None) -> bool:
        """Drop the reservation and write ``record`` to the ledger, counting it exactly once.

        Returns True if the record was written now (False for None or one already written).
        If the ledger write raises, the cost is still counted and the error re-raised; settling
        again retries the write without counting twice.
        """
        if record is not None and record.request_id != reservation.request_id:
            raise ValueError(
                f"record {record.request_id} does not settle reservation {reservation.request_id}"
            )
        with self._lock:
            if self._reservations.get(reservation.request_id) is reservation:
                del self._reservations[reservation.request_id]
                for i, amount in reservation.holds:
                    self._reserved[i] -= amount
            if record is None:
                return False
            self._roll()
            rid = record.request_id
            try:
                written = self._ledger.record(record)
            except BaseException:
                if rid not in self._unwritten:
                    self._unwritten.add(rid)
                    self._count(record)
                raise
            if written and rid not in self._unwritten:
                self._count(record)
            self._unwritten.discard(rid)
            return written

    def remaining(self, provider: str | None = None) -> list[tuple[Budget, Money]]:
        """Each budget (that applies to ``provider``, if given) and what is left of it now."""
        with self._lock:
            self._roll()
            return [
                (b, Money(max(b.amount - self._committed(i), Decimal(0)), b.currency))
                for i, b in enumerate(self._budgets)
                if provider is None or b.applies_to(provider)
            ]

    # -------------------------------------------------- spend shared by several processes

    def shared_keys(self) -> list[str]:
        """A name for each budget's current period, the same in every process that has such
        a budget (``all:day:USD:1790035200``): where a shared store keeps its running total."""
        with self._lock:
            self._roll()
            return sorted({self._key(i) for i in range(len(self._budgets))})

    def shares(self, record: SpendRecord) -> list[tuple[str, Decimal]]:
        """What ``record`` adds to each shared total (each key once, in its currency)."""
        with self._lock:
            self._roll()
            return sorted(
                {
                    self._key(i): self._fx.convert(record.cost, b.currency).amount
                    for i, b in enumerate(self._budgets)
                    if self._in_period(i, record)
                }.items()
            )

    def observe_total(self, key: str, total: Decimal) -> None:
        """A shared store says the period named ``key`` has spent ``total`` so far, across
        every process: take it where it is more than this process knows (totals only grow,
        so late or repeated messages change nothing)."""
        with self._lock:
            self._roll()
            for i in range(len(self._budgets)):
                if self._key(i) == key and total > self._spent[i]:
                    self._spent[i] = total

    def _key(self, index: int) -> str:
        budget, start = self._budgets[index], self._starts[index]
        assert start is not None  # rolled
        scope = "all" if budget.provider is None else budget.provider
        if budget.caller is not None:
            scope += f"@{budget.caller}"
        return f"{scope}:{budget.period}:{budget.currency}:{int(start.timestamp())}"

    def _in_period(self, index: int, record: SpendRecord) -> bool:
        start = self._starts[index]
        in_period = start is not None and start <= record.at < self._ends[index]
        return in_period and self._budgets[index].applies_to(record.provider, record.caller)

    def refresh(self) -> None:
        """Re-read this period's spend from the ledger (to see other processes' writes)."""
        with self._lock:
            self._starts = [None] * len(self._budgets)
            self._roll()

    def _now(self) -> datetime:
        return utc(self._clock(), "the clock's time")

    def _roll(self) -> None:
        """Start a new period's total, read from the ledger, where the clock crossed one."""
        now = self._now()
        for i, budget in enumerate(self._budgets):
            start = self._starts[i]
            if start is not None and start <= now < self._ends[i]:
                continue
            start, end = budget.bounds(now)  # and read this period's spend afresh
            spent = self._ledger.spent(
                provider=budget.provider,
                since=start,
                until=end,
                currency=budget.currency,
                fx=self._fx,
                caller=budget.caller,
            )
            self._starts[i], self._ends[i], self._spent[i] = start, end, spent.amount

    def _holds(
        self, provider: str, estimated: Money, caller: str | None
    ) -> tuple[tuple[int, Decimal], ...]:
        if estimated.amount < 0:
            raise ValueError(f"an estimate cannot be negative, got {estimated}")
        return tuple(
            (i, self._fx.convert(estimated, b.currency).amount)
            for i, b in enumerate(self._budgets)
            if b.applies_to(provider, caller)
        )

    def _first_over(self, holds: tuple[tuple[int, Decimal], ...]) -> int | None:
        for i, amount in holds:
            if amount > 0 and self._committed(i) + amount > self._budgets[i].amount:
                return i
        return None

    def _committed(self, index: int) -> Decimal:
        """Spent this period plus reserved by requests in flight, in the budget's currency."""
        return self._spent[index] + self._reserved[index]

    def _count(self, record: SpendRecord) -> None:
        for i, budget in enumerate(self._budgets):
            if self._in_period(i, record):
                self._spent[i] += self._fx.convert(record.cost, budget.currency).amount

    def _refusal(
        self, index: int, provider: str, holds: tuple[tuple[int, Decimal], ...]
    ) -> BudgetExceededError:
        budget = self._budgets[index]
        estimate = dict(holds)[index]
        return BudgetExceededError(
            budget.describe(),
            period=budget.period,
            provider=provider,
            currency=budget.currency,
            spent=self._committed(index),
            limit=budget.limit.amount,
            estimated=estimate,
            resets_at=self._ends[index],
        )
