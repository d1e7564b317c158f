"""The router against the transport's limit (issue 13): every figure beside its baseline.

    python benchmarks/limits.py           # full run
    python benchmarks/limits.py --quick   # a smoke run (used by the test suite)
    python benchmarks/limits.py --json    # the rows as JSON on stdout

One loopback fake Zhipu per measure (``vlmroute.testing.spawn``) in a child process, so
client and server share neither an event loop nor a GIL. What each row is:

- client CPU per request (``time.process_time`` of this process over a block of requests,
  the clients taken in turn, block after block, so that the machine's drift hits them
  alike; the median block): raw aiohttp (POST, read, ``json.loads``), the router
  (``AsyncRouter.chat``), the client over one offer (``AsyncClient.chat``). Streaming the
  same: raw aiohttp reads the SSE lines and decodes each chunk.
- throughput with 256 requests in flight against a 50-ms fake: raw aiohttp, router, client.
- peak RSS of a fresh process (``VmHWM``) that imports one client and sends 2,000
  requests with 256 in flight: raw aiohttp against the router.
- the default SQLite ledger: the router's CPU per request with it against without it.
- start-up: a fresh ``python -c "from vlmroute import AsyncRouter"`` against a fresh
  ``python -c "import httpx, aiohttp, pydantic, yaml"`` (its runtime dependencies), each
  less a bare ``python -c pass``; the medians of interleaved runs.
- a cap set too high: 100 requests at once against a fake that allows 5 in flight and
  answers the rest 429 / 1302 with no Retry-After, through a router told ``tier: V3`` (a cap
  of 20) on what is a V0 account; its 429s (15 are unavoidable: the first 20 go out at
  once) and makespan against the ideal ceil(100/5) x 50 ms = 1.0 s.

Ratios are what count: these 2-core machines are noisy, absolute figures are for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from router import fire  # benchmarks/router.py: the same timing, shared
from tabulate import tabulate

HELLO: list[Any] = [{"role": "user", "content": "hi"}]
KEYS = {"zhipu": "bench"}
MODEL = "glm-4.1v-thinking-flash"
BODY = {"model": MODEL, "messages": HELLO}
STREAM_BODY = {"model": MODEL, "messages": HELLO, "stream": True}
HEADERS = {"Authorization": "Bearer bench"}

Call = Callable[[], Awaitable[object]]


def router_config(base_url: str, cap: int, *, ledger: str | bool = False) -> dict[str, Any]:
    offer = {"offer": "zhipu-flash", "base_url": base_url, "cap": cap}
    return {"offers": [offer], "ledger": ledger, "retry": {"attempts": 1}}


async def raw_post(session: aiohttp.ClientSession, url: str) -> None:
    async with session.post(url, json=BODY, headers=HEADERS) as response:
        body = json.loads(await response.read())
        if response.status != 200 or not body["choices"]:
            raise RuntimeError(f"raw aiohttp: HTTP {response.status}")


async def raw_stream(session: aiohttp.ClientSession, url: str) -> None:
    async with session.post(url, json=STREAM_BODY, headers=HEADERS) as response:
        async for line in response.content:
            if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
                json.loads(line[6:])


async def consume(events: Any) -> None:
    async for _ in events:
        pass


async def cpu_blocks(rounds: int, block: int, calls: list[Call]) -> list[float]:
    """Median CPU seconds per call of each, block after block in turn (one warm-up round)."""
    samples: list[list[float]] = [[] for _ in calls]
    for round_ in range(rounds + 1):
        for index, call in enumerate(calls):
            start = time.process_time()
            for _ in range(block):
                await call()
            if round_:
                samples[index].append((time.process_time() - start) / block)
    return [statistics.median(s) for s in samples]


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us"


def row(measure: str, figure: str, baseline: str, ratio: float, target: str) -> dict[str, str]:
    return {
        "measure": measure,
        "vlmroute": figure,
        "baseline": baseline,
        "ratio": f"{ratio:.2f}",
        "target": target,
    }


async def bench_cpu(base_url: str, quick: bool) -> list[dict[str, str]]:
    import vlmroute

    url = f"{base_url}/chat/completions"
    rounds, block = (3, 40) if quick else (15, 200)
    connector = aiohttp.TCPConnector(limit=8)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        vlmroute.AsyncRouter.from_config(router_config(base_url, 8), api_keys=KEYS) as router,
        vlmroute.AsyncClient("zhipu-flash", api_key="bench", base_url=base_url) as client,
    ):
        raw, routed, direct = await cpu_blocks(
            rounds,
            block,
            [
                lambda: raw_post(session, url),
                lambda: router.chat(HELLO),
                lambda: client.chat(HELLO),
            ],
        )
        raw_s, routed_s, direct_s = await cpu_blocks(
            rounds,
            block,
            [
                lambda: raw_stream(session, url),
                lambda: consume(router.stream(HELLO)),
                lambda: consume(client.stream(HELLO)),
            ],
        )
    return [
        row("client CPU per request, concurrency 1", us(routed), us(raw), routed / raw, "<= 2.0"),
        row("  the client alone", us(direct), us(raw), direct / raw, "<= 1.6"),
        row(
            "client CPU per request, streaming", us(routed_s), us(raw_s), routed_s / raw_s, "<= 1.6"
        ),
        row("  the client alone, streaming", us(direct_s), us(raw_s), direct_s / raw_s, ""),
    ]


async def bench_throughput(base_url: str, quick: bool) -> list[dict[str, str]]:
    import vlmroute

    url = f"{base_url}/chat/completions"
    count = 1000 if quick else 5000
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        await fire(256, 256, lambda: raw_post(session, url))  # warm the connections
        raw = count / await fire(count, 256, lambda: raw_post(session, url))
    async with vlmroute.AsyncRouter.from_config(router_config(base_url, 256), api_keys=KEYS) as r:
        await fire(256, 256, lambda: r.chat(HELLO))
        routed = count / await fire(count, 256, lambda: r.chat(HELLO))
    async with vlmroute.AsyncClient("zhipu-flash", api_key="bench", base_url=base_url) as c:
        await fire(256, 256, lambda: c.chat(HELLO))
        direct = count / await fire(count, 256, lambda: c.chat(HELLO))
    per_s = "{:,.0f} req/s".format
    return [
        row(
            "throughput, 256 in flight, 50-ms server",
            per_s(routed),
            per_s(raw),
            routed / raw,
            ">= 0.60",
        ),
        row("  the client alone", per_s(direct), per_s(raw), direct / raw, ">= 0.75"),
    ]


# ------------------------------------------------------------------ peak RSS (child processes)


#: The child process of the RSS row: only what each client needs is imported (this file
#: imports the harness: tabulate, benchmarks/router.py and through it httpx and the fakes).
_RSS_CHILD = """
import asyncio, json, sys
kind, url, count = sys.argv[1], sys.argv[2] + "/chat/completions", int(sys.argv[3])
HELLO = [{"role": "user", "content": "hi"}]
BODY = {"model": "glm-4.1v-thinking-flash", "messages": HELLO}

