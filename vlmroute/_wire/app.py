"""The OpenAI-compatible API over a router: a request in, a :class:`WireResponse` out.

This is the whole translation, OpenAI wire JSON to a router call to OpenAI wire JSON or
server-sent events, with no HTTP server or client in it. The drop-in's routing transport
(:mod:`vlmroute._dropin.transport`) hands it the requests the openai SDK builds; a gateway
hands it the requests it receives. Served::

    POST .../chat/completions     JSON, or text/event-stream with "stream": true
    GET  .../models               the names ``model`` accepts
    GET  .../models/{name}        one of them

Any other path answers an OpenAI-shaped 404 naming what is served. An error before a
stream's first delta is an error status (the router fails over until then); after it, an
error event in the stream. Every answer carries ``x-request-id``; completions also carry
``x-vlmroute-offer``, ``x-vlmroute-attempts`` and ``x-vlmroute-cost``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .._response import ChatResponse, StreamEvent
from .._router import AsyncRouter
from ..errors import ServerError, VlmrouteError
from .errors import WireError, error_of, model_not_found, not_found
from .reply import ChunkWriter, completion_body, encode, new_id, response_headers, served_model
from .request import WireRequest, parse_body, wire_request
from .routes import ModelRoutes, OfferInfo, Route

__all__ = ["Caller", "WireApp", "WireResponse", "close_stream", "routes_of"]

log = logging.getLogger("vlmroute")

_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "text/event-stream", "cache-control": "no-cache"}
_SERVED = "POST /v1/chat/completions, GET /v1/models and GET /v1/models/{model}"


@dataclass(slots=True)
class WireResponse:
    """An answer: a status, headers, and a body (``content``) or a stream of bytes."""

    status: int
    headers: dict[str, str]
    content: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    #: The vlmroute error behind an error answer, for in-process callers.
    error: VlmrouteError | None = field(default=None)
    #: The routed answer behind a completion, for in-process callers (``vlmroute run``).
    response: ChatResponse | None = field(default=None)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request (a gateway key): its name for the ledger and its budgets, and the
    offers it may use (None: every offer)."""

    name: str
    offers: frozenset[str] | None = None


def routes_of(
    router: AsyncRouter, aliases: Mapping[str, Sequence[str]] | None = None
) -> ModelRoutes:
    """The model names a router serves: its offers, their model ids, and ``aliases``."""
    offers = [
        OfferInfo(
            offer=name,
            provider=offer.provider,
            model_ids=tuple(dict.fromkeys((offer.model, router.backends[name].model))),
        )
        for name, offer in router.offers.items()
    ]
    return ModelRoutes(offers, aliases)


def error_response(error: WireError) -> WireResponse:
    headers = {**_JSON, **error.headers}
    headers.setdefault("x-request-id", new_id())
    return WireResponse(error.status, headers, encode(error.body()), error=error.cause)


