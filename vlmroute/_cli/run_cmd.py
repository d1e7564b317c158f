"""``vlmroute run``: a whole workload through the router, priced before anything is sent.

It reads an OpenAI Batch input file (or ``--images DIR --prompt``), refuses bad lines and
duplicate ids with their line numbers, prices exactly what is left to send on the router's
offers (the cheapest plan for ``--deadline``, against ``--max-cost``), asks before it sends
(``--yes`` without a terminal; ``--dry-run`` stops there), runs it with a progress display,
appends each answer to ``-o`` as it comes (failures beside it, in ``*.failed.jsonl``), and
prints predicted against actual per offer (``--report FILE`` writes it as JSON).

Rerun the same command to go on after a crash or Ctrl-C: only what has no result is sent.
Exit 0 when every line has its result or failure line, 1 on a vlmroute error or a stop at
``--max-cost``, 2 on a usage error, 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import render
from .estimate_cmd import UsageError, _duration, count

if TYPE_CHECKING:
    from .._router import AsyncRouter
    from .._run.api import BatchPlan
    from .._run.runner import BatchRun, Progress, RunResult

__all__ = ["register", "run"]

_EPILOG = """\
examples:
  vlmroute run requests.jsonl -o results.jsonl --config router.yaml --deadline 6h --dry-run
  vlmroute run requests.jsonl -o results.jsonl --max-cost 20USD --yes
  vlmroute run --images shots/ --prompt "What app is this?" -o results.jsonl
