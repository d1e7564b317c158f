"""The cap an account really has, learned from its answers (pure; the clock is passed in).

The configured cap (``cap:``, or the table's cap for the ``tier:`` you set) is an upper
bound, not a promise: a ``tier: V3`` set on a V0 account, or another app on the same key,
leaves fewer slots than it says. A 429 that means "too many in flight now" (Zhipu's 1302;
any 429 without Retry-After, but a frequency limit such as Zhipu's 1303, while other
requests are in flight) lowers the learned cap at
once to what is still in flight without it, before its slot is handed on, so a burst
provokes one 429 per slot the configured cap overstated and no more. It grows back one slot
per ``recover_s``, and only when a request succeeded with the account at its learned cap
(evidence that the cap binds and the provider took that much): an idle offer learns
nothing. This is additive increase with an immediate decrease, as adaptive concurrency
limiters do (Netflix's concurrency-limits, TCP's congestion window), with the decrease
measured rather than halved: the provider's answer says how many it took.

Under a shared store (Redis) every change is published and adopted by the other processes
on the account (``Pause(kind="cap")``, numbered so that a late message never undoes a
newer one), so they stop provoking the 429s one process learned from. The newest is also
kept in Redis for an hour, and a process that starts later (or reconnects) adopts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["LearnedCap"]


@dataclass(slots=True)
class LearnedCap:
    ceiling: int  # the configured cap: never exceeded
    recover_s: float
    value: int | None = None  # None: nothing learned, the ceiling holds
    changed_at: float = -math.inf

    def current(self) -> int:
        return self.ceiling if self.value is None else self.value

    @property
    def learned(self) -> bool:
        return self.value is not None

    def too_many(self, now: float, others_in_flight: int) -> int | None:
        """A "too many in flight" answer while ``others_in_flight`` other requests were
        still in flight: the cap becomes that many (at least 1); the new cap if it fell.

        Not "one less than it was": a provider counts a request in flight until it has
        sent the last byte, so a request sent the moment an answer arrives may draw a 429
        at the true cap, and that must not wear the cap down one slot at a time."""
        return self.shrink(now, others_in_flight)

    def shrink(self, now: float, value: int) -> int | None:
        """Lower the cap to ``value`` (a rate limit with Retry-After, or another process's
        finding); the new cap if it fell."""
        new = max(1, value)
        return self._set(new, now) if new < self.current() else None

    def succeeded(self, now: float, busy: int) -> int | None:
        """A request succeeded with ``busy`` in flight on the account (itself included).
        One slot back if the cap bound (``busy`` at it) and ``recover_s`` has passed since
        the last change; the new cap if it grew."""
        if self.value is None or busy < self.value or now - self.changed_at < self.recover_s:
            return None
        return self._set(self.value + 1, now)

    def adopt(self, now: float, value: int) -> None:
        """Another process on the account learned ``value`` (up or down)."""
        self._set(max(1, value), now)

    def _set(self, value: int, now: float) -> int:
        self.value = None if value >= self.ceiling else value
        self.changed_at = now
        return self.current()
