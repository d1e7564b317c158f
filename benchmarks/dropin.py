"""The drop-in (``vlmroute.AsyncOpenAI``) against the router it wraps and the plain SDK.

    python benchmarks/dropin.py           # full run
    python benchmarks/dropin.py --quick   # a smoke run (used by the test suite)

One loopback fake Zhipu in a child process (``vlmroute.testing.spawn``), every client in
this process, in the same run:

(a) seconds per request at concurrency 1 (a fake that answers at once), the clients taken
    in turn so that the machine's drift hits them alike: the router called directly
    (``AsyncRouter.chat``); the translation alone (``WireApp.handle`` on the JSON bytes the
    SDK would send, which is what a gateway adds); the drop-in; the plain openai SDK pointed
    at the fake (its default httpx client, and over aiohttp, the SDK's
    ``DefaultAioHttpClient``); raw aiohttp. The plain SDK's cost over raw aiohttp is the
    SDK's own (building, transforming and parsing), which the drop-in pays too, since it is
    the SDK. Streaming is measured the same way.
(b) throughput with 256 requests in flight against a 50-ms fake: the router, the drop-in,
    the plain SDK over aiohttp.

Targets (issue 11): the drop-in adds at most 150 us per request over its router, and keeps at
least 80% of the router's throughput at 256 in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import aiohttp
import openai
from router import fire, interleaved  # benchmarks/router.py: the same timing, shared
from tabulate import tabulate

import vlmroute
from vlmroute._wire import WireApp, routes_of
from vlmroute.testing import SpawnedFake, spawn

HELLO: list[Any] = [{"role": "user", "content": "hi"}]
KEYS = {"zhipu": "bench"}
MODEL = "glm-4.1v-thinking-flash"


def config_for(fake: SpawnedFake, cap: int) -> dict[str, Any]:
    offers = [{"offer": "zhipu-flash", "base_url": fake.base_url, "cap": cap}]
    return {"offers": offers, "ledger": False, "retry": {"attempts": 1}}


async def sdk_stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
    async for _ in stream:
        pass


async def router_stream(router: vlmroute.AsyncRouter) -> None:
    async for _ in router.stream(HELLO):
        pass


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us"


async def raw_post(session: aiohttp.ClientSession, url: str, body: bytes) -> None:
    headers = {"Authorization": "Bearer bench", "Content-Type": "application/json"}
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()


async def bench_latency(fake: SpawnedFake, n: int) -> list[list[str]]:
    router = vlmroute.AsyncRouter.from_config(config_for(fake, 8), api_keys=KEYS)
    app = WireApp(router, routes_of(router))
    body = json.dumps({"model": MODEL, "messages": HELLO}).encode()
    url = f"{fake.base_url}/chat/completions"
    session = aiohttp.ClientSession()
    dropin = vlmroute.AsyncOpenAI(config=config_for(fake, 8), api_keys=KEYS)
    plain = openai.AsyncOpenAI(base_url=fake.base_url, api_key="bench", max_retries=0)
    aio = openai.AsyncOpenAI(
        base_url=fake.base_url,
        api_key="bench",
        max_retries=0,
        http_client=openai.DefaultAioHttpClient(),
    )
    try:
        routed, wired, dropped, sdk, sdk_aio, raw = await interleaved(
            n,
            lambda: router.chat(HELLO),
            lambda: app.handle("POST", "/v1/chat/completions", body),
            lambda: dropin.chat.completions.create(model=MODEL, messages=HELLO),
            lambda: plain.chat.completions.create(model=MODEL, messages=HELLO),
            lambda: aio.chat.completions.create(model=MODEL, messages=HELLO),
            lambda: raw_post(session, url, body),
        )
        s_routed, s_dropped, s_aio = await interleaved(
            n // 2,
            lambda: router_stream(router),
            lambda: sdk_stream(dropin),
            lambda: sdk_stream(aio),
        )
    finally:
        await session.close()
        await router.aclose()
        await dropin.close()
        await plain.close()
        await aio.close()
    return [
        ["(a) concurrency 1", us(routed), "router (AsyncRouter.chat)", "1.00"],
        ["", us(wired), f"translation (WireApp): +{us(wired - routed)}", f"{wired / routed:.2f}"],
        ["", us(dropped), f"drop-in: +{us(dropped - routed)}", f"{dropped / routed:.2f}"],
        ["", us(sdk), "plain openai SDK (httpx)", f"{sdk / routed:.2f}"],
        [
            "",
            us(sdk_aio),
            f"plain SDK (aiohttp): +{us(sdk_aio - raw)} SDK's own",
            f"{sdk_aio / routed:.2f}",
        ],
        ["", us(raw), "raw aiohttp", f"{raw / routed:.2f}"],
        ["(a) streamed", us(s_routed), "router (AsyncRouter.stream)", "1.00"],
        ["", us(s_dropped), f"drop-in: +{us(s_dropped - s_routed)}", f"{s_dropped / s_routed:.2f}"],
        ["", us(s_aio), "plain openai SDK (aiohttp)", f"{s_aio / s_routed:.2f}"],
    ]


async def bench_throughput(fake: SpawnedFake, count: int) -> list[list[str]]:
    async with vlmroute.AsyncRouter.from_config(config_for(fake, 256), api_keys=KEYS) as router:
        routed = count / await fire(count, 256, lambda: router.chat(HELLO))
    dropin = vlmroute.AsyncOpenAI(config=config_for(fake, 256), api_keys=KEYS)
    create = dropin.chat.completions.create
    dropped = count / await fire(count, 256, lambda: create(model=MODEL, messages=HELLO))
    await dropin.close()
    aio = openai.AsyncOpenAI(
        base_url=fake.base_url,
        api_key="bench",
        max_retries=0,
        http_client=openai.DefaultAioHttpClient(),
    )
    plain = aio.chat.completions.create
    sdk = count / await fire(count, 256, lambda: plain(model=MODEL, messages=HELLO))
    await aio.close()
    return [
        ["(b) 256 in flight, 50 ms", f"{routed:,.0f} req/s", "router", "1.00"],
        ["", f"{dropped:,.0f} req/s", "drop-in", f"{dropped / routed:.2f}"],
        ["", f"{sdk:,.0f} req/s", "plain openai SDK (aiohttp)", f"{sdk / routed:.2f}"],
    ]


async def main(quick: bool) -> None:
    with spawn("zhipu", latency_s=0.0) as instant:
        rows = await bench_latency(instant, 100 if quick else 1500)
    with spawn("zhipu", latency_s=0.05) as slow:
        rows += await bench_throughput(slow, 600 if quick else 5000)
    print(tabulate(rows, headers=["benchmark", "figure", "what", "ratio"], tablefmt="simple"))
    print(
        "\nTargets (issue 11): drop-in within 150 us of its router per request; at least "
        "0.80 of its throughput at 256 in flight."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    asyncio.run(main(parser.parse_args().quick))
    sys.exit(0)
