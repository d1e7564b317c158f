"""vlmroute's errors as OpenAI error answers: a status, headers and an OpenAI error body.

Pure: no openai import. The openai SDK (through the drop-in's transport) and any other
OpenAI client (through the gateway) raise the class an app expects from the status::

    vlmroute                        status  error.code               openai SDK raises
    BudgetExceededError             429     insufficient_quota       RateLimitError
    RateLimitedError                429     rate_limit_exceeded      RateLimitError
    AuthenticationError             401     invalid_api_key          AuthenticationError
    InsufficientBalanceError        402     insufficient_quota       APIStatusError
    ContextTooLongError             400     context_length_exceeded  BadRequestError
    ContentFilteredError            400     content_filter           BadRequestError
    RequestError (any other)        400     invalid_request          BadRequestError
    ConfigurationError              400     configuration_error      BadRequestError
    OverloadedError                 503     overloaded               InternalServerError
    NoRouteError                    503     no_route                 InternalServerError
    ServerError                     the provider's 5xx, else 502     InternalServerError
    ProviderTimeoutError            504     timeout                  APITimeoutError (drop-in)
    ProviderConnectionError         502     connection_error         APIConnectionError (drop-in)

Out of balance is a 402, the status OpenRouter answers with for it, and not OpenAI's 429
``insufficient_quota``: apps retry a 429, and no retry helps an empty account (a budget does
reset, so it stays a 429). It is not a 403 either, which apps read as a key without access.

The body is OpenAI's ``{"error": {"message", "type", "param", "code"}}`` plus ``vlmroute``
(the error's class name), ``provider`` (the offer), ``provider_code`` and, for a refused
route, ``reasons``. A 429 carries ``retry-after`` and ``retry-after-ms``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from ..errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    ContentFilteredError,
    ContextTooLongError,
    InsufficientBalanceError,
    NoRouteError,
    OverloadedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    RequestError,
    ServerError,
    VlmrouteError,
)

__all__ = ["WireError", "bad_request", "error_of", "not_found"]

INVALID, _QUOTA, _SERVER = "invalid_request_error", "insufficient_quota", "server_error"

#: (vlmroute class, HTTP status, error type, error code); the first match wins.
_STATUS_RULES: tuple[tuple[type[VlmrouteError], int, str, str], ...] = (
    (BudgetExceededError, 429, _QUOTA, "insufficient_quota"),
    (RateLimitedError, 429, "requests", "rate_limit_exceeded"),
    (AuthenticationError, 401, INVALID, "invalid_api_key"),
    (InsufficientBalanceError, 402, _QUOTA, "insufficient_quota"),
    (ContextTooLongError, 400, INVALID, "context_length_exceeded"),
    (ContentFilteredError, 400, INVALID, "content_filter"),
    (RequestError, 400, INVALID, "invalid_request"),
    (ConfigurationError, 400, INVALID, "configuration_error"),
    (OverloadedError, 503, _SERVER, "overloaded"),
    (NoRouteError, 503, _SERVER, "no_route"),
    (ProviderTimeoutError, 504, "timeout", "timeout"),
    (ProviderConnectionError, 502, _SERVER, "connection_error"),
    (ServerError, 502, _SERVER, "server_error"),
    (ProviderError, 502, _SERVER, "provider_error"),
    (VlmrouteError, 500, _SERVER, "internal_error"),
)


class WireError(Exception):
    """One OpenAI error answer. Raised inside the translation layer and turned into a
    response where it is caught (the drop-in's transport, the gateway); never escapes."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = INVALID,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        cause: VlmrouteError | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        self.cause = cause

    def body(self) -> dict[str, Any]:
        error = {
            "message": self.message,
            "type": self.type,
            "param": self.param,
            "code": self.code,
            **self.extra,
        }
        return {"error": error}


def bad_request(message: str, *, param: str | None, code: str = "invalid_value") -> WireError:
    """A 400 for a field refused before anything is sent."""
    return WireError(400, message, code=code, param=param)


def not_found(message: str, *, code: str, param: str | None = None) -> WireError:
    return WireError(404, message, code=code, param=param)


def model_not_found(model: str, known: Collection[str]) -> WireError:
    """A 404 naming the model asked for and every name this router serves."""
    return not_found(
        f"The model `{model}` is not routed here; known models: {', '.join(sorted(known))} "
        "(add one with models={name: [offer ids]})",
        code="model_not_found",
        param="model",
    )


def error_of(exc: VlmrouteError) -> WireError:
    """The OpenAI error answer for ``exc`` (see the table above)."""
    status, type_, code = next(
        (status, type_, code)
        for match, status, type_, code in _STATUS_RULES
        if isinstance(exc, match)
    )
    provider_status = getattr(exc, "status_code", None)
    if isinstance(exc, ServerError) and isinstance(provider_status, int) and provider_status >= 500:
        status = provider_status
    return WireError(
        status,
        str(exc),
        type_=type_,
        code=code,
        headers=_headers(exc),
        extra=_extra(exc),
        cause=exc,
    )


def _headers(exc: VlmrouteError) -> dict[str, str]:
    headers: dict[str, str] = {}
    request_id = getattr(exc, "request_id", None)
    if isinstance(request_id, str) and request_id:
        headers["x-request-id"] = request_id
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and not isinstance(retry_after, bool):
        headers["retry-after-ms"] = str(round(retry_after * 1000))
        headers["retry-after"] = str(math.ceil(retry_after))
    return headers


def _extra(exc: VlmrouteError) -> dict[str, Any]:
    extra: dict[str, Any] = {"vlmroute": type(exc).__name__}
    for name in ("provider", "provider_code"):
        value = getattr(exc, name, None)
        if value is not None:
            extra[name] = value
    if isinstance(exc, NoRouteError):
        extra["reasons"] = dict(exc.reasons)
    return extra
