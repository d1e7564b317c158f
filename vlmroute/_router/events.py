"""What a router tells its listeners when a request ends (pure data; no I/O).

``router.add_listener(fn)`` calls ``fn(done)`` once per routed request, on the router's
event loop, after its ledger row is written: metrics (:mod:`vlmroute.metrics`) and the
gateway's status page are built on it. A listener must be quick and must not raise; one
that raises is logged and the request is unaffected.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from .._ledger import SpendRecord
from .._request import PromptTokens
from .._response import Attempt

__all__ = ["Listener", "RequestDone"]


@dataclass(frozen=True, slots=True)
class RequestDone:
    """One routed request, ended.

    ``outcome`` is ``"ok"``, ``"abandoned"`` (the caller left first) or the error's class
    name; ``offer`` served it (or was tried last; None if none was). ``best`` is the offer
    the plan ranked first: a request served elsewhere with no failed attempt *spilled*.
    ``record`` is its ledger row; ``prompt`` our own count of its prompt by kind (images and
    video exact); ``ttft_s`` the time to the first streamed delta (None unless streamed).
    """

    request_id: str
    outcome: str
    offer: str | None
    best: str | None
    attempts: tuple[Attempt, ...]
    record: SpendRecord | None
    prompt: PromptTokens
    latency_s: float
    ttft_s: float | None
    stream: bool
    caller: str | None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def failed_over_from(self) -> list[str]:
        """The offers this request left for another after a failure, in order (a "too
        many in flight" requeue that lands elsewhere counts too)."""
        return [
            a.offer
            for a, b in itertools.pairwise(self.attempts)
            if a.outcome != "ok" and a.offer != b.offer
        ]

    @property
    def spilled(self) -> bool:
        """Served by an offer other than the best one, without a failure in between: the
        best offer's slots were full."""
        if not self.ok or self.best is None or self.offer == self.best:
            return False
        return all(a.offer == self.offer for a in self.attempts)


Listener = Callable[[RequestDone], None]
