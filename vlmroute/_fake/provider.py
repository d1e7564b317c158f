"""A fake provider served from a background thread of this process: :class:`FakeProvider`."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Self

from .config import ANSWER, REASONING, DialectName, FakeConfig, ReasoningField
from .faults import Fault, FaultQueue
from .loop import LoopThread
from .server import HOST, FakeServer
from .stats import FakeStats, RecordedRequest, StatsRecorder

if TYPE_CHECKING:
    from .spawn import SpawnedFake

__all__ = ["FakeProvider"]

OPEN_TIMEOUT_S = 10.0
ABORT_TIMEOUT_S = 10.0


class FakeProvider:
    """A real HTTP server on 127.0.0.1 that answers like one provider's API.

    Use it as a context manager (``with`` or ``async with``): it serves in a background
    thread with its own event loop, so blocking clients and other event loops can call it.
    ``latency_s`` runs from arrival to the answer (or the first stream event); ``cap`` answers
    the dialect's rate-limit error to a request that would be one over it; ``fail_rate`` gives
    that share of requests ``fail_with`` (default :meth:`Fault.overloaded`) at random, from
    ``seed``. See :mod:`vlmroute.testing` for the rest.
    """

    def __init__(
        self,
        dialect: DialectName = "zhipu",
        *,
        latency_s: float = 0.0,
        cap: int | None = None,
        answer: str = ANSWER,
        reasoning: str = REASONING,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        stream_chunks: int = 8,
        chunk_delay_s: float = 0.0,
        reasoning_field: ReasoningField | None = None,
        cost_usd: float | None = None,
        model: str | None = None,
        api_key: str | None = None,
        fail_rate: float = 0.0,
        fail_with: Fault | None = None,
        seed: int | None = None,
        port: int = 0,
    ) -> None:
        self.config = FakeConfig(
            dialect=dialect,
            latency_s=latency_s,
            cap=cap,
            answer=answer,
            reasoning=reasoning,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            stream_chunks=stream_chunks,
            chunk_delay_s=chunk_delay_s,
            reasoning_field=reasoning_field,
            cost_usd=cost_usd,
            model=model,
            api_key=api_key,
            fail_rate=fail_rate,
            fail_with=fail_with,
            seed=seed,
        )
        self._port = port
        self._stats = StatsRecorder()
        self._faults = FaultQueue()
        self._server = FakeServer(self.config, self._stats, self._faults)
        self._thread: LoopThread | None = None
        self._lock = threading.Lock()

    @staticmethod
    def spawn(
        dialect: DialectName = "zhipu",
        *,
        latency_s: float = 0.0,
        cap: int | None = None,
        answer: str = ANSWER,
        reasoning: str = REASONING,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        stream_chunks: int = 8,
        chunk_delay_s: float = 0.0,
        reasoning_field: ReasoningField | None = None,
        cost_usd: float | None = None,
        model: str | None = None,
        api_key: str | None = None,
        fail_rate: float = 0.0,
        fail_with: Fault | None = None,
        seed: int | None = None,
        port: int = 0,
    ) -> SpawnedFake:
        """The same fake in a child process (``python -m vlmroute.testing serve``), started."""
        from .spawn import spawn_fake

        config = FakeConfig(
            dialect=dialect,
            latency_s=latency_s,
            cap=cap,
            answer=answer,
            reasoning=reasoning,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            stream_chunks=stream_chunks,
            chunk_delay_s=chunk_delay_s,
            reasoning_field=reasoning_field,
            cost_usd=cost_usd,
            model=model,
            api_key=api_key,
            fail_rate=fail_rate,
            fail_with=fail_with,
            seed=seed,
        )
        return spawn_fake(config, port=port)

    # -- where it is -------------------------------------------------------------------------

    @property
    def dialect(self) -> DialectName:
        return self.config.dialect

    @property
    def port(self) -> int:
        """The port it serves on; kept across :meth:`kill` and :meth:`start`."""
        if self._port == 0:
            raise RuntimeError("the fake has not started yet: use `with fake:` or fake.start()")
        return self._port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``, where ``/health``, ``/metrics`` and ``/_fake/*`` live."""
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL a client appends ``/chat/completions`` to (``.../api/paas/v4``, ``.../v1``)."""
        return self.root_url + self._server.wire.base_path

    @property
    def serving(self) -> bool:
        return self._server.serving

    # -- what it saw -------------------------------------------------------------------------

    @property
    def stats(self) -> FakeStats:
        """A consistent snapshot of the counters (a new one on each access)."""
        return self._stats.snapshot()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every chat request received since the start or the last :meth:`reset_stats`."""
        return self._stats.requests()

    def reset_stats(self) -> None:
        """Zero the counters and forget recorded requests (injected faults stay queued)."""
        self._stats.reset()

    def inject(self, fault: Fault, times: int = 1) -> None:
        """The next ``times`` chat requests, in arrival order, get ``fault``."""
        self._faults.push(fault, times)

    # -- life --------------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve (again, on the same port after :meth:`kill`); a no-op while serving."""
        with self._lock:
            if self._server.serving:
                return self
            if self._thread is None or not self._thread.alive:
                self._thread = LoopThread(f"vlmroute-fake-{self.dialect}")
            try:
                self._port = self._thread.run(self._server.open(self._port), OPEN_TIMEOUT_S)
            except BaseException:
                self._thread.stop()
                self._thread = None
                raise
        return self

    def kill(self) -> None:
        """Stop at once: stop accepting and drop every open connection, mid-answer or not."""
        with self._lock:
            if self._thread is not None and self._thread.alive:
                self._thread.run(self._server.abort(), ABORT_TIMEOUT_S)

    def stop(self) -> None:
        """Stop serving (open connections drop, as with :meth:`kill`) and end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            try:
                if thread.alive:
                    thread.run(self._server.abort(), ABORT_TIMEOUT_S)
            finally:
                thread.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        where = self.base_url if self._port else "not started"
        return f"FakeProvider({self.dialect!r}, {where})"
