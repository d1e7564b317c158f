"""The gateway's connection limits (vlmroute/_gateway/limits.py), on a real server on
loopback: the gateway's app over a router on a fake provider, served by ``make_runner`` and
``start_site`` with small limits, and raw sockets as the bad clients (a slowloris head, a
dribbled body, idle keep-alives, one connection too many) while good clients (the openai SDK,
aiohttp) are answered as usual.

Every wait is generous (ten times the limit it waits on), and the assertions are about what
the clients got (status, OpenAI JSON body, a closed connection), never how fast."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

import vlmroute
from vlmroute._gateway import DEFAULT_BODY_LIMIT, make_app
from vlmroute._gateway.limits import ConnectionLimits, make_runner, start_site
from vlmroute.testing import FakeProvider

MODEL = "glm-4.1v-thinking-flash"
HELLO: list[Any] = [{"role": "user", "content": "hi"}]
SLOW_HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
CHAT = json.dumps({"model": MODEL, "messages": HELLO}).encode()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider("zhipu") as provider:
        yield provider


@dataclass
class Served:
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@asynccontextmanager
async def gateway(
    fake: FakeProvider, limits: ConnectionLimits, *, sock: socket.socket | None = None
) -> AsyncIterator[Served]:
    config = {"offers": [{"offer": "zhipu-flash", "base_url": fake.base_url}], "ledger": False}
    router = vlmroute.AsyncRouter.from_config(config, api_keys={"zhipu": "sk-limits"})
    async with serving(make_app(router), limits, sock=sock) as served:
        yield served


@asynccontextmanager
async def serving(
    app: web.Application, limits: ConnectionLimits, *, sock: socket.socket | None = None
) -> AsyncIterator[Served]:
    runner = make_runner(app, limits, shutdown_timeout=5.0)
    await runner.setup()
    try:
        if sock is None:
            await start_site(runner, host="127.0.0.1", port=0)
        else:
            await start_site(runner, sock=sock)
        yield Served(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, Any]:
        """The OpenAI error object; fails unless the body is one, as JSON."""
        assert self.headers["content-type"].startswith("application/json")
        data = json.loads(self.body)
        assert set(data["error"]) == {"message", "type", "param", "code"}
        return dict(data["error"])


def parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return Answer(int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body)


class Raw:
    """A client on a bare socket: sends what it likes, when it likes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> bool:
        """False once the server has closed the connection."""
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError):
            return False
        return not self.writer.is_closing()

    async def rest(self, timeout: float) -> bytes:
        """Everything until the server closes (a reset counts as closed); fails on timeout."""
        got = b""
        async with asyncio.timeout(timeout):
            try:
                while chunk := await self.reader.read(65536):
                    got += chunk
            except ConnectionError:
                pass
        return got

    async def answer(self, timeout: float) -> Answer:
        """One keep-alive answer, leaving the connection open."""
        async with asyncio.timeout(timeout):
            head = await self.reader.readuntil(b"\r\n\r\n")
            answer = parse(head)
            answer.body = await self.reader.readexactly(int(answer.headers["content-length"]))
        return answer

    async def dribble(self, interval: float, timeout: float, byte: bytes = b"a") -> bytes:
        """A byte every ``interval`` until the server closes; what it sent back."""
        got = b""
        async with asyncio.timeout(timeout):
            while True:
                if not await self.send(byte):
                    break
                try:
                    chunk = await asyncio.wait_for(self.reader.read(65536), interval)
                except TimeoutError:
                    continue
                except ConnectionError:
                    break
                if not chunk:
                    break
                got += chunk
        return got

    async def close(self) -> None:
        self.writer.close()
        with suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


async def health(raw: Raw) -> Answer:
    await raw.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    return await raw.answer(30)


async def chats(base_url: str, count: int) -> list[str]:
    """``count`` chat completions from the openai SDK, one after another."""
    async with openai.AsyncOpenAI(
        base_url=base_url, api_key="unused", max_retries=0, timeout=60
    ) as client:
        answers = []
        for _ in range(count):
            reply = await client.chat.completions.create(model=MODEL, messages=HELLO)
            answers.append(reply.choices[0].message.content or "")
        return answers


def test_a_slowloris_head_is_answered_408_while_others_are_served(fake: FakeProvider) -> None:
    """A header byte every 0.2 s never completes the head: the connection is answered 408
    (or, should the client's next byte race the close, reset) and closed; meanwhile the
    openai SDK's requests are all answered."""
    limits = ConnectionLimits(header_timeout_s=0.5, idle_timeout_s=60.0)

    async def go() -> tuple[bytes, list[str]]:
        async with gateway(fake, limits) as gw:
            slow = await Raw.open(gw.port)
            try:
                assert await slow.send(SLOW_HEAD)
                dribbled = asyncio.create_task(slow.dribble(0.2, timeout=5.0))
                answers = await chats(gw.base_url, 3)
                return await dribbled, answers
            finally:
                await slow.close()

    got, answers = asyncio.run(go())
    assert all(answers)
    if got:  # an answer came before the close
        answer = parse(got)
        assert answer.status == 408
        assert answer.error()["code"] == "request_timeout"
        assert answer.headers["connection"] == "close"


