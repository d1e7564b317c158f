"""Run a workload through a router: every line once, resumably, within a cost cap.

:class:`BatchRun` streams the input (never held whole), keeps at most ``concurrency``
requests in flight (by default the sum of the router's caps, so the router fills free and
cheap slots first and spills when they are full), sends each line's body through the same
translation the drop-in and the gateway use (:class:`~vlmroute._wire.WireApp`: every field
is handled as they handle it), and appends each answer to the results file as it arrives
(:class:`~.results.RunFiles`). A line's ``custom_id`` goes to the ledger as its ``label``,
and ``vlmroute-run`` as its caller. What was priced is what runs: only the plan's offers
are used (``offers``), and the default concurrency is the sum of their caps.

Stopping: :meth:`BatchRun.stop` takes no new work and lets what is in flight finish
(Ctrl-C; ``max_cost`` reached counting what is in flight; a router budget that refuses a
request, whose line then stays without a result for the next run); :meth:`BatchRun.cancel`
cancels what is in flight too (a second Ctrl-C): those lines have no result, and a rerun
sends them again. A rerun skips every line with a result (and, unless ``retry_failed``,
every line with a failure).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._ledger import SpendRecord
from .._wire import Caller, WireApp, routes_of
from ..money import Money
from .results import RunFiles
from .scan import Lines
from .source import BadLine, Line, id_digest

if TYPE_CHECKING:
    from .._router import AsyncRouter

__all__ = ["BatchRun", "OfferActual", "Progress", "RunResult"]

#: The ledger outcome of a line that was in flight when a run stopped and is sent again.
RESENT = "resent"
_PATH = "/v1/chat/completions"


@dataclass(slots=True)
class OfferActual:
    """What one offer did in this run."""

    requests: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Money | None = None  # in the offer's currency
    display_cost: Money | None = None  # in the router's
    seconds: float = 0.0  # summed request latency


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot for a progress display."""

    total: int | None  # lines to send in this run (None: not counted)
    done: int
    failed: int
    skipped: int
    in_flight: dict[str, int]
    spent: Money
    expected: Money | None
    elapsed_s: float

    @property
    def rate(self) -> float:
        """Requests ended a second so far."""
        return (self.done + self.failed) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if self.total is None or not self.rate:
            return None
        return max(self.total - self.done - self.failed, 0) / self.rate


@dataclass(slots=True)
class RunResult:
    """How a run ended: counts, spend, per-offer actuals, and why it stopped early."""

    sent: int = 0
    answered: int = 0
    failed: int = 0
    skipped: int = 0
    resent: list[str] = field(default_factory=list)
    stopped: str | None = None  # "interrupted", "cancelled", "max_cost", "budget"
    spent: Money | None = None
    elapsed_s: float = 0.0
    offers: dict[str, OfferActual] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.stopped is None


ProgressFn = Callable[[Progress], None]


