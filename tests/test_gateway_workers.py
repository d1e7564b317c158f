"""``vlmroute serve --workers N``: pre-forked processes on one port, sharing the account's
caps through Redis (or each taking ``cap // N`` without it), under load from many
connections, and stopping cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from tests.test_gateway import gateway
from vlmroute._ledger import SqliteLedger
from vlmroute.testing import FakeProvider, redis_server

REQUESTS = 2000
CONNECTIONS = 64
CAP = 8
BODY = json.dumps(
    {"model": "glm-4.1v-thinking-flash", "messages": [{"role": "user", "content": "hi"}]}
).encode()


async def _load(base_url: str, total: int, connections: int) -> list[int]:
    """``total`` chat completions over ``connections`` keep-alive connections."""
    statuses: list[int] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(n)
    connector = aiohttp.TCPConnector(limit=connections)
    headers = {"content-type": "application/json", "authorization": "Bearer unused"}
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                async with http.post(
                    f"{base_url}/chat/completions", data=BODY, headers=headers
                ) as response:
                    await response.read()
                    statuses.append(response.status)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return statuses


@pytest.mark.slow
def test_four_workers_share_one_cap_through_redis_under_load(tmp_path: Path) -> None:
    with (
        redis_server() as store,
        FakeProvider("zhipu", cap=CAP, latency_s=0.01) as fake,
    ):
        config: dict[str, Any] = {
            "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url, "cap": CAP}],
            "ledger": str(tmp_path / "spend.db"),
            "store": {"url": store.url},
            "max_wait_s": 600,
        }
        with gateway(config, tmp_path, "--workers", "4") as gw:
            statuses = asyncio.run(_load(gw.base_url, REQUESTS, CONNECTIONS))
            code, err = gw.stop()
        stats = fake.stats
        leases = redis.Redis.from_url(store.url)
        try:
            held = {k: leases.zcard(k) for k in leases.scan_iter("*leases")}
        finally:
            leases.close()
    assert code == 0, err
    assert statuses == [200] * REQUESTS
    assert stats.peak_in_flight <= CAP  # the account's cap, across four processes
    assert stats.rejected == 0  # no 429 from the provider
    assert stats.served == REQUESTS
    with SqliteLedger(tmp_path / "spend.db", create=False) as ledger:
        rows = ledger.rows()
    assert len(rows) == REQUESTS
    assert len({r.request_id for r in rows}) == REQUESTS  # each request once
    assert {r.outcome for r in rows} == {"ok"}
    assert not any(held.values())  # every lease given back (an empty set is no key)
    assert "Traceback" not in err


def test_workers_without_a_store_each_take_a_share_of_the_cap(tmp_path: Path) -> None:
    with FakeProvider("zhipu") as fake:
        config: dict[str, Any] = {
            "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url, "cap": 10}],
            "ledger": str(tmp_path / "spend.db"),
        }
        with gateway(config, tmp_path, "--workers", "2") as gw:
            root = gw.base_url.removesuffix("/v1")

            async def ready() -> dict[str, Any]:
                async with aiohttp.ClientSession() as http, http.get(f"{root}/ready") as r:
                    return dict(await r.json())

            states = [asyncio.run(ready()) for _ in range(4)]
            code, err = gw.stop(signal.SIGINT)
    assert "each worker takes cap // 2 (zhipu-flash 10 -> 5)" in err
    assert {s["offers"]["zhipu-flash"]["cap"] for s in states} == {5}
    assert code == 130
    assert "Traceback" not in err
