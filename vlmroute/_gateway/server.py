"""The gateway: an aiohttp.web shell around the translation room (:mod:`vlmroute._wire`).

Every ``/v1/...`` request is handed to :class:`~vlmroute._wire.WireApp` as it is, the same
code the drop-in's routing transport calls, so the gateway and the drop-in cannot disagree on
a field, a status or an error body. This file adds only what HTTP needs:

- ``GET /health`` (the process is alive) and ``GET /ready`` (which offers can take a
  request now, with their state; 503 when none can);
- a request body limit (:data:`DEFAULT_BODY_LIMIT`: images arrive base64-encoded, so bodies
  are large) and OpenAI-shaped JSON for every error aiohttp itself raises (413, 405...), so
  no client ever gets HTML or a traceback;
- streaming: the answer's bytes are written as they come; a client that goes away ends the
  stream, which releases the request's slot and records it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web

from .._router import AsyncRouter
from .._wire import WireApp, close_stream, routes_of
from .state import offer_states

__all__ = ["DEFAULT_BODY_LIMIT", "make_app"]

log = logging.getLogger("vlmroute")

#: 64 MiB: a request with a few 4K images in base64 fits; a runaway upload does not.
DEFAULT_BODY_LIMIT = 64 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str, code: str) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status)


@web.middleware
async def _openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own refusals (body too large, bad method) as OpenAI error bodies."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge as exc:
        return _error(
            413, f"the request body is over the gateway's limit ({exc.text})", "too_large"
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason or "refused", "http_error")


def make_app(
    router: AsyncRouter,
    *,
    aliases: Mapping[str, Sequence[str]] | None = None,
    body_limit: int = DEFAULT_BODY_LIMIT,
    owns_router: bool = True,
) -> web.Application:
    """The gateway's application over ``router`` (closed with the app if it owns it)."""
    wire = WireApp(router, routes_of(router, aliases))
    app = web.Application(client_max_size=body_limit, middlewares=[_openai_errors])

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_request: web.Request) -> web.Response:
        offers = offer_states(router)
        able = any(state["state"] == "ready" for state in offers.values())
        return web.json_response({"ready": able, "offers": offers}, status=200 if able else 503)

    async def api(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        answer = await wire.handle(request.method, request.path, body, headers=request.headers)
        if answer.stream is None:
            return web.Response(status=answer.status, headers=answer.headers, body=answer.content)
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

    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_route("*", "/{tail:.*}", api)
    if owns_router:

        async def close_router(_app: web.Application) -> None:
            await router.aclose()

        app.on_cleanup.append(close_router)
    return app

