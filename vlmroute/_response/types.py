"""Typed results of a chat call: the response, its usage, and streaming events.

Built from any provider's OpenAI-style JSON with :meth:`ChatResponse.from_openai`, so every
backend returns the same shape: ``answer`` and ``reasoning`` apart, ``boxes`` parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .markup import Box, parse_boxes, split_message

__all__ = ["AnswerDelta", "ChatResponse", "ReasoningDelta", "StreamEnd", "Usage"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Usage(_Frozen):
    """Token counts as the provider reported them (reasoning tokens where it does)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    cost: float | None = None  # the provider's own charge, when reported (OpenRouter)

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any] | None) -> Usage:
        if not usage:
            return cls()
        completion_details = usage.get("completion_tokens_details") or {}
        prompt_details = usage.get("prompt_tokens_details") or {}
        cost = usage.get("cost")
        return cls(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            reasoning_tokens=completion_details.get("reasoning_tokens"),
            cached_tokens=prompt_details.get("cached_tokens"),
            cost=float(cost) if isinstance(cost, int | float) else None,
        )


class ChatResponse(_Frozen):
    answer: str
    reasoning: str
    boxes: tuple[Box, ...]
    usage: Usage
    provider: str
    model: str
    finish_reason: str | None
    latency_s: float | None = None
    request_id: str | None = None
    raw: dict[str, Any]

    @classmethod
    def from_openai(
        cls,
        payload: Mapping[str, Any],
        *,
        provider: str,
        image_size: tuple[int, int] | None = None,
        latency_s: float | None = None,
    ) -> ChatResponse:
        """Build from a chat-completion JSON body (any provider dialect)."""
        choice = (payload.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        reasoning, answer = split_message(message)
        return cls(
            answer=answer,
            reasoning=reasoning,
            boxes=parse_boxes(str(message.get("content") or ""), image_size),
            usage=Usage.from_openai(payload.get("usage")),
            provider=provider,
            model=str(payload.get("model") or ""),
            finish_reason=choice.get("finish_reason"),
            latency_s=latency_s,
            request_id=payload.get("request_id") or payload.get("id"),
            raw=dict(payload),
        )


class ReasoningDelta(_Frozen):
    kind: Literal["reasoning"] = "reasoning"
    text: str


class AnswerDelta(_Frozen):
    kind: Literal["answer"] = "answer"
    text: str


class StreamEnd(_Frozen):
    kind: Literal["end"] = "end"
    usage: Usage
    finish_reason: str | None
