"""What the router knows about each offer's health (pure; the clock is passed in).

Per offer: a circuit breaker (faults in a row open it; after ``open_s`` one probe may pass;
its success closes it, its failure opens it again), a cooldown after a rate limit
(Retry-After), a disable after "out of balance" (Zhipu 1113, OpenRouter 402) until a reset,
the cap learned from the provider's answers (:mod:`.learned`), the result of the last
health probe of a local server, and the observed latency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .._store.protocol import Pause
from .config import BreakerPolicy, RateLimitPolicy
from .learned import LearnedCap

__all__ = ["Breaker", "OfferHealth"]

_EWMA = 0.2  # weight of the newest latency sample


@dataclass(slots=True)
class Breaker:
    policy: BreakerPolicy
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    def state(self, now: float) -> str:
        if self.opened_at is None:
            return "closed"
        if now >= self.opened_at + self.policy.open_s:
            return "half-open"
        return "open"

    def allows(self, now: float) -> bool:
        state = self.state(now)
        return state == "closed" or (state == "half-open" and not self.probing)

    def dispatched(self, now: float) -> None:
        if self.state(now) == "half-open":
            self.probing = True

    def succeeded(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failed(self, now: float) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.policy.failures:
            self.opened_at = now
        self.probing = False

    def trip(self, now: float, seconds: float) -> None:
        """Open for ``seconds`` more (another process's breaker opened), unless open already.
        A probe in flight here still settles it."""
        if self.state(now) != "open":
            self.failures = max(self.failures, self.policy.failures)
            self.opened_at = now + min(seconds, self.policy.open_s) - self.policy.open_s

    def released(self) -> None:
        """A probe that ended neither way (the caller's own error): let another try."""
        self.probing = False


@dataclass(slots=True)
class OfferHealth:
    """Mutable health of one offer; only the router's event loop touches it."""

    cap: int
    breaker: Breaker
    limits: RateLimitPolicy
    cooldown_until: float = -math.inf
    disabled_until: float = -math.inf
    disabled_reason: str = ""
    healthy: bool = True
    health_error: str = ""
    latency_s: float | None = None
    samples: int = 0
    learned: LearnedCap = field(init=False)

    def __post_init__(self) -> None:
        self.learned = LearnedCap(self.cap, self.limits.recover_s)

    def effective_cap(self) -> int:
        """The cap learned from the provider's answers (the configured one until then)."""
        return self.learned.current()

    def blocked(self, now: float) -> str | None:
        """Why no request should go here for a long while (disabled, unhealthy), or None."""
        if now < self.disabled_until:
            return f"disabled: {self.disabled_reason} (retry in {self.disabled_until - now:.0f} s)"
        if not self.healthy:
            return f"unhealthy: {self.health_error}"
        return None

    def paused(self, now: float) -> str | None:
        """Why it takes nothing right now but will soon (cooldown, open circuit), or None.

        A paused offer stays a candidate: a request that finds every offer full or paused
        waits for the first slot, which may be this one when its pause ends.
        """
        if now < self.cooldown_until:
            return f"cooling down after a rate limit for {self.cooldown_until - now:.1f} s"
        state = self.breaker.state(now)
        if state == "open":
            assert self.breaker.opened_at is not None
            wait = self.breaker.opened_at + self.breaker.policy.open_s - now
            return (
                f"circuit open after {self.breaker.failures} failures in a row "
                f"(next probe in {wait:.1f} s)"
            )
        if state == "half-open" and self.breaker.probing:
            return "circuit half-open: a probe request is in flight"
        return None

    def rate_limited(self, now: float, in_flight: int, retry_after: float | None) -> None:
        """A 429 that is not only "too many in flight" (it came with Retry-After, or with
        nothing else in flight): shrink to what else was in flight, and rest."""
        self.learned.shrink(now, in_flight - 1)
        rest = self.limits.cooldown_s if retry_after is None else retry_after
        self.cooldown_until = max(self.cooldown_until, now + rest)

    def adopt(self, now: float, pause: Pause) -> None:
        """Act on what another process on this account saw (through a shared store)."""
        if pause.kind == "cooldown":
            self.cooldown_until = max(self.cooldown_until, now + pause.seconds)
            if pause.cap is not None:
                self.learned.shrink(now, pause.cap)
        elif pause.kind == "cap":
            if pause.cap is not None:
                self.learned.adopt(now, pause.cap)
        elif pause.kind == "circuit":
            self.breaker.trip(now, pause.seconds)
        else:
            self.disable(now, pause.seconds, f"{pause.reason} (seen by another process)")

    def disable(self, now: float, seconds: float, reason: str) -> None:
        self.disabled_until = now + seconds
        self.disabled_reason = reason

    def observe_latency(self, seconds: float) -> None:
        self.samples += 1
        if self.latency_s is None:
            self.latency_s = seconds
        else:
            self.latency_s = (1 - _EWMA) * self.latency_s + _EWMA * seconds
