"""The one layer that retries a provider: a policy as data, run by tenacity.

Backends never retry and the openai SDK's own retries are never used. A client over one
offer retries rate limits (honouring Retry-After) as well as transient faults; the router
retries only transient faults on the same offer and fails over on the rest (it has
somewhere else to go). Which errors count as which kind is read from the error class.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ._response import Attempt

if TYPE_CHECKING:
    import tenacity

from .errors import (
    OverloadedError,
    ProviderConnectionError,
    ProviderTimeoutError,
    RateLimitedError,
    ServerError,
    VlmrouteError,
)

__all__ = [
    "FaultKind",
    "RetryPolicy",
    "attempt_of",
    "fault_kind",
    "outcome_name",
    "run_with_retries",
]

FaultKind = Literal["rate_limited", "overloaded", "server", "timeout", "connection"]
_KINDS: tuple[tuple[type[VlmrouteError], FaultKind], ...] = (
    (RateLimitedError, "rate_limited"),
    (OverloadedError, "overloaded"),
    (ServerError, "server"),
    (ProviderTimeoutError, "timeout"),
    (ProviderConnectionError, "connection"),
)
_T = TypeVar("_T")
_RNG = random.Random()  # jitter only: no need for a fresh, seeded generator per call


def fault_kind(exc: BaseException) -> FaultKind | None:
    """The retryable kind of an error, or None for errors no retry can fix."""
    for cls, kind in _KINDS:
        if isinstance(exc, cls):
            return kind
    return None


class RetryPolicy(BaseModel):
    """How often and how patiently to retry one offer.

    ``attempts`` counts tries in all (1 = never retry); ``faults`` are the kinds retried
    (not named ``on``: YAML reads a bare ``on`` key as true). The wait before try ``n`` is random
    in ``[0, min(max_backoff_s, initial_backoff_s * 2**n)]`` (full jitter), and never less
    than a Retry-After the provider sent; a Retry-After over ``max_retry_after_s`` ends the
    retries at once (the offer is better left alone).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: Annotated[int, Field(ge=1, le=20)] = 3
    faults: frozenset[FaultKind] = frozenset(
        {"rate_limited", "overloaded", "server", "timeout", "connection"}
    )
    initial_backoff_s: Annotated[float, Field(ge=0)] = 0.5
    max_backoff_s: Annotated[float, Field(ge=0)] = 8.0
    max_retry_after_s: Annotated[float, Field(ge=0)] = 60.0

    def retries(self, exc: BaseException) -> bool:
        kind = fault_kind(exc)
        if kind is None or kind not in self.faults:
            return False
        retry_after = getattr(exc, "retry_after", None)
        return retry_after is None or retry_after <= self.max_retry_after_s

    def wait_s(self, attempt_number: int, exc: BaseException | None, rng: random.Random) -> float:
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt_number - 1))
        wait = rng.uniform(0, ceiling)
        retry_after = getattr(exc, "retry_after", None)
        return max(wait, retry_after) if isinstance(retry_after, int | float) else wait


def outcome_name(exc: BaseException) -> str:
    """The public class name of an error (``ProviderTimeoutError``, not a private subclass)."""
    return next(c.__name__ for c in type(exc).__mro__ if not c.__name__.startswith("_"))


def attempt_of(offer: str, exc: BaseException | None, latency_s: float) -> Attempt:
    """An :class:`Attempt` record for one try that ended with ``exc`` (None = success).

    Built without validation: every field comes from our own code, not from a user."""
    if exc is None:
        return Attempt.model_construct(offer=offer, outcome="ok", latency_s=latency_s)
    return Attempt.model_construct(
        offer=offer,
        outcome=outcome_name(exc),
        latency_s=latency_s,
        status_code=getattr(exc, "status_code", None),
        message=str(exc)[:300],
    )


async def run_with_retries(
    policy: RetryPolicy,
    call: Callable[[], Awaitable[_T]],
    *,
    offer: str,
    attempts: list[Attempt],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.perf_counter,
    rng: random.Random | None = None,
) -> _T:
    """``call()`` under ``policy``; each try is appended to ``attempts``; the last error
    is raised as it is.

    The first try runs directly: most calls succeed, and tenacity's bookkeeping (tens of
    microseconds) is paid only once a retryable error has happened. The retries after it,
    their waits and their stop condition are tenacity's.
    """
    chance = rng or _RNG

    async def tracked() -> _T:
        started = clock()
        try:
            result = await call()
        except VlmrouteError as exc:
            attempts.append(attempt_of(offer, exc, clock() - started))
            raise
        attempts.append(attempt_of(offer, None, clock() - started))
        return result

    try:
        return await tracked()
    except VlmrouteError as exc:
        if policy.attempts == 1 or not policy.retries(exc):
            raise
        await sleep(policy.wait_s(1, exc, chance))

    import tenacity  # only once a try has failed: it costs start-up time, not a request

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return policy.wait_s(state.attempt_number + 1, exc, chance)

    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(policy.attempts - 1),
        wait=wait,
        retry=tenacity.retry_if_exception(policy.retries),
        sleep=sleep,
        reraise=True,
    )
    async for try_ in retrying:
        with try_:
            return await tracked()
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
