"""``client.chat.completions.create``: the openai SDK's signature over the sync router.

The arguments are openai's, less those GLM-4.1V has no use for (an app passing one gets a
``TypeError`` naming it, rather than a request that silently ignores it). The three
overloads are openai's: ``stream=True`` gives a :class:`~.stream.Stream`, anything else a
``ChatCompletion``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, overload

import httpx
from openai import NotGiven, not_given, omit
from openai.types.chat import (
    ChatCompletionMessage,
    ChatCompletionMessageParam,
    ChatCompletionStreamOptionsParam,
    ChatCompletionToolChoiceOptionParam,
    ChatCompletionToolUnionParam,
    completion_create_params,
)

from .._response import ChatResponse
from .._router import AsyncRouter, Router
from ..errors import VlmrouteError
from .convert import ChunkMaker, RoutedChatCompletion, completion_of, served_model
from .errors import openai_error
from .params import Prepared, Unset, prepare
from .routes import ModelRoutes
from .stream import Stream

__all__ = ["Completions", "CompletionsBase", "MessageParam", "ResponseFormat", "ToolParam"]

#: openai's message params, plain mappings (``video_url`` parts), or a message the SDK
#: returned (``completion.choices[0].message``), as the openai SDK itself accepts.
MessageParam = ChatCompletionMessageParam | Mapping[str, Any] | ChatCompletionMessage
ToolParam = ChatCompletionToolUnionParam | Mapping[str, Any]
ResponseFormat = completion_create_params.ResponseFormat | Mapping[str, Any]


class CompletionsBase:
    """What the sync and async ``completions`` share: the routes and model ids."""

    def __init__(self, routes: ModelRoutes, engine: AsyncRouter) -> None:
        self._routes = routes
        #: The model id each offer sends (read once; the router is never called from here).
        self._offer_models = {name: b.model for name, b in engine.backends.items()}

    def _chunk_maker(self, request: Prepared) -> ChunkMaker:
        pinned = request.args["providers"]
        model = request.model
        if pinned is not None and len(pinned) == 1:
            model = self._offer_models[pinned[0]]
        return ChunkMaker(
            model=model, include_usage=request.include_usage, offer_models=self._offer_models
        )

    def _completion(self, response: ChatResponse, request: Prepared) -> RoutedChatCompletion:
        model = served_model(response, self._offer_models, request.model)
        return completion_of(response, model=model)


class Completions(CompletionsBase):
    """``client.chat.completions`` of :class:`vlmroute.OpenAI`."""

    def __init__(self, router: Router, routes: ModelRoutes) -> None:
        super().__init__(routes, router.engine)
        self._router = router

    @overload
    def create(
        self,
        *,
        messages: Iterable[MessageParam],
        model: str,
        max_completion_tokens: int | Unset | None = omit,
        max_tokens: int | Unset | None = omit,
        n: int | Unset | None = omit,
        response_format: ResponseFormat | Unset | None = omit,
        seed: int | Unset | None = omit,
        stop: str | Sequence[str] | Unset | None = omit,
        stream: Literal[False] | Unset | None = omit,
        stream_options: ChatCompletionStreamOptionsParam | Unset | None = omit,
        temperature: float | Unset | None = omit,
        tool_choice: ChatCompletionToolChoiceOptionParam | Unset | None = omit,
        tools: Iterable[ToolParam] | Unset | None = omit,
        top_p: float | Unset | None = omit,
        user: str | Unset = omit,
        extra_headers: Mapping[str, object] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = not_given,
    ) -> RoutedChatCompletion: ...

    @overload
    def create(
        self,
        *,
        messages: Iterable[MessageParam],
        model: str,
        stream: Literal[True],
        max_completion_tokens: int | Unset | None = omit,
        max_tokens: int | Unset | None = omit,
        n: int | Unset | None = omit,
        response_format: ResponseFormat | Unset | None = omit,
        seed: int | Unset | None = omit,
        stop: str | Sequence[str] | Unset | None = omit,
        stream_options: ChatCompletionStreamOptionsParam | Unset | None = omit,
        temperature: float | Unset | None = omit,
        tool_choice: ChatCompletionToolChoiceOptionParam | Unset | None = omit,
        tools: Iterable[ToolParam] | Unset | None = omit,
        top_p: float | Unset | None = omit,
        user: str | Unset = omit,
        extra_headers: Mapping[str, object] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = not_given,
    ) -> Stream: ...

    @overload
    def create(
        self,
        *,
        messages: Iterable[MessageParam],
        model: str,
        stream: bool,
        max_completion_tokens: int | Unset | None = omit,
        max_tokens: int | Unset | None = omit,
        n: int | Unset | None = omit,
        response_format: ResponseFormat | Unset | None = omit,
        seed: int | Unset | None = omit,
        stop: str | Sequence[str] | Unset | None = omit,
        stream_options: ChatCompletionStreamOptionsParam | Unset | None = omit,
        temperature: float | Unset | None = omit,
        tool_choice: ChatCompletionToolChoiceOptionParam | Unset | None = omit,
        tools: Iterable[ToolParam] | Unset | None = omit,
        top_p: float | Unset | None = omit,
        user: str | Unset = omit,
        extra_headers: Mapping[str, object] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = not_given,
    ) -> RoutedChatCompletion | Stream: ...

    def create(
        self,
        *,
        messages: Iterable[MessageParam],
        model: str,
        max_completion_tokens: int | Unset | None = omit,
        max_tokens: int | Unset | None = omit,
        n: int | Unset | None = omit,
        response_format: ResponseFormat | Unset | None = omit,
        seed: int | Unset | None = omit,
        stop: str | Sequence[str] | Unset | None = omit,
        stream: bool | Unset | None = omit,
        stream_options: ChatCompletionStreamOptionsParam | Unset | None = omit,
        temperature: float | Unset | None = omit,
        tool_choice: ChatCompletionToolChoiceOptionParam | Unset | None = omit,
        tools: Iterable[ToolParam] | Unset | None = omit,
        top_p: float | Unset | None = omit,
        user: str | Unset = omit,
        extra_headers: Mapping[str, object] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = not_given,
    ) -> RoutedChatCompletion | Stream:
        """Route one chat completion; openai's arguments, types and errors.

        ``timeout`` is the router's ``deadline_s``. ``extra_headers`` is accepted and
        dropped: each offer's headers come from the router config, and a header meant for
        one host must not follow a failover to another. ``user`` is accepted and not sent:
        providers name it differently (Zhipu's ``user_id``); send it in ``extra_body``.
        """
        del extra_headers, user
        request = prepare(
            self._routes,
            model=model,
            messages=messages,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            max_completion_tokens=max_completion_tokens,
            stop=stop,
            seed=seed,
            stream=stream,
            stream_options=stream_options,
            extra_body=extra_body,
            timeout=timeout,
            n=n,
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
        )
        if request.stream:
            events = self._router.stream(request.messages, **request.args)
            return Stream.open(events, self._chunk_maker(request))
        try:
            response = self._router.chat(request.messages, **request.args)
        except VlmrouteError as exc:
            raise openai_error(exc) from exc
        return self._completion(response, request)
