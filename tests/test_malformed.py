"""Provider answers of the wrong shape are typed, failed over, counted and recorded once.

Issue 12, part 1: each body below used to escape ``Router.chat`` as an AttributeError,
TypeError, ValueError or pydantic ValidationError, skip failover and the breaker, and write
no ledger row. The providers are loopback fakes playing the body as an injected 200.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

import vlmroute
from vlmroute.testing import FakeProvider, Fault

BAD_BODIES: dict[str, Any] = {
    "choice-not-object": {"choices": [5]},
    "content-number": {"choices": [{"message": {"content": 5}}]},
    "content-part-null-text": {"choices": [{"message": {"content": [{"text": None}]}}]},
    "usage-not-number": {
        "choices": [{"message": {"content": "hi"}}],
        "usage": {"prompt_tokens": "lots"},
    },
    "message-string": {"choices": [{"message": "hi"}]},
}
HELLO = [{"role": "user", "content": "hi"}]
KEYS = {"zhipu": "k", "openrouter": "k"}


@pytest.fixture
def fakes() -> Iterator[tuple[FakeProvider, FakeProvider]]:
    with FakeProvider("zhipu") as first, FakeProvider("openrouter") as backup:
        yield first, backup


def router_over(*fakes: tuple[str, FakeProvider]) -> tuple[vlmroute.Router, vlmroute.MemoryLedger]:
    ledger = vlmroute.MemoryLedger()
    config = {
        "offers": [{"offer": name, "base_url": f.base_url} for name, f in fakes],
        "retry": {"attempts": 1},
    }
    return vlmroute.Router.from_config(config, api_keys=KEYS, ledger=ledger), ledger


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_a_body_of_the_wrong_shape_fails_over_and_is_recorded_once(
    fakes: tuple[FakeProvider, FakeProvider], name: str
) -> None:
    first, backup = fakes
    first.inject(Fault.status(200, BAD_BODIES[name]))
    router, ledger = router_over(("zhipu-flash", first), ("openrouter", backup))
    with router:
        response = router.chat(HELLO)
        failures = router.engine.health["zhipu-flash"].breaker.failures
    assert response.offer == "openrouter"
    assert [(a.offer, a.outcome) for a in response.attempts] == [
        ("zhipu-flash", "MalformedResponseError"),
        ("openrouter", "ok"),
    ]
    assert failures == 1
    assert len(ledger.rows()) == 1


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_with_no_other_offer_it_is_one_typed_error_and_one_row(
    fakes: tuple[FakeProvider, FakeProvider], name: str
) -> None:
    first, _ = fakes
    first.inject(Fault.status(200, BAD_BODIES[name]))
    router, ledger = router_over(("zhipu-flash", first))
    with router, pytest.raises(vlmroute.MalformedResponseError) as info:
        router.chat(HELLO)
    assert isinstance(info.value, vlmroute.ServerError)
    assert info.value.provider == "zhipu-flash"
    assert "shape" in str(info.value)
    [row] = ledger.rows()
    assert row.outcome == "MalformedResponseError"


def test_the_client_types_it_too(fakes: tuple[FakeProvider, FakeProvider]) -> None:
    first, _ = fakes
    first.inject(Fault.status(200, BAD_BODIES["message-string"]), times=10)  # every retry
    with (
        vlmroute.Client("zhipu-flash", api_key="k", base_url=first.base_url) as client,
        pytest.raises(vlmroute.MalformedResponseError),
    ):
        client.chat(HELLO)


STREAM_BASE = "https://zhipu.fake/api/paas/v4"


def _sse(*chunks: str) -> httpx.Response:
    text = "".join(f"data: {c}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})


def _stream_router(ledger: vlmroute.MemoryLedger) -> vlmroute.Router:
    config = {
        "offers": [{"offer": "zhipu-flash", "base_url": STREAM_BASE}],
        "retry": {"attempts": 1},
        "transport": "httpx",  # respx's
    }
    return vlmroute.Router.from_config(config, api_keys=KEYS, ledger=ledger)


def test_a_stream_chunk_of_the_wrong_shape_after_the_first_delta_is_typed() -> None:
    ledger = vlmroute.MemoryLedger()
    first = '{"id": "c", "choices": [{"index": 0, "delta": {"content": "A"}}]}'
    bad = (
        '{"id": [1], "choices": [{"index": 0, "delta": {"content": "B"}, "finish_reason": "stop"}]}'
    )
    with respx.mock(using="httpx") as mock, _stream_router(ledger) as router:
        mock.post(f"{STREAM_BASE}/chat/completions").mock(return_value=_sse(first, bad))
        events = router.stream(HELLO)
        assert isinstance(next(events), vlmroute.AnswerDelta)
        with pytest.raises(vlmroute.MalformedResponseError):
            list(events)
    [row] = ledger.rows()
    assert row.outcome == "MalformedResponseError"


@pytest.mark.parametrize(
    "chunk",
    [
        '{"choices": [{"delta": "x"}], "usage": {"prompt_tokens": "lots"}}',
        '{"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": {"total_tokens": 1,'
        ' "completion_tokens": [1]}}',
    ],
)
def test_a_stream_of_the_wrong_shape_before_any_delta_is_typed(chunk: str) -> None:
    ledger = vlmroute.MemoryLedger()
    with respx.mock(using="httpx") as mock, _stream_router(ledger) as router:
        mock.post(f"{STREAM_BASE}/chat/completions").mock(return_value=_sse(chunk))
        with pytest.raises(vlmroute.MalformedResponseError):
            list(router.stream(HELLO))
    assert len(ledger.rows()) == 1


def test_openrouter_s_in_stream_error_is_classified_by_its_http_status() -> None:
    """OpenRouter's in-stream ``error.code`` is the HTTP status (facts §2.6): a 502 there is
    a provider fault (a ServerError, which fails over), not the caller's bad request."""
    base = "https://openrouter.fake/api/v1"
    error = '{"error": {"code": 502, "message": "upstream died"}, "choices": []}'
    config = {
        "offers": [{"offer": "openrouter", "base_url": base}],
        "retry": {"attempts": 1},
        "transport": "httpx",
    }
    with respx.mock(using="httpx") as mock:
        mock.post(f"{base}/chat/completions").mock(return_value=_sse(error))
        with (
            vlmroute.Router.from_config(
                config, api_keys=KEYS, ledger=vlmroute.MemoryLedger()
            ) as router,
            pytest.raises(vlmroute.ProviderError) as info,
        ):
            list(router.stream(HELLO))
    assert info.value.status_code == 502  # OpenRouter's 502: "model down or invalid response"
    assert not isinstance(info.value, vlmroute.RequestError)
