"""Connection-level limits for the gateway: slow heads, slow bodies, idle keep-alives, and
how many connections one process holds open.

aiohttp.web bounds the *size* of what a client sends (request line, header fields, body:
``client_max_size``) but not the *time* it may take to send it, nor how many connections it
may hold. A client that sends its head a byte at a time (slowloris), or its body a byte at a
time, or just opens sockets, would otherwise pin a connection, a task and a file descriptor
each, for as long as it likes. :func:`make_runner` returns an :class:`aiohttp.web.AppRunner`
that adds :class:`ConnectionLimits`; :func:`start_site` serves it on a host and port, or on
an already-listening socket (one inherited by a pre-forked worker)::

    runner = make_runner(app, ConnectionLimits(header_timeout_s=10), shutdown_timeout=30)
    await runner.setup()
    site = await start_site(runner, host="127.0.0.1", port=4000)   # or sock=listening
    ...
    await runner.cleanup()

Each limit sits where aiohttp already has the state it needs:

``idle_timeout_s``
    aiohttp's own ``keepalive_timeout``, passed through: the protocol closes a keep-alive
    connection that has sent nothing for that long after its last answer, silently, which is
    what a client's connection pool expects (it retries a request on a pooled connection the
    server closed). 75 s, nginx's default, outlasts the idle timeouts of the load balancers
    usually in front (60 s), so they, not we, close first.

``header_timeout_s``
    A :class:`~aiohttp.web_protocol.RequestHandler` subclass arms a timer when the
    connection is made and, on a keep-alive connection, when the first byte of its next
    request arrives; the request reaching dispatch (its head complete) cancels it. If it fires
    while the protocol is still waiting for a complete head, a connection that sent part of a
    head is answered ``408`` (OpenAI JSON, ``code: "request_timeout"``) and closed; one that
    sent nothing at all is closed without an answer: it asked nothing, and a 408 written just
    as a client sends its first request would be read as that request's answer. The timer
    counts from the start of the head, not from the last byte, so a byte every second does not
    keep it alive. The head of a request *pipelined* behind one being handled started while
    the protocol was busy, so its bound is the idle timeout instead.

``body_timeout_s``
    Counted from dispatch (the head is complete) until the body's last byte. It is armed in
    the server's dispatch, around the application, not in a handler: every route is bounded in
    one place, whether or not it reads its body, and the application knows nothing of it. When
    it fires before the body ends, the body stream fails with :class:`RequestBodyTimeout` (so
    the handler's ``await request.read()`` raises), the connection stops reading, and the
    client gets ``408`` JSON and a close. A body that has arrived is never affected, however
    long the handler then takes (a slow provider, a long stream).

``max_connections``
    Counted in an :class:`aiohttp.web.Server` subclass, which the protocol tells of every
    connection made and lost. One over the cap is still accepted, so that it can be told: it
    does not count towards the cap, its request never reaches the application, and it is
    answered ``503`` (``code: "too_many_connections"``, ``Retry-After: 1``) and closed; if it
    sends nothing, the header timeout closes it. The connections already admitted are not
    touched. The cap is per process: with pre-forked workers, each worker has its own. It
    should sit below the process's file limit (``ulimit -n``, often 1024), or accept() fails
    with EMFILE first and asyncio stops accepting for a second, with no answer to anyone.

Errors the protocol answers by itself (``400`` for a malformed head, ``500`` for an exception
no handler caught) are OpenAI JSON as well, never aiohttp's plain text or HTML.

aiohttp has no public hook for any of this, so four private names are used, each marked
``aiohttp private`` below: ``AppRunner._make_server`` (overridden, to build the server
subclass), ``Server._kwargs``/``Server._loop`` (the protocol's settings, as
``Server.__call__`` passes them) and ``RequestHandler._waiter`` (the future the protocol's
``start()`` awaits while it has no complete request head: the same test aiohttp's own
keep-alive timer makes) with ``RequestHandler._request_count`` (heads parsed so far, for
bytes that arrive before ``start()`` first runs). All are unchanged from aiohttp 3.10 to 3.14.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

__all__ = [
    "ConnectionLimits",
    "RequestBodyTimeout",
    "make_runner",
    "start_site",
]

log = logging.getLogger("vlmroute")

_Dispatch = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take, and how many connections it may hold (see the module)."""

    #: Seconds from connecting (or, on a keep-alive connection, from the first byte of the
    #: next request) to a complete request line and headers.
    header_timeout_s: float = 10.0
    #: Seconds a keep-alive connection may stay idle between requests (aiohttp's
    #: ``keepalive_timeout``).
    idle_timeout_s: float = 75.0
    #: Seconds from a complete head to the body's last byte.
    body_timeout_s: float = 60.0
    #: Open client connections this process serves; one more is answered 503.
    max_connections: int = 1024

    def __post_init__(self) -> None:
        for name in ("header_timeout_s", "idle_timeout_s", "body_timeout_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"ConnectionLimits.{name} must be > 0, got {value!r}")
        if self.max_connections < 1:
            raise ValueError(
                f"ConnectionLimits.max_connections must be >= 1, got {self.max_connections!r}"
            )


class RequestBodyTimeout(Exception):
    """The request body did not arrive within ``body_timeout_s``: what the body stream raises
    to the handler reading it. The server answers 408 itself; a handler need not catch it."""


def _body(status: int, message: str, code: str) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _error(status: int, message: str, code: str, **headers: str) -> web.Response:
    """An OpenAI-shaped error answer, after which the connection closes."""
    response = web.json_response(_body(status, message, code), status=status, headers=headers)
    response.force_close()
    return response


def _raw_error(status: int, message: str, code: str) -> bytes:
    """The same answer as bytes, for a connection that has no request to answer through."""
    body = json.dumps(_body(status, message, code)).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _GuardedHandler(RequestHandler):
    """aiohttp's HTTP/1 protocol, with the header timeout and JSON for its own errors."""

    __slots__ = ("_head_begun", "_head_timer", "_header_timeout_s")

    def __init__(self, manager: _GuardedServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout_s = manager.limits.header_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_begun = False  # part of a head has arrived (and no dispatch since)

    def _awaiting_head(self) -> bool:
        # aiohttp private: RequestHandler._waiter is the future start() awaits until the
        # parser has a complete request (web_protocol.py, start(): "wait for next request";
        # set by data_received()); None while a request is being handled, and also before
        # start() first runs: bytes sent at once on connecting arrive then, and while
        # _request_count (complete heads parsed, data_received()) is 0 they are a head.
        waiter = self._waiter
        if waiter is None:
            return self._request_count == 0
        return not waiter.done()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self._loop.call_later(self._header_timeout_s, self._head_late)

    def head_complete(self) -> None:
        """A request from this connection reached dispatch: its head is in."""
        self._head_begun = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport is None or not self._awaiting_head():
            return  # gone, or a request is being handled
        if self._head_begun:
            message = f"the request head did not arrive within {self._header_timeout_s:g}s"
            log.debug("vlmroute: %s; answered 408", message)
            self.transport.write(_raw_error(408, message, "request_timeout"))
        # What aiohttp's own keep-alive timer does to an idle connection; with nothing in
        # flight, nothing else writes to the transport. close() sends the 408 first.
        self.force_close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Bytes that leave the protocol still waiting begin (or continue) a head. Bytes that
        # arrive while a request is handled are its body, or a pipelined request (module doc).
        if data and self._awaiting_head():
            self._head_begun = True
            self._arm_head_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self.head_complete()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's error answer (400 for a malformed head, 500 for an uncaught exception,
        504 for an uncaught TimeoutError) as OpenAI JSON; its logging is kept."""
        plain = super().handle_error(request, status, exc, message)
        if status < 500 and message:
            return _error(plain.status, message, "http_error")
        return _error(plain.status, plain.reason or "error", "internal_error")


class _GuardedServer(web.Server):
    """aiohttp's protocol factory, with the connection cap and the body timeout."""

    def __init__(self, plain: web.Server, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._application = plain.request_handler
        self._admitted: set[RequestHandler] = set()
        self._refused: set[RequestHandler] = set()
        self._full = False
        # aiohttp private: Server._kwargs are the protocol's settings (keepalive_timeout,
        # access_log...), Server._loop its loop (web_server.py, Server.__init__/__call__).
        super().__init__(
            self._dispatch,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            **plain._kwargs,
        )

    def __call__(self) -> RequestHandler:
        return _GuardedHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if len(self._admitted) < self.limits.max_connections:
            self._admitted.add(handler)
            return
        self._refused.add(handler)
        if not self._full:
            self._full = True
            log.warning(
                "vlmroute: %d connections open, the most this process serves: "
                "refusing new ones with 503 until one closes",
                len(self._admitted),
            )

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._refused.discard(handler)
        if handler in self._admitted:
            self._admitted.remove(handler)
            self._full = False

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        protocol = request.protocol
        if isinstance(protocol, _GuardedHandler):
            protocol.head_complete()
        if protocol in self._refused:
            message = (
                f"the gateway is serving its most connections ({self.limits.max_connections});"
                " retry shortly"
            )
            return _error(503, message, "too_many_connections", **{"Retry-After": "1"})
        payload = request.content
        timer = None
        if not payload.is_eof():
            timer = self._loop.call_later(
                self.limits.body_timeout_s, self._body_late, protocol, payload
            )
        try:
            return await self._application(request)
        except RequestBodyTimeout as exc:
            return _error(408, str(exc), "request_timeout")
        finally:
            if timer is not None:
                timer.cancel()

    def _body_late(self, protocol: RequestHandler, payload: StreamReader) -> None:
        if payload.is_eof():
            return  # the body is in; the handler may take as long as it needs
        message = f"the request body did not arrive within {self.limits.body_timeout_s:g}s"
        log.debug("vlmroute: %s; answered 408", message)
        payload.set_exception(RequestBodyTimeout(message))
        # Read no more from this connection (the rest of the body is dropped, and it closes
        # after the answer), and end the stream so that aiohttp does not linger reading it.
        protocol.close()
        payload.feed_eof()


class _LimitedRunner(web.AppRunner):
    def __init__(self, app: web.Application, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=limits.idle_timeout_s, **kwargs)
        self.limits = limits

    async def _make_server(self) -> web.Server:
        # aiohttp private: AppRunner._make_server() runs the app's startup and returns the
        # Server that sites serve (web_runner.py, BaseRunner.setup()); this wraps it.
        return _GuardedServer(await super()._make_server(), self.limits)


def make_runner(
    app: web.Application,
    limits: ConnectionLimits | None = None,
    *,
    shutdown_timeout: float = 60.0,
    access_log: logging.Logger | None = None,
) -> web.AppRunner:
    """An AppRunner for ``app`` under ``limits`` (the defaults when None); ``setup()`` and
    ``cleanup()`` it as any AppRunner, and serve it with :func:`start_site`.
    ``shutdown_timeout``: how long requests in flight may finish at cleanup."""
    return _LimitedRunner(
        app,
        limits or ConnectionLimits(),
        shutdown_timeout=shutdown_timeout,
        access_log=access_log,
    )


async def start_site(
    runner: web.AppRunner,
    *,
    host: str | None = None,
    port: int = 0,
    sock: socket.socket | None = None,
    backlog: int = 128,
) -> web.BaseSite:
    """Serve ``runner`` (from :func:`make_runner`, set up) on ``host``:``port`` (``port=0``:
    any free port; ``runner.addresses`` says which), or on ``sock``, a socket already bound
    and listening (a pre-forked worker's inherited one). The site owns ``sock`` from then on:
    ``runner.cleanup()`` closes it. Returns the started site."""
    if not isinstance(runner, _LimitedRunner):
        raise TypeError("start_site() serves a runner from make_runner(), which sets the limits")
    site: web.BaseSite
    if sock is not None:
        if host is not None or port:
            raise ValueError("start_site() takes host and port, or sock, not both")
        site = web.SockSite(runner, sock, backlog=backlog)
    else:
        site = web.TCPSite(runner, host, port, backlog=backlog)
    await site.start()
    return site
