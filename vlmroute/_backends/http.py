"""The HTTP edge a backend sends through, whichever library is under it.

A backend sends through an :class:`HttpEdge`: bytes and a URL in, an :class:`HttpAnswer`
(status, headers, bytes) or SSE lines out, and the transport's exceptions translated once
into the wording of :class:`Failure`. Two edges: :class:`~.aio.AiohttpEdge` (the default:
aiohttp directly) and :class:`~.hx.HttpxEdge` (``transport: httpx``, a caller's own
``http_client``, and respx's tests), which is imported only when used.

Why not httpx by default. With 256 requests in flight against a 50-ms loopback server, a
plain ``httpx.AsyncClient`` is CPU-bound in httpcore's connection pool, which rescans every
connection on each request start and end (``benchmarks/transport.py`` shows it); httpx over
aiohttp (``httpx_aiohttp``) removes that, but httpx's client facade (URL parsing, header
merging and encoding, the cookie jar read on every response, redirect and auth handling)
still cost about 45% of a routed request's CPU. ``benchmarks/limits.py`` measures the
router on the default edge against raw aiohttp. ``transport: httpx`` picks plain httpx,
which, unlike the aiohttp edge, honours ``HTTPS_PROXY`` from the environment.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ProviderConnectionError, ProviderError, ProviderTimeoutError
from .options import Timeouts

if TYPE_CHECKING:
    import httpx

__all__ = [
    "Failure",
    "HttpAnswer",
    "HttpEdge",
    "Lines",
    "Transport",
    "edge_of",
    "encode",
    "make_edge",
]

Transport = Literal["aiohttp", "httpx"]


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Failure:
    """The one wording of each transport failure, whichever edge saw it."""

    @staticmethod
    def closed(provider: str, why: object) -> ProviderError:
        return ProviderConnectionError(
            f"{provider}: the connection was closed before the answer was complete ({why})",
            provider=provider,
        )

    @staticmethod
    def refused(provider: str, error: OSError) -> ProviderError:
        return ProviderConnectionError(
            f"{provider}: cannot connect ({error.strerror or type(error).__name__}); "
            "check the offer's base_url and that the server is up",
            provider=provider,
        )

    @staticmethod
    def timed_out(provider: str, timeouts: Timeouts, phase: str) -> ProviderError:
        words = {
            "connect": f"no connection within {timeouts.connect:g} s (timeouts.connect)",
            "read": f"no data for {timeouts.read:g} s (timeouts.read); raise it for long "
            "reasoning or stream the answer",
            "total": f"no complete answer within {timeouts.total:g} s (timeouts.total)",
        }
        return ProviderTimeoutError(f"{provider}: {words[phase]}", provider=provider)

    @staticmethod
    def unreachable(provider: str, exc: BaseException) -> ProviderError:
        return ProviderConnectionError(
            f"{provider}: cannot reach the server ({type(exc).__name__}: {exc})",
            provider=provider,
        )


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class HttpEdge:
    """What a backend sends through: POST bytes, read bytes or lines, GET for probes.

    ``failures`` are the exceptions a transport failure surfaces as (while sending or while
    reading a stream); :meth:`translate` turns one into the vlmroute error, once, here.
    """

    failures: tuple[type[BaseException], ...] = (TimeoutError,)

    async def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeouts: Timeouts
    ) -> HttpAnswer:
        raise NotImplementedError

    def stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeouts: Timeouts
    ) -> AbstractAsyncContextManager[tuple[HttpAnswer, Lines]]:
        """POST and yield the status and headers (with the body read only for an error) and
        the body's lines (:data:`Lines`)."""
        raise NotImplementedError

    async def get(self, url: str, *, headers: Mapping[str, str], timeout_s: float) -> HttpAnswer:
        raise NotImplementedError

    def translate(self, exc: BaseException, *, provider: str, timeouts: Timeouts) -> ProviderError:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


#: A stream's body as lists of whole lines (without their endings), each list what arrived
#: together: one hop per network read, not one per line.
Lines = AsyncIterator[list[str]]


def make_edge(*, transport: Transport = "aiohttp", max_connections: int = 1024) -> HttpEdge:
    """The edge a router or client makes for itself (and closes)."""
    if transport == "aiohttp":
        from .aio import AiohttpEdge

        return AiohttpEdge(max_connections=max_connections)
    from .hx import HttpxEdge, make_http_client  # httpx loads only for transport: httpx

    client = make_http_client(transport="httpx", max_connections=max_connections)
    return HttpxEdge(client, owned=True)


def edge_of(http: HttpEdge | httpx.AsyncClient) -> HttpEdge:
    """``http`` as an edge: a caller's httpx client is wrapped (and never closed by us)."""
    if isinstance(http, HttpEdge):
        return http
    from .hx import HttpxEdge

    return HttpxEdge(http, owned=False)


async def _empty() -> AsyncIterator[list[str]]:
    return
    yield  # pragma: no cover - makes this an async generator