def test_a_head_that_stops_halfway_gets_408_json_and_a_close(fake: FakeProvider) -> None:
    limits = ConnectionLimits(header_timeout_s=0.5, idle_timeout_s=60.0)

    async def go() -> bytes:
        async with gateway(fake, limits) as gw:
            stalled = await Raw.open(gw.port)
            try:
                assert await stalled.send(SLOW_HEAD)
                return await stalled.rest(timeout=5.0)
            finally:
                await stalled.close()

    answer = parse(asyncio.run(go()))
    assert answer.status == 408
    error = answer.error()
    assert error["code"] == "request_timeout"
    assert error["type"] == "invalid_request_error"
    assert "head" in error["message"]


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    fake: FakeProvider,
) -> None:
    limits = ConnectionLimits(header_timeout_s=0.5, idle_timeout_s=60.0)

    async def go() -> bytes:
        async with gateway(fake, limits) as gw:
            silent = await Raw.open(gw.port)
            try:
                return await silent.rest(timeout=5.0)  # closed, well before the idle timeout
            finally:
                await silent.close()

    assert asyncio.run(go()) == b""


def test_the_header_timeout_counts_from_the_next_request_on_a_keep_alive_connection(
    fake: FakeProvider,
) -> None:
    """Idle longer than the header timeout after an answer is fine (that is the idle
    timeout's business); a next head that then stalls is answered 408."""
    limits = ConnectionLimits(header_timeout_s=0.5, idle_timeout_s=30.0)

    async def go() -> tuple[Answer, bytes]:
        async with gateway(fake, limits) as gw:
            client = await Raw.open(gw.port)
            try:
                first = await health(client)
                await asyncio.sleep(1.5)  # three header timeouts, idle
                assert await client.send(b"GET /health HTTP/1.1\r\nHo")
                return first, await client.rest(timeout=5.0)
            finally:
                await client.close()

    first, rest = asyncio.run(go())
    assert first.status == 200
    answer = parse(rest)
    assert answer.status == 408
    assert answer.error()["code"] == "request_timeout"


def test_a_dribbled_body_is_bounded_and_the_gateway_serves_on(fake: FakeProvider) -> None:
    """A complete head, then a body byte every 0.2 s: past the header timeout (a body is not
    a head), then cut at the body timeout: 408 (or a reset racing it), closed."""
    limits = ConnectionLimits(header_timeout_s=0.5, body_timeout_s=2.0, idle_timeout_s=60.0)
    head = SLOW_HEAD + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"

    async def go() -> tuple[bytes, list[str]]:
        async with gateway(fake, limits) as gw:
            slow = await Raw.open(gw.port)
            try:
                assert await slow.send(head + b"{")
                dribbled = asyncio.create_task(slow.dribble(0.2, timeout=20.0, byte=b" "))
                answers = await chats(gw.base_url, 3)
                return await dribbled, answers
            finally:
                await slow.close()

    got, answers = asyncio.run(go())
    assert all(answers)
    if got:
        answer = parse(got)
        assert answer.status == 408
        error = answer.error()
        assert error["code"] == "request_timeout"
        assert "body" in error["message"]


def test_a_body_that_stops_halfway_gets_408_json_and_a_close(fake: FakeProvider) -> None:
    limits = ConnectionLimits(header_timeout_s=0.5, body_timeout_s=1.0, idle_timeout_s=60.0)
    head = SLOW_HEAD + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"

    async def go() -> bytes:
        async with gateway(fake, limits) as gw:
            stalled = await Raw.open(gw.port)
            try:
                assert await stalled.send(head + b'{"model": ')
                return await stalled.rest(timeout=10.0)
            finally:
                await stalled.close()

    answer = parse(asyncio.run(go()))
    assert answer.status == 408
    assert answer.error()["code"] == "request_timeout"
    assert "body" in answer.error()["message"]


def test_a_slow_answer_is_not_cut_by_the_body_or_idle_timeout() -> None:
    """The limits bound the client, not the provider: a body that is in, and a request
    being handled, may take longer than either timeout."""
    limits = ConnectionLimits(header_timeout_s=0.3, body_timeout_s=0.3, idle_timeout_s=0.3)
    with FakeProvider("zhipu", latency_s=1.5) as slow:

        async def go() -> list[str]:
            async with gateway(slow, limits) as gw:
                return await chats(gw.base_url, 2)  # the second on a kept-alive connection

        assert all(asyncio.run(go()))


def test_an_idle_keep_alive_connection_is_closed_silently(fake: FakeProvider) -> None:
    limits = ConnectionLimits(header_timeout_s=60.0, idle_timeout_s=0.5)

    async def go() -> tuple[Answer, bytes]:
        async with gateway(fake, limits) as gw:
            client = await Raw.open(gw.port)
            try:
                first = await health(client)
                return first, await client.rest(timeout=5.0)
            finally:
                await client.close()

    first, rest = asyncio.run(go())
    assert first.status == 200
    assert first.headers.get("connection", "keep-alive").lower() != "close"
    assert rest == b""  # closed, no answer to a request never made


