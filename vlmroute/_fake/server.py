"""The aiohttp application of one fake, opened and aborted on whatever loop runs it.

Routes: ``POST {base}/chat/completions`` (every dialect); ``GET /health`` and
``GET {base}/models`` (vLLM, SGLang); ``GET /metrics`` (vLLM, Prometheus text whose
``vllm:num_requests_running`` is the fake's in-flight count); and on every fake the control
endpoints ``GET /_fake/stats``, ``GET /_fake/requests``, ``POST /_fake/reset`` and
``POST /_fake/inject`` (``{"fault": "rate_limit", "times": 3, ...}``, see
:meth:`Fault.from_spec <vlmroute._fake.faults.Fault.from_spec>`), which never need a key.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from aiohttp import web

from .chat import ChatHandler, auth_of
from .config import FakeConfig
from .faults import Fault, FaultQueue
from .stats import StatsRecorder
from .wire import WIRES

__all__ = ["HOST", "FakeServer"]

HOST = "127.0.0.1"
BACKLOG = 4096  # the kernel caps it at net.core.somaxconn
MAX_BODY = 64 * 1024 * 1024  # base64 images and videos are large
NO_CAP_KV_SLOTS = 256  # the KV-cache "size" /metrics divides by when there is no cap


def _listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 that a restart can bind again at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let two servers share a port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class FakeServer:
    """One fake's HTTP server; :meth:`open` and :meth:`abort` run on its event loop."""

    def __init__(self, config: FakeConfig, stats: StatsRecorder, faults: FaultQueue) -> None:
        self.config = config
        self.stats = stats
        self.faults = faults
        self.wire = WIRES[config.dialect]
        self.chat = ChatHandler(config, stats, faults)
        self._runner: web.AppRunner | None = None

    @property
    def serving(self) -> bool:
        return self._runner is not None

    def model(self) -> str:
        return self.config.model or self.wire.default_model

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        base = self.wire.base_path
        app.router.add_post(f"{base}/chat/completions", self.chat.handle)
        if self.wire.local_server:
            app.router.add_get("/health", self._health)
            app.router.add_get(f"{base}/models", self._models)
        if self.wire.metrics:
            app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/_fake/stats", self._stats)
        app.router.add_get("/_fake/requests", self._requests)
        app.router.add_post("/_fake/reset", self._reset)
        app.router.add_post("/_fake/inject", self._inject)
        return app

    async def open(self, port: int) -> int:
        """Listen on ``port`` (0: any free port) and return the port."""
        if self._runner is not None:
            raise RuntimeError("the fake is already serving")
        application = self.application()
        sock = _listen(port)
        bound: int = sock.getsockname()[1]
        runner = web.AppRunner(
            application,
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,  # a client that hangs up leaves the in-flight count
            shutdown_timeout=0.0,
        )
        try:
            await runner.setup()
            await web.SockSite(runner, sock, backlog=BACKLOG).start()
        except BaseException:
            sock.close()
            if runner.server is not None:
                await runner.cleanup()
            raise
        self._runner = runner
        return bound

    async def abort(self) -> None:
        """Stop listening and drop every connection; in-flight requests see them drop."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for site in list(runner.sites):
            await site.stop()
        if runner.server is not None:
            for connection in runner.server.connections:
                if connection.transport is not None:
                    connection.transport.abort()
        handlers = list(self.chat.tasks)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await runner.cleanup()

    # -- local-server endpoints --------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=200)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        authorized, _ = auth_of(request, self.config.api_key)
        if not authorized:
            error = self.wire.error("unauthorized")
            return web.json_response(error.body, status=error.status)
        return web.json_response(self.wire.models(self.model()))

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        running = self.stats.in_flight
        slots = self.config.cap or NO_CAP_KV_SLOTS
        labels = f'{{engine="0",model_name="{self.model()}"}}'
        gauges = (
            ("num_requests_running", "Number of requests in model execution batches.", running),
            ("num_requests_waiting", "Number of requests waiting to be processed.", 0),
            (
                "kv_cache_usage_perc",
                "KV-cache usage. 1 means 100 percent usage.",
                min(1.0, running / slots),
            ),
        )
        lines: list[str] = []
        for name, help_text, value in gauges:
            lines += [
                f"# HELP vllm:{name} {help_text}",
                f"# TYPE vllm:{name} gauge",
                f"vllm:{name}{labels} {float(value)}",
            ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    # -- control endpoints -------------------------------------------------------------------

    async def _stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.stats.snapshot().to_json())

    async def _requests(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([r.to_json() for r in self.stats.requests()])

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        self.stats.reset()
        return web.json_response({"ok": True})

    async def _inject(self, request: web.Request) -> web.StreamResponse:
        try:
            spec: Any = await request.json()
            if not isinstance(spec, dict):
                raise ValueError("the body must be a JSON object")
            self.faults.push(Fault.from_spec(spec), int(spec.get("times", 1)))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True, "queued": len(self.faults)})
