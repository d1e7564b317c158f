"""Router results in OpenAI's wire format: a completion body, stream chunks, headers (pure).

The reasoning goes in ``message.reasoning_content`` (and ``delta.reasoning_content``), where
apps reading DeepSeek or Zhipu through the openai SDK look for it; the openai SDK keeps such
extra fields. What vlmroute adds rides in an extra ``vlmroute`` object on the completion
(and on the stream's last chunk), so any OpenAI client can read it::

    {"offer": "zhipu-flash", "provider": "zhipu", "cost": {"amount": "0", "currency":
     "CNY", "source": "table"}, "attempts": [{"offer", "outcome", "latency_s",
     "status_code"}], "latency_s": 1.9, "boxes": [{"text", "normalized", "pixels"}]}

``cost.source`` is ``reported`` when the provider charged it (OpenRouter's ``usage.cost``)
and ``table`` when it is reported usage priced from the pricing table.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, TypedDict

from .._response import AnswerDelta, ChatResponse, StreamEnd, StreamEvent, Usage
from .errors import WireError

__all__ = [
    "DONE",
    "ChunkWriter",
    "Routing",
    "completion_body",
    "encode",
    "response_headers",
    "routing",
    "routing_of",
    "served_model",
]

#: Provider finish reasons with an OpenAI equivalent (Zhipu's "sensitive" is a filter).
_FINISH_REASONS = {"sensitive": "content_filter"}
DONE = b"data: [DONE]\n\n"


def encode(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def finish_reason(reason: str | None) -> str | None:
    return _FINISH_REASONS.get(reason, reason) if reason is not None else None


def usage_of(usage: Usage) -> dict[str, Any]:
    """OpenAI's ``usage`` fields; details only where the provider reported them."""
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
    id its offer sends, else ``default``."""
    return response.model or offer_models.get(response.offer or "") or default


def _cost(response: ChatResponse) -> dict[str, str] | None:
    if response.cost is None:
        return None
    source = "reported" if response.usage.cost is not None else "table"
    return {
        "amount": str(response.cost.amount),
        "currency": response.cost.currency,
        "source": source,
    }


class Routing(TypedDict):
    """The ``vlmroute`` object of a routed completion (see the module docstring)."""

    offer: str | None
    provider: str
    cost: dict[str, str] | None
    attempts: list[dict[str, Any]]
    latency_s: float | None
    boxes: list[dict[str, Any]]


def routing(completion: object) -> Routing | None:
    """Where a routed completion (or a stream's last chunk) went and what it cost.

    Takes what the openai SDK returned (``completion.vlmroute``, typed) or its JSON as a
    dict; None when it carries no ``vlmroute`` object (a chunk before the last).
    """
    if isinstance(completion, Mapping):
        value = completion.get("vlmroute")
    else:
        value = (getattr(completion, "model_extra", None) or {}).get("vlmroute")
    return value if isinstance(value, dict) else None  # type: ignore[return-value]


def routing_of(response: ChatResponse) -> Routing:
    """The ``vlmroute`` object: where the request went, what it cost, the boxes."""
    return {
        "offer": response.offer,
        "provider": response.provider,
        "cost": _cost(response),
        "attempts": [
            {
                "offer": a.offer,
                "outcome": a.outcome,
                "latency_s": a.latency_s,
                "status_code": a.status_code,
            }
            for a in response.attempts
        ],
        "latency_s": response.latency_s,
        "boxes": [asdict(b) for b in response.boxes],
    }


def response_headers(response: ChatResponse) -> dict[str, str]:
    """``x-request-id`` and vlmroute's ``x-vlmroute-*`` headers for one answer."""
    headers = {"x-vlmroute-attempts": str(len(response.attempts) or 1)}
    if response.request_id:
        headers["x-request-id"] = response.request_id
    if response.offer:
        headers["x-vlmroute-offer"] = response.offer
    cost = _cost(response)
    if cost is not None:
        headers["x-vlmroute-cost"] = f"{cost['amount']} {cost['currency']}; source={cost['source']}"
    return headers


def completion_body(response: ChatResponse, *, model: str) -> dict[str, Any]:
    """A ``chat.completion`` of one choice, naming ``model`` (see :func:`served_model`)."""
    message = {
        "role": "assistant",
        "content": response.answer,
        "reasoning_content": response.reasoning or None,
    }
    return {
        "id": response.request_id or new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(response.finish_reason),
                "logprobs": None,
            }
        ],
        "usage": usage_of(response.usage),
        "system_fingerprint": None,
        "vlmroute": routing_of(response),
    }


class ChunkWriter:
    """Stream events to ``chat.completion.chunk`` server-sent events, as OpenAI streams.

    Every chunk shares one id and ``created``; the first carries ``delta.role``. A delta is
    reasoning (``delta.reasoning_content``) or answer (``delta.content``). The end gives a
    chunk with ``finish_reason`` and the ``vlmroute`` object, then, only when
    ``include_usage`` was asked, one with no choices and the usage, then ``[DONE]``. Chunks
    before the end name ``model`` (which offer serves a stream is known only at its end);
    the last ones name the model id served.
    """

    def __init__(self, *, model: str, include_usage: bool, offer_models: Mapping[str, str]) -> None:
        self.id = new_id()
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self._offer_models = offer_models
        self._role_sent = False
        self._prefix = (
            f'data: {{"id":"{self.id}","object":"chat.completion.chunk",'
            f'"created":{self.created},"model":{json.dumps(model)},'
            '"system_fingerprint":null,"choices":[{"index":0,"delta":'
        ).encode()

    def event(self, event: StreamEvent) -> bytes:
        """The bytes of one router event (the end: every closing chunk and ``[DONE]``)."""
        if isinstance(event, StreamEnd):
            return self._end(event.response)
        key = "content" if isinstance(event, AnswerDelta) else "reasoning_content"
        delta: dict[str, Any] = {key: event.text}
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", **delta}
        return self._prefix + encode(delta) + b',"finish_reason":null}]}\n\n'

    def error(self, error: WireError) -> bytes:
        """An error after the stream began: an event the openai SDK raises ``APIError`` on."""
        return b"data: " + encode(error.body()) + b"\n\n"

    def _end(self, response: ChatResponse) -> bytes:
        model = served_model(response, self._offer_models, self.model)
        delta: dict[str, Any] = {} if self._role_sent else {"role": "assistant"}
        head = {"id": self.id, "object": "chat.completion.chunk", "created": self.created}
        last = {
            **head,
            "model": model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "delta": delta,
                    "finish_reason": finish_reason(response.finish_reason),
                }
            ],
            "vlmroute": routing_of(response),
        }
        out = b"data: " + encode(last) + b"\n\n"
        if self.include_usage:
            usage = {**head, "model": model, "choices": [], "usage": usage_of(response.usage)}
            out += b"data: " + encode(usage) + b"\n\n"
        return out + DONE
