"""Provider dialects of the OpenAI chat wire format: one small class per set of quirks.

Every provider that serves GLM-4.1V speaks OpenAI's ``POST /chat/completions``. What differs
is data (base URL, key variable, error-code table) and a few quirks, each a method here:

======================  ==========================================================
zhipu                   images as raw base64 (both official SDKs strip the data-URI
                        prefix); string ``error.code`` decides 429s; temperature 0
                        means ``do_sample: false``
openrouter              ``HTTP-Referer`` / ``X-OpenRouter-Title`` headers; the
                        ``provider`` routing object passed through; errors typed by
                        ``error.metadata.error_type``; in-stream errors under HTTP 200
siliconflow             ``{"code", "message", "data"}`` errors; ``enable_thinking`` /
                        ``thinking_budget`` passed through
openai-compatible       vLLM / SGLang: key optional; ``skip_special_tokens: false`` so
                        ``<think>`` tags survive when no reasoning parser runs; usage in
                        streams only when ``stream_options.include_usage`` is asked
======================  ==========================================================

The registry :data:`DIALECTS` is keyed by the pricing table's ``kind``. A new host that
speaks one of these dialects is a pricing row, not a class.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from .._request import ChatRequest, ImagePart, TextPart, VideoPart
from .options import BackendOptions

__all__ = ["DIALECTS", "JSON_FORMATS", "Dialect", "dialect_for"]

log = logging.getLogger("vlmroute")

#: ``response_format`` types that ask for JSON output (``text`` asks for nothing).
JSON_FORMATS = frozenset({"json_object", "json_schema"})
#: Optional OpenAI fields that every OpenAI-compatible server named here documents.
_OPENAI_SAMPLING = {
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "logit_bias": "logit_bias",
    "user": "user",
}


class Dialect:
    """The plain OpenAI wire format; subclasses override the quirks of one provider."""

    name: ClassVar[str] = "openai-compatible"
    #: Environment variables a key is read from, in order.
    key_env: ClassVar[tuple[str, ...]] = ()
    key_required: ClassVar[bool] = True
    #: Which code table of :mod:`vlmroute._backends.classify` reads its error bodies.
    error_dialect: ClassVar[str] = "openai"
    #: Headers that may carry the provider's id for a request.
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id",)
    #: Optional OpenAI fields (``ChatRequest.params``) this provider takes, and the name it
    #: takes each under. A field not listed is left out of the body (logged at DEBUG).
    openai_params: ClassVar[Mapping[str, str]] = {}

    def takes_json_format(self) -> bool:
        """Whether ``response_format`` json_object / json_schema is sent to this provider."""
        return "response_format" in self.openai_params

    def headers(self, api_key: str | None, options: BackendOptions) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        headers.update(options.extra_headers)
        return headers

    def image_url(self, part: ImagePart) -> str:
        return part.url

    def content(self, part: TextPart | ImagePart | VideoPart) -> dict[str, Any]:
        if isinstance(part, TextPart):
            return {"type": "text", "text": part.text}
        if isinstance(part, ImagePart):
            image: dict[str, Any] = {"url": self.image_url(part)}
            if part.detail is not None:
                image["detail"] = part.detail
            return {"type": "image_url", "image_url": image}
        return {"type": "video_url", "video_url": {"url": self.video_url(part)}}

    def video_url(self, part: VideoPart) -> str:
        return part.url

    def body(
        self, request: ChatRequest, model: str, *, stream: bool, options: BackendOptions
    ) -> dict[str, Any]:
        """The JSON to POST: messages in this dialect, parameters, then extras on top."""
        messages = [
            {
                "role": m.role,
                "content": m.content
                if isinstance(m.content, str)
                else [self.content(p) for p in m.content],
            }
            for m in request.messages
        ]
        body: dict[str, Any] = {"model": model, "messages": messages}
        for key in ("temperature", "top_p", "max_tokens", "seed"):
            value = getattr(request, key)
            if value is not None:
                body[key] = value
        if request.stop is not None:
            body["stop"] = list(request.stop)
        if stream:
            body["stream"] = True
        for field, value in request.params.items():
            name = self.openai_params.get(field)
            if name is None:
                log.debug("%s: %s is not sent (this provider does not take it)", self.name, field)
            else:
                body[name] = value
        self.adjust(body, request, stream=stream)
        # Offer-level extras first, then the request's own: the request wins.
        body.update(options.extra_body)
        body.update(request.extra_body)
        return body

    def adjust(self, body: dict[str, Any], request: ChatRequest, *, stream: bool) -> None:
        """Provider quirks applied to the body before extras are merged in."""

    def stream_error(self, chunk: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The error object of a chunk that reports a failure after the stream began."""
        error = chunk.get("error")
        return error if isinstance(error, Mapping) else None

    def stream_error_status(self, error: Mapping[str, Any]) -> int:
        """The HTTP status an in-stream error stands for (the stream itself is a 200).

        An integer ``code`` in the HTTP range is that status: OpenRouter documents its
        in-stream ``error.code`` as the HTTP status (facts §2.6). Other codes (Zhipu's
        string business codes, SiliconFlow's five-digit ones) are read by the dialect's code
        table under a 200."""
        code = error.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
            return code
        return 200


