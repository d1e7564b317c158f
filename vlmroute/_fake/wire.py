"""Each provider's wire format, as the fake speaks it: one small class per dialect (pure).

Shapes follow ``shared/facts/providers.md``:

============  ==================================================================================
zhipu         ``{id, request_id, created, model, choices, usage}``; ``reasoning_content``;
              errors ``{"error": {"code": "1302", "message"}}`` (a string code; 429 for both
              the in-flight cap and no balance); in-stream ``{"error": {"code": "1305"}}``
openrouter    ``message.reasoning`` + ``reasoning_details``; ``usage.cost``; ``X-Generation-Id``;
              ``: OPENROUTER PROCESSING`` before the first chunk; errors typed by
              ``error.metadata.error_type``; in-stream errors with ``finish_reason: "error"``
siliconflow   ``reasoning_content``; flat ``{"code", "message", "data": null}`` errors
vllm          OpenAI's shape with ``reasoning`` (``reasoning_content`` before v0.26); usage in
              streams only when ``stream_options.include_usage`` asks, on its own chunk with
              ``choices: []``; ``{"error": "Unauthorized"}`` on a bad key
sglang        as vLLM, with ``reasoning_content``
============  ==================================================================================
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from .config import DialectName, ReasoningField

__all__ = ["WIRES", "ErrorKind", "ErrorReply", "Reply", "Wire", "cut"]

ErrorKind = Literal[
    "bad_request",
    "content_filter",
    "no_balance",
    "overloaded",
    "rate_limit",
    "server_error",
    "unauthorized",
]
#: Per error kind: HTTP status, the dialect's code (or error type) and message.
ErrorTable = Mapping[ErrorKind, tuple[int, Any, str]]


@dataclass(frozen=True, slots=True)
class Reply:
    """The values of one answer, for a wire to render."""

    id: str
    created: int
    model: str
    answer: str
    reasoning: str
    reasoning_field: ReasoningField
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cost_usd: float

    @property
    def inline(self) -> str:
        """Reasoning and answer in the tags GLM-4.1V was trained to write."""
        return f"<think>{self.reasoning}</think><answer>{self.answer}</answer>"


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An error answer: HTTP status and JSON body."""

    status: int
    body: Any


