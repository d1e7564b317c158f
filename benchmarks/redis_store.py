"""What sharing slots through Redis costs a routed request, against the in-process store.

    python benchmarks/redis_store.py                        # full run (starts redis-server)
    python benchmarks/redis_store.py --quick                # a smoke run
    python benchmarks/redis_store.py --url redis://host:6379/0   # an existing Redis

The same router config runs twice in the same process and run, once with the in-process
store (``LocalSlots``) and once with ``store: {url: ...}`` (``RedisSlots``), against one fake
Zhipu provider in a child process (``vlmroute.testing.spawn``) and a Redis on loopback:

(a) latency at concurrency 1 (a fake that answers at once), the two routers taken in turn so
    that drift hits both alike: the median per request, what Redis adds, the ratio;
(b) 100 requests fired at once at a cap of 5 (50 ms per answer): makespan against the ideal
    ceil(100/5) x 50 ms, for both stores; the requests that wait cost Redis no calls.
Both rows give the Redis round trips per request (``RedisSlots.round_trips``).
Without ``--url`` and without ``redis-server`` on the PATH it says so and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
import uuid
from contextlib import ExitStack
from typing import Any

from router import interleaved
from tabulate import tabulate

import vlmroute
from vlmroute._store.redis_slots import RedisSlots
from vlmroute.testing import SpawnedFake, redis_server, spawn

HELLO = [{"role": "user", "content": "hi"}]
KEYS = {"zhipu": "bench"}


def router_for(fake: SpawnedFake, cap: int, url: str | None) -> vlmroute.AsyncRouter:
    config: dict[str, Any] = {
        "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url, "cap": cap}],
        "ledger": False,
        "retry": {"attempts": 1},
    }
    if url is not None:
        config["store"] = {"url": url, "namespace": f"bench-{uuid.uuid4().hex[:8]}"}
    return vlmroute.AsyncRouter.from_config(config, api_keys=KEYS)


def round_trips(router: vlmroute.AsyncRouter) -> int:
    slots = router.slots
    return slots.round_trips if isinstance(slots, RedisSlots) else 0


async def bench_latency(fake: SpawnedFake, url: str, n: int) -> list[list[str]]:
    async with router_for(fake, 8, None) as local, router_for(fake, 8, url) as shared:
        before = round_trips(shared)
        local_s, shared_s = await interleaved(
            n, lambda: local.chat(HELLO), lambda: shared.chat(HELLO)
        )
        per_request = (round_trips(shared) - before) / (n + 50)  # with the warm-up rounds
    return [
        ["(a) latency, concurrency 1", f"{local_s * 1e6:,.0f} us", "in-process store", "-", "1.00"],
        [
            "",
            f"{shared_s * 1e6:,.0f} us",
            f"Redis store: +{(shared_s - local_s) * 1e6:,.0f} us",
            f"{per_request:.2f}",
            f"{shared_s / local_s:.2f}",
        ],
    ]


async def makespan(router: vlmroute.AsyncRouter, count: int) -> tuple[float, float]:
    """Seconds for ``count`` requests fired at once, and Redis calls per request."""
    await router.chat(HELLO)  # connected, warm
    before = round_trips(router)
    start = time.perf_counter()
    await asyncio.gather(*(router.chat(HELLO) for _ in range(count)))
    return time.perf_counter() - start, (round_trips(router) - before) / count


async def bench_cap(fake: SpawnedFake, url: str) -> list[list[str]]:
    ideal = 100 / 5 * 0.05
    rows = [["(b) 100 at once, cap 5, 50 ms", f"{ideal:.2f} s", "ideal", "-", "-"]]
    local_s = 0.0
    for name, store in (("in-process store", None), ("Redis store", url)):
        fake.reset()
        async with router_for(fake, 5, store) as router:
            seconds, per_request = await makespan(router, 100)
        stats = fake.stats()
        local_s = local_s or seconds
        rows.append(
            [
                "",
                f"{seconds:.2f} s",
                f"{name}: peak {stats.peak_in_flight}, {stats.rejected} x 429",
                f"{per_request:.2f}" if store else "-",
                f"{seconds / local_s:.2f}",
            ]
        )
    return rows


async def main(url: str, quick: bool) -> None:
    with spawn("zhipu", latency_s=0.0) as instant:
        rows = await bench_latency(instant, url, 200 if quick else 2000)
    with spawn("zhipu", latency_s=0.05, cap=5) as capped:
        rows += await bench_cap(capped, url)
    headers = ["benchmark", "figure", "what", "Redis calls/request", "ratio"]
    print(tabulate(rows, headers=headers, tablefmt="simple"))


def redis_url(stack: ExitStack, given: str | None) -> str | None:
    """``given``, or a redis-server started for this run (None if there is none)."""
    if given is not None:
        return given
    if shutil.which("redis-server") is None:
        return None
    return stack.enter_context(redis_server()).url


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--url", help="an existing Redis (default: start redis-server)")
    args = parser.parse_args()
    with ExitStack() as stack:
        url = redis_url(stack, args.url)
        if url is None:
            print("skipped: redis-server not installed (apt-get install redis-server) and no --url")
            sys.exit(0)
        asyncio.run(main(url, args.quick))
    sys.exit(0)
