"""vlmroute results as the openai SDK's own types (pure; no I/O).

Objects are built with openai's ``construct``, the path the SDK itself builds responses
by, so a provider's finish reason outside openai's vocabulary passes through as the SDK
would pass it. The reasoning goes in ``message.reasoning_content`` (and
``delta.reasoning_content``), where apps reading DeepSeek or Zhipu through the openai SDK
look for it; openai's models keep such extra fields.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import PrivateAttr

from .._response import AnswerDelta, ChatResponse, StreamEnd, StreamEvent, Usage

__all__ = ["ChunkMaker", "RoutedChatCompletion", "completion_of", "new_id", "served_model"]

#: Provider finish reasons with an openai equivalent (Zhipu's "sensitive" is a filter).
_FINISH_REASONS = {"sensitive": "content_filter"}


class RoutedChatCompletion(ChatCompletion):
    """openai's ``ChatCompletion`` plus ``vlmroute``: the router's full response.

    ``completion.vlmroute.cost``, ``.offer`` and ``.attempts`` say where the request went
    and what it cost. It is a private attribute, so ``model_dump()`` and ``to_json()``
    give exactly openai's shape.
    """

    _vlmroute: ChatResponse = PrivateAttr()

    @property
    def vlmroute(self) -> ChatResponse:
        return self._vlmroute


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def finish_reason(reason: str | None) -> str | None:
    return _FINISH_REASONS.get(reason, reason) if reason is not None else None


def usage_of(usage: Usage) -> dict[str, Any]:
    """openai's ``CompletionUsage`` fields; details only where the provider reported them."""
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }
    if usage.reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    if usage.cached_tokens is not None:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return out


def served_model(response: ChatResponse, offer_models: Mapping[str, str], default: str) -> str:
    """The model id that served ``response``: as the provider's answer names it, else the
    id its offer sends (``offer_models``), else ``default``."""
    return response.model or offer_models.get(response.offer or "") or default


def completion_of(response: ChatResponse, *, model: str) -> RoutedChatCompletion:
    """A ``ChatCompletion`` of one choice, naming ``model`` (see :func:`served_model`)."""
    message = {
        "role": "assistant",
        "content": response.answer,
        "reasoning_content": response.reasoning or None,
    }
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": finish_reason(response.finish_reason),
        "logprobs": None,
    }
    fields: dict[str, Any] = {
        "id": response.request_id or new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage_of(response.usage),
    }
    completion = RoutedChatCompletion.model_construct(**fields)
    completion._vlmroute = response
    return completion


class ChunkMaker:
    """Stream events to ``ChatCompletionChunk``s, as OpenAI streams them.

    Every chunk shares one id and ``created``; the first carries ``delta.role``. A delta is
    reasoning (``delta.reasoning_content``, ``content`` None) or answer (``delta.content``).
    The end gives a chunk with ``finish_reason`` and, only when ``include_usage`` was asked,
    one more with no choices and the usage, exactly as OpenAI does. Chunks before the end
    name ``model`` (the id asked for, or the pinned offer's model id: which offer serves a
    stream is known only at its end); the last ones name the model id served.
    """

    def __init__(self, *, model: str, include_usage: bool, offer_models: Mapping[str, str]) -> None:
        self.id = new_id()
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self._offer_models = offer_models
        self._role_sent = False

    def chunks(self, event: StreamEvent) -> list[ChatCompletionChunk]:
        if isinstance(event, StreamEnd):
            return self._end(event.response)
        answer = isinstance(event, AnswerDelta)
        delta = {
            "content": event.text if answer else None,
            "reasoning_content": None if answer else event.text,
        }
        return [self._chunk(self.model, self._with_role(delta), None)]

    def _end(self, response: ChatResponse) -> list[ChatCompletionChunk]:
        model = served_model(response, self._offer_models, self.model)
        reason = finish_reason(response.finish_reason)
        chunks = [self._chunk(model, self._with_role({}), reason)]
        if self.include_usage:
            fields = {**self._head(model), "choices": [], "usage": usage_of(response.usage)}
            chunks.append(ChatCompletionChunk.model_construct(**fields))
        return chunks

    def _with_role(self, delta: dict[str, Any]) -> dict[str, Any]:
        if not self._role_sent:
            self._role_sent = True
            return {"role": "assistant", **delta}
        return delta

    def _head(self, model: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": model,
        }

    def _chunk(self, model: str, delta: dict[str, Any], reason: str | None) -> ChatCompletionChunk:
        choice = {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
        fields = {**self._head(model), "choices": [choice]}
        return ChatCompletionChunk.model_construct(**fields)
