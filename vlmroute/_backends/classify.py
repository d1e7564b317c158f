"""Turn a provider's error answer into one typed vlmroute error (pure; no I/O).

HTTP status alone is not enough: Zhipu answers 429 both for "your concurrency cap" (1302)
and "no balance" (1113), so its string ``error.code`` decides; OpenRouter puts a typed
``error.metadata.error_type`` beside the status; SiliconFlow names the exceeded limit in
its message. Each dialect is a table of codes, consulted before the status ladder.
Classification only *names* the failure; which errors to retry or fail over on is the
router's policy, read from the class (see :data:`FAILS_OVER`).
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import (
    AuthenticationError,
    ConfigurationError,
    ContentFilteredError,
    ContextTooLongError,
    InsufficientBalanceError,
    OverloadedError,
    ProviderTimeoutError,
    RateLimitedError,
    RequestError,
    ServerError,
    VlmrouteError,
    _FromProvider,
)

__all__ = ["DIALECT_CODES", "FAILS_OVER", "classify_error", "parse_retry_after"]

ErrorClass = type[VlmrouteError]

#: Zhipu/z.ai business codes (a string in ``error.code``); facts §1.4.
ZHIPU_CODES: Mapping[str, ErrorClass] = {
    **dict.fromkeys(("1000", "1001", "1002", "1003", "1004"), AuthenticationError),
    **dict.fromkeys(("1110", "1111", "1112", "1120", "1121"), AuthenticationError),
    "1113": InsufficientBalanceError,  # in arrears: do not retry; disable until recharged
    **dict.fromkeys(("1210", "1212", "1213", "1214", "1215"), RequestError),
    "1211": ConfigurationError,  # model does not exist: a wrong model id in the config
    **dict.fromkeys(("1220", "1221", "1222"), ConfigurationError),  # no permission / offline
    "1261": ContextTooLongError,
    "1301": ContentFilteredError,  # not the provider's fault: no failover by default
    "1302": RateLimitedError,  # your account's in-flight cap
    "1303": RateLimitedError,  # your request frequency
    "1304": InsufficientBalanceError,  # daily quota used up: nothing until tomorrow
    "1305": OverloadedError,  # platform-wide traffic limit
    "1312": OverloadedError,  # model overloaded, try another
    "500": ServerError,
}

#: OpenRouter's ``error.metadata.error_type`` values; facts §2.6.
OPENROUTER_TYPES: Mapping[str, ErrorClass] = {
    "context_length_exceeded": ContextTooLongError,
    "max_tokens_exceeded": ContextTooLongError,
    "authentication": AuthenticationError,
    "permission_denied": AuthenticationError,
    # 403 is also moderation ("guardrail/moderation" in facts 2.6): the caller's content,
    # not a bad key, so it must not disable the offer.
    "moderation": ContentFilteredError,
    "guardrail": ContentFilteredError,
    "payment_required": InsufficientBalanceError,
    "rate_limit_exceeded": RateLimitedError,
    "provider_overloaded": OverloadedError,
    "provider_unavailable": OverloadedError,
    "server": ServerError,
}

#: SiliconFlow's integer ``code``s that are not plain status mirrors.
SILICONFLOW_CODES: Mapping[str, ErrorClass] = {"20012": ConfigurationError}  # no such model

DIALECT_CODES: Mapping[str, Mapping[str, ErrorClass]] = {
    "zhipu": ZHIPU_CODES,
    "openrouter": OPENROUTER_TYPES,
    "siliconflow": SILICONFLOW_CODES,
}

_STATUS: Mapping[int, ErrorClass] = {
    400: RequestError,
    401: AuthenticationError,
    402: InsufficientBalanceError,
    403: AuthenticationError,  # SiliconFlow also uses 403 for balance: see _BY_MESSAGE
    404: ConfigurationError,
    408: ProviderTimeoutError,
    413: ContextTooLongError,
    429: RateLimitedError,
    502: OverloadedError,
    503: OverloadedError,
    504: ProviderTimeoutError,
    529: OverloadedError,
}

#: Where the status is ambiguous and no code says more, the message does: (status, pattern,
#: class). SiliconFlow answers 403 both for a bad key and for an empty balance (facts 4); vLLM
#: and SGLang answer 400 for every bad request, a prompt over the context window included.
_BY_MESSAGE: tuple[tuple[int, re.Pattern[str], ErrorClass], ...] = (
    (403, re.compile(r"balance|余额|insufficient|credit", re.I), InsufficientBalanceError),
    (
        400,
        re.compile(r"context length|context window|longer than the model|too many tokens", re.I),
        ContextTooLongError,
    ),
)

#: Errors after which the router may try another provider with the same request.
FAILS_OVER: tuple[ErrorClass, ...] = (
    RateLimitedError,
    OverloadedError,
    ServerError,
    ProviderTimeoutError,
    InsufficientBalanceError,
    AuthenticationError,
)


def parse_retry_after(
    headers: Mapping[str, str], *, now: Callable[[], float] | None = None
) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` seconds or an HTTP date."""
    lower = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lower:
        try:
            return _non_negative(float(lower["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return _non_negative(float(value))
    except ValueError:
        pass
    if now is None:  # an HTTP date needs a clock; without one, no guess
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return _non_negative(parsed.timestamp() - now())


def _non_negative(seconds: float) -> float | None:
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _error_object(body: Any) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        inner = body.get("error")
        return inner if isinstance(inner, Mapping) else body
    return {}


def _dialect_key(dialect: str, error: Mapping[str, Any]) -> str | None:
    if dialect == "openrouter":
        metadata = error.get("metadata")
        value = metadata.get("error_type") if isinstance(metadata, Mapping) else None
    else:
        value = error.get("code")
    return None if value is None else str(value)


def classify_error(
    *,
    provider: str,
    dialect: str,
    status_code: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    now: Callable[[], float] | None = None,
) -> VlmrouteError:
    """The typed error for one failed HTTP answer; never raises, never includes secrets."""
    error = _error_object(body)
    code = _dialect_key(dialect, error)
    cls = DIALECT_CODES.get(dialect, {}).get(code or "")
    message = str(error.get("message") or f"HTTP {status_code}")[:500]
    if cls is None:
        cls = next(
            (
                c
                for status, pattern, c in _BY_MESSAGE
                if status == status_code and pattern.search(message)
            ),
            None,
        )
    if cls is None:
        cls = _STATUS.get(status_code) or (ServerError if status_code >= 500 else RequestError)
    text = f"{provider}: {message} (HTTP {status_code}{f', code {code}' if code else ''})"
    provider_code = str(error.get("code")) if error.get("code") is not None else code
    fields: dict[str, Any] = {
        "provider": provider,
        "status_code": status_code,
        "provider_code": provider_code,
        "request_id": request_id,
    }
    if issubclass(cls, RateLimitedError):
        retry = parse_retry_after(headers or {}, now=now)
        return RateLimitedError(text, retry_after=retry, **fields)
    if issubclass(cls, _FromProvider):
        return cls(text, **fields)
    return cls(text)
