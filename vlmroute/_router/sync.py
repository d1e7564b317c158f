"""``Router``: the synchronous twin of :class:`AsyncRouter` (same arguments, same results).

Every call runs on the router's own event loop thread (:mod:`vlmroute._portal`), so caps
and rate limits hold for any number of calling threads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Self

from pydantic import SecretStr

from .._client import MessagesLike
from .._ledger import Ledger
from .._portal import Portal
from .._pricing import PriceTable, load_pricing
from .._response import ChatResponse, StreamEvent
from ..money import Money
from .config import RouterConfig, config_from_env, load_router_config
from .decide import RoutePlan
from .router import AsyncRouter

__all__ = ["Router"]


class Router:
    """Routes chat requests across offers by cost, caps and health; see :class:`AsyncRouter`."""

    def __init__(
        self,
        config: RouterConfig,
        *,
        pricing: PriceTable | None = None,
        api_keys: Mapping[str, str | SecretStr] | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self._portal = Portal("vlmroute-router")

        async def make() -> AsyncRouter:
            return AsyncRouter(config, pricing=pricing, api_keys=api_keys, ledger=ledger)

        try:
            self._async = self._portal.call(make)
        except BaseException:
            self._portal.close()
            raise

    @classmethod
    def from_config(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any] | RouterConfig | None = None,
        *,
        api_keys: Mapping[str, str | SecretStr] | None = None,
        pricing: PriceTable | None = None,
        ledger: Ledger | None = None,
    ) -> Router:
        """A router from a YAML file path, a mapping, or a :class:`RouterConfig`; with none,
        every live offer whose provider has a key in the environment."""
        if source is None:
            config = config_from_env(pricing or load_pricing())
        elif isinstance(source, RouterConfig):
            config = source
        else:
            config = load_router_config(source)
        return cls(config, pricing=pricing, api_keys=api_keys, ledger=ledger)

    @property
    def engine(self) -> AsyncRouter:
        """The async router underneath (use it only from its own loop)."""
        return self._async

    def plan(
        self,
        messages: MessagesLike,
        *,
        max_tokens: int | None = None,
        max_cost: Money | Decimal | float | str | None = None,
        providers: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
    ) -> RoutePlan:
        """The dry run: ranked offers with estimated costs, and why others are out."""

        async def run() -> RoutePlan:
            return self._async.plan(
                messages,
                max_tokens=max_tokens,
                max_cost=max_cost,
                providers=providers,
                exclude=exclude,
            )

        return self._portal.call(run)

    def chat(
        self,
        messages: MessagesLike,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        deadline_s: float | None = None,
        max_cost: Money | Decimal | float | str | None = None,
        providers: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        caller: str | None = None,
        label: str | None = None,
    ) -> ChatResponse:
        """Route one request and wait for its answer."""
        return self._portal.call(
            lambda: self._async.chat(
                messages,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                stop=stop,
                seed=seed,
                extra_body=extra_body,
                deadline_s=deadline_s,
                max_cost=max_cost,
                providers=providers,
                exclude=exclude,
                caller=caller,
                label=label,
            )
        )

    def stream(
        self,
        messages: MessagesLike,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        deadline_s: float | None = None,
        max_cost: Money | Decimal | float | str | None = None,
        providers: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        caller: str | None = None,
        label: str | None = None,
    ) -> Iterator[StreamEvent]:
        """Route one streamed request; deltas as they arrive, then a StreamEnd."""
        return self._portal.iterate(
            lambda: self._async.stream(
                messages,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                stop=stop,
                seed=seed,
                extra_body=extra_body,
                deadline_s=deadline_s,
                max_cost=max_cost,
                providers=providers,
                exclude=exclude,
                caller=caller,
                label=label,
            )
        )

    def close(self) -> None:
        try:
            self._portal.call(self._async.aclose)
        finally:
            self._portal.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