async def many(call):
    gate = asyncio.Semaphore(256)
    async def one():
        async with gate:
            await call()
    await asyncio.gather(*(one() for _ in range(count)))

async def main():
    if kind == "raw":
        import aiohttp
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as s:
            async def post():
                async with s.post(url, json=BODY, headers={"Authorization": "Bearer b"}) as r:
                    json.loads(await r.read())
            await many(post)
    else:
        from vlmroute import AsyncRouter
        offer = {"offer": "zhipu-flash", "base_url": sys.argv[2], "cap": 256}
        config = {"offers": [offer], "ledger": False, "retry": {"attempts": 1}}
        async with AsyncRouter.from_config(config, api_keys={"zhipu": "b"}) as router:
            await many(lambda: router.chat(HELLO))

asyncio.run(main())
for line in open("/proc/self/status"):  # VmHWM: the peak, which exec resets
    if line.startswith("VmHWM:"):
        print(line.split()[1])
"""


def rss_of(kind: str, base_url: str, count: int) -> float:
    """Peak RSS in MiB of a fresh process running ``kind``."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, kind, base_url, str(count)],
        check=True,
        capture_output=True,
        text=True,
        env=_ENV,  # with bytecode, as installed (compiling our source would count too)
    ).stdout
    return int(out.split()[-1]) / 1024


def bench_rss(base_url: str, quick: bool) -> list[dict[str, str]]:
    count = 600 if quick else 2000
    rss_of("router", base_url, 10)  # the warm-up: writes the bytecode
    raw = statistics.median(rss_of("raw", base_url, count) for _ in range(1 if quick else 3))
    routed = statistics.median(rss_of("router", base_url, count) for _ in range(1 if quick else 3))
    mib = "{:.0f} MiB".format
    return [row("peak RSS at 256 in flight", mib(routed), mib(raw), routed / raw, "<= 1.25")]


