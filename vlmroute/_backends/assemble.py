"""Streamed chunks in, typed events out, and the whole response at the end (pure; no I/O).

A chunk's reasoning arrives in ``delta.reasoning_content`` (Zhipu, SiliconFlow, SGLang, old
vLLM), ``delta.reasoning`` (OpenRouter, new vLLM) or ``delta.reasoning_details``
(OpenRouter), or inline in ``delta.content`` as ``<think>…</think>`` when no reasoning
parser runs: :class:`~vlmroute._response.ThinkSplitter` sorts the content, even when a tag is
cut across chunks. Usage comes on a late chunk (the last one, or one with no choices).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._response import AnswerDelta, ChatResponse, ReasoningDelta, ThinkSplitter, Usage

__all__ = ["StreamAssembler", "StreamEvent"]

StreamEvent = ReasoningDelta | AnswerDelta


def _delta_reasoning(delta: Mapping[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = delta.get(key)
        if isinstance(value, str) and value:
            return value
    details = delta.get("reasoning_details")
    if isinstance(details, list):
        return "".join(
            str(d.get("text") or "")
            for d in details
            if isinstance(d, Mapping) and d.get("type") == "reasoning.text"
        )
    return ""


class StreamAssembler:
    """Turns chunk JSON into reasoning/answer deltas and keeps what the final response needs."""

    def __init__(self, *, provider: str, image_size: tuple[int, int] | None = None) -> None:
        self._provider = provider
        self._image_size = image_size
        self._splitter = ThinkSplitter()
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._usage: Mapping[str, Any] | None = None
        self._finish_reason: str | None = None
        self._model = ""
        self._id: str | None = None
        self.started = False  # True once a delta with text was produced
        self._answer_begun = False

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamEvent]:
        """Events for one chunk (possibly none)."""
        self._model = str(chunk.get("model") or self._model)
        self._id = chunk.get("request_id") or chunk.get("id") or self._id
        if isinstance(chunk.get("usage"), Mapping):
            self._usage = chunk["usage"]
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, Mapping):
                continue
            self._finish_reason = choice.get("finish_reason") or self._finish_reason
            delta = choice.get("delta") or {}
            if not isinstance(delta, Mapping):
                continue
            reasoning = _delta_reasoning(delta)
            if reasoning:
                self._reasoning.append(reasoning)
                events.append(ReasoningDelta.model_construct(text=reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                self._content.append(content)
                events.extend(self._split(self._splitter.feed(content)))
        self.started = self.started or bool(events)
        return events

    def close(self) -> list[StreamEvent]:
        """Text held back in case it began a tag."""
        return self._split(self._splitter.close())

    def _split(self, pieces: Sequence[tuple[str, str]]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for kind, piece in pieces:
            if kind == "reasoning":
                events.append(ReasoningDelta.model_construct(text=piece))
                continue
            # The non-streamed answer is stripped: match it.
            text = piece if self._answer_begun else piece.lstrip()
            self._answer_begun = self._answer_begun or bool(text)
            if text:
                events.append(AnswerDelta.model_construct(text=text))
        return events

    def response(self, *, latency_s: float | None, raw_extra: Mapping[str, Any]) -> ChatResponse:
        """The whole response, as if it had been asked for without streaming."""
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self._content)}
        if self._reasoning:
            message["reasoning_content"] = "".join(self._reasoning)
        payload = {
            "id": self._id,
            "model": self._model,
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish_reason}],
            "usage": dict(self._usage) if self._usage else None,
            **raw_extra,
        }
        return ChatResponse.from_openai(
            payload, provider=self._provider, image_size=self._image_size, latency_s=latency_s
        )

    @property
    def finish_reason(self) -> str | None:
        return self._finish_reason

    @property
    def usage(self) -> Usage:
        return Usage.from_openai(self._usage)
