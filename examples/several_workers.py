"""Three worker processes on one Zhipu account: its cap of 5 held across them through Redis.

python examples/several_workers.py                              # starts its own redis-server
python examples/several_workers.py --redis redis://host:6379/0  # or uses yours

Offline: one fake Zhipu provider (``vlmroute.testing.spawn``) with a cap of 5 that answers
429 (code 1302) above it, as Zhipu does, and three processes that each build their own router
from the same config, as gunicorn workers would. Each sends 20 requests at once. First without
``store:`` (each process holds the cap alone: 15 in flight, 429s), then with it (5 at most,
none refused). Needs ``pip install 'vlmroute[redis]'`` and a ``redis-server`` binary or URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import shutil
from typing import Any

import vlmroute
from vlmroute.testing import redis_server, spawn

WORKERS, PER_WORKER, CAP = 3, 20, 5
HELLO = [{"role": "user", "content": "Describe the image."}]


def worker(config: dict[str, Any], results: Any) -> None:
    """One worker process: its own router, PER_WORKER requests at once."""

    async def run() -> None:
        async with vlmroute.AsyncRouter.from_config(config, api_keys={"zhipu": "k"}) as router:
            replies = await asyncio.gather(
                *(router.chat(HELLO) for _ in range(PER_WORKER)), return_exceptions=True
            )
        results.put(sum(not isinstance(r, BaseException) for r in replies))

    asyncio.run(run())


def run_workers(config: dict[str, Any]) -> int:
    """Start the workers, wait for them; how many requests were answered in all."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    processes = [ctx.Process(target=worker, args=(config, results)) for _ in range(WORKERS)]
    for process in processes:
        process.start()
    answered = sum(int(results.get(timeout=120)) for _ in processes)
    for process in processes:
        process.join()
    return answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="a Redis URL (default: start a redis-server here)")
    args = parser.parse_args()
    try:  # checked here: each worker would fail alone, in its own process
        import redis  # noqa: F401
    except ImportError:
        raise SystemExit(
            "the Redis store needs the redis package: pip install 'vlmroute[redis]'"
        ) from None
    if args.redis is None and shutil.which("redis-server") is None:
        raise SystemExit("no redis-server here: apt-get install redis-server, or pass --redis URL")
    with contextlib.ExitStack() as stack:
        url = args.redis or stack.enter_context(redis_server()).url  # a throwaway one
        with spawn("zhipu", latency_s=0.2, cap=CAP) as fake:
            config: dict[str, Any] = {
                "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url, "cap": CAP}],
                "ledger": False,
                "retry": {"attempts": 1},
            }
            total = WORKERS * PER_WORKER
            print(f"{WORKERS} workers x {PER_WORKER} requests, one account capped at {CAP}:")
            for label, store in (("each alone", None), ("with store:", {"url": url})):
                fake.reset_stats()
                answered = run_workers({**config, "store": store})
                stats = fake.stats()
                print(
                    f"  {label:11}  peak in flight at the provider {stats.peak_in_flight:2}, "
                    f"429s {stats.rejected:2}, answered {answered}/{total}"
                )


if __name__ == "__main__":
    main()