async def bench_ledger(base_url: str, quick: bool) -> list[dict[str, str]]:
    import vlmroute

    rounds, block = (3, 40) if quick else (15, 200)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "ledger.db")
        off = router_config(base_url, 8)
        on = router_config(base_url, 8, ledger=path)
        async with (
            vlmroute.AsyncRouter.from_config(off, api_keys=KEYS) as without,
            vlmroute.AsyncRouter.from_config(on, api_keys=KEYS) as with_ledger,
        ):
            bare, kept = await cpu_blocks(
                rounds, block, [lambda: without.chat(HELLO), lambda: with_ledger.chat(HELLO)]
            )
            rows = list(with_ledger.ledger.rows())
        expected = (rounds + 1) * block
        if len(rows) != expected:
            raise RuntimeError(f"the ledger kept {len(rows)} rows for {expected} requests")
    added = kept - bare
    return [
        row(
            "default SQLite ledger on, CPU per request",
            f"{'+' if added >= 0 else '-'}{us(abs(added))}",
            us(bare),
            kept / bare,
            "<= +60 us",
        )
    ]


#: Bytecode written as an installed package has it (pip compiles at install; a source
#: checkout compiles on first import unless PYTHONDONTWRITEBYTECODE is set, as it is on
#: some CI machines, which would time our compiler against our dependencies' .pyc files).
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _process_s(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=_ENV)
    return time.perf_counter() - start


def bench_startup(quick: bool) -> list[dict[str, str]]:
    runs = 5 if quick else 31
    codes = ["pass", "import httpx, aiohttp, pydantic, yaml", "from vlmroute import AsyncRouter"]
    for code in codes:  # the warm-up: writes the bytecode, fills the page cache
        _process_s(code)
    samples: list[list[float]] = [[] for _ in codes]
    for _ in range(runs):
        for index, code in enumerate(codes):
            samples[index].append(_process_s(code))
    bare, deps, ours = (statistics.median(s) for s in samples)
    ms = "{:.0f} ms".format
    return [
        row(
            "python -c 'from vlmroute import AsyncRouter'",
            ms((ours - bare) * 1e3),
            f"{ms((deps - bare) * 1e3)} (its dependencies)",
            (ours - bare) / (deps - bare),
            "<= 1.15",
        ),
        row(
            "  the same, whole processes",
            ms(ours * 1e3),
            ms(deps * 1e3),
            ours / deps,
            "",
        ),
    ]


async def bench_unknown_cap(quick: bool) -> list[dict[str, str]]:
    import vlmroute
    from vlmroute.testing import spawn

    results = []
    for _ in range(1 if quick else 3):
        with spawn("zhipu", latency_s=0.05, cap=5) as fake:
            config = {
                "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url, "tier": "V3"}],
                "ledger": False,
            }
            async with vlmroute.AsyncRouter.from_config(config, api_keys=KEYS) as router:
                start = time.perf_counter()
                replies = await asyncio.gather(
                    *(router.chat(HELLO) for _ in range(100)), return_exceptions=True
                )
                seconds = time.perf_counter() - start
                learned = router.health["zhipu-flash"].effective_cap()
            stats = fake.stats()
        failed = sum(isinstance(r, BaseException) for r in replies)
        rejected = int(stats["status_counts"].get("429", 0))
        results.append((seconds, rejected, failed, stats["peak_in_flight"], learned))
    seconds, rejected, failed, peak, learned = sorted(results)[len(results) // 2]
    return [
        row(
            "100 at once, tier V3 (cap 20), server allows 5",
            f"{seconds:.2f} s, {rejected} x 429",
            "1.00 s ideal",
            seconds,
            "<= 1.40 s, <= 15 x 429",
        ),
        {
            "measure": "  (failed, peak in flight, learned cap)",
            "vlmroute": f"{failed} failed, peak {peak}, cap now {learned}",
            "baseline": "",
            "ratio": "",
            "target": "0 failed",
        },
    ]


async def main(quick: bool, as_json: bool) -> None:
    from vlmroute.testing import spawn

    with spawn("zhipu", latency_s=0.0) as instant:
        rows = await bench_cpu(instant.base_url, quick)
        rows += await bench_ledger(instant.base_url, quick)
    with spawn("zhipu", latency_s=0.05) as slow:
        rows += await bench_throughput(slow.base_url, quick)
        rows += bench_rss(slow.base_url, quick)
    rows += bench_startup(quick)
    rows += await bench_unknown_cap(quick)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        print(tabulate(rows, headers="keys", tablefmt="simple"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.json))
    sys.stdout.flush()
    sys.exit(0)
