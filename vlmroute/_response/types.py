"""Typed results of a chat call: the response, its usage, and streaming events.

Built from any provider's OpenAI-style JSON with :meth:`ChatResponse.from_openai`, so every
backend returns the same shape: ``answer`` and ``reasoning`` apart, ``boxes`` parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, PlainSerializer

from ..money import Money
from .markup import Box, parse_boxes, split_message

__all__ = [
    "AnswerDelta",
    "Attempt",
    "ChatResponse",
    "ReasoningDelta",
    "StreamEnd",
    "StreamEvent",
    "Usage",
]

#: Money in a response; dumped to JSON as ``{"amount": "0.0012", "currency": "USD"}``.
MoneyField = Annotated[
    Money,
    PlainSerializer(lambda m: {"amount": str(m.amount), "currency": m.currency}),
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Usage(_Frozen):
    """Token counts as the provider reported them (reasoning tokens where it does)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    cost: Decimal | None = None  # the provider's own charge in USD, if reported (OpenRouter)

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
            cost=Decimal(str(cost)) if isinstance(cost, int | float | str) and cost != "" else None,
        )


class Attempt(_Frozen):
    """One try of one offer: how it ended (``"ok"`` or the error class name) and how long."""

    offer: str
    outcome: str
    latency_s: float
    status_code: int | None = None
    message: str | None = None


class ChatResponse(_Frozen):
    """A completed chat call.

    ``answer`` is the text without think/answer markup, ``reasoning`` the chain of thought
    (wherever the provider put it), ``boxes`` every grounding box. ``offer`` is the pricing
    table's offer id, ``provider`` its provider. ``cost`` is what this call cost: the
    provider's own charge when it reports one (OpenRouter's ``usage.cost``), else reported
    usage priced from the table; set by the client and the router. ``attempts`` lists every
    try the router made, failed ones first.
    """

    answer: str
    reasoning: str
    boxes: tuple[Box, ...]
    usage: Usage
    provider: str
    model: str
    finish_reason: str | None
    latency_s: float | None = None
    request_id: str | None = None
    offer: str | None = None
    cost: MoneyField | None = None
    attempts: tuple[Attempt, ...] = ()
    raw: dict[str, Any]

    @classmethod
    def from_openai(
        cls,
        payload: Mapping[str, Any],
        *,
        provider: str,
        offer: str | None = None,
        image_size: tuple[int, int] | None = None,
        latency_s: float | None = None,
        request_id: str | None = None,
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
            request_id=payload.get("request_id") or request_id or payload.get("id"),
            offer=offer,
            raw=dict(payload),
        )


class ReasoningDelta(_Frozen):
    kind: Literal["reasoning"] = "reasoning"
    text: str


class AnswerDelta(_Frozen):
    kind: Literal["answer"] = "answer"
    text: str


class StreamEnd(_Frozen):
    """The last event of a stream: the whole response, as a non-streamed call returns it."""

    kind: Literal["end"] = "end"
    response: ChatResponse

    @property
    def usage(self) -> Usage:
        return self.response.usage

    @property
    def finish_reason(self) -> str | None:
        return self.response.finish_reason


StreamEvent = ReasoningDelta | AnswerDelta | StreamEnd
