"""``vlmroute run`` (``plan_batch`` / ``arun_batch``) against its baselines, in the same run.

    python benchmarks/batch.py                        # full run (20-25 minutes)
    python benchmarks/batch.py --quick                # a smoke run (used by the test suite)
    python benchmarks/batch.py --json                 # the rows as JSON on stdout
    python benchmarks/batch.py --run-lines 1000000    # the run rows at a million lines too

The input is an OpenAI Batch JSONL file the benchmark writes into a temporary folder: half
the lines text only (a user message whose content is a string, a distinct review to sum up
on each line, ``max_tokens: 512``), half one image and a prompt (content a list: an
``image_url`` part and a ``text`` part, the prompt one of four instructions). Each image is
a data-URI PNG of a realistic size (1920x1080, 1280x720, 1080x1920, 1024x768, 4032x3024 in
turn) that holds only its header: the signature, ``IHDR`` and a ``tEXt`` chunk naming the
line, so that no two lines carry the same URI (as in a real batch, where every image
differs; nothing can be looked up by URI). The fake Zhipu (``vlmroute.testing.spawn``,
zero latency, no cap) and every measured process are separate processes, so that no two
share an event loop or a GIL. What each row is:

- pricing the input (``--price-lines``, 1,000,000 by default; 20,000 with ``--quick``):
  ``plan_batch(path, router=router)`` (``aplan_batch``: the same call) in a fresh child
  process, on an ``AsyncRouter`` built with ``dry_run=True`` from ``{offers: [{offer:
  zhipu-flash, base_url: <nowhere>, cap: 256}], ledger: false}`` (nothing is sent),
  against the baseline: a fresh child that reads the same file with ``json.loads`` line
  by line and reads each image's header with ``vlmroute.image_size(data_uri)``. The time
  is that of the call (or the pass) alone, imports left out; the median of interleaved
  children (3 of each; 1 with ``--quick``), after one warm-up pass that fills the page
  cache [target: ratio <= 1.0].
- peak RSS while pricing: ``VmHWM`` (``/proc/self/status``; ``exec`` resets it, which
  ``ru_maxrss`` would not, after a fork of a bigger parent) at the end of the same
  children: the pricing child against the ``json.loads`` child [target <= 200 MB, in
  10^6 bytes]. Beside it, what pricing adds to a child that imports vlmroute, builds the
  same router and prices nothing (what the input itself costs: chiefly the 64-bit digests
  of the ids, kept to find duplicates).
- peak RSS while running (``--run-lines``, 250,000 by default; 2,000 with ``--quick``):
  a fresh child that runs ``arun_batch(path, output, router=router)`` (it scans and
  prices first, as ``vlmroute run`` does) on ``{offers: [{offer: zhipu-flash, base_url:
  <the fake>, cap: 256}], ledger: false, retry: {attempts: 1}}``: 256 in flight, every
  line answered (checked). Its ``VmHWM`` against the same child on 100,000 lines (500
  with ``--quick``) [target <= 200 MB, and flat: ratio about 1.0]. A million lines at the
  500-1,000 requests a second a 2-core machine manages (client and fake share it) take
  17 to 30 minutes, hence 250,000 by default: ``--run-lines 1000000`` runs a million.
  The fake's recorded requests are dropped every 5 s (``reset_stats``) so that it does not
  slow down as it grows. Beside it, the run's own rate (its scan included) at each size.
- the runner's own overhead: requests a second of ``arun_batch`` (the whole call, its scan
  included, results written) against the in-process router sending the same bodies
  (``router.chat(messages, max_tokens=...)``, 256 in flight through a semaphore, the
  bodies parsed beforehand) in the same process, against the same zero-latency fake, a
  fresh router for each; 20,000 lines (2,000 with ``--quick``), the median of 3 rounds
  taken in turn (1 with ``--quick``) after a warm-up of each [target >= 0.70].

Ratios are what count: these 2-core machines are noisy, absolute figures are for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from limits import KEYS, router_config, row  # benchmarks/limits.py
from tabulate import tabulate

#: Realistic image sizes, taken in turn (width, height).
SIZES = [(1920, 1080), (1280, 720), (1080, 1920), (1024, 768), (4032, 3024)]
PROMPTS = [
    "Describe this image in detail.",
    "What text appears in this screenshot? Quote it exactly.",
    "Is there a person in this photo? Answer yes or no.",
    "List every object on the table, one per line.",
]
BATCH_MODEL = "glm-4.1v-thinking"
#: A dry-run router's offer points here; nothing is sent.
NOWHERE = "http://127.0.0.1:9/api/paas/v4"
#: Bytecode written as an installed package has it (see benchmarks/limits.py).
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int, tag: str) -> bytes:
    """A PNG's signature, ``IHDR`` and a ``tEXt`` chunk holding ``tag``: no pixels."""
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + _chunk(b"tEXt", b"Comment\x00" + tag.encode())


