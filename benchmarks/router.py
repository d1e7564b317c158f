"""The router against raw clients on the same loopback fake provider, in the same run.

    python benchmarks/router.py           # full run
    python benchmarks/router.py --quick   # a smoke run (used by the test suite)

The fake providers run in child processes (``vlmroute.testing.spawn``), so client and
server share neither an event loop nor a GIL. Every figure is printed beside its baseline:

(a) added latency per request at concurrency 1: router vs a raw ``aiohttp`` POST and vs
    the router's own transport (httpx over aiohttp) sending the same body;
(b) throughput with 256 requests in flight (50 ms server latency): router vs raw aiohttp;
(c) 100 requests fired at once at one provider with a cap of 5 and 50 ms latency: makespan
    against the ideal ceil(100/5) x 50 ms = 1.0 s, and the 429s the provider sent; the
    baseline is raw aiohttp retrying each 429 after a jittered 50-100 ms wait;
(d) the same 100 requests with two providers (caps 5 and 30): the spillover, its makespan
    against ceil(100/35) x 50 ms, and the 429s.
If LiteLLM is installed, its Router runs (c) too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from tabulate import tabulate

import vlmroute
from vlmroute.testing import SpawnedFake, spawn

HELLO = [{"role": "user", "content": "hi"}]
KEYS = {"zhipu": "bench", "openrouter": "bench"}


def zhipu_body() -> dict[str, Any]:
    return {"model": "glm-4.1v-thinking-flash", "messages": HELLO}


def router_for(*fakes: tuple[str, SpawnedFake, int]) -> vlmroute.AsyncRouter:
    offers = [{"offer": o, "base_url": f.base_url, "cap": cap} for o, f, cap in fakes]
    config = {"offers": offers, "ledger": False, "retry": {"attempts": 1}}
    return vlmroute.AsyncRouter.from_config(config, api_keys=KEYS)


@contextlib.asynccontextmanager
async def aiohttp_session(limit: int) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=limit)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def raw_post(session: aiohttp.ClientSession, url: str) -> int:
    async with session.post(url, json=zhipu_body()) as response:
        await response.read()
        return response.status


async def interleaved(n: int, *calls: Callable[[], Awaitable[object]]) -> list[float]:
    """Median seconds per call of each, the calls taken in turn so that the machine's
    drift hits them all alike (after 50 warm-up rounds)."""
    samples: list[list[float]] = [[] for _ in calls]
    for round_ in range(n + 50):
        for index, call in enumerate(calls):
            start = time.perf_counter()
            await call()
            if round_ >= 50:
                samples[index].append(time.perf_counter() - start)
    return [statistics.median(s) for s in samples]


async def bench_latency(fake: SpawnedFake, n: int) -> list[list[str]]:
    url = f"{fake.base_url}/chat/completions"
    headers = {"Authorization": "Bearer bench"}
    body = json.dumps(zhipu_body()).encode()
    async with (
        aiohttp_session(8) as session,
        httpx.AsyncClient(transport=AiohttpTransport(), timeout=30) as client,
        router_for(("zhipu-flash", fake, 8)) as router,
    ):
        raw, transport, routed = await interleaved(
            n,
            lambda: raw_post(session, url),
            lambda: client.post(url, content=body, headers=headers),
            lambda: router.chat(HELLO),
        )
    return [
        ["(a) latency, concurrency 1", f"{raw * 1e6:,.0f} us", "raw aiohttp", "1.00"],
        ["", f"{transport * 1e6:,.0f} us", "httpx over aiohttp", f"{transport / raw:.2f}"],
        [
            "",
            f"{routed * 1e6:,.0f} us",
            f"router: +{(routed - transport) * 1e6:,.0f} us over its transport",
            f"{routed / raw:.2f}",
        ],
    ]


async def fire(count: int, in_flight: int, call: Callable[[], Awaitable[object]]) -> float:
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return time.perf_counter() - start


async def bench_throughput(fake: SpawnedFake, count: int) -> list[list[str]]:
    url = f"{fake.base_url}/chat/completions"
    async with aiohttp_session(256) as session:
        raw = count / await fire(count, 256, lambda: raw_post(session, url))
    async with router_for(("zhipu-flash", fake, 256)) as router:
        routed = count / await fire(count, 256, lambda: router.chat(HELLO))
    return [
        ["(b) throughput, 256 in flight", f"{raw:,.0f} req/s", "raw aiohttp", "1.00"],
        ["", f"{routed:,.0f} req/s", "router", f"{routed / raw:.2f}"],
    ]


async def raw_retrying(session: aiohttp.ClientSession, url: str) -> None:
    while await raw_post(session, url) == 429:
        await asyncio.sleep(random.uniform(0.05, 0.1))


def rejected(fake: SpawnedFake) -> int:
    counts = fake.stats()["status_counts"]
    return int(counts.get("429", 0))


async def bench_cap(fake: SpawnedFake) -> list[list[str]]:
    url = f"{fake.base_url}/chat/completions"
    fake.reset()
    async with aiohttp_session(100) as session:
        raw = await fire(100, 100, lambda: raw_retrying(session, url))
    raw_429 = rejected(fake)
    fake.reset()
    async with router_for(("zhipu-flash", fake, 5)) as router:
        routed = await fire(100, 100, lambda: router.chat(HELLO))
    stats = fake.stats()
    rows = [
        ["(c) 100 at once, cap 5, 50 ms", "1.00 s", "ideal ceil(100/5) x 50 ms", "1.00"],
        ["", f"{raw:.2f} s", f"raw aiohttp retrying 429s: {raw_429} x 429", f"{raw:.2f}"],
        [
            "",
            f"{routed:.2f} s",
            f"router: {rejected(fake)} x 429, peak {stats['peak_in_flight']} in flight",
            f"{routed:.2f}",
        ],
    ]
    litellm = await litellm_cap(fake)
    if litellm is not None:
        rows.append(["", f"{litellm[0]:.2f} s", f"LiteLLM Router: {litellm[1]} x 429", ""])
    return rows


async def litellm_cap(fake: SpawnedFake) -> tuple[float, int] | None:
    try:
        import litellm  # type: ignore[import-not-found]
    except ImportError:
        return None
    fake.reset()
    model = {
        "model_name": "glm",
        "litellm_params": {
            "model": "openai/glm-4.1v-thinking-flash",
            "api_base": fake.base_url,
            "api_key": "bench",
            "max_parallel_requests": 5,
        },
    }
    router = litellm.Router(model_list=[model], num_retries=10)
    seconds = await fire(100, 100, lambda: router.acompletion(model="glm", messages=HELLO))
    return seconds, rejected(fake)


async def bench_spill(small: SpawnedFake, large: SpawnedFake) -> list[list[str]]:
    small.reset()
    large.reset()
    async with router_for(("zhipu-flash", small, 5), ("openrouter", large, 30)) as router:
        start = time.perf_counter()
        replies = await asyncio.gather(*(router.chat(HELLO) for _ in range(100)))
        routed = time.perf_counter() - start
    served = Counter(r.offer for r in replies)
    ideal = math.ceil(100 / 35) * 0.05
    four_29s = rejected(small) + rejected(large)
    peaks = f"peaks {small.stats()['peak_in_flight']}/5 and {large.stats()['peak_in_flight']}/30"
    return [
        ["(d) 100 at once, caps 5 + 30", f"{ideal:.2f} s", "ideal ceil(100/35) x 50 ms", "1.00"],
        [
            "",
            f"{routed:.2f} s",
            f"router: free {served['zhipu-flash']}, paid {served['openrouter']}; "
            f"{four_29s} x 429; {peaks}",
            f"{routed / ideal:.2f}",
        ],
    ]


async def main(quick: bool) -> None:
    n = 200 if quick else 2000
    with spawn("zhipu", latency_s=0.0) as instant:
        rows = await bench_latency(instant, n)
    with spawn("zhipu", latency_s=0.05) as slow:
        rows += await bench_throughput(slow, 1000 if quick else 5000)
    with spawn("zhipu", latency_s=0.05, cap=5) as capped:
        rows += await bench_cap(capped)
        with spawn("openrouter", latency_s=0.05, cap=30) as other:
            rows += await bench_spill(capped, other)
    print(tabulate(rows, headers=["benchmark", "figure", "what", "ratio"], tablefmt="simple"))
    print(
        "\nTargets (issue 4): router within 300 us of its transport per request; (c) within "
        "1.15 s with zero 429s."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    asyncio.run(main(parser.parse_args().quick))
    sys.exit(0)
