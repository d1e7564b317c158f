"""The two HTTP edges (aiohttp directly, the default; httpx, respx's) send the same thing and
fail the same way, checked against real loopback servers: the fake providers and a bare
aiohttp.web server for what the fakes do not do (cookies, redirects, odd line endings)."""

from __future__ import annotations

import asyncio
import base64
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import vlmroute
from vlmroute import AsyncClient, Timeouts
from vlmroute._backends.sse import LineSplitter
from vlmroute.testing import FakeProvider, Fault

HELLO = [{"role": "user", "content": "Describe it."}]
KEY = "sk-edge-test-key-0123456789"
EDGES: list[Literal["aiohttp", "httpx"]] = ["aiohttp", "httpx"]


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider("openrouter", api_key=KEY) as provider:
        yield provider


def client(fake: FakeProvider, transport: Literal["aiohttp", "httpx"], **kw: Any) -> AsyncClient:
    kw.setdefault("retry", vlmroute.RetryPolicy(attempts=1))
    return AsyncClient("openrouter", api_key=KEY, base_url=fake.base_url, transport=transport, **kw)


def test_both_edges_send_the_same_body_and_headers(fake: FakeProvider) -> None:
    options = vlmroute.BackendOptions(extra_headers={"X-Trace": "t-1"}, app_title="edge test")

    async def go(transport: Literal["aiohttp", "httpx"]) -> vlmroute.ChatResponse:
        async with client(fake, transport, options=options) as c:
            return await c.chat(HELLO, max_tokens=64, temperature=0.5)

    answers = {t: asyncio.run(go(t)) for t in EDGES}
    sent = fake.requests
    assert len(sent) == 2
    assert sent[0].json == sent[1].json
    assert sent[0].json["max_tokens"] == 64
    assert sent[0].json["temperature"] == 0.5
    for request in sent:
        assert request.authorized
        assert request.auth_scheme == "Bearer"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-trace"] == "t-1"
        assert request.headers["x-openrouter-title"] == "edge test"
    assert "vlmroute/" in sent[0].headers["user-agent"]  # aiohttp's own UA is not sent
    aio, hx = answers["aiohttp"], answers["httpx"]
    assert (aio.answer, aio.reasoning, aio.usage) == (hx.answer, hx.reasoning, hx.usage)