"""


def register(commands: Any) -> None:
    p = commands.add_parser(
        "run",
        help="run a workload (OpenAI Batch JSONL, or --images DIR): priced first, resumable",
        description="Run every request of an OpenAI Batch input file (or one per image of a\n"
        "folder) through the router: priced before anything is sent, results appended as\n"
        "they come, resumable (rerun the same command), stopped at --max-cost.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", nargs="?", metavar="REQUESTS.jsonl", help="OpenAI Batch input")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="results (appended)")
    p.add_argument("--images", metavar="DIR", help="one request per image file under DIR")
    p.add_argument("--prompt", help="the question asked of each image (with --images)")
    p.add_argument("--model", default="glm-4.1v-thinking", help="model name for --images")
    p.add_argument("--config", metavar="FILE", help="router YAML (default: keys in env)")
    p.add_argument("--deadline", type=_duration, metavar="TIME", help="e.g. 6h: plan to it")
    p.add_argument("--max-cost", metavar="AMOUNT", help="stop before spending more, e.g. 20USD")
    p.add_argument(
        "--assume-image",
        metavar="WxH",
        help="price images given by URL (size unknown) at this size (default: the maximum)",
    )
    p.add_argument("--shard", metavar="I/N", help="run only shard I of N (ids hashed)")
    p.add_argument("--concurrency", type=count(1), metavar="N", help="most in flight")
    p.add_argument("--retry-failed", action="store_true", help="send the failures again too")
    p.add_argument("--yes", action="store_true", help="do not ask before sending")
    p.add_argument("--dry-run", action="store_true", help="scan and price, send nothing")
    p.add_argument("--report", metavar="FILE", help="write predicted against actual as JSON")
    p.add_argument("--json", action="store_true", help="print the plan or report as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    from .._router import AsyncRouter
    from .._run.api import plan_batch, shard_of

    if bool(args.input) == bool(args.images):
        raise UsageError("give REQUESTS.jsonl or --images DIR (one of them)")
    if args.images and not args.prompt:
        raise UsageError("--images needs --prompt: the question to ask of every image")
    options: dict[str, Any] = {
        "images": args.images,
        "prompt": args.prompt,
        "model": args.model,
        "retry_failed": args.retry_failed,
        "shard": shard_of(args.shard) if args.shard else None,
    }
    router = AsyncRouter.from_config(args.config, dry_run=args.dry_run)
    try:
        plan = plan_batch(
            args.input,
            args.output,
            router=router,
            deadline_s=_seconds(args.deadline),
            assume_image=_size(args.assume_image),
            **options,
        )
        if not plan.scan.ok:
            print(f"vlmroute run: nothing was sent: {plan.scan.problems()}", file=sys.stderr)
            return 1
        _say_plan(plan, args, router)
        if args.dry_run or plan.estimate is None:
            return 0
        if not _go_ahead(args, plan):
            print("vlmroute run: nothing was sent", file=sys.stderr)
            return 1
        result, code = await _execute(args, router, plan, options)
    finally:
        await router.aclose()
    _say_result(result, plan, args)
    return code


def _seconds(deadline: str | None) -> float | None:
    if deadline is None:
        return None
    from .._estimate import parse_duration

    return parse_duration(deadline)


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    from .._tokens import parse_size

    return parse_size(text)


# ------------------------------------------------------------------ before sending


def _say_plan(plan: BatchPlan, args: argparse.Namespace, router: AsyncRouter) -> None:
    found = plan.scan
    if args.json and args.dry_run:
        render.print_json(_plan_json(plan))
        return
    said = [f"{found.requests:,} requests to send"]
    if found.already:
        said.append(f"{found.already:,} already have a result in {args.output}")
    print(f"vlmroute run: {'; '.join(said)}.", file=sys.stderr)
    if found.unknown_images:
        priced = f"at {args.assume_image}" if args.assume_image else "at the maximum (6,146)"
        print(
            f"vlmroute run: {found.unknown_images:,} images are URLs of unknown size, priced "
            f"{priced}; --assume-image WxH prices them at a size you know",
            file=sys.stderr,
        )
    if plan.estimate is None:
        return
    from .estimate_text import plan_text

    print(plan_text(plan.estimate), file=sys.stderr)
    expected = plan.expected_cost
    if args.max_cost and expected is not None:
        from ..money import parse_amount

        cap = router.fx.convert(
            parse_amount(args.max_cost, currency=router.config.currency), expected.currency
        )
        if expected.amount > cap.amount:
            print(
                f"vlmroute run: the expected cost, {render.money(expected)}, is over "
                f"--max-cost {render.money(cap)}: the run will stop there, partial results "
                "kept",
                file=sys.stderr,
            )


def _plan_json(plan: BatchPlan) -> dict[str, Any]:
    found = plan.scan
    return {
        "requests": found.requests,
        "already": found.already,
        "unknown_images": found.unknown_images,
        "prompt_tokens": found.prompt_tokens,
        "output_tokens": found.output_tokens,
        "expected_cost": None if plan.expected_cost is None else str(plan.expected_cost),
        "estimate": None if plan.estimate is None else plan.estimate.model_dump(mode="json"),
    }


def _go_ahead(args: argparse.Namespace, plan: BatchPlan) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("without a terminal to ask, pass --yes to send (or --dry-run)")
    expected = plan.expected_cost
    cost = "" if expected is None else f", expected {render.money(expected)}"
    print(f"Send {plan.scan.requests:,} requests{cost}? [y/N] ", end="", file=sys.stderr)
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


# ------------------------------------------------------------------ sending


async def _execute(
    args: argparse.Namespace, router: AsyncRouter, plan: BatchPlan, options: dict[str, Any]
) -> tuple[RunResult, int]:
    from .._run.api import arun_batch

    display = _display()
    holder: list[BatchRun] = []
    loop = asyncio.get_running_loop()
    presses = [0]

    def interrupt() -> None:
        presses[0] += 1
        if not holder:
            return
        if presses[0] == 1:
            print(
                "\nvlmroute run: stopping: no new requests; waiting for those in flight "
                "(Ctrl-C again cancels them)",
                file=sys.stderr,
            )
            holder[0].stop("interrupted")
        else:
            holder[0].cancel()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    loop.add_signal_handler(signal.SIGTERM, interrupt)
    try:
        result = await arun_batch(
            args.input,
            args.output,
            router=router,
            max_cost=args.max_cost,
            concurrency=args.concurrency,
            plan=plan,
            progress=display.show,
            on_start=holder.append,
            **options,
        )
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
        display.close()
    if result.stopped in ("interrupted", "cancelled"):
        return result, 130
    return result, 1 if result.stopped else 0


class _Display:
    """tqdm's bar on a terminal; a plain line every 10 s otherwise."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._last = -1e9

    def show(self, progress: Progress) -> None:
        flight = ", ".join(f"{name} {n}" for name, n in progress.in_flight.items() if n)
        spent = render.money(progress.spent)
        if progress.expected is not None:
            spent += f" of {render.money(progress.expected)} expected"
        status = f"failed {progress.failed}, in flight: {flight or 'none'}, spent {spent}"
        ended = progress.done + progress.failed
        if sys.stderr.isatty():
            from tqdm import tqdm

            if self._bar is None:
                self._bar = tqdm(total=progress.total, unit="req", file=sys.stderr, leave=True)
            self._bar.n = ended
            self._bar.set_postfix_str(status, refresh=True)
            return
        if progress.elapsed_s - self._last >= 10 or (
            progress.total is not None and ended >= progress.total
        ):
            self._last = progress.elapsed_s
            eta = progress.eta_s
            total = "" if progress.total is None else f"/{progress.total:,}"
            rest = "" if eta is None else f", about {render.duration(eta)} left"
            print(
                f"vlmroute run: {ended:,}{total} done ({status}, {progress.rate:.1f}/s{rest})",
                file=sys.stderr,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _display() -> _Display:
    return _Display()


# ------------------------------------------------------------------ afterwards


def _say_result(result: RunResult, plan: BatchPlan, args: argparse.Namespace) -> None:
    report = _report(result, plan)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if result.resent:
        print(
            f"vlmroute run: {len(result.resent):,} requests were in flight when the last run "
            "stopped and were sent again: the provider may have run (and charged for) them "
            "twice; the ledger lists each as 'resent', with its custom_id as the label",
            file=sys.stderr,
        )
    if args.json:
        render.print_json(report)
    else:
        rows = [
            (
                o["offer"],
                f"{o['predicted']['requests']:,} / {o['actual']['requests']:,}",
                f"{o['predicted']['cost'] or '-'} / {o['actual']['cost'] or '-'}",
                f"{render.tokens(o['actual']['prompt_tokens'])} in, "
                f"{render.tokens(o['actual']['completion_tokens'])} out",
            )
            for o in report["offers"]
        ]
        print(render.table(rows, ["offer", "requests (predicted / actual)", "cost", "tokens"]))
    why = {
        None: "done",
        "interrupted": "stopped by Ctrl-C",
        "cancelled": "cancelled by a second Ctrl-C",
        "max_cost": f"stopped at --max-cost {args.max_cost}",
        "budget": "stopped: a budget in the router config refused a request",
    }[result.stopped]
    print(
        f"vlmroute run: {why}: {result.answered:,} answered, {result.failed:,} failed "
        f"(in {Path(args.output).name.removesuffix('.jsonl')}.failed.jsonl), spent "
        f"{render.money(result.spent) if result.spent else '-'} in "
        f"{render.duration(result.elapsed_s)}"
        + ("" if result.complete else "; rerun the same command to go on"),
        file=sys.stderr,
    )


def _report(result: RunResult, plan: BatchPlan) -> dict[str, Any]:
    """Predicted (the plan) against actual (the answers), per offer."""
    estimate = plan.estimate
    predicted: dict[str, dict[str, Any]] = {}
    if estimate is not None:
        for step in estimate.plan.steps:
            predicted[step.offer_id] = {
                "requests": step.requests,
                "cost": str(step.cost),
                "seconds": step.makespan_s,
            }
    names = list(dict.fromkeys([*predicted, *result.offers]))
    offers = []
    for name in names:
        actual = result.offers.get(name)
        offers.append(
            {
                "offer": name,
                "predicted": predicted.get(name, {"requests": 0, "cost": None, "seconds": 0}),
                "actual": {
                    "requests": 0 if actual is None else actual.requests,
                    "prompt_tokens": 0 if actual is None else actual.prompt_tokens,
                    "completion_tokens": 0 if actual is None else actual.completion_tokens,
                    "cost": None
                    if actual is None or actual.display_cost is None
                    else str(actual.display_cost),
                    "native_cost": None
                    if actual is None or actual.cost is None
                    else str(actual.cost),
                    "request_seconds": 0 if actual is None else actual.seconds,
                },
            }
        )
    return {
        "answered": result.answered,
        "failed": result.failed,
        "skipped": result.skipped,
        "resent": len(result.resent),
        "stopped": result.stopped,
        "spent": None if result.spent is None else str(result.spent),
        "expected": None if plan.expected_cost is None else str(plan.expected_cost),
        "elapsed_s": result.elapsed_s,
        "predicted_makespan_s": None if estimate is None else estimate.plan.makespan_s,
        "predicted_prompt_tokens": plan.scan.prompt_tokens,
        "predicted_output_tokens": plan.scan.output_tokens,
        "offers": offers,
    }