class WireApp:
    """The OpenAI API of one router. Call :meth:`handle` on the router's event loop."""

    def __init__(self, router: AsyncRouter, routes: ModelRoutes) -> None:
        self.router = router
        self.routes = routes
        self._offer_models = {name: b.model for name, b in router.backends.items()}
        self._json_offers = frozenset(
            name for name, b in router.backends.items() if b.dialect.takes_json_format()
        )
        self._models_body = encode(
            {"object": "list", "data": [self._model(r) for r in routes.routes()]}
        )

    async def handle(
        self,
        method: str,
        path: str,
        body: bytes | Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        caller: Caller | None = None,
        label: str | None = None,
    ) -> WireResponse:
        """Answer one request. Nothing but cancellation is raised: a vlmroute error becomes
        its OpenAI error answer, and anything else (a bug) a logged 500 with no traceback.

        ``body`` is the request's bytes, or its JSON object already parsed (``vlmroute
        run`` has it so). ``caller`` (the gateway's key) is recorded with the request and
        bounds the offers it may reach: a request that pins only others is a 403.
        ``label`` (a batch line's ``custom_id``) goes to the ledger with the request; the
        answer's :class:`ChatResponse` is ``response`` on the result."""
        try:
            return await self._route(
                method,
                path.rstrip("/"),
                body,
                headers or {},
                timeout_s=timeout_s,
                caller=caller,
                label=label,
            )
        except WireError as error:
            return error_response(error)
        except VlmrouteError as exc:
            return error_response(error_of(exc))
        except Exception:
            log.exception("vlmroute: internal error answering %s %s", method, path)
            internal = WireError(
                500,
                "vlmroute failed internally answering this request (the error is logged)",
                type_="server_error",
                code="internal_error",
            )
            return error_response(internal)

    async def _route(
        self,
        method: str,
        path: str,
        body: bytes | Mapping[str, Any],
        headers: Mapping[str, str],
        *,
        timeout_s: float | None,
        caller: Caller | None,
        label: str | None = None,
    ) -> WireResponse:
        if path.endswith("/chat/completions"):
            _allow(method, "POST", path)
            request = wire_request(
                parse_body(body) if isinstance(body, bytes) else body,
                self.routes,
                json_offers=self._json_offers,
                headers=headers,
                timeout_s=timeout_s,
            )
            name = None
            if caller is not None:
                name = caller.name
                if caller.offers is not None:
                    request = _within(request, caller)
            if request.stream:
                return await self._stream(request, name, label)
            return await self._complete(request, name, label)
        head, _, name = path.rpartition("/models/")
        if path.endswith("/models") or (head and name):
            _allow(method, "GET", path)
            if path.endswith("/models"):
                return WireResponse(200, {**_JSON, "x-request-id": new_id()}, self._models_body)
            return self._one_model(name)
        raise not_found(
            f"{method} {path} is not served here; vlmroute serves {_SERVED}", code="unknown_url"
        )

    async def _complete(
        self, request: WireRequest, caller: str | None, label: str | None = None
    ) -> WireResponse:
        response = await self.router.chat(
            request.request,
            deadline_s=request.deadline_s,
            max_cost=request.max_cost,
            providers=request.providers,
            exclude=request.exclude,
            caller=caller,
            label=label,
        )
        body = completion_body(response, model=self._served(response, request))
        headers = {**_JSON, **response_headers(response), **self._rate_headers(response.offer)}
        return WireResponse(200, headers, encode(body), response=response)

    def _rate_headers(self, offer: str | None) -> dict[str, str]:
        """OpenAI's ``x-ratelimit-*`` for the offer that answered, where it has per-minute
        limits and this process keeps them (slots shared through Redis do not say)."""
        headroom = getattr(self.router.slots, "headroom", None)
        if offer is None or headroom is None:
            return {}
        headers: dict[str, str] = {}
        for kind, (limit, remaining, reset_s) in headroom(offer).items():
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(remaining)
            headers[f"x-ratelimit-reset-{kind}"] = f"{reset_s:.3f}s"
        return headers

    async def _stream(
        self, request: WireRequest, caller: str | None, label: str | None = None
    ) -> WireResponse:
        events = self.router.stream(
            request.request,
            deadline_s=request.deadline_s,
            max_cost=request.max_cost,
            providers=request.providers,
            exclude=request.exclude,
            caller=caller,
            label=label,
        )
        try:
            first = await anext(events)  # errors before the first delta are a status
        except StopAsyncIteration:
            raise error_of(
                ServerError("the stream ended before any event", provider="vlmroute")
            ) from None
        except BaseException:
            await close_stream(events)
            raise
        model = request.model
        if request.providers is not None and len(request.providers) == 1:
            model = self._offer_models[request.providers[0]]
        writer = ChunkWriter(
            model=model, include_usage=request.include_usage, offer_models=self._offer_models
        )
        headers = {**_SSE, "x-request-id": writer.id}
        return WireResponse(200, headers, stream=_events(events, first, writer))

    def _served(self, response: ChatResponse, request: WireRequest) -> str:
        return served_model(response, self._offer_models, request.model)

    def _one_model(self, name: str) -> WireResponse:
        route = self.routes.resolve(name)
        if route is None:
            raise model_not_found(name, [r.name for r in self.routes.routes()])
        return WireResponse(
            200, {**_JSON, "x-request-id": new_id()}, encode(self._model(route, name))
        )

    @staticmethod
    def _model(route: Route, name: str | None = None) -> dict[str, object]:
        return {
            "id": name or route.name,
            "object": "model",
            "created": 0,
            "owned_by": route.owned_by,
        }


def _within(request: WireRequest, caller: Caller) -> WireRequest:
    """``request`` pinned to the offers ``caller`` may use; a 403 if it leaves none."""
    allowed = caller.offers or frozenset()
    pinned = request.providers
    chosen = tuple(o for o in pinned if o in allowed) if pinned is not None else None
    if chosen is None:
        chosen = tuple(sorted(allowed))
    if not chosen:
        raise WireError(
            403,
            f"gateway key {caller.name!r} may not use {', '.join(pinned or ())}: it may use "
            f"{', '.join(sorted(allowed))}",
            code="permission_denied",
            param="model",
        )
    return replace(request, providers=chosen)


def _allow(method: str, allowed: str, path: str) -> None:
    if method.upper() != allowed:
        raise WireError(
            405, f"{method} {path}: only {allowed} is served here", code="method_not_allowed"
        )


async def _events(
    events: AsyncIterator[StreamEvent], first: StreamEvent, writer: ChunkWriter
) -> AsyncIterator[bytes]:
    """The stream's bytes; an error after the first delta becomes an error event."""
    event = first
    try:
        while True:
            yield writer.event(event)
            try:
                event = await anext(events)
            except StopAsyncIteration:
                return
            except VlmrouteError as exc:
                yield writer.error(error_of(exc))
                return
    finally:
        await close_stream(events)


async def close_stream(stream: AsyncIterator[Any] | None) -> None:
    """Close an async stream (a router's events, a :class:`WireResponse`'s bytes) if it can
    be closed: an async generator's ``finally`` frees the request's slot and records it."""
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()
