"""Provider error answers become the right typed error, from the shapes in providers.md."""

from __future__ import annotations

from typing import Any

import pytest

from vlmroute import (
    AuthenticationError,
    ConfigurationError,
    ContentFilteredError,
    ContextTooLongError,
    InsufficientBalanceError,
    OverloadedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    RequestError,
    ServerError,
)
from vlmroute._backends.classify import FAILS_OVER, classify_error, parse_retry_after


def zhipu(code: str, message: str = "msg") -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("1302", RateLimitedError),  # your concurrency cap
        ("1303", RateLimitedError),  # frequency
        ("1113", InsufficientBalanceError),  # no balance, also HTTP 429
        ("1301", ContentFilteredError),
        ("1305", OverloadedError),
        ("1312", OverloadedError),
        ("1261", ContextTooLongError),
        ("1002", AuthenticationError),
        ("1211", ConfigurationError),
    ],
)
def test_zhipu_codes_decide_over_the_status(code: str, cls: type[Exception]) -> None:
    err = classify_error(
        provider="zhipu-flash",
        dialect="zhipu",
        status_code=429,
        body=zhipu(code),
        request_id="req-1",
    )
    assert type(err) is cls
    if isinstance(err, ProviderError | ContentFilteredError | ContextTooLongError):
        assert err.provider == "zhipu-flash"
        assert err.status_code == 429
        assert err.provider_code == code
        assert err.request_id == "req-1"


def test_429_with_1113_is_not_a_rate_limit() -> None:
    err = classify_error(provider="z", dialect="zhipu", status_code=429, body=zhipu("1113"))
    assert not isinstance(err, RateLimitedError)
    assert isinstance(err, InsufficientBalanceError)


def test_content_filter_does_not_fail_over_but_overload_does() -> None:
    filtered = classify_error(provider="z", dialect="zhipu", status_code=400, body=zhipu("1301"))
    overloaded = classify_error(provider="z", dialect="zhipu", status_code=429, body=zhipu("1305"))
    assert not isinstance(filtered, FAILS_OVER)
    assert isinstance(overloaded, FAILS_OVER)


def test_rate_limit_carries_retry_after() -> None:
    err = classify_error(
        provider="z",
        dialect="zhipu",
        status_code=429,
        body=zhipu("1302"),
        headers={"Retry-After": "3"},
    )
    assert isinstance(err, RateLimitedError)
    assert err.retry_after == 3.0


@pytest.mark.parametrize(
    ("status", "error_type", "cls"),
    [
        (400, "context_length_exceeded", ContextTooLongError),
        (402, "payment_required", InsufficientBalanceError),
        (429, "rate_limit_exceeded", RateLimitedError),
        (503, "provider_overloaded", OverloadedError),
        (502, None, OverloadedError),
        (401, None, AuthenticationError),
        (408, None, ProviderTimeoutError),
    ],
)
def test_openrouter(status: int, error_type: str | None, cls: type[Exception]) -> None:
    body = {
        "error": {
            "code": status,
            "message": "m",
            "metadata": {"error_type": error_type} if error_type else {},
        }
    }
    err = classify_error(provider="openrouter", dialect="openrouter", status_code=status, body=body)
    assert type(err) is cls


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (429, {"code": 42901, "message": "TPM limit reached", "data": None}, RateLimitedError),
        (503, {"code": 50300, "message": "busy", "data": None}, OverloadedError),
        (504, {"code": 50400, "message": "timeout", "data": None}, ProviderTimeoutError),
        (400, {"code": 20012, "message": "Model does not exist", "data": None}, ConfigurationError),
        (500, {"code": 50000, "message": "unknown", "data": None}, ServerError),
        (418, "not json at all", RequestError),
    ],
)
def test_siliconflow(status: int, body: Any, cls: type[Exception]) -> None:
    err = classify_error(provider="sf", dialect="siliconflow", status_code=status, body=body)
    assert type(err) is cls


def test_message_is_bounded_and_names_provider_and_code() -> None:
    err = classify_error(
        provider="zhipu", dialect="zhipu", status_code=429, body=zhipu("1302", "x" * 5000)
    )
    assert len(str(err)) < 600
    assert str(err).startswith("zhipu: ")
    assert "code 1302" in str(err)


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"Retry-After": "-5"}) == 0.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "soon"}, now=lambda: 0.0) is None
    date = "Wed, 21 Oct 2015 07:28:00 GMT"  # 1445412480
    assert parse_retry_after({"Retry-After": date}, now=lambda: 1445412470.0) == 10.0
    assert parse_retry_after({"Retry-After": date}) is None  # no clock, no guess


def test_openrouter_moderation_is_a_content_filter_not_a_bad_key() -> None:
    body = {"error": {"code": 403, "message": "flagged", "metadata": {"error_type": "moderation"}}}
    err = classify_error(provider="openrouter", dialect="openrouter", status_code=403, body=body)
    assert type(err) is ContentFilteredError
