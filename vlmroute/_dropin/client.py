"""``vlmroute.OpenAI`` and ``vlmroute.AsyncOpenAI``: the openai SDK's client surface over a
router, so an app that calls GLM-4.1V through the openai SDK changes one line::

    client = openai.OpenAI(base_url=..., api_key=...)     # before
    client = vlmroute.OpenAI(config="router.yaml")         # after

``client.chat.completions.create(...)`` then routes across the configured offers (caps,
failover, budgets, the spend ledger) and returns openai's own types; errors are openai's
exception classes, with the vlmroute error as ``__cause__``. ``client.models.list()``
lists the model names the client routes (see :mod:`.routes`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Mapping, Sequence
from typing import Any, Self

from openai.pagination import AsyncPage, SyncPage
from openai.types import Model

from .._ledger import Ledger
from .._pricing import PriceTable
from .._router import AsyncRouter, Router, RouterConfig
from ..errors import ConfigurationError
from .async_completions import AsyncCompletions
from .completions import Completions
from .errors import model_not_found
from .routes import ModelRoutes, OfferInfo, Route

__all__ = ["AsyncOpenAI", "OpenAI"]

ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | RouterConfig


def _routes(engine: AsyncRouter, aliases: Mapping[str, Sequence[str]] | None) -> ModelRoutes:
    offers = [
        OfferInfo(
            offer=name,
            provider=offer.provider,
            model_ids=tuple(dict.fromkeys((offer.model, engine.backends[name].model))),
        )
        for name, offer in engine.offers.items()
    ]
    return ModelRoutes(offers, aliases)


def _check_sources(router: object, **builds: object) -> None:
    given = [name for name, value in builds.items() if value is not None]
    if router is not None and given:
        raise ConfigurationError(
            f"pass router= or {', '.join(f'{n}=' for n in given)}, not both: they build a "
            "router, so set them on the router you pass"
        )


def _model(route: Route, name: str | None = None) -> Model:
    return Model(id=name or route.name, created=0, object="model", owned_by=route.owned_by)


class Chat:
    """``client.chat``."""

    def __init__(self, completions: Completions) -> None:
        self.completions = completions


class AsyncChat:
    """``client.chat`` of the async client."""

    def __init__(self, completions: AsyncCompletions) -> None:
        self.completions = completions


class Models:
    """``client.models``: the names ``model=`` accepts, as openai ``Model`` objects."""

    def __init__(self, routes: ModelRoutes) -> None:
        self._routes = routes

    def list(self) -> SyncPage[Model]:
        return SyncPage[Model](data=[_model(r) for r in self._routes.routes()], object="list")

    def retrieve(self, model: str) -> Model:
        route = self._routes.resolve(model)
        if route is None:
            raise model_not_found(model, [r.name for r in self._routes.routes()])
        return _model(route, model)


class AsyncModelList:
    """What ``await client.models.list()`` and ``async for m in client.models.list()``
    both read, as with openai's paginator."""

    def __init__(self, page: AsyncPage[Model]) -> None:
        self._page = page

    def __await__(self) -> Generator[Any, None, AsyncPage[Model]]:
        return self._get().__await__()

    async def _get(self) -> AsyncPage[Model]:
        return self._page

    def __aiter__(self) -> AsyncIterator[Model]:
        return self._page.__aiter__()


class AsyncModels:
    """``client.models`` of the async client."""

    def __init__(self, routes: ModelRoutes) -> None:
        self._sync = Models(routes)

    def list(self) -> AsyncModelList:
        data = self._sync.list().data
        return AsyncModelList(AsyncPage[Model](data=data, object="list"))

    async def retrieve(self, model: str) -> Model:
        return self._sync.retrieve(model)


class OpenAI:
    """A drop-in for ``openai.OpenAI``, routing GLM-4.1V requests with a :class:`Router`.

    ``config`` is a router YAML path, a mapping or a :class:`RouterConfig` (None: every
    offer whose key is in the environment); ``api_keys``, ``pricing`` and ``ledger`` are
    :meth:`Router.from_config`'s. Or pass a ``router`` you built (then it is yours to
    close). ``models`` adds names for ``model=``: ``{"fast": ["zhipu-flashx"]}``.
    """

    def __init__(
        self,
        *,
        config: ConfigSource | None = None,
        router: Router | None = None,
        api_keys: Mapping[str, str] | None = None,
        pricing: PriceTable | None = None,
        ledger: Ledger | None = None,
        models: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        _check_sources(router, config=config, api_keys=api_keys, pricing=pricing, ledger=ledger)
        if router is not None and not isinstance(router, Router):
            raise TypeError(
                f"router= takes a vlmroute.Router, not {type(router).__name__}; "
                "an AsyncRouter goes to vlmroute.AsyncOpenAI"
            )
        self._owns_router = router is None
        self.router = router or Router.from_config(
            config, api_keys=api_keys, pricing=pricing, ledger=ledger
        )
        try:
            routes = _routes(self.router.engine, models)
        except BaseException:
            self.close()
            raise
        self.chat = Chat(Completions(self.router, routes))
        self.models = Models(routes)

    def close(self) -> None:
        """Close the router this client built (a router passed in is left open)."""
        if self._owns_router:
            self.router.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AsyncOpenAI:
    """A drop-in for ``openai.AsyncOpenAI`` over an :class:`AsyncRouter`; arguments as
    :class:`OpenAI`'s. Build it anywhere; use it from one event loop."""

    def __init__(
        self,
        *,
        config: ConfigSource | None = None,
        router: AsyncRouter | None = None,
        api_keys: Mapping[str, str] | None = None,
        pricing: PriceTable | None = None,
        ledger: Ledger | None = None,
        models: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        _check_sources(router, config=config, api_keys=api_keys, pricing=pricing, ledger=ledger)
        if router is not None and not isinstance(router, AsyncRouter):
            raise TypeError(
                f"router= takes a vlmroute.AsyncRouter, not {type(router).__name__}; "
                "a Router goes to vlmroute.OpenAI"
            )
        self._owns_router = router is None
        self.router = router or AsyncRouter.from_config(
            config, api_keys=api_keys, pricing=pricing, ledger=ledger
        )
        try:
            routes = _routes(self.router, models)
        except BaseException:
            if self._owns_router:  # its HTTP session opens on first use: only the ledger is
                self.router.ledger.close()
            raise
        self.chat = AsyncChat(AsyncCompletions(self.router, routes))
        self.models = AsyncModels(routes)

    async def close(self) -> None:
        """Close the router this client built (a router passed in is left open)."""
        if self._owns_router:
            await self.router.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
