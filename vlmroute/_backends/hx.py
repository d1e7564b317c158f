"""The httpx edge: ``transport: httpx``, a caller's own ``http_client``, and respx's tests.

Imported only when one of those is used, so a router on the default (aiohttp) edge never
loads httpx. httpx's exceptions are translated once, here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx

from ..errors import ProviderError
from .http import Failure, HttpAnswer, HttpEdge, Lines, Transport, _empty
from .options import Timeouts

__all__ = ["HttpxEdge", "make_http_client", "translate"]

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
                    _one_by_one(response),
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


async def _one_by_one(response: httpx.Response) -> AsyncIterator[list[str]]:
    async for line in response.aiter_lines():
        yield [line]