class ZhipuDialect(Dialect):
    name = "zhipu"
    key_env = ("ZHIPUAI_API_KEY", "ZAI_API_KEY")
    error_dialect = "zhipu"
    # The Zhipu SDKs send `user_id` for the openai-style `user` (facts §7). Penalties and
    # logit_bias are not in its SDK's signature (facts §1.2): left out. `response_format`
    # is in that signature, but whether glm-4.1v-thinking honours JSON mode is not
    # documented (unknown), so a JSON request is not routed here; if it turns out to be
    # honoured, adding "response_format" below is the whole change.
    openai_params: ClassVar[Mapping[str, str]] = {"user": "user_id"}

    def image_url(self, part: ImagePart) -> str:
        # Both official SDKs strip "data:image/...;base64," and send raw base64 (facts
        # §1.2). A data URI is also reported to work, so either form would do; we send what
        # the SDKs send.
        return part.base64_payload or part.url

    def video_url(self, part: VideoPart) -> str:
        # Zhipu's own desktop app sends raw base64 for video_url as well.
        if part.url[:5].lower() == "data:":
            return part.url.partition(",")[2]
        return part.url

    def adjust(self, body: dict[str, Any], request: ChatRequest, *, stream: bool) -> None:
        # The official SDK maps temperature <= 0 to greedy decoding with do_sample=false;
        # the API wants temperature inside (0, 1] otherwise.
        if request.temperature == 0:
            body.pop("temperature", None)
            body["do_sample"] = False


class OpenRouterDialect(Dialect):
    name = "openrouter"
    key_env = ("OPENROUTER_API_KEY",)
    error_dialect = "openrouter"
    request_id_headers = ("x-generation-id", "x-request-id")
    # OpenRouter documents the OpenAI sampling fields and `user`. Whether the upstream
    # serving thudm/glm-4.1v-9b-thinking honours `response_format` is unknown (facts §2.3:
    # only a soft preference): a JSON request is not routed here.
    openai_params: ClassVar[Mapping[str, str]] = _OPENAI_SAMPLING

    def headers(self, api_key: str | None, options: BackendOptions) -> dict[str, str]:
        headers = super().headers(api_key, options)
        if options.app_url:
            headers.setdefault("HTTP-Referer", options.app_url)
        if options.app_title:
            headers.setdefault("X-OpenRouter-Title", options.app_title)
        return headers


class SiliconFlowDialect(Dialect):
    name = "siliconflow"
    key_env = ("SILICONFLOW_API_KEY",)
    error_dialect = "siliconflow"
    # SiliconFlow's GLM-4.1V ids are retired (facts §3); which optional fields it took for
    # them is not recorded, so none is sent.

    def stream_error(self, chunk: Mapping[str, Any]) -> Mapping[str, Any] | None:
        error = super().stream_error(chunk)
        if error is None and "code" in chunk and "message" in chunk and "choices" not in chunk:
            return chunk  # its flat {"code", "message", "data"} error shape
        return error


class OpenAICompatibleDialect(Dialect):
    """vLLM and SGLang serving GLM-4.1V; a key only if the server was started with one."""

    name = "openai-compatible"
    key_env = ("VLMROUTE_LOCAL_API_KEY",)
    key_required = False
    # vLLM and SGLang take the OpenAI sampling fields and `response_format` (json_object,
    # json_schema) through their structured-output backends.
    openai_params: ClassVar[Mapping[str, str]] = {
        **_OPENAI_SAMPLING,
        "response_format": "response_format",
    }

    def adjust(self, body: dict[str, Any], request: ChatRequest, *, stream: bool) -> None:
        # GLM-V's own client scripts send this: with the default (true) the <think> and
        # <answer> special tokens are dropped and reasoning runs into the answer whenever
        # the server has no reasoning parser.
        body["skip_special_tokens"] = False
        if stream:
            body["stream_options"] = {"include_usage": True}


DIALECTS: Mapping[str, Dialect] = {
    d.name: d
    for d in (ZhipuDialect(), OpenRouterDialect(), SiliconFlowDialect(), OpenAICompatibleDialect())
}


def dialect_for(kind: str) -> Dialect:
    """The dialect of a pricing-table ``kind``; ConfigurationError names the known ones."""
    from ..errors import ConfigurationError

    try:
        return DIALECTS[kind]
    except KeyError:
        known = ", ".join(sorted(DIALECTS))
        raise ConfigurationError(f"no backend speaks kind {kind!r} (known: {known})") from None
