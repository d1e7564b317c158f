"""``vlmroute.run_batch`` / ``arun_batch``: ``vlmroute run`` as a library call.

::

    import vlmroute

    with vlmroute.Router.from_config("router.yaml") as router:
        plan = vlmroute.plan_batch("requests.jsonl", router=router, deadline_s=3600)
        print(plan.expected_cost, plan.scan.unknown_images)
        result = vlmroute.run_batch(
            "requests.jsonl", "results.jsonl", router=router, max_cost="20 USD",
            progress=lambda p: print(p.done, p.failed, p.spent),
        )
        print(result.answered, result.failed, result.spent, result.stopped)

``source`` is a Batch API JSONL path, or ``images=DIR`` with ``prompt=``. A rerun with the
same output sends only what has no result yet (``retry_failed=True``: the failures too).
``shard=(i, n)`` runs the lines whose ``custom_id`` falls in shard ``i`` of ``n`` (with a
Redis ``store:``, n hosts share the account's caps).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._estimate import Estimate
from ..errors import WorkloadError
from ..money import Money, parse_amount
from .price import price
from .results import RunFiles
from .runner import BatchRun, ProgressFn, RunResult
from .scan import Scan, scan
from .source import BadLine, Line, id_hash, image_lines, jsonl_lines

if TYPE_CHECKING:
    from .._router import AsyncRouter, Router

__all__ = ["BatchPlan", "arun_batch", "plan_batch", "run_batch", "shard_of"]

Source = str | os.PathLike[str] | None


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """A workload scanned and priced before anything is sent: ``scan`` (lines, bad lines,
    duplicates, unknown image sizes), ``already`` (lines with a result from an earlier run),
    ``estimate`` (per offer, and the cheapest plan for the deadline; None when nothing is
    left to send) and the ``expected_cost`` of the plan, in the router's currency."""

    scan: Scan
    already: int
    estimate: Estimate | None

    @property
    def expected_cost(self) -> Money | None:
        if self.estimate is None:
            return None
        plan = self.estimate.plan
        return plan.total_cost if plan.total_cost is not None else plan.placed_cost


def shard_of(text: str) -> tuple[int, int]:
    """``"I/N"`` as ``(i, n)``, 0 <= i < n."""
    head, _, tail = text.partition("/")
    try:
        index, count = int(head), int(tail)
    except ValueError:
        raise WorkloadError(f"shard {text!r} is not I/N, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise WorkloadError(f"shard {text!r}: I must be 0 to N-1, and N at least 1")
    return index, count


def _lines(
    source: Source, images: Source, prompt: str | None, model: str
) -> Callable[[], Iterable[Line | BadLine]]:
    if (source is None) == (images is None):
        raise WorkloadError("give a JSONL input file, or images= (--images DIR), not both")
    if images is not None:
        folder, question = images, prompt or ""
        return lambda: image_lines(folder, question, model=model)
    path = source
    assert path is not None
    if not os.path.isfile(path):
        raise WorkloadError(f"{path}: no such input file")
    return lambda: jsonl_lines(path)


def _keep(shard: tuple[int, int] | None) -> Callable[[str], bool] | None:
    if shard is None or shard[1] == 1:
        return None
    index, count = shard
    return lambda custom_id: id_hash(custom_id) % count == index


def _engine(router: AsyncRouter | Router) -> AsyncRouter:
    engine = getattr(router, "engine", None)
    return router if engine is None else engine  # type: ignore[return-value]


def plan_batch(
    source: Source = None,
    output: Source = None,
    *,
    router: AsyncRouter | Router,
    images: Source = None,
    prompt: str | None = None,
    model: str = "glm-4.1v-thinking",
    deadline_s: float | None = None,
    assume_image: tuple[int, int] | None = None,
    retry_failed: bool = False,
    shard: tuple[int, int] | None = None,
) -> BatchPlan:
    """Scan and price what a run would send (no network). With ``output``, the lines that
    already have a result there are left out of the price."""
    engine = _engine(router)
    lines = _lines(source, images, prompt, model)
    keep = _keep(shard)
    done: set[int] = set()
    if output is not None:
        files = RunFiles(output)
        done = files.answered() if retry_failed else files.answered() | files.failed()
    found = scan(
        lines,
        expected_output_tokens=engine.config.expected_output_tokens,
        assume_image=assume_image,
        keep=keep,
        done=done,
    )
    estimate = price(found, engine, deadline_s=deadline_s) if found.ok and found.requests else None
    return BatchPlan(found, found.already, estimate)


async def arun_batch(
    source: Source = None,
    output: Source = None,
    *,
    router: AsyncRouter,
    images: Source = None,
    prompt: str | None = None,
    model: str = "glm-4.1v-thinking",
    max_cost: Money | Decimal | float | str | None = None,
    retry_failed: bool = False,
    concurrency: int | None = None,
    shard: tuple[int, int] | None = None,
    plan: BatchPlan | None = None,
    progress: ProgressFn | None = None,
    on_start: Callable[[BatchRun], Any] | None = None,
) -> RunResult:
    """Run every line without a result yet through ``router``, appending results to
    ``output``. Bad lines or duplicate ids raise :class:`WorkloadError` before anything is
    sent. ``on_start(run)`` gets the run, to :meth:`~BatchRun.stop` it from elsewhere."""
    if output is None:
        raise WorkloadError("an output file is needed: results are appended to it")
    if plan is None:
        plan = plan_batch(
            source,
            output,
            router=router,
            images=images,
            prompt=prompt,
            model=model,
            retry_failed=retry_failed,
            shard=shard,
        )
    if not plan.scan.ok:
        raise WorkloadError(f"nothing was sent: {plan.scan.problems()}")
    cap = None if max_cost is None else parse_amount(max_cost, currency=router.config.currency)
    run = BatchRun(
        router,
        _lines(source, images, prompt, model),
        RunFiles(output),
        total=plan.scan.requests,
        expected=plan.expected_cost,
        max_cost=cap,
        retry_failed=retry_failed,
        concurrency=concurrency,
        keep=_keep(shard),
        offers=None if plan.estimate is None else [s.offer_id for s in plan.estimate.plan.steps],
        progress=progress,
    )
    if on_start is not None:
        on_start(run)
    return await run.run()


def run_batch(
    source: Source = None,
    output: Source = None,
    *,
    router: Router,
    **options: Any,
) -> RunResult:
    """:func:`arun_batch` on a sync :class:`~vlmroute.Router` (its own event loop)."""
    engine = router.engine
    return router._portal.call(lambda: arun_batch(source, output, router=engine, **options))
