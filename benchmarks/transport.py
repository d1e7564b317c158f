"""HTTP client throughput at high concurrency, as a ratio against raw aiohttp in the same run.

    python benchmarks/transport.py             # full run: 1,000 requests a client, 2 rounds
    python benchmarks/transport.py --quick     # a smoke run: 300 requests, one round
    python benchmarks/transport.py --json      # the same figures as JSON on stdout

A minimal OpenAI-compatible ``POST /v1/chat/completions`` server (aiohttp.web) runs in a
separate process on 127.0.0.1, so client and server share neither an event loop nor a GIL.
It sleeps ``--latency-ms`` with ``asyncio.sleep`` (so it can hold thousands of requests at
once), returns a small chat-completion JSON, and counts the peak number of requests in flight
and the TCP connections it saw. Each client sends ``--requests`` POSTs through a semaphore of
``--concurrency`` and decodes every reply. Each round runs raw ``aiohttp.ClientSession`` first
and every figure is a ratio against it: these 2-core machines are noisy, absolute figures are
for scale only. With 256 in flight and 50 ms of server latency the ceiling is 5,120 req/s.

What it shows (httpx 0.28.1, httpcore 1.0.9): the httpx clients are CPU-bound in httpcore's
``AsyncConnectionPool._assign_requests_to_connections``, which runs on every request start
and every response close and (1) for each request queued behind ``max_connections`` rescans
every connection, (2) for each idle connection rebuilds a list of all connections to compare
their *total* with ``max_keepalive_connections`` (so it also closes connections it should
keep: TCP churn), and (3) polls every idle socket. Raising the limits trades (1) for (2), so
no ``httpx.Limits`` fixes it. Many one-connection pools (``ShardedTransport``) or aiohttp under
httpx (``httpx_aiohttp.AiohttpTransport``, the transport behind ``openai.DefaultAioHttpClient``)
do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import statistics
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from typing import Any

import aiohttp
import httpx
import httpx_aiohttp
import openai
from aiohttp import web
from tabulate import tabulate

from vlmroute._backends import Timeouts, make_edge

MODEL = "glm-4.1v-9b-thinking"
PAYLOAD: dict[str, Any] = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Say hi."}],
    "max_tokens": 16,
}
COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-loopback",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
}
SERVER_LIFETIME_S = 1800.0  # the server stops by itself after this, whatever the parent does


# --------------------------------------------------------------------------------------------
# The loopback server (runs in a child process)
# --------------------------------------------------------------------------------------------


@dataclass
class _ServerStats:
    inflight: int = 0
    peak: int = 0
    served: int = 0
    peers: set[tuple[str, int]] = field(default_factory=set)

    def as_json(self) -> dict[str, int]:
        return {"peak": self.peak, "served": self.served, "connections": len(self.peers)}


def _make_app(latency_s: float, stats: _ServerStats) -> web.Application:
    body = json.dumps(COMPLETION).encode()

    async def completions(request: web.Request) -> web.Response:
        stats.inflight += 1
        stats.peak = max(stats.peak, stats.inflight)
        transport = request.transport
        if transport is not None:
            peer = transport.get_extra_info("peername")
            if peer is not None:
                stats.peers.add((str(peer[0]), int(peer[1])))
        try:
            await request.read()
            await asyncio.sleep(latency_s)
            stats.served += 1
            return web.Response(body=body, content_type="application/json")
        finally:
            stats.inflight -= 1

    async def get_stats(_request: web.Request) -> web.Response:
        return web.json_response(stats.as_json())

    async def reset_stats(_request: web.Request) -> web.Response:
        stats.peak = stats.inflight
        stats.served = 0
        stats.peers.clear()
        return web.json_response(stats.as_json())

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/_stats", get_stats)
    app.router.add_post("/_stats/reset", reset_stats)
    return app


async def _serve(conn: Connection, stop: EventType, latency_s: float, parent_pid: int) -> None:
    stats = _ServerStats()
    runner = web.AppRunner(_make_app(latency_s, stats), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        conn.send(site.port)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SERVER_LIFETIME_S
        while not stop.is_set() and loop.time() < deadline and os.getppid() == parent_pid:
            await asyncio.sleep(0.2)
    finally:
        await runner.cleanup()


def _server_main(conn: Connection, stop: EventType, latency_s: float, parent_pid: int) -> None:
    asyncio.run(_serve(conn, stop, latency_s, parent_pid))


class LoopbackServer:
    """The server process: started by ``__enter__``, stopped (and joined) by ``__exit__``."""

    def __init__(self, latency_s: float) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.Event()
        self._recv, send = self._ctx.Pipe(duplex=False)
        self._proc = self._ctx.Process(
            target=_server_main,
            args=(send, self._stop, latency_s, os.getpid()),
            name="transport-bench-server",
            daemon=True,
        )
        self.port = 0

    def __enter__(self) -> LoopbackServer:
        self._proc.start()
        try:
            if not self._recv.poll(60):
                raise RuntimeError("the loopback server did not start within 60 s")
            self.port = int(self._recv.recv())
        except BaseException:
            self._shutdown()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        self._stop.set()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _control(self, method: str, path: str) -> dict[str, int]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            data: dict[str, int] = json.loads(response.read())
        return data

    def reset_stats(self) -> None:
        self._control("POST", "/_stats/reset")

    def stats(self) -> dict[str, int]:
        return self._control("GET", "/_stats")


# --------------------------------------------------------------------------------------------
# The clients
# --------------------------------------------------------------------------------------------

Sender = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Setup:
    url: str
    base_url: str
    concurrency: int
    shard_size: int


ClientFactory = Callable[[Setup], AbstractAsyncContextManager[Sender]]


def _check(body: Any) -> None:
    if body["choices"][0]["message"]["content"] != "hi":
        raise ValueError(f"unexpected reply: {body!r}")


def recommended_timeout() -> httpx.Timeout:
    """Every phase bounded; read is long because a thinking VLM can take minutes to answer."""
    return httpx.Timeout(connect=10.0, read=300.0, write=30.0, pool=30.0)


def recommended_limits(concurrency: int) -> httpx.Limits:
    """One connection per request in flight, all kept alive between requests (15 s idle, as
    aiohttp's default: below the usual server-side idle timeouts)."""
    return httpx.Limits(
        max_connections=concurrency,
        max_keepalive_connections=concurrency,
        keepalive_expiry=15.0,
    )


@asynccontextmanager
async def raw_aiohttp(setup: Setup) -> AsyncIterator[Sender]:
    connector = aiohttp.TCPConnector(limit=setup.concurrency, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=330.0, sock_connect=10.0, sock_read=300.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send() -> None:
            async with session.post(setup.url, json=PAYLOAD) as response:
                response.raise_for_status()
                _check(await response.json())

        yield send


def _httpx_sender(client: httpx.AsyncClient, url: str) -> Sender:
    async def send() -> None:
        response = await client.post(url, json=PAYLOAD)
        response.raise_for_status()
        _check(response.json())

    return send


@asynccontextmanager
async def httpx_defaults(setup: Setup) -> AsyncIterator[Sender]:
    async with httpx.AsyncClient() as client:
        yield _httpx_sender(client, setup.url)


@asynccontextmanager
async def httpx_openai_limits(setup: Setup) -> AsyncIterator[Sender]:
    # openai/_constants.py: what AsyncOpenAI() builds when given no http_client.
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    async with httpx.AsyncClient(limits=limits, timeout=recommended_timeout()) as client:
        yield _httpx_sender(client, setup.url)


@asynccontextmanager
async def httpx_sized(setup: Setup) -> AsyncIterator[Sender]:
    limits = recommended_limits(setup.concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=recommended_timeout()) as client:
        yield _httpx_sender(client, setup.url)


def aiohttp_transport(concurrency: int) -> httpx_aiohttp.AiohttpTransport:
    # max_connections must be given: with None the transport leaves aiohttp's default of 100.
    return httpx_aiohttp.AiohttpTransport(limits=recommended_limits(concurrency))


@asynccontextmanager
async def httpx_over_aiohttp(setup: Setup) -> AsyncIterator[Sender]:
    transport = aiohttp_transport(setup.concurrency)
    async with httpx.AsyncClient(transport=transport, timeout=recommended_timeout()) as client:
        yield _httpx_sender(client, setup.url)


@asynccontextmanager
async def vlmroute_client(setup: Setup) -> AsyncIterator[Sender]:
    edge = make_edge(max_connections=setup.concurrency)
    body = json.dumps(PAYLOAD).encode()
    headers = {"Content-Type": "application/json"}
    timeouts = Timeouts()

    async def send() -> None:
        answer = await edge.post(setup.url, headers=headers, body=body, timeouts=timeouts)
        _check(json.loads(answer.body))

    try:
        yield send
    finally:
        await edge.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that calls ``release`` once, when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class ShardedTransport(httpx.AsyncBaseTransport):
    """Several small httpcore pools, each request sent on the least busy one.

    httpcore 1.0.9 spends O(connections x idle connections) per request on pool bookkeeping;
    pools of ``per_shard`` connections keep that small while every connection stays alive.
    """

    def __init__(self, connections: int, per_shard: int = 1, keepalive_expiry: float = 15.0):
        shards = max(1, -(-connections // per_shard))
        limits = httpx.Limits(
            max_connections=per_shard,
            max_keepalive_connections=per_shard,
            keepalive_expiry=keepalive_expiry,
        )
        ssl_context = httpx.create_ssl_context()  # one for all: each costs ~30 ms to build
        self._shards = [
            httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits) for _ in range(shards)
        ]
        self._busy = [0] * shards

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[index] += 1

        def release() -> None:
            self._busy[index] -= 1

        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(response.stream, release),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


def sharded_client(setup: Setup) -> httpx.AsyncClient:
    transport = ShardedTransport(setup.concurrency, per_shard=setup.shard_size)
    return httpx.AsyncClient(transport=transport, timeout=recommended_timeout())


@asynccontextmanager
async def httpx_sharded(setup: Setup) -> AsyncIterator[Sender]:
    async with sharded_client(setup) as client:
        yield _httpx_sender(client, setup.url)


def _openai_sender(client: openai.AsyncOpenAI) -> Sender:
    async def send() -> None:
        completion = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Say hi."}], max_tokens=16
        )
        if completion.choices[0].message.content != "hi":
            raise ValueError(f"unexpected reply: {completion!r}")

    return send


@asynccontextmanager
async def openai_default(setup: Setup) -> AsyncIterator[Sender]:
    async with openai.AsyncOpenAI(
        base_url=setup.base_url, api_key="sk-loopback", max_retries=0
    ) as client:
        yield _openai_sender(client)


@asynccontextmanager
async def openai_over_sharded(setup: Setup) -> AsyncIterator[Sender]:
    http_client = sharded_client(setup)
    async with (
        http_client,
        openai.AsyncOpenAI(
            base_url=setup.base_url, api_key="sk-loopback", max_retries=0, http_client=http_client
        ) as client,
    ):
        yield _openai_sender(client)


@asynccontextmanager
async def openai_over_aiohttp(setup: Setup) -> AsyncIterator[Sender]:
    http_client = openai.DefaultAioHttpClient(
        limits=recommended_limits(setup.concurrency), timeout=recommended_timeout()
    )
    async with (
        http_client,
        openai.AsyncOpenAI(
            base_url=setup.base_url, api_key="sk-loopback", max_retries=0, http_client=http_client
        ) as client,
    ):
        yield _openai_sender(client)


BASELINE = "aiohttp"
CLIENTS: dict[str, tuple[str, ClientFactory]] = {
    BASELINE: ("aiohttp.ClientSession(connector=TCPConnector(limit=concurrency))", raw_aiohttp),
    "httpx-defaults": (
        "httpx.AsyncClient(): 100 conns, 20 keep-alive, 5 s timeout",
        httpx_defaults,
    ),
    "httpx-openai-limits": (
        "httpx Limits(1000 conns, 100 keep-alive): what AsyncOpenAI() builds by itself",
        httpx_openai_limits,
    ),
    "httpx-sized": ("httpx Limits(concurrency conns, concurrency keep-alive)", httpx_sized),
    "httpx-sharded": (
        "httpx.AsyncClient(transport=ShardedTransport(concurrency)): many tiny httpcore pools",
        httpx_sharded,
    ),
    "httpx+aiohttp": (
        "httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport(limits=sized))",
        httpx_over_aiohttp,
    ),
    "vlmroute-http": (
        "vlmroute._backends.make_edge(): what every vlmroute backend sends through",
        vlmroute_client,
    ),
    "openai-default": ("AsyncOpenAI() with its own httpx client (1000 / 100)", openai_default),
    "openai+httpx-sharded": ("AsyncOpenAI(http_client=<httpx-sharded>)", openai_over_sharded),
    "openai+aiohttp": (
        "AsyncOpenAI(http_client=DefaultAioHttpClient(limits=sized))",
        openai_over_aiohttp,
    ),
}


# --------------------------------------------------------------------------------------------
# Running and reporting
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    client: str
    round: int
    ok: int
    errors: dict[str, int]
    elapsed_s: float
    cpu_s: float
    peak_in_flight: int
    connections: int
    latencies_s: list[float]
    timed_out: bool

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def quantile_ms(self, q: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return 1000.0 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_client(
    name: str,
    factory: ClientFactory,
    server: LoopbackServer,
    *,
    requests: int,
    concurrency: int,
    budget_s: float,
    round_no: int,
    shard_size: int = 1,
) -> Result:
    setup = Setup(
        url=server.url, base_url=server.base_url, concurrency=concurrency, shard_size=shard_size
    )
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    semaphore = asyncio.Semaphore(concurrency)
    server.reset_stats()
    async with factory(setup) as send:

        async def one() -> None:
            async with semaphore:
                start = time.perf_counter()
                try:
                    await send()
                except Exception as exc:
                    errors[type(exc).__name__] += 1
                else:
                    latencies.append(time.perf_counter() - start)

        cpu0 = time.process_time()
        start = time.perf_counter()
        tasks = [asyncio.create_task(one()) for _ in range(requests)]
        _done, pending = await asyncio.wait(tasks, timeout=budget_s)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    stats = server.stats()
    return Result(
        client=name,
        round=round_no,
        ok=len(latencies),
        errors=dict(errors),
        elapsed_s=elapsed,
        cpu_s=cpu,
        peak_in_flight=stats["peak"],
        connections=stats["connections"],
        latencies_s=latencies,
        timed_out=bool(pending),
    )


@dataclass
class Row:
    client: str
    rps: float
    ratio: float
    peak_in_flight: int
    connections: int
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    errors: dict[str, int]
    timed_out: bool
    ratios_per_round: list[float]


def summarise(results: list[Result], names: list[str]) -> list[Row]:
    """Per client: the median over rounds of its figures, and of its ratio to the baseline
    run in the same round."""
    baseline = {r.round: r.rps for r in results if r.client == BASELINE}
    rows = []
    for name in names:
        mine = [r for r in results if r.client == name]
        ratios = [r.rps / baseline[r.round] if baseline.get(r.round) else 0.0 for r in mine]
        errors: Counter[str] = Counter()
        for r in mine:
            errors.update(r.errors)
        rows.append(
            Row(
                client=name,
                rps=statistics.median(r.rps for r in mine),
                ratio=statistics.median(ratios),
                peak_in_flight=int(statistics.median(r.peak_in_flight for r in mine)),
                connections=int(statistics.median(r.connections for r in mine)),
                p50_ms=statistics.median(r.quantile_ms(0.50) for r in mine),
                p99_ms=statistics.median(r.quantile_ms(0.99) for r in mine),
                cpu_us_per_request=statistics.median(
                    1e6 * r.cpu_s / max(1, r.ok + sum(r.errors.values())) for r in mine
                ),
                errors=dict(errors),
                timed_out=any(r.timed_out for r in mine),
                ratios_per_round=[round(x, 4) for x in ratios],
            )
        )
    return rows


async def run_all(
    args: argparse.Namespace, server: LoopbackServer, names: list[str]
) -> list[Result]:
    # Warm up (unrecorded): the server's first requests and the client's imports are slow.
    await run_client(
        BASELINE,
        CLIENTS[BASELINE][1],
        server,
        requests=min(args.requests, 2 * args.concurrency),
        concurrency=args.concurrency,
        budget_s=args.budget_s,
        round_no=-1,
    )
    results = []
    for round_no in range(args.rounds):
        for name in names:
            _label, factory = CLIENTS[name]
            result = await run_client(
                name,
                factory,
                server,
                requests=args.requests,
                concurrency=args.concurrency,
                budget_s=args.budget_s,
                round_no=round_no,
                shard_size=args.shard_size,
            )
            results.append(result)
            if not args.json:
                print(
                    f"  round {round_no + 1}/{args.rounds} {name:<24} {result.rps:8.0f} req/s"
                    f"  peak {result.peak_in_flight:4d}  errors {sum(result.errors.values())}",
                    file=sys.stderr,
                )
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="300 requests, one round")
    parser.add_argument("--requests", type=int, default=None, help="requests per client")
    parser.add_argument("--concurrency", type=int, default=256, help="requests in flight")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="server latency")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (each has a baseline)")
    parser.add_argument(
        "--clients",
        default=",".join(CLIENTS),
        help=f"comma-separated subset of: {', '.join(CLIENTS)} (the baseline always runs)",
    )
    parser.add_argument(
        "--budget-s", type=float, default=120.0, help="stop one client's run after this long"
    )
    parser.add_argument(
        "--shard-size", type=int, default=1, help="connections per pool in httpx-sharded"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.requests is None:
        args.requests = 300 if args.quick else 1000
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    if min(args.requests, args.concurrency, args.rounds, args.shard_size) < 1:
        parser.error("--requests, --concurrency, --rounds and --shard-size must be at least 1")
    return args


def _no_nan(value: Any) -> Any:
    """``value`` with NaN (a client with no successful request has no latency) as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = [n.strip() for n in args.clients.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in CLIENTS]
    if unknown:
        print(f"unknown clients: {', '.join(unknown)}", file=sys.stderr)
        return 2
    names = [BASELINE, *(n for n in wanted if n != BASELINE)]
    # Loopback only: never let an environment proxy capture 127.0.0.1 (httpx trusts the env).
    for var in ("NO_PROXY", "no_proxy"):
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), "127.0.0.1", "localhost"]))

    started = time.perf_counter()
    with LoopbackServer(args.latency_ms / 1000.0) as server:
        results = asyncio.run(run_all(args, server, names))
    wall = time.perf_counter() - started
    rows = summarise(results, names)
    conditions = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "rounds": args.rounds,
        "shard_size": args.shard_size,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "httpx": httpx.__version__,
        "aiohttp": aiohttp.__version__,
        "openai": openai.__version__,
        "ceiling_rps": round(args.concurrency / (args.latency_ms / 1000.0)),
        "wall_s": round(wall, 1),
    }
    if args.json:
        out = {
            "conditions": conditions,
            "rows": [row.__dict__ for row in rows],
            "results": [
                {k: v for k, v in r.__dict__.items() if k != "latencies_s"}
                | {"rps": r.rps, "p50_ms": r.quantile_ms(0.5), "p99_ms": r.quantile_ms(0.99)}
                for r in results
            ],
        }
        print(json.dumps(_no_nan(out), indent=2, allow_nan=False))
        return 0
    labels = {name: label for name, (label, _f) in CLIENTS.items()}
    table = [
        [
            row.client,
            f"{row.rps:,.0f}",
            f"{row.ratio:.3f}",
            row.peak_in_flight,
            row.connections,
            f"{row.p50_ms:.1f}",
            f"{row.p99_ms:.1f}",
            f"{row.cpu_us_per_request:,.0f}",
            ", ".join(f"{k}: {v}" for k, v in row.errors.items())
            + (" (ran out of time)" if row.timed_out else ""),
        ]
        for row in rows
    ]
    print(
        f"{args.requests} requests per client, {args.concurrency} in flight, "
        f"{args.latency_ms:g} ms server latency, median of {args.rounds} round(s); "
        f"ceiling {conditions['ceiling_rps']:,} req/s; {wall:.0f} s in all"
    )
    print(
        tabulate(
            table,
            headers=[
                "client",
                "req/s",
                "vs aiohttp",
                "peak in flight",
                "TCP conns",
                "p50 ms",
                "p99 ms",
                "client CPU us/req",
                "errors",
            ],
            disable_numparse=True,
            colalign=("left", "right", "right", "right", "right", "right", "right", "right"),
        )
    )
    print()
    for name in names:
        print(f"  {name}: {labels[name]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
