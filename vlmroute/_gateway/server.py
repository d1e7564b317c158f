"""The gateway: an aiohttp.web shell around the translation room (:mod:`vlmroute._wire`).

Every ``/v1/...`` request is handed to :class:`~vlmroute._wire.WireApp` as it is, the same
code the drop-in's routing transport calls, so the gateway and the drop-in cannot disagree on
a field, a status or an error body. This file adds only what HTTP needs:

- ``GET /health`` (the process is alive) and ``GET /ready`` (which offers can take a
  request now, with their state; 503 when none can), both open to load balancers;
- ``GET /metrics`` (Prometheus, :mod:`vlmroute.metrics`) and ``GET /`` (the status page,
  :mod:`.status`), which need a gateway key when keys are configured (the page asks a
  browser for it as HTTP Basic auth's password);
- gateway keys (:mod:`.keys`): checked before a request's body is read; the caller's name
  goes to the router, which records it and applies its budgets;
- a request body limit (:data:`DEFAULT_BODY_LIMIT`: images arrive base64-encoded, so bodies
  are large), over which the answer is a 413 in OpenAI's JSON; every other path is the
  translation room's (404s included), and aiohttp's own 400 and 500 answers are made JSON
  by :mod:`.limits`, so no client ever gets HTML or a traceback;
- streaming: the answer's bytes are written as they come; a client that goes away ends the
  stream, which releases the request's slot and records it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from aiohttp import web

from .._router import AsyncRouter
from .._router.events import RequestDone
from .._router.states import offer_states
from .._wire import Caller, WireApp, WireError, WireResponse, close_stream, routes_of
from .._wire.app import error_response
from ..metrics import RouterMetrics
from .keys import GatewayKeys
from .status import RecentErrors, status_handler

__all__ = ["DEFAULT_BODY_LIMIT", "make_app"]

log = logging.getLogger("vlmroute")

#: 64 MiB: a request with a few 4K images in base64 fits; a runaway upload does not.
DEFAULT_BODY_LIMIT = 64 * 1024 * 1024


def _error(status: int, message: str, code: str) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status)


def _response(answer: WireResponse) -> web.Response:
    return web.Response(status=answer.status, headers=answer.headers, body=answer.content)


def make_app(
    router: AsyncRouter,
    *,
    aliases: Mapping[str, Sequence[str]] | None = None,
    body_limit: int = DEFAULT_BODY_LIMIT,
    owns_router: bool = True,
    keys: GatewayKeys | None = None,
    metrics: RouterMetrics | None = None,
) -> web.Application:
    """The gateway's application over ``router`` (closed with the app if it owns it).

    With ``keys``, every path but ``/health`` and ``/ready`` needs one of them. ``metrics``
    defaults to a :class:`~vlmroute.metrics.RouterMetrics` of its own over ``router``."""
    gateway = _Gateway(router, aliases, keys, metrics or RouterMetrics(router))
    # No middleware (each costs every request): the catch-all route leaves aiohttp no 404 or
    # 405 to raise, and the one refusal it raises, 413, is caught where the body is read.
    app = web.Application(client_max_size=body_limit)
    app.router.add_get("/health", gateway.health)
    app.router.add_get("/ready", gateway.ready)
    app.router.add_get("/metrics", gateway.scrape)
    app.router.add_get("/", gateway.status)
    app.router.add_route("*", "/{tail:.*}", gateway.api)
    if owns_router:

        async def close_router(_app: web.Application) -> None:
            await router.aclose()

        app.on_cleanup.append(close_router)
    return app


class _Gateway:
    """The handlers, over one router."""

    def __init__(
        self,
        router: AsyncRouter,
        aliases: Mapping[str, Sequence[str]] | None,
        keys: GatewayKeys | None,
        metrics: RouterMetrics,
    ) -> None:
        self.router = router
        self.wire = WireApp(router, routes_of(router, aliases))
        self.keys = keys
        self.metrics = metrics
        errors = RecentErrors()
        router.add_listener(_errors_into(errors))
        self.page = status_handler(router, errors)

    def refused(self, request: web.Request, *, browser: bool = False) -> web.Response | None:
        """A 401 unless the request carries a gateway key (or none are configured)."""
        if not self.keys:
            return None
        try:
            self.keys.caller(request.headers.get("authorization"))
        except WireError as error:
            if browser:
                error.headers["www-authenticate"] = 'Basic realm="vlmroute", charset="UTF-8"'
            return _response(error_response(error))
        return None

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(self, _request: web.Request) -> web.Response:
        offers = offer_states(self.router)
        able = any(state["state"] == "ready" for state in offers.values())
        return web.json_response({"ready": able, "offers": offers}, status=200 if able else 503)

    async def scrape(self, request: web.Request) -> web.Response:
        denied = self.refused(request)
        if denied is not None:
            return denied
        body, content_type = self.metrics.expose()
        return web.Response(body=body, headers={"content-type": content_type})

    async def status(self, request: web.Request) -> web.StreamResponse:
        denied = self.refused(request, browser=True)
        return denied if denied is not None else await self.page(request)

    async def api(self, request: web.Request) -> web.StreamResponse:
        caller: Caller | None = None
        if self.keys:
            try:
                caller = self.keys.caller(request.headers.get("authorization"))
            except WireError as error:  # before the body is read
                return _response(error_response(error))
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            message = f"the request body is over the gateway's limit ({exc.text})"
            return _error(413, message, "too_large")
        answer = await self.wire.handle(
            request.method, request.path, body, headers=request.headers, caller=caller
        )
        if answer.stream is None:
            return _response(answer)
        response = web.StreamResponse(status=answer.status, headers=answer.headers)
        try:
            await response.prepare(request)
            async for chunk in answer.stream:
                await response.write(chunk)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            log.info("vlmroute: the client left %s before the stream ended", request.path)
        finally:
            await close_stream(answer.stream)
        return response


def _errors_into(errors: RecentErrors) -> Callable[[RequestDone], None]:
    """A router listener keeping each failed request in ``errors`` for the status page."""

    def note(done: RequestDone) -> None:
        if done.ok or done.outcome == "abandoned":
            return
        last = done.attempts[-1] if done.attempts else None
        at = done.record.at if done.record is not None else datetime.now(UTC)
        message = (last.message if last is not None else None) or done.outcome
        status_code = last.status_code if last is not None else None
        errors.add(at, done.offer, done.outcome, status_code, message)

    return note