def test_one_connection_over_the_cap_gets_503_json_and_the_others_are_untouched(
    fake: FakeProvider,
) -> None:
    """max_connections=2, on an inherited listening socket: two connections held open
    (idle, kept alive), a third is answered 503 and closed; the two still work; once one of
    them closes, a new connection is served."""
    limits = ConnectionLimits(header_timeout_s=5.0, idle_timeout_s=60.0, max_connections=2)
    listening = socket.create_server(("127.0.0.1", 0))

    async def new_connection_served(port: int) -> Answer:
        async with asyncio.timeout(30):
            while True:  # until the server has seen the close
                late = await Raw.open(port)
                try:
                    answer = await health(late)
                finally:
                    await late.close()
                if answer.status == 200:
                    return answer
                await asyncio.sleep(0.05)

    async def go() -> tuple[list[Answer], bytes, list[Answer], Answer]:
        async with gateway(fake, limits, sock=listening) as gw:
            held = [await Raw.open(gw.port), await Raw.open(gw.port)]
            try:
                first = [await health(h) for h in held]
                third = await Raw.open(gw.port)
                try:
                    assert await third.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    refused = await third.rest(timeout=30)  # answered, then closed
                finally:
                    await third.close()
                again = [await health(h) for h in held]
                await held.pop().close()
                return first, refused, again, await new_connection_served(gw.port)
            finally:
                for h in held:
                    await h.close()

    try:
        first, refused, again, late = asyncio.run(go())
    finally:
        listening.close()
    assert [a.status for a in first] == [200, 200]
    answer = parse(refused)
    assert answer.status == 503
    assert answer.headers["retry-after"] == "1"
    error = answer.error()
    assert error["code"] == "too_many_connections"
    assert error["type"] == "server_error"
    assert [a.status for a in again] == [200, 200]
    assert late.status == 200
    assert listening.fileno() == -1  # the site owned it, and closed it


def test_a_50_mb_body_under_the_default_limit_is_read_whole() -> None:
    """The body timeout is a bound on a stalled client, not on a big upload."""

    async def size(request: web.Request) -> web.Response:
        return web.json_response({"bytes": len(await request.read())})

    app = web.Application(client_max_size=DEFAULT_BODY_LIMIT)
    app.router.add_post("/size", size)
    body = b"x" * 50_000_000

    async def go() -> tuple[int, Any]:
        async with (
            serving(app, ConnectionLimits(header_timeout_s=0.5)) as served,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http,
            http.post(f"http://127.0.0.1:{served.port}/size", data=io.BytesIO(body)) as reply,
        ):
            return reply.status, await reply.json()

    assert asyncio.run(go()) == (200, {"bytes": 50_000_000})


def test_errors_the_protocol_answers_itself_are_openai_json() -> None:
    """A malformed head (aiohttp's 400, plain text) and an exception no handler caught (its
    500, HTML for a client that accepts HTML) are OpenAI JSON."""

    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("the secret internals")

    app = web.Application()
    app.router.add_get("/broken", broken)

    async def go() -> tuple[bytes, bytes]:
        async with serving(app, ConnectionLimits(header_timeout_s=5.0)) as served:
            garbage = await Raw.open(served.port)
            html = await Raw.open(served.port)
            try:
                assert await garbage.send(b"NOT HTTP AT ALL\r\n\r\n")
                assert await html.send(
                    b"GET /broken HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n"
                )
                return await garbage.rest(30), await html.rest(30)
            finally:
                await garbage.close()
                await html.close()

    bad, crashed = (parse(raw) for raw in asyncio.run(go()))
    assert bad.status == 400
    assert bad.error()["type"] == "invalid_request_error"
    assert crashed.status == 500
    assert crashed.error()["code"] == "internal_error"
    assert b"Traceback" not in crashed.body
    assert b"secret" not in crashed.body


def test_the_limits_are_checked_and_the_site_needs_a_limited_runner() -> None:
    with pytest.raises(ValueError, match="header_timeout_s"):
        ConnectionLimits(header_timeout_s=0)
    with pytest.raises(ValueError, match="max_connections"):
        ConnectionLimits(max_connections=0)

    async def go() -> None:
        plain = web.AppRunner(web.Application())
        await plain.setup()
        try:
            with pytest.raises(TypeError, match="make_runner"):
                await start_site(plain, host="127.0.0.1")
        finally:
            await plain.cleanup()
        limited = make_runner(web.Application())
        await limited.setup()
        try:
            with socket.socket() as sock, pytest.raises(ValueError, match="not both"):
                await start_site(limited, host="127.0.0.1", sock=sock)
        finally:
            await limited.cleanup()

    asyncio.run(go())
