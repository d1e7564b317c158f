"""``POST {base}/chat/completions`` of a fake: auth, then a fault or the cap, then the answer.

Order of checks, as a provider does them: the key (401), the body (400), then an injected
fault if one waits, else a random one (``fail_rate``), else the in-flight cap (the dialect's
429): faulted requests skip the cap check but count in flight.
Latency runs from arrival to the JSON answer, or to the first stream event; response headers
of a stream go out at once (and OpenRouter's keep-alive comment with them).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from .config import FakeConfig, estimate_prompt_tokens, text_tokens
from .faults import Fault, FaultKind, FaultQueue
from .stats import RecordedRequest, Slot, StatsRecorder, redact
from .wire import WIRES, ErrorKind, ErrorReply, Reply

__all__ = ["ChatHandler", "auth_of"]

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
USD_PER_MTOK_IN = Decimal("0.035")  # OpenRouter's price for thudm/glm-4.1v-9b-thinking
USD_PER_MTOK_OUT = Decimal("0.138")
MALFORMED = b'{"id": "chatcmpl-broken", "choices": [{"message": {"content": '

#: Faults answered with one of the dialect's error bodies.
_ERROR_FAULTS: Mapping[FaultKind, ErrorKind] = {
    "content_filter": "content_filter",
    "no_balance": "no_balance",
    "overloaded": "overloaded",
    "rate_limit": "rate_limit",
    "server_error": "server_error",
}

Play = Callable[["Exchange", Fault], Awaitable[web.StreamResponse]]


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _event(data: Any) -> bytes:
    return b"data: " + _dumps(data) + b"\n\n"


def _close(request: web.Request, *, abort: bool) -> None:
    """Close the connection under a request: flushing what was written, or at once."""
    transport = request.transport
    if transport is not None:
        transport.abort() if abort else transport.close()


def auth_of(request: web.Request, api_key: str | None) -> tuple[bool, str | None]:
    """Whether the request carries ``Bearer <api_key>`` (always, without a key), and its scheme."""
    value = request.headers.get("Authorization")
    scheme = value.split(" ", 1)[0] if value else None
    if api_key is None:
        return True, scheme
    expected = f"Bearer {api_key}".encode()
    return value is not None and hmac.compare_digest(value.encode(), expected), scheme


@dataclass(slots=True)
class Exchange:
    """One chat request being answered, with its place in flight (None if not admitted)."""

    request: web.Request
    body: dict[str, Any]
    slot: Slot | None

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    def release(self) -> None:
        """Leave the in-flight count; called just before the last bytes go out."""
        if self.slot is not None:
            self.slot.release()


class ChatHandler:
    """Answers chat requests for one fake; runs on the server's event loop."""

    def __init__(self, config: FakeConfig, stats: StatsRecorder, faults: FaultQueue) -> None:
        self.config = config
        self.wire = WIRES[config.dialect]
        self.stats = stats
        self.faults = faults
        self._random = random.Random(config.seed)
        #: Handlers now running, so that a kill can cancel and await them.
        self.tasks: set[asyncio.Task[Any]] = set()
        self._plays: Mapping[FaultKind, Play] = {
            "content_filter": self._error,
            "cut_stream": self._cut,
            "drop": self._drop,
            "hang": self._hang,
            "malformed_json": self._malformed,
            "no_balance": self._error,
            "overloaded": self._error,
            "rate_limit": self._error,
            "server_error": self._error,
            "status": self._status,
            "stream_error": self._stream_error,
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler of ``POST {base}/chat/completions``."""
        task = asyncio.current_task()
        assert task is not None  # a handler always runs in a task
        self.tasks.add(task)
        try:
            return await self._handle(request, asyncio.get_running_loop().time())
        finally:
            self.tasks.discard(task)

    async def _handle(self, request: web.Request, arrived: float) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        authorized, scheme = auth_of(request, self.config.api_key)
        record = RecordedRequest(
            path=request.path,
            headers=redact(request.headers),
            json=body,
            at=time.monotonic(),
            authorized=authorized,
            auth_scheme=scheme,
        )
        self.stats.arrived(record)
        turned_away = Exchange(request, body if isinstance(body, dict) else {}, None)
        if not authorized:
            return await self._send_error(turned_away, self.wire.error("unauthorized"))
        if not isinstance(body, dict):
            return await self._send_error(turned_away, self.wire.error("bad_request"))
        fault = self.faults.pop() or self._random_fault()
        slot = self.stats.admit(self.config.cap, exempt=fault is not None)
        if slot is None:
            return await self._send_error(turned_away, self.wire.error("rate_limit"))
        exchange = Exchange(request, body, slot)
        try:
            if fault is None:
                return await self._answer(exchange, arrived)
            self.stats.count("faulted")
            return await self._plays[fault.kind](exchange, fault)
        finally:
            slot.release()  # if the answer did not get that far (a drop, a cancellation)

    def _random_fault(self) -> Fault | None:
        rate = self.config.fail_rate
        return self.config.random_fault if rate and self._random.random() < rate else None

    def _reply(self, body: Mapping[str, Any]) -> Reply:
        config = self.config
        reasoning_tokens = text_tokens(config.reasoning)
        completion = config.completion_tokens
        if completion is None:
            completion = reasoning_tokens + text_tokens(config.answer)
        prompt = config.prompt_tokens
        if prompt is None:
            prompt = estimate_prompt_tokens(body)
        cost = config.cost_usd
        if cost is None:
            cost = float((prompt * USD_PER_MTOK_IN + completion * USD_PER_MTOK_OUT) / 1_000_000)
        asked = body.get("model")
        model = config.model or (asked if isinstance(asked, str) and asked else None)
        return Reply(
            id=self.wire.new_id(),
            created=int(time.time()),
            model=model or self.wire.default_model,
            answer=config.answer,
            reasoning=config.reasoning,
            reasoning_field=config.reasoning_field or self.wire.reasoning_field,
            prompt_tokens=prompt,
            completion_tokens=completion,
            reasoning_tokens=min(reasoning_tokens, completion),
            cost_usd=cost,
        )

    # -- sending -----------------------------------------------------------------------------

    async def _send(
        self,
        exchange: Exchange,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        served: bool = False,
    ) -> web.StreamResponse:
        """A whole response; the request stays in flight until it goes out."""
        response = web.Response(status=status, body=body, headers=headers)
        if "Content-Type" not in response.headers:
            response.content_type = "application/json"
        await response.prepare(exchange.request)  # a Response holds its headers back...
        self.stats.status(status)
        if served:
            self.stats.count("served")
        exchange.release()
        await response.write_eof()  # ...and sends them with the body here
        return response

    async def _send_error(
        self, exchange: Exchange, error: ErrorReply, retry_after: float | None = None
    ) -> web.StreamResponse:
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return await self._send(exchange, error.status, _dumps(error.body), headers)

    async def _sleep_until(self, deadline: float) -> None:
        delay = deadline - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _answer(self, exchange: Exchange, arrived: float) -> web.StreamResponse:
        reply = self._reply(exchange.body)
        if not exchange.stream:
            await self._sleep_until(arrived + self.config.latency_s)
            completion = _dumps(self.wire.completion(reply))
            headers = self.wire.headers(reply)
            return await self._send(exchange, 200, completion, headers, served=True)
        response = await self._stream(exchange, reply, arrived, limit=None)
        self.stats.count("served")
        exchange.release()
        await response.write_eof(DONE)
        return response

    async def _stream(
        self, exchange: Exchange, reply: Reply, arrived: float, *, limit: int | None
    ) -> web.StreamResponse:
        """Start an SSE response and send its events (the first ``limit`` of them)."""
        headers = {**SSE_HEADERS, **self.wire.headers(reply)}
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(exchange.request)
        self.stats.status(200)
        if self.wire.keepalive:
            await response.write(self.wire.keepalive)
        await self._sleep_until(arrived + self.config.latency_s)
        usage = self.wire.streams_usage(exchange.body)
        events = self.wire.stream(reply, self.config.stream_chunks, usage=usage)
        for i, event in enumerate(events[:limit]):
            if i and self.config.chunk_delay_s:
                await asyncio.sleep(self.config.chunk_delay_s)
            await response.write(_event(event))
        return response

    # -- faults ------------------------------------------------------------------------------

    async def _error(self, exchange: Exchange, fault: Fault) -> web.StreamResponse:
        error = self.wire.error(_ERROR_FAULTS[fault.kind], fault.http_status)
        return await self._send_error(exchange, error, fault.retry_after)

    async def _status(self, exchange: Exchange, fault: Fault) -> web.StreamResponse:
        body = (fault.body_text or "").encode()
        return await self._send(exchange, fault.http_status or 500, body, dict(fault.headers))

    async def _hang(self, exchange: Exchange, fault: Fault) -> web.StreamResponse:
        await asyncio.sleep(fault.seconds)
        return await self._answer(exchange, asyncio.get_running_loop().time())

    async def _malformed(self, exchange: Exchange, fault: Fault) -> web.StreamResponse:
        if not exchange.stream:
            return await self._send(exchange, 200, MALFORMED)
        events = b"data: " + MALFORMED + b"\n\n" + DONE
        return await self._send(exchange, 200, events, SSE_HEADERS)

    async def _cut(self, exchange: Exchange, fault: Fault) -> web.StreamResponse:
        reply = self._reply(exchange.body)
        if exchange.stream:
            now = asyncio.get_running_loop().time()
            response = await self._stream(exchange, reply, now, limit=fault.after_chunks)
        else:
            response = web.StreamResponse(status=200, headers=self.wire.headers(reply))
            response.content_type = "application/json"
            response.content_length = len(_dumps(self.wire.completion(reply)))
            await response.prepare(exchange.request)  # a StreamResponse sends headers at once
            self.stats.status(200)
        exchange.release()
        _close(exchange.request, abort=False)  # flush what was written, then hang up
        return response

    async def _stream_error(self, exchange: Exchange, fault: Fault) -> web.StreamResponse:
        if not exchange.stream:
            return await self._send_error(exchange, self.wire.error("overloaded"))
        reply = self._reply(exchange.body)
        now = asyncio.get_running_loop().time()
        response = await self._stream(exchange, reply, now, limit=fault.after_chunks)
        tail = _event(self.wire.stream_error(reply))
        if self.wire.done_after_stream_error:
            tail += DONE
        exchange.release()
        await response.write_eof(tail)
        return response

    async def _drop(self, exchange: Exchange, fault: Fault) -> web.StreamResponse:
        exchange.release()
        _close(exchange.request, abort=True)
        return web.Response()  # never sent: aiohttp finds the connection gone
