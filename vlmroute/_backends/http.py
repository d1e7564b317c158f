"""The HTTP edge over httpx: one pooled client, and httpx's exceptions translated once, here.

A backend sends through an :class:`HttpEdge`: :class:`HttpxEdge` (this module: an
``httpx.AsyncClient``, the one respx mocks, and the one a caller's own ``http_client`` is
wrapped in) or :class:`~.aio.AiohttpEdge` (the default: aiohttp directly). Both take the
same bytes and give the same :class:`HttpAnswer`; the backend never sees which.

Why aiohttp underneath. With 256 requests in flight against a 50-ms loopback server, a
plain ``httpx.AsyncClient`` is CPU-bound in httpcore's connection pool, which rescans every
connection on each request start and end (``benchmarks/transport.py`` shows it): raising
``httpx.Limits`` trades one scan for another. ``httpx_aiohttp.AiohttpTransport`` keeps
httpx's API (requests, responses, timeouts, respx's ``using="httpx"`` mocks) and moves the
socket work to aiohttp's connector, which does not have that cost. It is the transport the
openai SDK itself offers (``DefaultAioHttpClient``). ``transport="httpx"`` picks plain httpx
(which, unlike aiohttp, honours ``HTTPS_PROXY`` from the environment).

Why the default sends through aiohttp itself, not through httpx over aiohttp: httpx's client
facade (URL parsing, header merging and encoding, the cookie jar read on every response,
redirect and auth handling) cost about 45% of a routed request's CPU; ``benchmarks/limits.py``
measures both edges.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from ..errors import ProviderConnectionError, ProviderError, ProviderTimeoutError
from .options import Timeouts

__all__ = [
    "Failure",
    "HttpAnswer",
    "HttpEdge",
    "HttpxEdge",
    "Lines",
    "Transport",
    "edge_of",
    "encode",
    "make_edge",
    "make_http_client",
    "translate",
]

Transport = Literal["aiohttp", "httpx"]

# aiohttp errors that httpx_aiohttp reports as httpx.ConnectTimeout although no timeout
# happened: the server closed or reset the connection.
_DROPPED = ("ServerDisconnectedError", "ClientOSError", "ClientConnectionResetError")


def make_http_client(
    *, transport: Transport = "aiohttp", max_connections: int = 1024
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` pooled for many requests in flight.

    Timeouts are set per request by the backends, never here; redirects are not followed
    (a provider API never redirects a POST, and a redirect would resend the key).
    """
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=30.0,
    )
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=None)
    return httpx.AsyncClient(limits=limits, timeout=None)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


def _timeout(timeouts: Timeouts) -> httpx.Timeout:
    return httpx.Timeout(
        connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=timeouts.connect
    )


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError that is not a timeout (refused, unreachable, no such host) behind ``exc``."""
    seen: BaseException | None = exc
    for _ in range(8):  # causes chain a few levels deep at most
        if seen is None:
            return None
        if isinstance(seen, OSError) and not isinstance(seen, TimeoutError):
            return seen
        os_error = next(
            (a for a in getattr(seen, "args", ()) if isinstance(a, OSError)), None
        )  # aiohttp's ClientConnectorError keeps the OSError in its args
        if os_error is not None and not isinstance(os_error, TimeoutError):
            return os_error
        seen = seen.__cause__ or seen.__context__
    return None


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


def translate(exc: BaseException, *, provider: str, timeouts: Timeouts) -> ProviderError:
    """The vlmroute error for an httpx (or asyncio) failure; called once, at this edge."""
    cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else ""
    if cause in _DROPPED:
        return Failure.closed(provider, cause)
    if isinstance(exc, httpx.RemoteProtocolError):  # plain httpx: the peer hung up
        return Failure.closed(provider, exc)
    refused = _os_error(exc)
    if refused is not None:  # httpx_aiohttp reports a refused connection as a ConnectTimeout
        return Failure.refused(provider, refused)
    if isinstance(exc, httpx.ConnectTimeout):
        return Failure.timed_out(provider, timeouts, "connect")
    if isinstance(exc, httpx.TimeoutException):
        return Failure.timed_out(provider, timeouts, "read")
    if isinstance(exc, TimeoutError):
        return Failure.timed_out(provider, timeouts, "total")
    return Failure.unreachable(provider, exc)


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
        the body's lines, without their line endings."""
        raise NotImplementedError

    async def get(self, url: str, *, headers: Mapping[str, str], timeout_s: float) -> HttpAnswer:
        raise NotImplementedError

    def translate(self, exc: BaseException, *, provider: str, timeouts: Timeouts) -> ProviderError:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


Lines = AsyncIterator[str]


class HttpxEdge(HttpEdge):
    """Sends through an ``httpx.AsyncClient`` (``transport: httpx``, or a caller's own
    client); closes it only if it made it."""

    failures = (httpx.HTTPError, TimeoutError)

    def __init__(self, client: httpx.AsyncClient, *, owned: bool) -> None:
        self.client = client
        self._owned = owned

    async def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeouts: Timeouts
    ) -> HttpAnswer:
        response = await self.client.post(
            url, content=body, headers=headers, timeout=_timeout(timeouts)
        )
        return HttpAnswer(response.status_code, response.headers, response.content)

    @asynccontextmanager
    async def stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeouts: Timeouts
    ) -> AsyncIterator[tuple[HttpAnswer, Lines]]:
        request = self.client.build_request(
            "POST", url, content=body, headers=headers, timeout=_timeout(timeouts)
        )
        response = await self.client.send(request, stream=True)
        try:
            if response.status_code != 200:
                await response.aread()
                yield HttpAnswer(response.status_code, response.headers, response.content), _empty()
            else:
                yield (
                    HttpAnswer(response.status_code, response.headers, b""),
                    response.aiter_lines(),
                )
        finally:
            await response.aclose()

    async def get(self, url: str, *, headers: Mapping[str, str], timeout_s: float) -> HttpAnswer:
        response = await self.client.get(url, headers=headers, timeout=httpx.Timeout(timeout_s))
        return HttpAnswer(response.status_code, response.headers, response.content)

    def translate(self, exc: BaseException, *, provider: str, timeouts: Timeouts) -> ProviderError:
        return translate(exc, provider=provider, timeouts=timeouts)

    async def aclose(self) -> None:
        if self._owned:
            await self.client.aclose()


def make_edge(*, transport: Transport = "aiohttp", max_connections: int = 1024) -> HttpEdge:
    """The edge a router or client makes for itself (and closes)."""
    if transport == "aiohttp":
        from .aio import AiohttpEdge

        return AiohttpEdge(max_connections=max_connections)
    client = make_http_client(transport="httpx", max_connections=max_connections)
    return HttpxEdge(client, owned=True)


def edge_of(http: HttpEdge | httpx.AsyncClient) -> HttpEdge:
    """``http`` as an edge: a caller's httpx client is wrapped (and never closed by us)."""
    return http if isinstance(http, HttpEdge) else HttpxEdge(http, owned=False)


async def _empty() -> AsyncIterator[str]:
    return
    yield  # pragma: no cover - makes this an async generator
