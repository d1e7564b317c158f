"""Concurrency slots and rate buckets per offer, in this process (the default store).

A request takes a slot on the first offer of its ranked list that has one free (in flight
below the offer's capacity, and its RPM/TPM buckets not empty), so it spills to the next
offer at once instead of queueing behind a full one. When every offer it may use is full,
it waits in one FIFO queue for the first slot anywhere: each released slot is offered to
the waiters in arrival order, and the first that may use it takes it. Nothing here
sleeps-and-polls: a waiter is woken by a release, by a bucket refill timer, or by
:meth:`LocalSlots.poke` (the router pokes when a cooldown ends).

All state lives on one event loop and is changed only between awaits, so the cap holds
under any interleaving of tasks (and of threads, which reach it through the sync portal).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .protocol import Lease, Pause, SlotTimeout

__all__ = ["LocalSlots", "TokenBucket"]


@dataclass(slots=True)
class TokenBucket:
    """``rate`` units a second, holding at most ``capacity`` (RPM: 60 s worth)."""

    rate: float
    capacity: float
    level: float = math.nan
    stamp: float = 0.0

    @classmethod
    def per_minute(cls, limit: int, now: float) -> TokenBucket:
        return cls(rate=limit / 60.0, capacity=float(limit), level=float(limit), stamp=now)

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def eta(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` can be taken (0 = now). Over capacity: when full."""
        self._refill(now)
        need = min(amount, self.capacity) - self.level
        return max(0.0, need / self.rate)

    def take(self, amount: float, now: float) -> None:
        self._refill(now)
        self.level -= min(amount, self.capacity)


@dataclass(slots=True)
class _Waiter:
    offers: Sequence[str]
    tokens: int
    future: asyncio.Future[str]


@dataclass(slots=True)
class _Offer:
    in_flight: int = 0
    peak: int = 0
    buckets: list[tuple[TokenBucket, bool]] = field(default_factory=list)  # (bucket, per token)


class LocalSlots:
    """In-process slots. ``capacity(offer)`` is the offer's cap right now (0 when it should
    take nothing: cooling down, circuit open); ``on_take(offer)`` runs as a slot is taken."""

    def __init__(
        self,
        offers: Sequence[str],
        *,
        capacity: Callable[[str], int],
        on_take: Callable[[str], None] = lambda _o: None,
        rpm: Mapping[str, int] | None = None,
        tpm: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = capacity
        self._on_take = on_take
        self._clock = clock
        self._offers = {name: _Offer() for name in offers}
        now = clock()
        for name, limit in (rpm or {}).items():
            self._offers[name].buckets.append((TokenBucket.per_minute(limit, now), False))
        for name, limit in (tpm or {}).items():
            self._offers[name].buckets.append((TokenBucket.per_minute(limit, now), True))
        self._waiters: deque[_Waiter] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def in_flight(self, offer: str) -> int:
        return self._offers[offer].in_flight

    def account_in_flight(self, offer: str) -> int:
        return self._offers[offer].in_flight  # this process is the only one it knows

    def peak(self, offer: str) -> int:
        return self._offers[offer].peak

    def headroom(self, offer: str) -> dict[str, tuple[int, int, float]]:
        """Per-minute limits of ``offer`` now: ``{"requests" or "tokens": (limit, remaining,
        seconds until full)}``; empty where the offer has none."""
        now = self._clock()
        found: dict[str, tuple[int, int, float]] = {}
        for bucket, per_token in self._offers[offer].buckets:
            left = bucket.eta(bucket.capacity, now)  # refills, then: how long until full
            found["tokens" if per_token else "requests"] = (
                int(bucket.capacity),
                max(int(bucket.level), 0),
                left,
            )
        return found

    def try_take(self, offers: Sequence[str], tokens: int = 0) -> str | None:
        """Take a slot on the first offer of ``offers`` that has one now, or None."""
        now = self._clock()
        for name in offers:
            state = self._offers[name]
            if state.in_flight >= self._capacity(name):
                continue
            if any(b.eta(tokens if per_token else 1, now) > 0 for b, per_token in state.buckets):
                continue
            for bucket, per_token in state.buckets:
                bucket.take(tokens if per_token else 1, now)
            state.in_flight += 1
            state.peak = max(state.peak, state.in_flight)
            self._on_take(name)
            return name
        return None

    async def acquire(
        self, offers: Sequence[str], *, tokens: int = 0, deadline: float | None = None
    ) -> Lease:
        """A slot on the first of ``offers`` with room, else the first freed (FIFO).

        Raises:
            SlotTimeout: none before ``deadline`` (a ``clock()`` instant).
        """
        return Lease(await self._acquire(offers, tokens, deadline))

    async def _acquire(self, offers: Sequence[str], tokens: int, deadline: float | None) -> str:
        taken = self.try_take(offers, tokens) if not self._waiters else None
        if taken is not None:
            return taken
        waiter = _Waiter(offers, tokens, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        self._wake()
        if waiter.future.done():
            return waiter.future.result()
        timeout = None if deadline is None else max(0.0, deadline - self._clock())
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(waiter.future)
        except BaseException as exc:
            if waiter.future.done() and not waiter.future.cancelled():
                self._give_back(waiter.future.result())  # granted as we gave up
            waiter.future.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise SlotTimeout(f"no free slot on {', '.join(offers)} in time") from None
            raise

    async def release(self, lease: Lease) -> None:
        self._give_back(lease.offer)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _give_back(self, offer: str) -> None:
        state = self._offers[offer]
        state.in_flight -= 1
        if state.in_flight < 0:  # pragma: no cover - a bug, never a user error
            raise RuntimeError(f"slot of {offer} released twice")
        self._wake()

    def poke(self) -> None:
        """Re-offer capacity to waiters (a cooldown ended, a circuit half-opened)."""
        self._wake()

    def share(self, offer: str, pause: Pause) -> None:
        """Nothing to do: this process is the only one that uses this store."""

    def add_spend(self, amounts: Sequence[tuple[str, Decimal]]) -> None:
        """Nothing to do: the ledger has it."""

    def _wake(self) -> None:
        soonest = math.inf
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            taken = self.try_take(waiter.offers, waiter.tokens)
            if taken is not None:
                self._waiters.remove(waiter)
                waiter.future.set_result(taken)
            else:
                soonest = min(soonest, self._refill_eta(waiter))
        self._arm_timer(soonest)

    def _refill_eta(self, waiter: _Waiter) -> float:
        now = self._clock()
        best = math.inf
        for name in waiter.offers:
            state = self._offers[name]
            if state.in_flight >= self._capacity(name) or not state.buckets:
                continue
            best = min(
                best,
                max(
                    b.eta(waiter.tokens if per_token else 1, now) for b, per_token in state.buckets
                ),
            )
        return best

    def _arm_timer(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if math.isfinite(delay) and self._waiters:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(delay, 0.001), self._wake)
