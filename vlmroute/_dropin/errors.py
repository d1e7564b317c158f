"""vlmroute's errors as the openai SDK's exceptions, translated here, once (``raise ... from``).

An app's ``except openai.RateLimitError`` / ``openai.APIStatusError`` / ``openai.APIError``
keeps working, and the vlmroute error stays reachable as ``__cause__``. Bodies have OpenAI's
error shape, ``{"message", "type", "param", "code"}``, plus ``provider`` (the offer),
``provider_code`` and, for a refused route, ``reasons``::

    vlmroute                        openai                  status  code
    RateLimitedError                RateLimitError          429     rate_limit_exceeded
    BudgetExceededError             RateLimitError          429     insufficient_quota
    AuthenticationError             AuthenticationError     401     invalid_api_key
    InsufficientBalanceError        APIStatusError          402     insufficient_quota
    ContextTooLongError             BadRequestError         400     context_length_exceeded
    ContentFilteredError            BadRequestError         400     content_filter
    RequestError (any other)        BadRequestError         400     invalid_request
    ConfigurationError              BadRequestError         400     configuration_error
    OverloadedError                 InternalServerError     503     overloaded
    NoRouteError                    InternalServerError     503     no_route
    ServerError                     InternalServerError     the provider's 5xx, else 502
    ProviderTimeoutError            APITimeoutError
    ProviderConnectionError         APIConnectionError

Out of balance is a 402, the status OpenRouter answers with for it, and not OpenAI's 429
``insufficient_quota``: apps retry a 429, and no retry helps an empty account (a budget does
reset, so it stays a 429). It is not a 403 either, which apps read as a key without access.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

import httpx
import openai

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

__all__ = ["bad_request", "model_not_found", "openai_error"]

#: The URL on the synthetic request and response every translated error carries.
ENDPOINT = "https://vlmroute.local/v1/chat/completions"

_StatusClass = type[openai.APIStatusError]
_E = TypeVar("_E", bound=openai.APIStatusError)
_INVALID, _QUOTA, _SERVER = "invalid_request_error", "insufficient_quota", "server_error"

#: (vlmroute class, openai class, HTTP status, error type, error code); first match wins.
_STATUS_RULES: tuple[tuple[type[VlmrouteError], _StatusClass, int, str, str], ...] = (
    (BudgetExceededError, openai.RateLimitError, 429, _QUOTA, "insufficient_quota"),
    (RateLimitedError, openai.RateLimitError, 429, "requests", "rate_limit_exceeded"),
    (AuthenticationError, openai.AuthenticationError, 401, _INVALID, "invalid_api_key"),
    (InsufficientBalanceError, openai.APIStatusError, 402, _QUOTA, "insufficient_quota"),
    (ContextTooLongError, openai.BadRequestError, 400, _INVALID, "context_length_exceeded"),
    (ContentFilteredError, openai.BadRequestError, 400, _INVALID, "content_filter"),
    (RequestError, openai.BadRequestError, 400, _INVALID, "invalid_request"),
    (ConfigurationError, openai.BadRequestError, 400, _INVALID, "configuration_error"),
    (OverloadedError, openai.InternalServerError, 503, _SERVER, "overloaded"),
    (NoRouteError, openai.InternalServerError, 503, _SERVER, "no_route"),
    (ServerError, openai.InternalServerError, 502, _SERVER, "server_error"),
    (ProviderError, openai.APIStatusError, 502, _SERVER, "provider_error"),
    (VlmrouteError, openai.InternalServerError, 500, _SERVER, "internal_error"),
)


def endpoint_request() -> httpx.Request:
    return httpx.Request("POST", ENDPOINT)


def status_error(
    cls: type[_E],
    status: int,
    message: str,
    *,
    type_: str,
    code: str | None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> _E:
    """An openai status error with a synthetic response, as the SDK builds them."""
    error = {"message": message, "type": type_, "param": param, "code": code, **(extra or {})}
    response = httpx.Response(
        status, request=endpoint_request(), json={"error": error}, headers=dict(headers or {})
    )
    return cls(f"Error code: {status} - {message}", response=response, body=error)


def bad_request(message: str, *, param: str | None, code: str) -> openai.BadRequestError:
    """A 400 for an argument the drop-in refuses before anything is sent."""
    return status_error(
        openai.BadRequestError, 400, message, type_=_INVALID, code=code, param=param
    )


def model_not_found(model: str, known: Collection[str]) -> openai.NotFoundError:
    """A 404 naming the model asked for and every name this client routes."""
    message = (
        f"The model `{model}` is not routed by this vlmroute client; known models: "
        f"{', '.join(sorted(known))} (add one with models={{name: [offer ids]}})"
    )
    return status_error(
        openai.NotFoundError, 404, message, type_=_INVALID, code="model_not_found", param="model"
    )


def openai_error(exc: VlmrouteError) -> openai.APIError:
    """The openai exception an app expects for ``exc``; raise it ``from exc``."""
    if isinstance(exc, ProviderTimeoutError):
        return openai.APITimeoutError(request=endpoint_request())
    if isinstance(exc, ProviderConnectionError):
        return openai.APIConnectionError(message=str(exc), request=endpoint_request())
    cls, status, type_, code = next(
        (cls, status, type_, code)
        for match, cls, status, type_, code in _STATUS_RULES
        if isinstance(exc, match)
    )
    provider_status = getattr(exc, "status_code", None)
    if isinstance(exc, ServerError) and isinstance(provider_status, int) and provider_status >= 500:
        status = provider_status
    return status_error(
        cls,
        status,
        str(exc),
        type_=type_,
        code=code,
        headers=_headers(exc),
        extra=_extra(exc),
    )


def _headers(exc: VlmrouteError) -> dict[str, str]:
    headers: dict[str, str] = {}
    request_id = getattr(exc, "request_id", None)
    if isinstance(request_id, str) and request_id:
        headers["x-request-id"] = request_id
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float):
        headers["retry-after-ms"] = str(round(retry_after * 1000))
        headers["retry-after"] = str(math.ceil(retry_after))
    return headers


def _extra(exc: VlmrouteError) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for name in ("provider", "provider_code"):
        value = getattr(exc, name, None)
        if value is not None:
            extra[name] = value
    if isinstance(exc, NoRouteError):
        extra["reasons"] = dict(exc.reasons)
    return extra
