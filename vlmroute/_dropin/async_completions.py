"""``client.chat.completions.create`` of :class:`vlmroute.AsyncOpenAI`: the async twin of
:mod:`.completions`, over an :class:`~vlmroute.AsyncRouter`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, overload

import httpx
from openai import NotGiven, not_given, omit
from openai.types.chat import (
    ChatCompletionStreamOptionsParam,
    ChatCompletionToolChoiceOptionParam,
)

from .._router import AsyncRouter
from ..errors import VlmrouteError
from .completions import CompletionsBase, MessageParam, ResponseFormat, ToolParam
from .convert import RoutedChatCompletion
from .errors import openai_error
from .params import Unset, prepare
from .routes import ModelRoutes
from .stream import AsyncStream

__all__ = ["AsyncCompletions"]


class AsyncCompletions(CompletionsBase):
    """``client.chat.completions`` of :class:`vlmroute.AsyncOpenAI`."""

    def __init__(self, router: AsyncRouter, routes: ModelRoutes) -> None:
        super().__init__(routes, router)
        self._router = router

    @overload
    async def create(
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
    async def create(
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
    ) -> AsyncStream: ...

    @overload
    async def create(
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
    ) -> RoutedChatCompletion | AsyncStream: ...

    async def create(
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
    ) -> RoutedChatCompletion | AsyncStream:
        """Route one chat completion; see :meth:`.completions.Completions.create`."""
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
            return await AsyncStream.open(events, self._chunk_maker(request))
        try:
            response = await self._router.chat(request.messages, **request.args)
        except VlmrouteError as exc:
            raise openai_error(exc) from exc
        return self._completion(response, request)
