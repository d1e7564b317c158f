"""The default HTTP edge: aiohttp directly, and aiohttp's exceptions translated once, here.

A request costs what aiohttp costs and little more: the URL, headers and timeout objects a
backend sends with are built once (URL and timeout objects are cached), no cookie jar is
kept (``DummyCookieJar``), redirects are never followed (a provider API never redirects a
POST, and a redirect would resend the key), and proxies from the environment are not read
(``transport: httpx`` honours ``HTTPS_PROXY``). The session is made on first use, inside
the event loop that uses it, and made again if a later call runs on another loop.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import aiohttp
from yarl import URL

from ..errors import ProviderError
from .http import Failure, HttpAnswer, HttpEdge, Lines, _empty
from .options import Timeouts
from .sse import LineSplitter

__all__ = ["AiohttpEdge"]

#: Bodies over this many bytes are streamed from a BytesIO (aiohttp warns for raw bytes).
_LARGE_BODY = 1024 * 1024

# The connection closed before the answer was whole: the server hung up or reset it.
_DROPPED = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientConnectionResetError,
)


@lru_cache(maxsize=64)
def _client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts for ours: ``connect`` bounds waiting for a pooled connection and
    opening one; ``read`` is the longest silence. ``total`` is the backend's own deadline
    (it spans the stream, which aiohttp's ``total`` would cut at the headers' arrival)."""
    return aiohttp.ClientTimeout(
        total=None, connect=timeouts.connect, sock_connect=timeouts.connect, sock_read=timeouts.read
    )


@lru_cache(maxsize=256)
def _url(url: str) -> URL:
    return URL(url)


def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"vlmroute/{version('vlmroute')} aiohttp/{aiohttp.__version__}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return f"vlmroute aiohttp/{aiohttp.__version__}"


class AiohttpEdge(HttpEdge):
    """One ``aiohttp.ClientSession`` pooled for many requests in flight."""

    failures = (aiohttp.ClientError, TimeoutError, OSError)

    def __init__(self, *, max_connections: int = 1024) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, keepalive_timeout=30.0
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": _user_agent()},
                trust_env=False,
                timeout=aiohttp.ClientTimeout(total=None),
            )
            self._loop = loop
        return self._session

    def _request(
        self, url: str, headers: Mapping[str, str], body: bytes, timeouts: Timeouts
    ) -> Any:
        return self._open().post(
            _url(url),
            # aiohttp warns (and writes in one go) for raw bytes over 1 MiB: base64 images
            # make such bodies common; a fresh BytesIO each attempt is streamed in chunks.
            data=body if len(body) <= _LARGE_BODY else io.BytesIO(body),
            headers=headers,
            timeout=_client_timeout(timeouts),
            allow_redirects=False,
        )

    async def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeouts: Timeouts
    ) -> HttpAnswer:
        async with self._request(url, headers, body, timeouts) as response:
            content = await response.read()
            return HttpAnswer(response.status, response.headers, content)

    @asynccontextmanager
    async def stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeouts: Timeouts
    ) -> AsyncIterator[tuple[HttpAnswer, Lines]]:
        async with self._request(url, headers, body, timeouts) as response:
            if response.status != 200:
                content = await response.read()
                yield HttpAnswer(response.status, response.headers, content), _empty()
            else:
                yield HttpAnswer(response.status, response.headers, b""), _lines(response)

    async def get(self, url: str, *, headers: Mapping[str, str], timeout_s: float) -> HttpAnswer:
        limit = aiohttp.ClientTimeout(total=timeout_s)
        async with self._open().get(
            url, headers=headers, timeout=limit, allow_redirects=False
        ) as response:
            return HttpAnswer(response.status, response.headers, await response.read())

    def translate(self, exc: BaseException, *, provider: str, timeouts: Timeouts) -> ProviderError:
        if isinstance(exc, _DROPPED) or (
            isinstance(exc, aiohttp.ClientOSError)
            and not isinstance(exc, aiohttp.ClientConnectorError)
        ):
            return Failure.closed(provider, type(exc).__name__)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return Failure.refused(provider, exc.os_error)
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return Failure.timed_out(provider, timeouts, "connect")
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return Failure.timed_out(provider, timeouts, "read")
        if isinstance(exc, TimeoutError):
            return Failure.timed_out(provider, timeouts, "total")
        return Failure.unreachable(provider, exc)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is None or session.closed:
            return
        loop = self._loop
        running = asyncio.get_running_loop()
        if loop is running:
            await session.close()
        elif loop is not None and not loop.is_closed() and loop.is_running():
            # made on another loop that still runs (a sync twin's portal): close it there
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(session.close(), loop))
        # a session whose loop has closed has no sockets left to close


async def _lines(response: aiohttp.ClientResponse) -> AsyncIterator[list[str]]:
    splitter = LineSplitter()
    async for chunk in response.content.iter_any():
        lines = splitter.feed(chunk)
        if lines:
            yield lines
    last = splitter.close()
    if last:
        yield last