def test_a_body_of_megabytes_is_sent_whole_on_both_edges_and_retried_whole(
    fake: FakeProvider,
) -> None:
    """A 3 MB base64 image: aiohttp warns for raw bytes over 1 MiB (an error under this
    suite's filterwarnings), so the edge streams it; a retry sends it whole again."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", 640, 480, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr
    png += struct.pack(">I", zlib.crc32(ihdr)) + bytes(2_300_000)  # a header, then padding
    image = "data:image/png;base64," + base64.b64encode(png).decode()
    big = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}]

    async def go(transport: Literal["aiohttp", "httpx"]) -> None:
        retry = vlmroute.RetryPolicy(attempts=2, initial_backoff_s=0.01, max_backoff_s=0.01)
        async with client(fake, transport, retry=retry) as c:
            fake.inject(Fault.server_error(500))
            await c.chat(big, max_tokens=8)

    for transport in EDGES:
        asyncio.run(go(transport))
    sent = fake.requests
    assert len(sent) == 4
    urls = {r.json["messages"][0]["content"][0]["image_url"]["url"] for r in sent}
    assert len(urls) == 1
    assert len(urls.pop()) > 3_000_000


@pytest.mark.parametrize("transport", EDGES)
def test_both_edges_stream_the_same_events(
    fake: FakeProvider, transport: Literal["aiohttp", "httpx"]
) -> None:
    async def go() -> list[vlmroute.StreamEvent]:
        async with client(fake, transport) as c:
            return [event async for event in c.stream(HELLO)]

    events = asyncio.run(go())
    assert isinstance(events[-1], vlmroute.StreamEnd)
    text = "".join(e.text for e in events if isinstance(e, vlmroute.AnswerDelta))
    assert text == events[-1].response.answer
    assert fake.requests[0].json["stream"] is True


@pytest.mark.parametrize("transport", EDGES)
@pytest.mark.parametrize(
    ("fault", "error", "words"),
    [
        (Fault.drop(), vlmroute.ProviderConnectionError, "closed before the answer"),
        (Fault.cut_stream(), vlmroute.ProviderConnectionError, "closed before the answer"),
        (Fault.hang(2.0), vlmroute.ProviderTimeoutError, "timeouts.read"),
    ],
    ids=["drop", "cut", "hang"],
)
def test_transport_failures_are_typed_alike_on_both_edges(
    fake: FakeProvider,
    transport: Literal["aiohttp", "httpx"],
    fault: Fault,
    error: type[Exception],
    words: str,
) -> None:
    fake.inject(fault)
    timeouts = Timeouts(connect=2.0, read=0.3, total=5.0)

    async def go() -> None:
        async with client(fake, transport, timeouts=timeouts) as c:
            await c.chat(HELLO)

    with pytest.raises(error, match=words) as info:
        asyncio.run(go())
    assert KEY not in str(info.value)


@pytest.mark.parametrize("transport", EDGES)
def test_a_total_timeout_is_the_backend_s_own_on_both_edges(
    fake: FakeProvider, transport: Literal["aiohttp", "httpx"]
) -> None:
    fake.inject(Fault.hang(2.0))
    timeouts = Timeouts(connect=2.0, read=5.0, total=0.3)

    async def go() -> None:
        async with client(fake, transport, timeouts=timeouts) as c:
            await c.chat(HELLO)

    with pytest.raises(vlmroute.ProviderTimeoutError, match=r"timeouts\.total"):
        asyncio.run(go())


@pytest.mark.parametrize("transport", EDGES)
def test_a_refused_connection_names_the_base_url_on_both_edges(
    transport: Literal["aiohttp", "httpx"],
) -> None:
    with FakeProvider("openrouter") as gone:
        base = gone.base_url
    c = AsyncClient(
        "openrouter",
        api_key=KEY,
        base_url=base,
        transport=transport,
        retry=vlmroute.RetryPolicy(attempts=1),
    )

    async def go() -> None:
        async with c:
            await c.chat(HELLO)

    with pytest.raises(vlmroute.ProviderConnectionError, match=r"cannot connect .*base_url"):
        asyncio.run(go())


# ---------------------------------------------------------------- what the fakes do not do


@asynccontextmanager
async def bare_server(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


OK = {
    "id": "c-1",
    "model": "z-ai/glm-4.1v-9b-thinking",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


def test_the_default_edge_keeps_no_cookies_and_follows_no_redirect() -> None:
    seen: list[str | None] = []

    async def chat(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Cookie"))
        if len(seen) == 3:
            raise web.HTTPTemporaryRedirect("/elsewhere")
        response = web.json_response(OK)
        response.set_cookie("session", "abc")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)

    async def go() -> None:
        async with bare_server(app) as base:
            retry = vlmroute.RetryPolicy(attempts=1)
            async with AsyncClient("openrouter", api_key=KEY, base_url=base, retry=retry) as c:
                assert (await c.chat(HELLO)).answer == "ok"
                assert (await c.chat(HELLO)).answer == "ok"
                with pytest.raises(vlmroute.RequestError, match="HTTP 307") as info:
                    await c.chat(HELLO)
                assert KEY not in str(info.value)

    asyncio.run(go())
    assert seen == [None, None, None]  # the cookie was never sent back; no request followed


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_the_default_edge_reads_every_sse_line_ending(ending: str) -> None:
    chunks = [
        '{"id":"c","choices":[{"index":0,"delta":{"content":"Hel"}}]}',
        '{"id":"c","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}',
    ]

    async def chat(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in chunks:
            await response.write(f": keep-alive{ending}data: {chunk}{ending}{ending}".encode())
        await response.write(f"data: [DONE]{ending}{ending}".encode())
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)

    async def go() -> str:
        async with (
            bare_server(app) as base,
            AsyncClient("openrouter", api_key=KEY, base_url=base) as c,
        ):
            events = [e async for e in c.stream(HELLO)]
        assert isinstance(events[-1], vlmroute.StreamEnd)
        return events[-1].response.answer

    assert asyncio.run(go()) == "Hello"


def test_one_client_serves_two_event_loops_in_turn(fake: FakeProvider) -> None:
    """A client closed at the end of one ``asyncio.run`` opens a new pool in the next."""
    c = client(fake, "aiohttp")

    async def once() -> str:
        async with c:
            return (await c.chat(HELLO)).answer

    assert asyncio.run(once())
    assert asyncio.run(once())
    assert len(fake.requests) == 2


@given(
    st.lists(st.sampled_from(["data: é", "", ": c", "data: {}", "x"]), max_size=12),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=8),
)
def test_the_line_splitter_gives_the_same_lines_whatever_the_chunking(
    lines: list[str], ending: str, cuts: list[int]
) -> None:
    data = "".join(line + ending for line in lines).encode()
    splitter, out, at, index = LineSplitter(), [], 0, 0
    while at < len(data):
        step = cuts[index % len(cuts)]
        out += splitter.feed(data[at : at + step])
        at, index = at + step, index + 1
    out += splitter.close()
    assert out == lines
