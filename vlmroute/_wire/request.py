"""An OpenAI chat-completions request body, checked and turned into one router call (pure).

Everything refused is refused here, before anything is sent, as a :class:`WireError` (a 400
naming the field, or a 404 for an unknown model). Media must be http(s) URLs or data URIs:
nothing that arrives over the wire may name a file on this host.

Per-request routing hints come in ``extra_body={"vlmroute": {...}}`` or as headers:
``providers`` / ``x-vlmroute-providers`` (offer ids, comma-separated in a header),
``exclude`` / ``x-vlmroute-exclude``, ``max_cost`` / ``x-vlmroute-max-cost`` ("0.01 USD"),
``deadline_s`` / ``x-vlmroute-deadline-s``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._backends.dialects import JSON_FORMATS
from .._request import ChatRequest
from ..errors import RequestError
from .errors import bad_request, model_not_found
from .fields import FIELDS, ignore, refusal
from .routes import ModelRoutes

__all__ = ["WireRequest", "parse_body", "wire_request"]

_ROUTER_ARGS = ("temperature", "top_p", "stop", "seed")
_PARAMS = tuple(k for k, (use, _) in FIELDS.items() if use == "sent where taken")
_MEDIA_PARTS = ("image_url", "video_url")
_HINTS = ("providers", "exclude", "max_cost", "deadline_s")


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One checked request and how to answer it."""

    model: str
    request: ChatRequest
    stream: bool
    include_usage: bool
    providers: tuple[str, ...] | None
    exclude: tuple[str, ...]
    max_cost: str | None
    deadline_s: float | None


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body; a 400 for anything else."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise bad_request(
            "the request body is not JSON: send a chat-completions JSON object",
            param=None,
            code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise bad_request(
            f"the request body is a JSON {type(body).__name__}, not an object",
            param=None,
            code="invalid_json",
        )
    return body


