"""The HTTP edge: one pooled async client, and httpx's exceptions translated once, here.

Why httpx over aiohttp. With 256 requests in flight against a 50-ms loopback server, a
plain ``httpx.AsyncClient`` is CPU-bound in httpcore's connection pool, which rescans every
connection on each request start and end (``benchmarks/transport.py`` shows it): raising
``httpx.Limits`` trades one scan for another. ``httpx_aiohttp.AiohttpTransport`` keeps
httpx's API (requests, responses, timeouts, respx's ``using="httpx"`` mocks) and moves the
socket work to aiohttp's connector, which does not have that cost. It is the transport the
openai SDK itself offers (``DefaultAioHttpClient``). ``transport="httpx"`` picks plain httpx
(which, unlike aiohttp, honours ``HTTPS_PROXY`` from the environment).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from ..errors import ProviderConnectionError, ProviderError, ProviderTimeoutError
from .options import Timeouts

__all__ = ["HttpAnswer", "Transport", "make_http_client", "post_json", "post_stream", "translate"]

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


def translate(exc: Exception, *, provider: str, timeouts: Timeouts) -> ProviderError:
    """The vlmroute error for an httpx (or asyncio) failure; called once, at this edge."""
    cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else ""
    if cause in _DROPPED:
        return ProviderConnectionError(
            f"{provider}: the connection was closed before the answer was complete ({cause})",
            provider=provider,
        )
    refused = _os_error(exc)
    if refused is not None:  # httpx_aiohttp reports a refused connection as a ConnectTimeout
        return ProviderConnectionError(
            f"{provider}: cannot connect ({refused.strerror or type(refused).__name__}); "
            "check the offer's base_url and that the server is up",
            provider=provider,
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return ProviderTimeoutError(
            f"{provider}: no connection within {timeouts.connect:g} s (timeouts.connect)",
            provider=provider,
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(
            f"{provider}: no data for {timeouts.read:g} s (timeouts.read); raise it for long "
            "reasoning or stream the answer",
            provider=provider,
        )
    if isinstance(exc, TimeoutError):
        return ProviderTimeoutError(
            f"{provider}: no complete answer within {timeouts.total:g} s (timeouts.total)",
            provider=provider,
        )
    return ProviderConnectionError(
        f"{provider}: cannot reach the server ({type(exc).__name__}: {exc})", provider=provider
    )


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    timeouts: Timeouts,
) -> HttpAnswer:
    """POST ``body`` and read the whole answer; transport failures are left to the caller."""
    response = await client.post(
        url, content=encode(body), headers=headers, timeout=_timeout(timeouts)
    )
    return HttpAnswer(response.status_code, response.headers, response.content)


@asynccontextmanager
async def post_stream(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    timeouts: Timeouts,
) -> AsyncIterator[tuple[HttpAnswer, AsyncIterator[str]]]:
    """POST and yield the status/headers (body read only for an error) and the body's lines."""
    request = client.build_request(
        "POST", url, content=encode(body), headers=headers, timeout=_timeout(timeouts)
    )
    response = await client.send(request, stream=True)
    try:
        if response.status_code != 200:
            await response.aread()
            yield HttpAnswer(response.status_code, response.headers, response.content), _empty()
        else:
            yield HttpAnswer(response.status_code, response.headers, b""), response.aiter_lines()
    finally:
        await response.aclose()


async def _empty() -> AsyncIterator[str]:
    return
    yield  # pragma: no cover - makes this an async generator
