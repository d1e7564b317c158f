"""The spill plan: fill the cheapest lanes up to what they can finish in time, then spill.

A *lane* is one offer seen as a server: a cost per request, a concurrency cap, the wall
time of one request, and optional per-minute request/token limits. Requests of a workload
are interchangeable here (each lane gets the same mix), so cost is linear in the count and
filling lanes cheapest-first is optimal (a fractional knapsack with integral capacities);
``tests/test_plan.py`` checks it against brute force. The self-host break-even prices the
APIs' month with it; the estimate's own plan, where request kinds differ in the offers
that can serve them, is :mod:`.mixed`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Lane", "spill_plan"]

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Lane:
    key: str
    cost_per_request: Decimal
    concurrency: int
    request_seconds: float
    rpm: int | None = None
    tpm: int | None = None
    tokens_per_request: float = 0.0

    def finish_seconds(self, requests: int) -> float:
        """Time to finish ``requests`` on this lane alone: waves of ``concurrency``."""
        if requests <= 0:
            return 0.0
        seconds = math.ceil(requests / self.concurrency) * self.request_seconds
        if self.rpm:
            seconds = max(seconds, requests * 60 / self.rpm)
        if self.tpm and self.tokens_per_request:
            seconds = max(seconds, requests * self.tokens_per_request * 60 / self.tpm)
        return seconds

    def capacity(self, seconds: float) -> int:
        """Most requests this lane can finish within ``seconds``."""
        waves = math.floor(seconds / self.request_seconds + _EPS) if self.request_seconds else 0
        limit = self.concurrency * waves if self.request_seconds else 10**18
        if self.rpm:
            limit = min(limit, math.floor(seconds * self.rpm / 60 + _EPS))
        if self.tpm and self.tokens_per_request:
            limit = min(
                limit, math.floor(seconds * self.tpm / (60 * self.tokens_per_request) + _EPS)
            )
        return max(limit, 0)


def _cheapest_first(lanes: list[Lane]) -> list[Lane]:
    # Ties on price go to the lane that finishes a request sooner, then the wider one.
    return sorted(lanes, key=lambda ln: (ln.cost_per_request, ln.request_seconds, -ln.concurrency))


def spill_plan(
    lanes: list[Lane], requests: int, deadline_s: float | None
) -> tuple[list[tuple[Lane, int]], int]:
    """Assign ``requests`` cheapest-first. Returns (lane, count) pairs and the unassigned rest.

    Without a deadline everything goes to the cheapest lane. With one, each lane takes at
    most what it can finish by the deadline and the rest spills to the next cheapest.
    """
    remaining = requests
    steps: list[tuple[Lane, int]] = []
    for lane in _cheapest_first(lanes):
        if remaining == 0:
            break
        room = remaining if deadline_s is None else lane.capacity(deadline_s)
        take = min(room, remaining)
        if take > 0:
            steps.append((lane, take))
            remaining -= take
    return steps, remaining
