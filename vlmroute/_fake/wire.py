"""What a fake provider says, in each provider's own wire format (pure; no I/O).

Shapes follow ``shared/facts/providers.md``: Zhipu's string ``error.code`` under HTTP 429
for both "your cap" (1302) and "no balance" (1113); OpenRouter's ``error.metadata.error_type``
and its in-stream errors under HTTP 200; SiliconFlow's flat ``{"code", "message", "data"}``;
vLLM/SGLang's OpenAI-style errors. Reasoning lands where each provider puts it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["DIALECTS", "Dialect", "ErrorKind", "FakeAnswer", "error_body"]

Dialect = Literal["zhipu", "openrouter", "siliconflow", "vllm", "sglang"]
DIALECTS: tuple[Dialect, ...] = ("zhipu", "openrouter", "siliconflow", "vllm", "sglang")
ErrorKind = Literal["rate_limit", "no_balance", "content_filter", "overloaded", "auth"]

BASE_PATHS: dict[str, str] = {
    "zhipu": "/api/paas/v4",
    "openrouter": "/api/v1",
    "siliconflow": "/v1",
    "vllm": "/v1",
    "sglang": "/v1",
}
DEFAULT_MODELS: dict[str, str] = {
    "zhipu": "glm-4.1v-thinking-flash",
    "openrouter": "thudm/glm-4.1v-9b-thinking",
    "siliconflow": "THUDM/GLM-4.1V-9B-Thinking",
    "vllm": "zai-org/GLM-4.1V-9B-Thinking",
    "sglang": "zai-org/GLM-4.1V-9B-Thinking",
}
REASONING_FIELDS: dict[str, str] = {
    "zhipu": "reasoning_content",
    "openrouter": "reasoning",
    "siliconflow": "reasoning_content",
    "vllm": "reasoning",
    "sglang": "reasoning_content",
}

# (status, zhipu code, openrouter error_type, message) per error kind and dialect.
_ERRORS: dict[ErrorKind, dict[str, tuple[int, str]]] = {
    "rate_limit": {
        "zhipu": (429, "1302"),
        "openrouter": (429, "rate_limit_exceeded"),
        "siliconflow": (429, "429"),
        "openai": (429, "rate_limit_exceeded"),
    },
    "no_balance": {
        "zhipu": (429, "1113"),
        "openrouter": (402, "payment_required"),
        "siliconflow": (403, "30001"),
        "openai": (402, "insufficient_quota"),
    },
    "content_filter": {
        "zhipu": (400, "1301"),
        "openrouter": (403, "moderation"),
        "siliconflow": (400, "20015"),
        "openai": (400, "content_filter"),
    },
    "overloaded": {
        "zhipu": (429, "1305"),
        "openrouter": (503, "provider_overloaded"),
        "siliconflow": (503, "50505"),
        "openai": (503, "overloaded"),
    },
    "auth": {
        "zhipu": (401, "1000"),
        "openrouter": (401, "authentication"),
        "siliconflow": (401, "20001"),
        "openai": (401, "invalid_api_key"),
    },
}
_MESSAGES: dict[ErrorKind, str] = {
    # Zhipu's own words, full-width commas included.
    "rate_limit": "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。 (TPM limit)",  # noqa: RUF001
    "no_balance": "Insufficient balance or no resource package. Please recharge.",
    "content_filter": "系统检测到输入或生成内容可能包含不安全或敏感内容",
    "overloaded": "该模型当前访问量过大，请您稍后再试",  # noqa: RUF001
    "auth": "令牌已过期或验证不正确 (invalid API key)",
}


def _family(dialect: str) -> str:
    return "openai" if dialect in ("vllm", "sglang") else dialect


def error_body(dialect: str, kind: ErrorKind) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body of this kind of failure in this dialect."""
    status, code = _ERRORS[kind][_family(dialect)]
    message = _MESSAGES[kind]
    if dialect == "zhipu":
        return status, {"error": {"code": code, "message": message}}
    if dialect == "openrouter":
        return status, {
            "error": {"code": status, "message": message, "metadata": {"error_type": code}}
        }
    if dialect == "siliconflow":
        return status, {"code": int(code), "message": message, "data": None}
    return status, {"error": {"message": message, "type": code, "code": status}}


def stream_error_chunk(dialect: str) -> dict[str, Any]:
    """A chunk reporting a failure after the stream began (HTTP status stays 200)."""
    if dialect == "zhipu":
        return {"error": {"code": "1305", "message": _MESSAGES["overloaded"]}}
    return {
        "error": {"code": 502, "message": "upstream failed mid-stream"},
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    }


@dataclass(frozen=True, slots=True)
class FakeAnswer:
    """What the fake model says, and the usage it reports."""

    dialect: str
    model: str
    answer: str
    reasoning: str
    reasoning_field: str  # a field name, or "inline" for <think> tags in content
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None

    def _usage(self) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }
        if self.dialect in ("openrouter", "siliconflow"):
            usage["completion_tokens_details"] = {
                "reasoning_tokens": max(1, len(self.reasoning) // 4)
            }
        if self.dialect == "openrouter":
            cost = self.cost_usd
            if cost is None:
                cost = (self.prompt_tokens * 0.035 + self.completion_tokens * 0.138) / 1e6
            usage["cost"] = cost
        return usage

    def _head(self, request_id: str) -> dict[str, Any]:
        head: dict[str, Any] = {"id": request_id, "created": int(time.time()), "model": self.model}
        if self.dialect == "zhipu":
            head["request_id"] = request_id
        return head

    def inline(self) -> str:
        return f"<think>{self.reasoning}</think><answer>{self.answer}</answer>"

    def completion(self, request_id: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant"}
        if self.reasoning_field == "inline":
            message["content"] = self.inline()
        else:
            message["content"] = self.answer
            message[self.reasoning_field] = self.reasoning
            if self.reasoning_field == "reasoning" and self.dialect == "openrouter":
                message["reasoning_details"] = [{"type": "reasoning.text", "text": self.reasoning}]
        return {
            **self._head(request_id),
            "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
            "usage": self._usage(),
        }

    def chunks(self, request_id: str, pieces: int, *, usage: bool) -> list[dict[str, Any]]:
        """The stream's chunks: reasoning deltas, answer deltas, then the finish."""
        deltas: list[dict[str, Any]] = []
        if self.reasoning_field == "inline":
            deltas = [{"content": c} for c in _cut(self.inline(), pieces)]
        else:
            deltas = [{self.reasoning_field: c} for c in _cut(self.reasoning, pieces // 2)]
            deltas += [{"content": c} for c in _cut(self.answer, pieces - pieces // 2)]
        head = {**self._head(request_id), "object": "chat.completion.chunk"}
        chunks = [
            {**head, "choices": [{"index": 0, "delta": {"role": "assistant", **d}}]}
            if i == 0
            else {**head, "choices": [{"index": 0, "delta": d}]}
            for i, d in enumerate(deltas)
        ]
        last: dict[str, Any] = {
            **head,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        if usage:
            last["usage"] = self._usage()
        return [*chunks, last]


def _cut(text: str, pieces: int) -> list[str]:
    """``text`` in ``pieces`` runs of near-equal length, cut anywhere (inside tags too)."""
    if not text:
        return []
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    out, at = [], 0
    for i in range(pieces):
        end = at + size + (1 if i < extra else 0)
        out.append(text[at:end])
        at = end
    return out


def new_id() -> str:
    return f"fake-{uuid.uuid4().hex[:16]}"
