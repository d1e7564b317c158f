"""``vlmroute.OpenAI`` and ``vlmroute.AsyncOpenAI``: the openai SDK's own clients, routed.

They are ``openai.OpenAI`` / ``openai.AsyncOpenAI`` (subclasses), so every part of the SDK
works because it is the SDK: ``isinstance``, ``base_url``, ``with_options()``, ``copy()``,
``with_raw_response``, ``with_streaming_response``, ``.parse()``, its types and exceptions,
and every keyword it accepts. What differs is underneath: the HTTP client's transport is a
routing transport (:mod:`.transport`), which hands each request to the router (caps,
failover, budgets, the spend ledger) and answers in OpenAI's wire format::

    client = openai.OpenAI(base_url=..., api_key=...)     # before
    client = vlmroute.OpenAI(config="router.yaml")         # after

The provider keys come from the router config or the environment; the SDK's ``api_key`` is
a placeholder that never leaves the process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import openai

from .._ledger import Ledger
from .._pricing import PriceTable
from .._router import AsyncRouter, Router, RouterConfig
from .._wire import WireApp, routes_of
from ..errors import ConfigurationError
from .transport import AsyncRoutingTransport, RoutingTransport, error_of_response

__all__ = ["BASE_URL", "AsyncOpenAI", "OpenAI"]

ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | RouterConfig
Aliases = Mapping[str, Sequence[str]]

#: The SDK's base URL: no request to it leaves the process.
BASE_URL = "http://vlmroute.local/v1"
_PLACEHOLDER_KEY = "vlmroute-routes-this"


class _RoutedClient(httpx.Client):
    """The SDK's HTTP client, whose only transport is the router.

    ``send`` goes straight to the transport: the router never redirects, sets cookies or
    asks for auth, so httpx's per-request handling of those would be pure cost (and a
    mock of httpx's transports, such as respx's, must not catch what never leaves).
    """

    def __init__(self, transport: RoutingTransport) -> None:
        super().__init__(transport=transport, follow_redirects=False)
        self.routing = transport

    def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = None,
        follow_redirects: Any = None,
    ) -> httpx.Response:
        started = time.perf_counter()
        response = self.routing.handle_request(request)
        if not stream:
            try:
                response.read()
            finally:
                response.close()
        response.elapsed = timedelta(seconds=time.perf_counter() - started)
        return response


class _AsyncRoutedClient(httpx.AsyncClient):
    """The async twin of :class:`_RoutedClient`."""

    def __init__(self, transport: AsyncRoutingTransport) -> None:
        super().__init__(transport=transport, follow_redirects=False)
        self.routing = transport

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = None,
        follow_redirects: Any = None,
    ) -> httpx.Response:
        started = time.perf_counter()
        response = await self.routing.handle_async_request(request)
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        response.elapsed = timedelta(seconds=time.perf_counter() - started)
        return response


@dataclass(frozen=True, slots=True)
class _Sources:
    """What builds a router, when no router is passed in."""

    config: ConfigSource | None
    api_keys: Mapping[str, str] | None
    pricing: PriceTable | None
    ledger: Ledger | None

    def check_against(self, router: object) -> None:
        _check_sources(
            router,
            config=self.config,
            api_keys=self.api_keys,
            pricing=self.pricing,
            ledger=self.ledger,
        )


def _check_sources(router: object, **builds: object) -> None:
    given = [name for name, value in builds.items() if value is not None]
    if router is not None and given:
        raise ConfigurationError(
            f"pass router= or {', '.join(f'{n}=' for n in given)}, not both: they build a "
            "router, so set them on the router you pass"
        )


def _foreign_client(http_client: object) -> ConfigurationError:
    return ConfigurationError(
        f"http_client= takes another vlmroute client's HTTP client (as copy() passes it), not "
        f"a {type(http_client).__name__}: the router sends to providers itself; set its "
        "HTTP options under transport: in the router config"
    )


def _sdk_options(options: dict[str, Any]) -> dict[str, Any]:
    options.setdefault("api_key", _PLACEHOLDER_KEY)
    options.setdefault("base_url", BASE_URL)
    return options


class _CauseOnStatusErrors:
    """Puts the vlmroute error behind a status error on it, as ``exc.vlmroute_error``
    (the SDK raises status errors ``from None``, so ``__cause__`` cannot carry it)."""

    def _make_status_error(
        self, err_msg: str, *, body: object, response: httpx.Response
    ) -> openai.APIStatusError:
        make = super()._make_status_error  # type: ignore[misc]
        error: openai.APIStatusError = make(err_msg, body=body, response=response)
        error.vlmroute_error = error_of_response(response)  # type: ignore[attr-defined]
        return error


class OpenAI(_CauseOnStatusErrors, openai.OpenAI):
    """``openai.OpenAI``, routing GLM-4.1V requests with a :class:`Router`.

    ``config`` is a router YAML path, a mapping or a :class:`RouterConfig` (None: every
    offer whose key is in the environment); ``api_keys``, ``pricing`` and ``ledger`` are
    :meth:`Router.from_config`'s. Or pass a ``router`` you built (then it is yours to
    close). ``models`` adds names for ``model=``: ``{"fast": ["zhipu-flashx"]}``.

    The SDK's own retries are off (``max_retries=0``): the router retries each offer under
    its policy and fails over to the next. A ``max_retries`` you pass is what you get, on
    top. Any other keyword is the openai SDK's (``timeout``, ``default_headers``...). A
    status error has the vlmroute error behind it as ``exc.vlmroute_error``; a timeout or
    connection error has it as ``exc.__cause__.__cause__``.
    """

    router: Router

    def __init__(
        self,
        *,
        config: ConfigSource | None = None,
        router: Router | None = None,
        api_keys: Mapping[str, str] | None = None,
        pricing: PriceTable | None = None,
        ledger: Ledger | None = None,
        models: Aliases | None = None,
        max_retries: int = 0,
        http_client: httpx.Client | None = None,
        **openai_options: Any,
    ) -> None:
        if http_client is None:
            sources = _Sources(config, api_keys, pricing, ledger)
            http_client = _RoutedClient(_sync_transport(sources, router, models))
        elif not isinstance(http_client, _RoutedClient):
            raise _foreign_client(http_client)
        self.router = http_client.routing.router
        super().__init__(
            http_client=http_client, max_retries=max_retries, **_sdk_options(openai_options)
        )


def _sync_transport(
    sources: _Sources, router: Router | None, models: Aliases | None
) -> RoutingTransport:
    sources.check_against(router)
    if router is not None and not isinstance(router, Router):
        raise TypeError(
            f"router= takes a vlmroute.Router, not {type(router).__name__}; "
            "an AsyncRouter goes to vlmroute.AsyncOpenAI"
        )
    owned = router is None
    router = router or Router.from_config(
        sources.config, api_keys=sources.api_keys, pricing=sources.pricing, ledger=sources.ledger
    )
    try:
        app = WireApp(router.engine, routes_of(router.engine, models))
    except BaseException:
        if owned:
            router.close()
        raise
    return RoutingTransport(router, app, owns_router=owned)


class AsyncOpenAI(_CauseOnStatusErrors, openai.AsyncOpenAI):
    """``openai.AsyncOpenAI`` over an :class:`AsyncRouter`; arguments as :class:`OpenAI`'s.
    Build it anywhere; it routes on the event loop that first uses it."""

    def __init__(
        self,
        *,
        config: ConfigSource | None = None,
        router: AsyncRouter | None = None,
        api_keys: Mapping[str, str] | None = None,
        pricing: PriceTable | None = None,
        ledger: Ledger | None = None,
        models: Aliases | None = None,
        max_retries: int = 0,
        http_client: httpx.AsyncClient | None = None,
        **openai_options: Any,
    ) -> None:
        if http_client is None:
            sources = _Sources(config, api_keys, pricing, ledger)
            http_client = _AsyncRoutedClient(_async_transport(sources, router, models))
        elif not isinstance(http_client, _AsyncRoutedClient):
            raise _foreign_client(http_client)
        super().__init__(
            http_client=http_client, max_retries=max_retries, **_sdk_options(openai_options)
        )
        self._routing = http_client.routing

    @property
    def router(self) -> AsyncRouter:
        """The router underneath (rebuilt when a closed event loop is left behind)."""
        return self._routing.router


def _async_transport(
    sources: _Sources, router: AsyncRouter | None, models: Aliases | None
) -> AsyncRoutingTransport:
    sources.check_against(router)
    if router is not None and not isinstance(router, AsyncRouter):
        raise TypeError(
            f"router= takes a vlmroute.AsyncRouter, not {type(router).__name__}; "
            "a Router goes to vlmroute.OpenAI"
        )

    def build() -> AsyncRouter:
        return AsyncRouter.from_config(
            sources.config,
            api_keys=sources.api_keys,
            pricing=sources.pricing,
            ledger=sources.ledger,
        )

    def app(engine: AsyncRouter) -> WireApp:
        return WireApp(engine, routes_of(engine, models))

    rebuild: Callable[[], AsyncRouter] | None = build if router is None else None
    engine = router or build()
    try:
        return AsyncRoutingTransport(engine, app, rebuild=rebuild)
    except BaseException:
        if router is None:  # its HTTP session opens on first use: only the ledger is open
            engine.ledger.close()
        raise