def batch_line(i: int) -> str:
    """Line ``i`` of the input (see the module docstring)."""
    head = f'{{"custom_id":"req-{i}","method":"POST","url":"/v1/chat/completions",'
    if i % 2 == 0:
        text = (
            f"Sum up customer review #{i} in one sentence: the parcel came two days late "
            "and the box was dented, but the blender works well and is quiet."
        )
        content = json.dumps(text)
        return (
            f'{head}"body":{{"model":"{BATCH_MODEL}","messages":[{{"role":"user",'
            f'"content":{content}}}],"max_tokens":512}}}}\n'
        )
    width, height = SIZES[(i // 2) % len(SIZES)]
    header = png_header(width, height, f"line {i}")
    uri = "data:image/png;base64," + base64.b64encode(header).decode()
    prompt = json.dumps(PROMPTS[(i // 2) % len(PROMPTS)])
    return (
        f'{head}"body":{{"model":"{BATCH_MODEL}","messages":[{{"role":"user","content":['
        f'{{"type":"image_url","image_url":{{"url":"{uri}"}}}},'
        f'{{"type":"text","text":{prompt}}}]}}]}}}}\n'
    )


def write_input(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for start in range(0, count, 10_000):
            out.write("".join(batch_line(i) for i in range(start, min(start + 10_000, count))))
    return path


# ------------------------------------------------------------------ pricing (child processes)

#: The child of the pricing rows: ``loads`` (the baseline), ``price`` or ``router`` (the
#: router built, nothing priced). It prints seconds, lines and VmHWM (kB) as JSON.
_PRICE_CHILD = """
import asyncio, json, sys, time
kind, path, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
seconds, lines = 0.0, 0
if kind == "loads":
    from vlmroute import image_size
    start = time.perf_counter()
    with open(path, "rb") as handle:
        for raw in handle:
            line = json.loads(raw)
            lines += 1
            for message in line["body"]["messages"]:
                content = message["content"]
                if isinstance(content, list):
                    for part in content:
                        if part["type"] == "image_url":
                            image_size(part["image_url"]["url"])
    seconds = time.perf_counter() - start
else:
    from vlmroute import AsyncRouter, RouterConfig, plan_batch

    async def main():
        global seconds, lines
        router = AsyncRouter(RouterConfig.from_mapping(config), dry_run=True)
        async with router:
            if kind == "price":
                start = time.perf_counter()
                plan = plan_batch(path, router=router)  # aplan_batch: the same call
                seconds = time.perf_counter() - start
                if plan.estimate is None or not plan.scan.ok:
                    raise SystemExit(f"not priced: {plan.scan.problems()}")
                lines = plan.scan.requests

    asyncio.run(main())
for text in open("/proc/self/status"):  # VmHWM: the peak, which exec resets
    if text.startswith("VmHWM:"):
        print(json.dumps({"seconds": seconds, "lines": lines, "rss_kb": int(text.split()[1])}))
"""


def price_child(kind: str, path: Path) -> dict[str, Any]:
    offer = {"offer": "zhipu-flash", "base_url": NOWHERE, "cap": 256}
    config = json.dumps({"offers": [offer], "ledger": False})
    out = subprocess.run(
        [sys.executable, "-c", _PRICE_CHILD, kind, str(path), config],
        check=False,
        capture_output=True,
        text=True,
        env=_ENV,
    )
    if out.returncode:
        raise RuntimeError(f"the {kind} child failed ({out.returncode}): {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


def mb(kb: float) -> str:
    return f"{kb * 1024 / 1e6:.0f} MB"


def bench_pricing(tmp: Path, lines: int, quick: bool) -> list[dict[str, str]]:
    path = write_input(tmp / "price.jsonl", lines)
    price_child("loads", path)  # the warm-up: fills the page cache, writes the bytecode
    price_child("router", path)
    base: list[dict[str, Any]] = []
    ours: list[dict[str, Any]] = []
    for _ in range(1 if quick else 3):
        base.append(price_child("loads", path))
        ours.append(price_child("price", path))
    for result in base + ours:
        if result["lines"] != lines:
            raise RuntimeError(f"a pricing child read {result['lines']} of {lines} lines")
    alone = price_child("router", path)
    t_base = statistics.median(r["seconds"] for r in base)
    t_ours = statistics.median(r["seconds"] for r in ours)
    rss_base = statistics.median(r["rss_kb"] for r in base)
    rss_ours = statistics.median(r["rss_kb"] for r in ours)
    per_line = "{:.1f} s ({:.1f} us a line)".format
    return [
        row(
            "pricing the input, plan_batch",
            f"{per_line(t_ours, t_ours / lines * 1e6)}, {lines:,} lines",
            f"{per_line(t_base, t_base / lines * 1e6)} json.loads + image_size",
            t_ours / t_base,
            "<= 1.00",
        ),
        row(
            "peak RSS, pricing",
            f"{mb(rss_ours)}, {lines:,} lines",
            f"{mb(rss_base)} json.loads pass",
            rss_ours / rss_base,
            "<= 200 MB",
        ),
        {
            "measure": "  pricing over the router alone",
            "vlmroute": f"+{mb(rss_ours - alone['rss_kb'])}",
            "baseline": f"{mb(alone['rss_kb'])} imported, built, nothing priced",
            "ratio": "",
            "target": "",
        },
    ]


# ------------------------------------------------------------------ running (child processes)

#: The child of the running rows: ``arun_batch`` of the input on a router at the fake. It
#: prints seconds, answered, failed and VmHWM (kB) as JSON.
_RUN_CHILD = """
import asyncio, json, sys, time
path, output, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

async def main():
    from vlmroute import AsyncRouter, arun_batch
    async with AsyncRouter.from_config(config, api_keys={"zhipu": "bench"}) as router:
        start = time.perf_counter()
        result = await arun_batch(path, output, router=router)
        return time.perf_counter() - start, result

seconds, result = asyncio.run(main())
for text in open("/proc/self/status"):  # VmHWM: the peak, which exec resets
    if text.startswith("VmHWM:"):
        rss_kb = int(text.split()[1])
print(json.dumps({"seconds": seconds, "answered": result.answered, "failed": result.failed,
                  "rss_kb": rss_kb}))
"""


def run_child(fake: Any, tmp: Path, lines: int) -> dict[str, Any]:
    path = write_input(tmp / f"run-{lines}.jsonl", lines)
    output = tmp / f"results-{lines}.jsonl"
    config = json.dumps(router_config(fake.base_url, 256))
    fake.reset_stats()
    child = subprocess.Popen(
        [sys.executable, "-c", _RUN_CHILD, str(path), str(output), config],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_ENV,
    )
    while True:
        try:
            out, err = child.communicate(timeout=5)
            break
        except subprocess.TimeoutExpired:
            fake.reset_stats()  # the fake keeps every request it saw: let it go
    if child.returncode:
        raise RuntimeError(f"the run child failed ({child.returncode}): {err[-2000:]}")
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    if result["answered"] != lines or result["failed"]:
        raise RuntimeError(f"the run answered {result['answered']} of {lines}: {result}")
    path.unlink()
    output.unlink()
    return result


def bench_running(fake: Any, tmp: Path, lines: int, quick: bool) -> list[dict[str, str]]:
    small_lines = 500 if quick else 100_000
    run_child(fake, tmp, 200)  # the warm-up: writes the bytecode
    small = run_child(fake, tmp, small_lines)
    big = run_child(fake, tmp, lines)
    return [
        row(
            "peak RSS, running",
            f"{mb(big['rss_kb'])}, {lines:,} lines",
            f"{mb(small['rss_kb'])}, {small_lines:,} lines",
            big["rss_kb"] / small["rss_kb"],
            "<= 200 MB, flat (~1.0)",
        ),
        {
            "measure": "  (the run's own rate)",
            "vlmroute": f"{lines / big['seconds']:,.0f} req/s, {big['seconds']:.0f} s",
            "baseline": f"{small_lines / small['seconds']:,.0f} req/s, {small['seconds']:.0f} s",
            "ratio": "",
            "target": "",
        },
    ]


# ------------------------------------------------------------------ overhead (this process)


async def chat_rate(base_url: str, bodies: list[dict[str, Any]]) -> float:
    """Requests a second of ``router.chat`` sending ``bodies``, 256 in flight."""
    import vlmroute

    gate = asyncio.Semaphore(256)
    async with vlmroute.AsyncRouter.from_config(router_config(base_url, 256), api_keys=KEYS) as r:

        async def one(body: dict[str, Any]) -> None:
            async with gate:
                await r.chat(body["messages"], max_tokens=body.get("max_tokens"))

        start = time.perf_counter()
        await asyncio.gather(*(one(body) for body in bodies))
        return len(bodies) / (time.perf_counter() - start)


async def run_rate(base_url: str, path: Path, output: Path, lines: int) -> float:
    """Requests a second of ``arun_batch`` of ``path`` (the whole call)."""
    import vlmroute

    for stale in output.parent.glob(output.name + "*"):
        stale.unlink()
    output.with_name(output.name.removesuffix(".jsonl") + ".failed.jsonl").unlink(missing_ok=True)
    async with vlmroute.AsyncRouter.from_config(router_config(base_url, 256), api_keys=KEYS) as r:
        start = time.perf_counter()
        result = await vlmroute.arun_batch(path, output, router=r)
        seconds = time.perf_counter() - start
    if result.answered != lines:
        raise RuntimeError(f"arun_batch answered {result.answered} of {lines}")
    return lines / seconds


async def bench_overhead(fake: Any, tmp: Path, quick: bool) -> list[dict[str, str]]:
    lines = 2_000 if quick else 20_000
    path = write_input(tmp / "overhead.jsonl", lines)
    warm = write_input(tmp / "warm.jsonl", 500)
    output = tmp / "overhead-results.jsonl"
    with path.open("rb") as handle:
        bodies = [json.loads(raw)["body"] for raw in handle]
    await chat_rate(fake.base_url, bodies[:500])  # the warm-up of each
    await run_rate(fake.base_url, warm, output, 500)
    chats: list[float] = []
    runs: list[float] = []
    for _ in range(1 if quick else 3):
        fake.reset_stats()
        chats.append(await chat_rate(fake.base_url, bodies))
        fake.reset_stats()
        runs.append(await run_rate(fake.base_url, path, output, lines))
    chat, run = statistics.median(chats), statistics.median(runs)
    per_s = "{:,.0f} req/s".format
    return [
        row(
            "arun_batch throughput, 256 in flight",
            f"{per_s(run)}, {lines:,} lines",
            f"{per_s(chat)} router.chat",
            run / chat,
            ">= 0.70",
        )
    ]


async def main(args: argparse.Namespace) -> None:
    from vlmroute.testing import spawn

    price_lines = args.price_lines or (20_000 if args.quick else 1_000_000)
    run_lines = args.run_lines or (2_000 if args.quick else 250_000)
    with tempfile.TemporaryDirectory(prefix="vlmroute-batch-") as name:
        tmp = Path(name)
        rows = bench_pricing(tmp, price_lines, args.quick)
        with spawn("zhipu", latency_s=0.0) as fake:
            rows += bench_running(fake, tmp, run_lines, args.quick)
            rows += await bench_overhead(fake, tmp, args.quick)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(tabulate(rows, headers="keys", tablefmt="simple", disable_numparse=True))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--price-lines", type=int, help="lines priced (default 1,000,000)")
    parser.add_argument("--run-lines", type=int, help="lines run (default 250,000)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments))
    sys.stdout.flush()
    sys.exit(0)
