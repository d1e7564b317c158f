"""A fake GLM-4.1V provider: a real HTTP server on 127.0.0.1 (aiohttp) in a thread.

It answers ``POST {base}/chat/completions`` in one provider's wire format (non-streamed and
SSE), enforces an in-flight cap the way Zhipu does (HTTP 429 with code 1302 over the cap),
counts its peak in flight, and plays scripted or random faults. vLLM/SGLang fakes also serve
``/health``, ``{base}/models`` and vLLM's ``/metrics``. Control endpoints
(``/_fake/stats``, ``/_fake/reset``, ``/_fake/inject``) let another process drive it.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from .wire import (
    BASE_PATHS,
    DEFAULT_MODELS,
    REASONING_FIELDS,
    Dialect,
    ErrorKind,
    FakeAnswer,
    error_body,
    new_id,
    stream_error_chunk,
)

__all__ = ["FakeProvider", "FakeStats", "Fault", "RecordedRequest"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour; build with the class methods."""

    kind: str
    error: ErrorKind | None = None
    http_status: int = 500
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    after_chunks: int = 0

    @classmethod
    def rate_limit(cls, retry_after: float | None = None) -> Fault:
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return cls("error", error="rate_limit", headers=headers)

    @classmethod
    def no_balance(cls) -> Fault:
        return cls("error", error="no_balance")

    @classmethod
    def content_filter(cls) -> Fault:
        return cls("error", error="content_filter")

    @classmethod
    def overloaded(cls) -> Fault:
        return cls("error", error="overloaded")

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls("status", http_status=status, body={"error": {"message": "internal error"}})

    @classmethod
    def status(cls, status: int, body: Any, headers: Mapping[str, str] | None = None) -> Fault:
        return cls("status", http_status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        return cls("hang", seconds=seconds)

    @classmethod
    def malformed_json(cls) -> Fault:
        return cls("malformed")

    @classmethod
    def cut_stream(cls, after_chunks: int = 2) -> Fault:
        return cls("cut", after_chunks=after_chunks)

    @classmethod
    def stream_error(cls, after_chunks: int = 1) -> Fault:
        return cls("stream_error", after_chunks=after_chunks)

    @classmethod
    def drop(cls) -> Fault:
        return cls("drop")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """From ``{"fault": "rate_limit", "retry_after": 1, ...}`` (the control endpoint)."""
        name = str(data.get("fault"))
        args = {k: v for k, v in data.items() if k not in ("fault", "times")}
        maker = getattr(cls, name, None)
        if maker is None or name.startswith("_") or name == "from_json":
            raise ValueError(f"no fault named {name!r}")
        fault: Fault = maker(**args)
        return fault


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A chat request the fake received. The Authorization value is never kept."""

    path: str
    headers: Mapping[str, str]
    json: Any
    at: float


@dataclass(slots=True)
class FakeStats:
    in_flight: int = 0
    peak_in_flight: int = 0
    served: int = 0
    rejected: int = 0
    requests_seen: int = 0
    status_counts: Counter[int] = field(default_factory=Counter)

    def snapshot(self) -> FakeStats:
        return replace(self, status_counts=Counter(self.status_counts))

    def as_json(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "served": self.served,
            "rejected": self.rejected,
            "requests_seen": self.requests_seen,
            "status_counts": {str(k): v for k, v in self.status_counts.items()},
        }


class FakeProvider:
    """A fake provider on 127.0.0.1; ``with FakeProvider(dialect="zhipu") as fake:``.

    ``cap`` answers the dialect's rate-limit error to a request that would be one over it
    (counted in ``stats.rejected``; every request counts in ``in_flight`` from arrival to
    the end of its answer, so a client that respects the cap never sees ``peak_in_flight``
    above it). ``fail_rate`` makes that share of requests fail with ``fail_with`` (a
    ``Fault``, default overloaded) at random, from ``seed``.
    """

    def __init__(
        self,
        dialect: Dialect = "zhipu",
        *,
        latency_s: float = 0.0,
        cap: int | None = None,
        answer: str = "The cat is on the mat.",
        reasoning: str = "Let me look at the image.",
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        stream_chunks: int = 8,
        chunk_delay_s: float = 0.0,
        reasoning_field: str | None = None,
        cost_usd: float | None = None,
        model: str | None = None,
        api_key: str | None = None,
        fail_rate: float = 0.0,
        fail_with: Fault | None = None,
        seed: int | None = None,
        port: int = 0,
    ) -> None:
        if dialect not in BASE_PATHS:
            raise ValueError(f"unknown dialect {dialect!r}; one of {sorted(BASE_PATHS)}")
        self.dialect = dialect
        self.latency_s = latency_s
        self.cap = cap
        self.stream_chunks = stream_chunks
        self.chunk_delay_s = chunk_delay_s
        self.fail_rate = fail_rate
        self.fail_with = fail_with or Fault.overloaded()
        self._rng = random.Random(seed)
        self._api_key = api_key
        self._answer = answer
        self._reasoning = reasoning
        self._prompt_tokens = prompt_tokens
        self._completion_tokens = completion_tokens
        self._reasoning_field = reasoning_field or REASONING_FIELDS[dialect]
        self._cost_usd = cost_usd
        self.model = model or DEFAULT_MODELS[dialect]
        self.port = port
        self.stats = FakeStats()
        self.requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._open: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ control (any thread)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{BASE_PATHS[self.dialect]}"

    def inject(self, fault: Fault, times: int = 1) -> None:
        """The next ``times`` chat requests get ``fault``, in arrival order."""
        with self._lock:
            self._faults.extend([fault] * times)

    def snapshot(self) -> FakeStats:
        with self._lock:
            return self.stats.snapshot()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = FakeStats(in_flight=self.stats.in_flight)
            self.requests.clear()

    def start(self) -> FakeProvider:
        if self._thread is None:
            ready = threading.Event()
            self._thread = threading.Thread(
                target=self._serve_forever, args=(ready,), name="fake-provider", daemon=True
            )
            self._thread.start()
            ready.wait(10)
        self._call(self._bind())
        return self

    def stop(self) -> None:
        """Stop serving (in-flight requests are cut) but keep the port for :meth:`start`."""
        if self._loop is not None and self._runner is not None:
            self._call(self._unbind())

    def kill(self) -> None:
        """An abrupt stop mid-run: stop accepting and drop every open connection."""
        self.stop()

    def close(self) -> None:
        self.stop()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    async def __aenter__(self) -> FakeProvider:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await asyncio.to_thread(self.close)

    def _serve_forever(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        ready.set()
        self._loop.run_forever()

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(15)

    # ------------------------------------------------------------------ the server (its loop)

    async def _bind(self) -> None:
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 * 1024 * 1024)
        base = BASE_PATHS[self.dialect]
        app.router.add_post(f"{base}/chat/completions", self._chat)
        app.router.add_get(f"{base}/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/_fake/stats", self._stats)
        app.router.add_post("/_fake/reset", self._reset)
        app.router.add_post("/_fake/inject", self._inject)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, backlog=4096, reuse_address=True)
        await site.start()
        if self.port == 0:  # the port actually bound
            server: Any = site._server
            self.port = int(server.sockets[0].getsockname()[1])
        self._runner = runner

    async def _unbind(self) -> None:
        runner, self._runner = self._runner, None
        for task in list(self._open):
            task.cancel()
        if runner is not None:
            await runner.cleanup()

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
        if self.fail_rate and self._rng.random() < self.fail_rate:
            return self.fail_with
        return None

    def _count(self, status: int) -> None:
        with self._lock:
            self.stats.status_counts[status] += 1
            if status == 200:
                self.stats.served += 1

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        with self._lock:
            self.stats.requests_seen += 1
            self.stats.in_flight += 1
            self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.stats.in_flight)
            over = self.cap is not None and self.stats.in_flight > self.cap
        try:
            return await self._answer_chat(request, over)
        finally:
            with self._lock:
                self.stats.in_flight -= 1
            self._open.discard(task)

    async def _answer_chat(self, request: web.Request, over: bool) -> web.StreamResponse:
        authorized = request.headers.get("Authorization") == f"Bearer {self._api_key}"
        if self._api_key is not None and not authorized:
            return self._error("auth")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._json(400, {"error": {"message": "the body is not JSON"}})
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        with self._lock:
            self.requests.append(RecordedRequest(request.path, headers, body, time.time()))
        fault = self._next_fault()
        if fault is None and over:
            with self._lock:
                self.stats.rejected += 1
            return self._error("rate_limit")
        if fault is not None and fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "drop":
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if fault is not None and fault.kind in ("error", "status", "malformed"):
            await asyncio.sleep(self.latency_s)
            return self._fault_response(fault)
        answer = self._fake_answer(body)
        if body.get("stream"):
            return await self._stream(request, body, answer, fault)
        await asyncio.sleep(self.latency_s)
        if fault is not None and fault.kind == "cut":
            response = web.StreamResponse(status=200, headers={"Content-Length": "1000"})
            await response.prepare(request)
            await response.write(b'{"id": "cut')
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        request_id = new_id()
        extra = {"X-Generation-Id": request_id} if self.dialect == "openrouter" else {}
        return self._json(200, answer.completion(request_id), extra)

    def _fake_answer(self, body: Mapping[str, Any]) -> FakeAnswer:
        prompt = self._prompt_tokens
        if prompt is None:
            prompt = max(1, len(json.dumps(body.get("messages", ""))) // 4)
        completion = self._completion_tokens
        if completion is None:
            completion = max(1, (len(self._answer) + len(self._reasoning)) // 4)
        return FakeAnswer(
            dialect=self.dialect,
            model=str(body.get("model") or self.model),
            answer=self._answer,
            reasoning=self._reasoning,
            reasoning_field=self._reasoning_field,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=self._cost_usd,
        )

    async def _stream(
        self, request: web.Request, body: Mapping[str, Any], answer: FakeAnswer, fault: Fault | None
    ) -> web.StreamResponse:
        request_id = new_id()
        usage = self.dialect not in ("vllm", "sglang") or bool(
            (body.get("stream_options") or {}).get("include_usage")
        )
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        if self.dialect == "openrouter":
            headers["X-Generation-Id"] = request_id
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        self._count(200)
        if self.dialect == "openrouter":
            await response.write(b": OPENROUTER PROCESSING\n\n")
        await asyncio.sleep(self.latency_s)
        for index, chunk in enumerate(answer.chunks(request_id, self.stream_chunks, usage=usage)):
            if fault is not None and index == fault.after_chunks:
                if fault.kind == "stream_error":
                    await response.write(_sse(stream_error_chunk(self.dialect)))
                    await response.write_eof()
                    return response
                assert request.transport is not None
                request.transport.abort()  # cut: no [DONE]
                raise asyncio.CancelledError
            await response.write(_sse(chunk))
            if self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _fault_response(self, fault: Fault) -> web.Response:
        if fault.kind == "malformed":
            return self._raw(200, b"<html>not json", "text/html")
        if fault.kind == "status":
            if isinstance(fault.body, bytes | str):
                data = fault.body.encode() if isinstance(fault.body, str) else fault.body
                return self._raw(fault.http_status, data, "text/html", fault.headers)
            return self._json(fault.http_status, fault.body, fault.headers)
        assert fault.error is not None
        return self._error(fault.error, fault.headers)

    def _error(self, kind: ErrorKind, headers: Mapping[str, str] | None = None) -> web.Response:
        status, body = error_body(self.dialect, kind)
        return self._json(status, body, headers)

    def _json(
        self, status: int, body: Any, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        return self._raw(status, json.dumps(body).encode(), "application/json", headers)

    def _raw(
        self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        self._count(status)
        return web.Response(
            status=status, body=data, content_type=content_type, headers=dict(headers or {})
        )

    async def _models(self, _request: web.Request) -> web.Response:
        data = {"object": "list", "data": [{"id": self.model, "object": "model"}]}
        return web.json_response(data)

    async def _health(self, _request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _metrics(self, _request: web.Request) -> web.Response:
        if self.dialect != "vllm":
            return web.Response(status=404)
        label = f'{{model_name="{self.model}"}}'
        running = self.stats.in_flight
        text = (
            "# TYPE vllm:num_requests_running gauge\n"
            f"vllm:num_requests_running{label} {running}\n"
            f"vllm:num_requests_waiting{label} 0\n"
            f"vllm:kv_cache_usage_perc{label} {min(1.0, running / 64):.3f}\n"
        )
        return web.Response(text=text, content_type="text/plain")

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.snapshot().as_json())

    async def _reset(self, _request: web.Request) -> web.Response:
        self.reset_stats()
        return web.json_response(self.snapshot().as_json())

    async def _inject(self, request: web.Request) -> web.Response:
        data = await request.json()
        try:
            self.inject(Fault.from_json(data), int(data.get("times", 1)))
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})


def _sse(chunk: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"