class BatchRun:
    """One run of ``lines`` through ``router`` into ``files`` (see the module)."""

    def __init__(
        self,
        router: AsyncRouter,
        lines: Lines,
        files: RunFiles,
        *,
        total: int | None = None,
        expected: Money | None = None,
        max_cost: Money | None = None,
        retry_failed: bool = False,
        concurrency: int | None = None,
        keep: Callable[[str], bool] | None = None,
        offers: Sequence[str] | None = None,
        progress: ProgressFn | None = None,
        progress_every_s: float = 0.5,
    ) -> None:
        self.router = router
        self.lines = lines
        self.files = files
        self.total = total
        self.expected = expected
        self.currency = router.config.currency
        self.max_cost = None if max_cost is None else router.fx.convert(max_cost, self.currency)
        self.retry_failed = retry_failed
        # The plan's offers only (what was priced is what runs), as a caller of its own.
        chosen = list(router.offers) if offers is None else list(offers)
        self._caller = Caller("vlmroute-run", frozenset(chosen))
        caps = sum(router.health[name].cap for name in chosen)
        self.concurrency = max(1, concurrency or caps)
        self.keep = keep
        self.progress = progress
        self.progress_every_s = progress_every_s
        self.result = RunResult(spent=Money.zero(self.currency))
        self._wire = WireApp(router, routes_of(router))
        self._per_request = (
            Decimal(0)
            if expected is None or not total
            else expected.amount / Decimal(max(total, 1))
        )
        self._reserved = Decimal(0)
        self._spent = Decimal(0)
        self._stopping: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = time.monotonic()

    # ------------------------------------------------------------------ control

    def stop(self, reason: str = "interrupted") -> None:
        """Take no new work; what is in flight finishes."""
        if self._stopping is None:
            self._stopping = reason

    def cancel(self) -> None:
        """Cancel what is in flight as well (its lines stay without a result)."""
        self.stop("cancelled")
        self._stopping = "cancelled"
        for task in list(self._tasks):
            task.cancel()

    # ------------------------------------------------------------------ the run

    async def run(self) -> RunResult:
        skip = self._resume()
        ticker = asyncio.create_task(self._tick()) if self.progress is not None else None
        try:
            await self._feed(skip)
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            if ticker is not None:
                ticker.cancel()
            self.files.finish()
        self.result.stopped = self._stopping
        self.result.elapsed_s = time.monotonic() - self._started
        self.result.spent = Money(self._spent, self.currency)
        if self.result.complete:
            self.files.forget_sending()
        if self.progress is not None:
            self.progress(self.snapshot())
        return self.result

    def _resume(self) -> set[int]:
        """What earlier runs left: the ids to skip; the lines they left in flight are
        recorded as sent again."""
        done = self.files.answered()
        failed = self.files.failed()
        if self.retry_failed:
            self.files.drop_failures(failed)
            skip = done
        else:
            skip = done | failed
        self.result.resent = self.files.in_flight_before(done | failed)
        self._record_resent(self.result.resent)
        return skip

    async def _feed(self, skip: set[int]) -> None:
        """Start a task per line to send, ``concurrency`` at most at once."""
        gate = asyncio.Semaphore(self.concurrency)
        for line in self.lines():
            if isinstance(line, BadLine):
                continue  # refused by the scan; a run is only started on a clean one
            if self.keep is not None and not self.keep(line.custom_id):
                continue
            if id_digest(line.custom_id) in skip:
                self.result.skipped += 1
                continue
            await gate.acquire()
            if self._stopping is None and self._over_budget():
                self.stop("max_cost")
            if self._stopping is not None:
                gate.release()
                return
            self._reserved += self._per_request
            task = asyncio.create_task(self._one(line, gate))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _over_budget(self) -> bool:
        if self.max_cost is None:
            return False
        return self._spent + self._reserved + self._per_request > self.max_cost.amount

    async def _one(self, line: Line, gate: asyncio.Semaphore) -> None:
        self.result.sent += 1
        try:
            self.files.mark_sending(line.custom_id)
            try:
                body = line.request_body()
            except OSError as exc:
                self._failed(
                    line,
                    status=400,
                    request_id=None,
                    code="unreadable_image",
                    message=str(exc),
                    kind="ImageError",
                )
                return
            answer = await self._wire.handle(
                "POST", _PATH, body, caller=self._caller, label=line.custom_id
            )
            request_id = answer.headers.get("x-request-id")
            if answer.status == 200:
                self._answered(line, request_id, answer.content, answer.response)
            else:
                error = json.loads(answer.content).get("error", {})
                kind = error.get("vlmroute") or "error"
                if kind == "BudgetExceededError":  # the money ran out: stop, keep the line
                    self.stop("budget")
                    return
                code = error.get("code") or "error"
                self._failed(
                    line,
                    status=answer.status,
                    request_id=request_id,
                    code=code,
                    message=error.get("message"),
                    kind=kind,
                )
        finally:
            self._reserved -= self._per_request
            gate.release()

    def _answered(self, line: Line, request_id: str | None, content: bytes, response: Any) -> None:
        # The completion's bytes go in as they are: no second parse of each answer.
        head = {"id": _batch_id(), "custom_id": line.custom_id}
        status = {"status_code": 200, "request_id": request_id}
        self.files.add_raw_result(
            f'{_open(head)},"response":{_open(status)},"body":{content.decode()}}},"error":null}}'
        )
        self.result.answered += 1
        if response is None:
            return
        offer = response.offer or "none"
        actual = self.result.offers.setdefault(offer, OfferActual())
        actual.requests += 1
        actual.prompt_tokens += response.usage.prompt_tokens
        actual.completion_tokens += response.usage.completion_tokens
        actual.seconds += response.latency_s or 0.0
        if response.cost is not None:
            shown = self.router.fx.convert(response.cost, self.currency)
            actual.cost = response.cost if actual.cost is None else actual.cost + response.cost
            actual.display_cost = (
                shown if actual.display_cost is None else actual.display_cost + shown
            )
            self._spent += shown.amount

    def _failed(
        self,
        line: Line,
        *,
        status: int,
        request_id: str | None,
        code: str,
        message: str | None,
        kind: str,
    ) -> None:
        self.files.add_failure(
            {
                "id": _batch_id(),
                "custom_id": line.custom_id,
                "response": {"status_code": status, "request_id": request_id},
                "error": {"code": code, "message": message, "type": kind},
            }
        )
        self.result.failed += 1

    def _record_resent(self, ids: list[str]) -> None:
        """One ledger row per line that was in flight when the last run stopped: the
        provider may have run it, unseen, and it is about to be sent again."""
        if not ids:
            return
        zero = Money.zero(self.currency)
        for custom_id in ids:
            self.router.ledger.record(
                SpendRecord(
                    request_id=os.urandom(16).hex(),
                    at=datetime.now(UTC),
                    provider=None,
                    offer=None,
                    model=None,
                    prompt_tokens=0,
                    completion_tokens=0,
                    reasoning_tokens=None,
                    cost=zero,
                    display_cost=zero,
                    estimated_cost=None,
                    latency_s=None,
                    outcome=RESENT,
                    attempts=0,
                    label=custom_id,
                )
            )

    # ------------------------------------------------------------------ progress

    def snapshot(self) -> Progress:
        in_flight = {name: self.router.slots.in_flight(name) for name in self.router.offers}
        return Progress(
            total=self.total,
            done=self.result.answered,
            failed=self.result.failed,
            skipped=self.result.skipped,
            in_flight=in_flight,
            spent=Money(self._spent, self.currency),
            expected=self.expected,
            elapsed_s=time.monotonic() - self._started,
        )

    async def _tick(self) -> None:
        assert self.progress is not None
        while True:
            self.progress(self.snapshot())
            await asyncio.sleep(self.progress_every_s)


def _open(obj: dict[str, Any]) -> str:
    """``obj`` as JSON without its closing brace, for more members to follow."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))[:-1]


def _batch_id() -> str:
    return f"batch_req_{os.urandom(12).hex()}"
