"""The routing transport: httpx's transport seam, answered by the router instead of a socket.

The openai SDK builds its request as ever (``POST .../chat/completions`` with its JSON body)
and sends it through an ``httpx.Client`` whose transport is :class:`RoutingTransport` (or
:class:`AsyncRoutingTransport`). The transport hands the request to :class:`WireApp`, which
routes it and answers in OpenAI's wire format, and the SDK parses that answer with its own
code into its own types and exceptions. A router timeout or a provider that cannot be
reached is raised as httpx's timeout or connect error, so the SDK raises
``APITimeoutError`` / ``APIConnectionError`` as it does for a real network.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import openai

from .._router import AsyncRouter, Router
from .._wire import WireApp, WireResponse, close_stream
from ..errors import ProviderConnectionError, ProviderTimeoutError, VlmrouteError

__all__ = ["AsyncRoutingTransport", "RoutingTransport", "error_of_response"]

#: Where an error answer keeps the vlmroute error behind it (``response.extensions``).
ERROR_KEY = "vlmroute_error"


class RoutedTimeout(httpx.ReadTimeout):
    """The router's deadline passed, or every offer timed out (``__cause__`` says which)."""


class RoutedConnectError(httpx.ConnectError):
    """No offer could be reached (``__cause__`` is the vlmroute error)."""


def _timeout_s(request: httpx.Request) -> float | None:
    """The SDK's read timeout for this request: the router's deadline."""
    timeout = request.extensions.get("timeout")
    if isinstance(timeout, dict):
        read = timeout.get("read")
        return float(read) if isinstance(read, int | float) else None
    return None


def _answer(app: WireApp, request: httpx.Request, body: bytes) -> Awaitable[WireResponse]:
    return app.handle(
        request.method,
        request.url.path,
        body,
        headers=request.headers,
        timeout_s=_timeout_s(request),
    )


def _raise_network_error(result: WireResponse, request: httpx.Request) -> None:
    error = result.error
    if isinstance(error, ProviderTimeoutError):
        raise RoutedTimeout(str(error), request=request) from error
    if isinstance(error, ProviderConnectionError):
        raise RoutedConnectError(str(error), request=request) from error


def _response(
    result: WireResponse,
    request: httpx.Request,
    stream: httpx.SyncByteStream | httpx.AsyncByteStream | None,
) -> httpx.Response:
    extensions = {ERROR_KEY: result.error} if result.error is not None else {}
    if stream is not None:
        return httpx.Response(result.status, headers=result.headers, stream=stream, request=request)
    return httpx.Response(
        result.status,
        headers=result.headers,
        content=result.content,
        request=request,
        extensions=extensions,
    )


def error_of_response(response: httpx.Response) -> VlmrouteError | None:
    """The vlmroute error behind an error answer of this transport, if any."""
    error = response.extensions.get(ERROR_KEY)
    return error if isinstance(error, VlmrouteError) else None


async def _abandon(router: AsyncRouter, *, close_ledger: bool) -> None:
    """Close a router whose event loop has closed: its pool's sockets died with that loop,
    and closing only marks them so, with no I/O (which could raise on the dead loop)."""
    with contextlib.suppress(RuntimeError, OSError):
        await router.close_connections()
    if close_ledger:
        router.ledger.close()


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()  # frees the slot at once when an app stops reading


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        await close_stream(self._chunks)


class RoutingTransport(httpx.BaseTransport):
    """Answers a sync ``httpx.Client``'s requests from a :class:`Router` (any thread)."""

    def __init__(self, router: Router, app: WireApp, *, owns_router: bool) -> None:
        self.router = router
        self.app = app
        self._owns_router = owns_router

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        portal = self.router._portal
        result = portal.call(lambda: _answer(self.app, request, body))
        _raise_network_error(result, request)
        stream = result.stream
        chunks = None if stream is None else _SyncBody(portal.iterate(lambda: stream))
        return _response(result, request, chunks)

    def close(self) -> None:
        if self._owns_router:
            self.router.close()


class AsyncRoutingTransport(httpx.AsyncBaseTransport):
    """Answers an ``httpx.AsyncClient``'s requests from an :class:`AsyncRouter`.

    The router lives on the event loop that first uses it. When that loop has closed (a
    script's second ``asyncio.run``), a router this transport built is built afresh on the
    new loop (nothing can be in flight on a closed loop, so caps still hold). A router
    passed in, or a loop still running elsewhere, is an ``openai.APIConnectionError``
    saying what to do.
    """

    def __init__(
        self,
        router: AsyncRouter,
        app: Callable[[AsyncRouter], WireApp],
        *,
        rebuild: Callable[[], AsyncRouter] | None,
    ) -> None:
        self.router = router
        self._make_app = app
        self.app = app(router)
        self._rebuild = rebuild
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _app_here(self, request: httpx.Request) -> WireApp:
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return self.app
        if self._loop is None:
            self._loop = loop
            return self.app
        if self._loop.is_closed() and self._rebuild is not None:
            old, self.router = self.router, self._rebuild()
            self.app = self._make_app(self.router)
            self._loop = loop
            # Nothing of the old router's can be in flight: its loop is gone.
            await _abandon(old, close_ledger=old.ledger is not self.router.ledger)
            return self.app
        where = "has closed" if self._loop.is_closed() else "is still running in another thread"
        raise openai.APIConnectionError(
            message=(
                f"this vlmroute.AsyncOpenAI's router belongs to an event loop that {where}; "
                "make one client per event loop (or pass config= rather than router=, so it "
                "can rebuild its router), or use vlmroute.OpenAI from threads"
            ),
            request=request,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        app = await self._app_here(request)
        result = await _answer(app, request, await request.aread())
        _raise_network_error(result, request)
        chunks = None if result.stream is None else _AsyncBody(result.stream)
        return _response(result, request, chunks)

    async def aclose(self) -> None:
        """Close a router this transport built, on whichever loop it lives."""
        if self._rebuild is None:
            return
        loop, here = self._loop, asyncio.get_running_loop()
        if loop is None or loop is here:
            await self.router.aclose()
        elif loop.is_closed():
            await _abandon(self.router, close_ledger=True)
        elif loop.is_running():  # another thread's loop: close it there
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.router.aclose(), loop))
        else:  # a loop left open and idle (a framework's run_sync): run it once more
            await asyncio.to_thread(loop.run_until_complete, self.router.aclose())