class Wire:
    """The OpenAI-compatible format of a vLLM server; subclasses override their quirks."""

    name: ClassVar[DialectName] = "vllm"
    base_path: ClassVar[str] = "/v1"
    default_model: ClassVar[str] = "zai-org/GLM-4.1V-9B-Thinking"
    reasoning_field: ClassVar[ReasoningField] = "reasoning"
    usage_always_streamed: ClassVar[bool] = False
    keepalive: ClassVar[bytes] = b""
    #: Whether ``/health`` and ``{base}/models`` are served (self-hosted servers).
    local_server: ClassVar[bool] = True
    metrics: ClassVar[bool] = True
    done_after_stream_error: ClassVar[bool] = True
    errors: ClassVar[ErrorTable] = {
        "bad_request": (400, "BadRequestError", "The request body is not valid JSON."),
        "content_filter": (400, "BadRequestError", "The request was flagged as unsafe."),
        "no_balance": (402, "PaymentRequiredError", "Insufficient balance."),
        "overloaded": (503, "ServiceUnavailableError", "The server is overloaded."),
        "rate_limit": (429, "RateLimitError", "Too many requests in flight."),
        "server_error": (500, "InternalServerError", "Internal server error."),
        "unauthorized": (401, "AuthenticationError", "Unauthorized"),
    }

    # -- errors ------------------------------------------------------------------------------

    def error(self, kind: ErrorKind, status: int | None = None) -> ErrorReply:
        """This kind of failure in this dialect; ``status`` overrides the usual one."""
        usual, code, message = self.errors[kind]
        status = status or usual
        if kind == "unauthorized" and self.local_server:
            return ErrorReply(status, {"error": "Unauthorized"})  # vLLM/SGLang's middleware
        return ErrorReply(status, self.error_body(status, code, message))

    def error_body(self, status: int, code: Any, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": code, "param": None, "code": status}}

    def stream_error(self, reply: Reply) -> dict[str, Any]:
        """The event that reports a failure after the stream began."""
        return self.error_body(500, "InternalServerError", "The engine failed mid-stream.")

    # -- answers -----------------------------------------------------------------------------

    def new_id(self) -> str:
        return f"chatcmpl-{uuid.uuid4().hex}"

    def headers(self, reply: Reply) -> dict[str, str]:
        return {}

    def message(self, reply: Reply) -> dict[str, Any]:
        if reply.reasoning_field == "inline":
            return {"role": "assistant", "content": reply.inline}
        return {
            "role": "assistant",
            "content": reply.answer,
            reply.reasoning_field: reply.reasoning,
        }

    def usage(self, reply: Reply) -> dict[str, Any]:
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }

    def choice(self, body: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        """One ``choices[]`` entry around a message or a delta (``body`` holds either key)."""
        return {"index": 0, **body, "logprobs": None, "finish_reason": finish_reason}

    def head(self, reply: Reply, *, chunk: bool) -> dict[str, Any]:
        kind = "chat.completion.chunk" if chunk else "chat.completion"
        return {"id": reply.id, "object": kind, "created": reply.created, "model": reply.model}

    def completion(self, reply: Reply) -> dict[str, Any]:
        """The non-stream answer."""
        choice = self.choice({"message": self.message(reply)}, "stop")
        return {**self.head(reply, chunk=False), "choices": [choice], "usage": self.usage(reply)}

    # -- streams -----------------------------------------------------------------------------

    def reasoning_delta(self, reply: Reply, piece: str) -> dict[str, Any]:
        return {reply.reasoning_field: piece}

    def deltas(self, reply: Reply, pieces: int) -> list[dict[str, Any]]:
        """Reasoning deltas, then content deltas; inline tags are cut anywhere, tags included."""
        if reply.reasoning_field == "inline":
            return [{"content": p} for p in cut(reply.inline, pieces)]
        deltas = [self.reasoning_delta(reply, p) for p in cut(reply.reasoning, pieces)]
        return deltas + [{"content": p} for p in cut(reply.answer, pieces)]

    def stream(self, reply: Reply, pieces: int, *, usage: bool) -> list[dict[str, Any]]:
        """Every event of a streamed answer, in order, before ``[DONE]``."""
        deltas = self.deltas(reply, pieces)
        if deltas:
            deltas[0] = {"role": "assistant", **deltas[0]}
        head = self.head(reply, chunk=True)
        events = [{**head, "choices": [self.choice({"delta": d}, None)]} for d in deltas]
        return events + self.finish(reply, head, usage=usage)

    def finish(self, reply: Reply, head: dict[str, Any], *, usage: bool) -> list[dict[str, Any]]:
        """The closing events: vLLM sends usage on a chunk of its own with no choices."""
        events = [{**head, "choices": [self.choice({"delta": {}}, "stop")]}]
        if usage:
            events.append({**head, "choices": [], "usage": self.usage(reply)})
        return events

    def streams_usage(self, body: Mapping[str, Any]) -> bool:
        """Whether a stream of this request ends with usage."""
        if self.usage_always_streamed:
            return True
        options = body.get("stream_options")
        return isinstance(options, Mapping) and options.get("include_usage") is True

    def models(self, model: str) -> dict[str, Any]:
        """``GET {base}/models``."""
        entry = {"id": model, "object": "model", "created": int(time.time()), "owned_by": "vllm"}
        return {"object": "list", "data": [{**entry, "root": model, "max_model_len": 65536}]}


class SGLangWire(Wire):
    name = "sglang"
    reasoning_field = "reasoning_content"
    metrics = False  # SGLang serves /metrics only with --enable-metrics, in its own names

    def models(self, model: str) -> dict[str, Any]:
        entry = {"id": model, "object": "model", "created": int(time.time())}
        return {"object": "list", "data": [{**entry, "owned_by": "sglang", "root": model}]}


class HostedWire(Wire):
    """A hosted API: usage on every stream, no local-server endpoints."""

    usage_always_streamed = True
    local_server = False
    metrics = False
    done_after_stream_error = False

    def finish(self, reply: Reply, head: dict[str, Any], *, usage: bool) -> list[dict[str, Any]]:
        choice = self.choice({"delta": {"role": "assistant", "content": ""}}, "stop")
        return [{**head, "choices": [choice], "usage": self.usage(reply)}]


# Zhipu's own messages (docs.bigmodel.cn error-code page); full-width commas and all.
ZHIPU_BAD_REQUEST = "API 调用参数有误，请检查文档。"  # noqa: RUF001
ZHIPU_UNSAFE = (
    "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语。"  # noqa: RUF001
)
ZHIPU_ARREARS = "您的账户已欠费，请充值后重试。"  # noqa: RUF001
ZHIPU_OVERLOADED = "该模型当前访问量过大，请您稍后再试"  # noqa: RUF001
ZHIPU_CONCURRENCY = "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。"  # noqa: RUF001


class ZhipuWire(HostedWire):
    name = "zhipu"
    base_path = "/api/paas/v4"
    default_model = "glm-4.1v-thinking-flashx"
    reasoning_field = "reasoning_content"
    errors: ClassVar[ErrorTable] = {
        "bad_request": (400, "1210", ZHIPU_BAD_REQUEST),
        "content_filter": (400, "1301", ZHIPU_UNSAFE),
        "no_balance": (429, "1113", ZHIPU_ARREARS),
        "overloaded": (429, "1305", ZHIPU_OVERLOADED),
        "rate_limit": (429, "1302", ZHIPU_CONCURRENCY),
        "server_error": (500, "500", "Internal Error"),
        "unauthorized": (401, "1000", "身份验证失败。"),
    }

    def error_body(self, status: int, code: Any, message: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": message}}

    def stream_error(self, reply: Reply) -> dict[str, Any]:
        _, code, message = self.errors["overloaded"]
        return self.error_body(200, code, message)

    def new_id(self) -> str:
        return f"{time.strftime('%Y%m%d%H%M%S')}{uuid.uuid4().hex[:18]}"

    def head(self, reply: Reply, *, chunk: bool) -> dict[str, Any]:
        head = {"id": reply.id, "created": reply.created, "model": reply.model}
        return head if chunk else {**head, "request_id": reply.id}

    def choice(self, body: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        choice = {"index": 0, **body}
        return choice if finish_reason is None else {**choice, "finish_reason": finish_reason}

    def usage(self, reply: Reply) -> dict[str, Any]:
        return {**super().usage(reply), "prompt_tokens_details": {"cached_tokens": 0}}


class OpenRouterWire(HostedWire):
    name = "openrouter"
    base_path = "/api/v1"
    default_model = "thudm/glm-4.1v-9b-thinking"
    reasoning_field = "reasoning"
    keepalive = b": OPENROUTER PROCESSING\n\n"
    upstream = "Novita"
    errors: ClassVar[ErrorTable] = {
        "bad_request": (400, "bad_request", "Invalid JSON in request body."),
        "content_filter": (403, "moderation", "Your input was flagged by moderation."),
        "no_balance": (402, "payment_required", "Insufficient credits. Add more credits."),
        "overloaded": (503, "provider_overloaded", "Provider is overloaded; retry later."),
        "rate_limit": (429, "rate_limit_exceeded", "Rate limit exceeded; retry shortly."),
        "server_error": (500, "server", "Internal Server Error"),
        "unauthorized": (401, "authentication", "No auth credentials found"),
    }

    def error_body(self, status: int, code: Any, message: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "metadata": {"error_type": code}}}

    def stream_error(self, reply: Reply) -> dict[str, Any]:
        choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
        error = {"code": 502, "message": "Provider returned error"}
        return {**self.head(reply, chunk=True), "error": error, "choices": [choice]}

    def new_id(self) -> str:
        return f"gen-{int(time.time())}-{uuid.uuid4().hex[:20]}"

    def headers(self, reply: Reply) -> dict[str, str]:
        return {"X-Generation-Id": reply.id}

    def head(self, reply: Reply, *, chunk: bool) -> dict[str, Any]:
        # system_fingerprint: OpenRouter sends it (null for this model), and its official
        # SDK refuses a non-streamed answer without it (tests/test_fakes_vs_sdks.py).
        head = {**super().head(reply, chunk=chunk), "provider": self.upstream}
        return {**head, "system_fingerprint": None}

    def choice(self, body: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        native = {"native_finish_reason": finish_reason}
        return {**super().choice(body, finish_reason), **native}

    def message(self, reply: Reply) -> dict[str, Any]:
        message = super().message(reply)
        if reply.reasoning_field == "reasoning":
            message["reasoning_details"] = [{"type": "reasoning.text", "text": reply.reasoning}]
        return message

    def reasoning_delta(self, reply: Reply, piece: str) -> dict[str, Any]:
        delta = super().reasoning_delta(reply, piece)
        if reply.reasoning_field == "reasoning":
            delta["reasoning_details"] = [{"type": "reasoning.text", "text": piece}]
        return delta

    def usage(self, reply: Reply) -> dict[str, Any]:
        return {
            **super().usage(reply),
            "cost": reply.cost_usd,
            "is_byok": False,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "cost_details": {"upstream_inference_cost": None},
            "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        }


class SiliconFlowWire(HostedWire):
    name = "siliconflow"
    default_model = "THUDM/GLM-4.1V-9B-Thinking"
    reasoning_field = "reasoning_content"
    errors: ClassVar[ErrorTable] = {
        "bad_request": (400, 20015, "The parameter is invalid. Please check again."),
        "content_filter": (400, 400, "The input or output was flagged as sensitive content."),
        "no_balance": (403, 30001, "Sorry, your account balance is insufficient"),
        "overloaded": (503, 50603, "System is too busy now. Please try again later."),
        "rate_limit": (
            429,
            429,
            "Request was rejected due to rate limiting. Details: TPM limit reached.",
        ),
        "server_error": (500, 50500, "Internal Server Error"),
        "unauthorized": (401, 401, "Invalid token"),
    }

    def error_body(self, status: int, code: Any, message: str) -> dict[str, Any]:
        return {"code": code, "message": message, "data": None}

    def stream_error(self, reply: Reply) -> dict[str, Any]:
        _, code, message = self.errors["overloaded"]
        return self.error_body(200, code, message)

    def new_id(self) -> str:
        return uuid.uuid4().hex

    def choice(self, body: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        return {"index": 0, **body, "finish_reason": finish_reason}

    def completion(self, reply: Reply) -> dict[str, Any]:
        return {**super().completion(reply), "system_fingerprint": ""}

    def usage(self, reply: Reply) -> dict[str, Any]:
        details = {"reasoning_tokens": reply.reasoning_tokens}
        return {**super().usage(reply), "completion_tokens_details": details}


WIRES: Mapping[DialectName, Wire] = {
    w.name: w for w in (ZhipuWire(), OpenRouterWire(), SiliconFlowWire(), Wire(), SGLangWire())
}


def cut(text: str, pieces: int) -> list[str]:
    """``text`` in at most ``pieces`` runs of near-equal length, cut anywhere."""
    if not text:
        return []
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    out: list[str] = []
    at = 0
    for i in range(pieces):
        end = at + size + (1 if i < extra else 0)
        out.append(text[at:end])
        at = end
    return out