def wire_request(
    body: Mapping[str, Any],
    routes: ModelRoutes,
    *,
    json_offers: Collection[str],
    headers: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
) -> WireRequest:
    """Check ``body`` and decide every field (see :data:`~.fields.FIELDS`).

    ``json_offers`` are the offers that take ``response_format`` JSON; ``timeout_s`` (the
    client's read timeout) becomes the deadline unless a hint sets one.
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required: a model name string", param="model")
    route = routes.resolve(model)
    if route is None:
        raise model_not_found(model, [r.name for r in routes.routes()])
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in body.items():
        (known if key in FIELDS else extra)[key] = value
    hints = _hints(extra.pop("vlmroute", None), headers or {})
    _refuse_or_ignore(known)
    params = {k: known[k] for k in _PARAMS if known.get(k) is not None}
    offers = route.offers
    if _asks_json(params.pop("response_format", None), params):
        offers = _json_offers(model, offers, routes, json_offers)
    stream = _flag(known.get("stream"), "stream")
    options = known.get("stream_options")
    if options is not None and not isinstance(options, Mapping):
        raise bad_request("stream_options must be an object", param="stream_options")
    try:
        request = ChatRequest.create(
            _messages(known.get("messages")),
            max_tokens=_max_tokens(known.get("max_tokens"), known.get("max_completion_tokens")),
            extra_body=extra,
            params=params,
            **{k: known.get(k) for k in _ROUTER_ARGS},
        )
    except RequestError as exc:
        raise bad_request(str(exc), param=None, code="invalid_request") from None
    except TypeError as exc:  # a value of the wrong type that pydantic did not catch
        raise bad_request(f"invalid request field: {exc}", param=None) from None
    return WireRequest(
        model=model,
        request=request,
        stream=stream,
        include_usage=bool((options or {}).get("include_usage")),
        providers=_pinned(offers, hints.get("providers")),
        exclude=tuple(hints.get("exclude") or ()),
        max_cost=hints.get("max_cost"),
        deadline_s=hints.get("deadline_s", timeout_s),
    )


def _refuse_or_ignore(known: Mapping[str, Any]) -> None:
    for key, value in known.items():
        use = FIELDS[key][0]
        if use == "refused":
            why = refusal(key, value)
            if why is not None:
                raise bad_request(why, param=key, code="unsupported_parameter")
        elif use == "ignored":
            ignore(key, value)


def _asks_json(response_format: Any, params: dict[str, Any]) -> bool:
    if response_format is None:
        return False
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind == "text":
        return False
    if not isinstance(kind, str) or kind not in JSON_FORMATS:
        raise bad_request(
            f"response_format type {kind!r} is not one of text, json_object, json_schema",
            param="response_format",
        )
    params["response_format"] = response_format
    return True


def _json_offers(
    model: str,
    offers: tuple[str, ...] | None,
    routes: ModelRoutes,
    json_offers: Collection[str],
) -> tuple[str, ...]:
    candidates = offers if offers is not None else routes.offer_ids()
    taking = tuple(o for o in candidates if o in json_offers)
    if not taking:
        raise bad_request(
            f"response_format JSON is sent only to vLLM and SGLang offers, and `{model}` "
            "routes to none: ask for JSON in the prompt (instructor's MD_JSON mode does) "
            "and parse message.content, or route to a local offer",
            param="response_format",
            code="unsupported_parameter",
        )
    return taking


def _pinned(offers: tuple[str, ...] | None, hinted: Sequence[str] | None) -> tuple[str, ...] | None:
    if hinted is None:
        return offers
    chosen = tuple(o for o in hinted if offers is None or o in offers)
    if not chosen:
        raise bad_request(
            f"providers {list(hinted)} leave no offer this model routes to ({list(offers or ())})",
            param="vlmroute.providers",
        )
    return chosen


def _hints(given: Any, headers: Mapping[str, str]) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    if given is not None:
        if not isinstance(given, Mapping):
            raise bad_request("extra_body vlmroute must be an object", param="vlmroute")
        unknown = sorted(set(given) - set(_HINTS))
        if unknown:
            raise bad_request(
                f"vlmroute hints {unknown} are unknown; known: {', '.join(_HINTS)}",
                param="vlmroute",
            )
        hints.update(given)
    for name in _HINTS:
        value = headers.get(f"x-vlmroute-{name.replace('_', '-')}")
        if value is not None and name not in hints:
            hints[name] = (
                [v.strip() for v in value.split(",") if v.strip()]
                if name
                in (
                    "providers",
                    "exclude",
                )
                else value
            )
    for name in ("providers", "exclude"):
        value = hints.get(name)
        if value is not None and (
            not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value)
        ):
            raise bad_request(f"vlmroute {name} must be a list of offer ids", param=name)
    if "deadline_s" in hints:
        hints["deadline_s"] = _seconds(hints["deadline_s"])
    if hints.get("max_cost") is not None:
        hints["max_cost"] = str(hints["max_cost"])
    return hints


def _seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        seconds = -1.0
    if not seconds > 0:
        raise bad_request(
            f"vlmroute deadline_s must be a positive number of seconds, not {value!r}",
            param="deadline_s",
        )
    return seconds


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be true or false, not {value!r}", param=name)
    return value


def _max_tokens(max_tokens: Any, max_completion_tokens: Any) -> Any:
    if max_tokens is not None and max_completion_tokens not in (None, max_tokens):
        raise bad_request(
            f"max_tokens={max_tokens} and max_completion_tokens={max_completion_tokens} "
            "disagree; pass one of them (both bound reasoning plus answer tokens)",
            param="max_completion_tokens",
        )
    return max_completion_tokens if max_completion_tokens is not None else max_tokens


def _messages(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise bad_request("messages must be a non-empty list of messages", param="messages")
    return [_message(m, i) for i, m in enumerate(raw)]


def _message(raw: Any, index: int) -> dict[str, Any]:
    where = f"messages.[{index}]"
    if not isinstance(raw, Mapping):
        raise bad_request(f"{where} is a {type(raw).__name__}, not a message object", param=where)
    message = dict(raw)
    if message.get("role") == "developer":
        message["role"] = "system"
    content = message.get("content")
    if isinstance(content, list):
        for position, part in enumerate(content):
            _check_part(part, f"{where}.content.[{position}]")
    return message


def _check_part(part: Any, where: str) -> None:
    """Text, or media as an http(s) URL or a data URI: never a path on this host."""
    if not isinstance(part, Mapping):
        raise bad_request(f"{where} is not a content part object", param=where)
    kind = part.get("type")
    if kind == "text":
        return
    if kind not in _MEDIA_PARTS:
        raise bad_request(
            f"{where} has type {kind!r}; GLM-4.1V takes text, image_url and video_url parts",
            param=f"{where}.type",
        )
    value = part.get(kind)
    url = value.get("url") if isinstance(value, Mapping) else value
    if isinstance(url, str) and url[:8].lower().startswith(("http://", "https://", "data:")):
        return
    raise bad_request(
        f"{where}.{kind}.url must be an http(s) URL or a data: URI", param=f"{where}.{kind}.url"
    )
