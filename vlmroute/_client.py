"""The typed client over one offer: ``AsyncClient`` (the engine) and ``Client`` (its twin).

::

    async with vlmroute.AsyncClient("openrouter") as client:   # key from OPENROUTER_API_KEY
        reply = await client.chat([vlmroute.user("What is in this image?", "cat.jpg")])
        print(reply.reasoning, reply.answer, reply.cost)

For several offers with caps, failover and budgets, use :class:`vlmroute.Router`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import SecretStr

from ._backends import (
    Backend,
    BackendOptions,
    ServerHealth,
    Timeouts,
    build_backend,
    edge_of,
    make_edge,
    probe,
)
from ._cost import actual_cost
from ._portal import Portal
from ._pricing import Offer, PriceTable, load_pricing
from ._request import ChatRequest, Message
from ._response import Attempt, ChatResponse, StreamEnd, StreamEvent
from ._retry import RetryPolicy, run_with_retries

if TYPE_CHECKING:
    import httpx


__all__ = ["AsyncClient", "Client", "MessagesLike", "to_request"]

MessagesLike = ChatRequest | Sequence[Message | Mapping[str, Any]]


def to_request(
    messages: MessagesLike,
    *,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    stop: str | Sequence[str] | None = None,
    seed: int | None = None,
    extra_body: Mapping[str, Any] | None = None,
) -> ChatRequest:
    """A validated request from messages (or a request) and keyword parameters."""
    params = {
        "temperature": temperature,
        "top_p": top_p,
        "max_tokens": max_tokens,
        "stop": stop,
        "seed": seed,
        "extra_body": extra_body,
    }
    if isinstance(messages, ChatRequest):
        given = {k: v for k, v in params.items() if v is not None}
        if not given:
            return messages
        return ChatRequest.create(
            messages.messages, **{**messages.model_dump(exclude={"messages"}), **given}
        )
    return ChatRequest.create(messages, **params)  # type: ignore[arg-type]


class AsyncClient:
    """Chat with GLM-4.1V on one offer of the pricing table, with typed results.

    ``offer`` is a pricing-table id (``vlmroute prices`` lists them). The key comes from
    ``api_key`` or the provider's usual environment variable, read once, here. ``region``
    picks another endpoint of the offer (``intl``: Zhipu's z.ai); a key found in
    ``ZAI_API_KEY`` picks z.ai by itself. Transient
    failures are retried under ``retry``; nothing else retries underneath.
    """

    def __init__(
        self,
        offer: str = "zhipu-flash",
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        region: str | None = None,
        model: str | None = None,
        pricing: PriceTable | None = None,
        timeouts: Timeouts | None = None,
        options: BackendOptions | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: Literal["aiohttp", "httpx"] = "aiohttp",
        allow_retired: bool = False,
    ) -> None:
        table = pricing or load_pricing()
        self.offer: Offer = table.offer(offer)
        opts = options or BackendOptions()
        if timeouts is not None:
            opts = opts.model_copy(update={"timeouts": timeouts})
        self._http = make_edge(transport=transport) if http_client is None else edge_of(http_client)
        self.backend: Backend = build_backend(
            self.offer,
            http=self._http,
            api_key=api_key,
            base_url=base_url,
            model=model,
            options=opts,
            allow_retired=allow_retired,
            region=region,
        )
        self.retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return f"AsyncClient({self.backend!r})"

    async def chat(
        self,
        messages: MessagesLike,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> ChatResponse:
        """Send one chat request; a bad request fails before anything is sent."""
        request = to_request(
            messages,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
            seed=seed,
            extra_body=extra_body,
        )
        attempts: list[Attempt] = []
        response = await run_with_retries(
            self.retry,
            lambda: self.backend.complete(request),
            offer=self.offer.id,
            attempts=attempts,
        )
        return self._finish(response, attempts)

    async def stream(
        self,
        messages: MessagesLike,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Reasoning and answer deltas, then a :class:`StreamEnd` with the whole response.

        Retries happen only before the first delta; after it, an error is raised as is.
        """
        request = to_request(
            messages,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
            seed=seed,
            extra_body=extra_body,
        )
        attempts: list[Attempt] = []

        first, events = await run_with_retries(
            self.retry,
            lambda: self.backend.open_stream(request),
            offer=self.offer.id,
            attempts=attempts,
        )
        try:
            event: StreamEvent | None = first
            while event is not None:
                if isinstance(event, StreamEnd):
                    event = StreamEnd(response=self._finish(event.response, attempts))
                yield event
                event = await anext(events, None)
        finally:
            await events.aclose()

    def _finish(self, response: ChatResponse, attempts: list[Attempt]) -> ChatResponse:
        return response.model_copy(
            update={"cost": actual_cost(self.offer, response.usage), "attempts": tuple(attempts)}
        )

    async def health(self) -> ServerHealth:
        """Whether a local server is up, what it serves and its load (``/health``,
        ``/v1/models``, ``/metrics``)."""
        return await probe(self._http, self.backend.base_url, headers=self.backend.headers())

    async def aclose(self) -> None:
        await self._http.aclose()  # closes only an edge it made (not your http_client)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


class Client:
    """The synchronous twin of :class:`AsyncClient`: same arguments, same results.

    Calls run on a private event loop thread (see :mod:`vlmroute._portal`), so one
    ``Client`` may be shared by many threads.
    """

    def __init__(
        self,
        offer: str = "zhipu-flash",
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        region: str | None = None,
        model: str | None = None,
        pricing: PriceTable | None = None,
        timeouts: Timeouts | None = None,
        options: BackendOptions | None = None,
        retry: RetryPolicy | None = None,
        transport: Literal["aiohttp", "httpx"] = "aiohttp",
        allow_retired: bool = False,
    ) -> None:
        self._portal = Portal("vlmroute-client")

        async def make() -> AsyncClient:
            return AsyncClient(
                offer,
                api_key=api_key,
                base_url=base_url,
                region=region,
                model=model,
                pricing=pricing,
                timeouts=timeouts,
                options=options,
                retry=retry,
                transport=transport,
                allow_retired=allow_retired,
            )

        try:
            self._async = self._portal.call(make)
        except BaseException:
            self._portal.close()
            raise

    def __repr__(self) -> str:
        return f"Client({self._async.backend!r})"

    @property
    def offer(self) -> Offer:
        return self._async.offer

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
    ) -> ChatResponse:
        """Send one chat request and wait for the answer."""
        return self._portal.call(
            lambda: self._async.chat(
                messages,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                stop=stop,
                seed=seed,
                extra_body=extra_body,
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
    ) -> Iterator[StreamEvent]:
        """Reasoning and answer deltas as they arrive, then a :class:`StreamEnd`."""
        return self._portal.iterate(
            lambda: self._async.stream(
                messages,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                stop=stop,
                seed=seed,
                extra_body=extra_body,
            )
        )

    def health(self) -> ServerHealth:
        return self._portal.call(self._async.health)

    def close(self) -> None:
        try:
            self._portal.call(self._async.aclose)
        finally:
            self._portal.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
