"""``chat.completions.create`` arguments checked and turned into one router call.

Everything refused is refused here, before any request: ``n`` other than 1, tools, tool
choice and response formats GLM-4.1V-Thinking cannot honour on these providers, an unknown
model, an image or video given as anything but an http(s) URL or a data URI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

import httpx
from openai import NotGiven, Omit
from pydantic import BaseModel

from .errors import bad_request, model_not_found
from .routes import ModelRoutes

__all__ = ["Prepared", "RouterArgs", "Unset", "prepare"]

#: openai's markers for "not given": ``omit`` (2.x) and ``NOT_GIVEN`` (1.x, still accepted).
Unset = Omit | NotGiven

_T = TypeVar("_T")
_WHY_NOT = "GLM-4.1V-9B-Thinking on Zhipu, OpenRouter, SiliconFlow and vLLM"


class RouterArgs(TypedDict):
    """The keyword arguments of ``Router.chat`` / ``Router.stream`` a request sets."""

    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    stop: str | Sequence[str] | None
    seed: int | None
    extra_body: Mapping[str, Any] | None
    deadline_s: float | None
    providers: Sequence[str] | None


@dataclass(frozen=True, slots=True)
class Prepared:
    """One checked request: the messages, the router's arguments, how to answer."""

    model: str
    messages: list[dict[str, Any]]
    args: RouterArgs
    stream: bool = False
    include_usage: bool = False


def given(value: _T | Unset) -> _T | None:
    """``value``, or None for openai's not-given markers."""
    return None if isinstance(value, Omit | NotGiven) else value


def prepare(
    routes: ModelRoutes,
    *,
    model: str,
    messages: Iterable[Any],
    temperature: float | Unset | None,
    top_p: float | Unset | None,
    max_tokens: int | Unset | None,
    max_completion_tokens: int | Unset | None,
    stop: str | Sequence[str] | Unset | None,
    seed: int | Unset | None,
    stream: bool | Unset | None,
    stream_options: Mapping[str, Any] | Unset | None,
    extra_body: Mapping[str, Any] | None,
    timeout: float | httpx.Timeout | NotGiven | None,
    n: int | Unset | None,
    tools: Iterable[Any] | Unset | None,
    tool_choice: str | Mapping[str, Any] | Unset | None,
    response_format: Mapping[str, Any] | Unset | None,
) -> Prepared:
    """Check everything that can be checked without sending; raise openai's errors."""
    _refuse_unsupported(n=given(n), tools=given(tools), tool_choice=given(tool_choice))
    _refuse_response_format(given(response_format))
    route = routes.resolve(model)
    if route is None:
        raise model_not_found(model, [r.name for r in routes.routes()])
    options = given(stream_options) or {}
    args = RouterArgs(
        temperature=given(temperature),
        top_p=given(top_p),
        max_tokens=_max_tokens(given(max_tokens), given(max_completion_tokens)),
        stop=given(stop),
        seed=given(seed),
        extra_body=extra_body,
        deadline_s=_deadline(timeout),
        providers=route.offers,
    )
    return Prepared(
        model=model,
        messages=[_message(m, i) for i, m in enumerate(messages)],
        args=args,
        stream=bool(given(stream)),
        include_usage=bool(options.get("include_usage")),
    )


def _refuse_unsupported(
    *, n: int | None, tools: Iterable[Any] | None, tool_choice: str | Mapping[str, Any] | None
) -> None:
    if n is not None and n != 1:
        raise bad_request(
            f"n={n}: vlmroute returns one choice per request; send {n} requests instead "
            "(they may run on different providers), or pass n=1",
            param="n",
            code="unsupported_value",
        )
    if tools is not None and list(tools):
        raise bad_request(
            f"tools are not supported: {_WHY_NOT} has no function calling; describe the "
            "tools in the prompt and parse message.content, or leave tools out",
            param="tools",
            code="unsupported_parameter",
        )
    if tool_choice is not None and tool_choice != "none":
        raise bad_request(
            f"tool_choice={tool_choice!r} is not supported: {_WHY_NOT} has no function "
            "calling; leave tool_choice out",
            param="tool_choice",
            code="unsupported_parameter",
        )


def _refuse_response_format(response_format: Mapping[str, Any] | None) -> None:
    if response_format is None or dict(response_format) == {"type": "text"}:
        return
    kind = response_format.get("type", "?")
    raise bad_request(
        f"response_format type {kind!r} is not supported: {_WHY_NOT} has no JSON mode or "
        "structured outputs; ask for JSON in the prompt and parse message.content",
        param="response_format",
        code="unsupported_parameter",
    )


def _max_tokens(max_tokens: int | None, max_completion_tokens: int | None) -> int | None:
    if max_tokens is not None and max_completion_tokens not in (None, max_tokens):
        raise bad_request(
            f"max_tokens={max_tokens} and max_completion_tokens={max_completion_tokens} "
            "disagree; pass one of them (both bound reasoning plus answer tokens)",
            param="max_completion_tokens",
            code="invalid_value",
        )
    return max_completion_tokens if max_completion_tokens is not None else max_tokens


def _deadline(timeout: float | httpx.Timeout | NotGiven | None) -> float | None:
    """The router's ``deadline_s`` from openai's ``timeout`` (a Timeout: its read bound)."""
    if isinstance(timeout, NotGiven) or timeout is None:
        return None
    if isinstance(timeout, httpx.Timeout):
        bounds = (timeout.read, timeout.connect, timeout.write, timeout.pool)
        return next((b for b in bounds if b is not None), None)
    return float(timeout)


def _message(raw: Any, index: int) -> dict[str, Any]:
    """An openai message param as a plain dict for ``ChatRequest.create``.

    A message object the SDK returned (``completion.choices[0].message``) is accepted, as
    the openai SDK accepts it; ``developer`` is GLM's ``system``; media must be URLs.
    """
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(exclude_none=True)
    if not isinstance(raw, Mapping):
        raise bad_request(
            f"messages.[{index}] is a {type(raw).__name__}, not a message object",
            param=f"messages.[{index}]",
            code="invalid_type",
        )
    message = dict(raw)
    if message.get("role") == "developer":
        message["role"] = "system"
    content = message.get("content")
    if isinstance(content, list | tuple):
        for position, part in enumerate(content):
            _check_media_url(part, f"messages.[{index}].content.[{position}]")
    return message


def _check_media_url(part: Any, where: str) -> None:
    """Only what the OpenAI API takes: an http(s) URL or a data URI, never a local path."""
    if not isinstance(part, Mapping) or part.get("type") not in ("image_url", "video_url"):
        return
    key = str(part["type"])
    value = part.get(key)
    url = value.get("url") if isinstance(value, Mapping) else value
    if isinstance(url, str) and url[:8].lower().startswith(("http://", "https://", "data:")):
        return
    raise bad_request(
        f"{where}.{key}.url must be an http(s) URL or a data: URI",
        param=f"{where}.{key}.url",
        code="invalid_value",
    )
