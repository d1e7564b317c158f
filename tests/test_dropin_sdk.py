"""The drop-in is the openai SDK: its surface, the field table, hints and event loops.

Providers are respx mocks (the router's HTTP client is httpx); the drop-in's own HTTP client
never reaches respx, since its transport is the router.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import respx

import vlmroute
from vlmroute import errors as vr
from vlmroute._wire import FIELDS
from vlmroute._wire.fields import SDK_OPTIONS

ZHIPU_BASE = "https://zhipu.fake/api/paas/v4"
OPENROUTER_BASE = "https://openrouter.fake/api/v1"
LOCAL_BASE = "http://gpu.fake/v1"
ZHIPU = f"{ZHIPU_BASE}/chat/completions"
OPENROUTER = f"{OPENROUTER_BASE}/chat/completions"
LOCAL = f"{LOCAL_BASE}/chat/completions"
KEYS = {"zhipu": "k1", "openrouter": "k2"}
CONFIG: dict[str, Any] = {
    "offers": [
        {"offer": "zhipu-flash", "base_url": ZHIPU_BASE},
        {"offer": "openrouter", "base_url": OPENROUTER_BASE},
        {"offer": "local-gpu", "base_url": LOCAL_BASE},
    ],
    "ledger": False,
    "transport": "httpx",  # the transport respx sees
    "retry": {"attempts": 1},
}
HELLO: list[Any] = [{"role": "user", "content": "hi"}]


def answer(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    if body.get("stream"):
        chunks = [
            {"id": "c1", "choices": [{"index": 0, "delta": {"content": "A "}}]},
            {"id": "c1", "choices": [{"index": 0, "delta": {"content": "cat."}}]},
            {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
    message = {"role": "assistant", "content": "A cat.", "reasoning_content": "Look."}
    return httpx.Response(
        200,
        json={
            "id": "c1",
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3},
        },
    )


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(using="httpx", assert_all_called=False) as m:
        for url in (ZHIPU, OPENROUTER, LOCAL):
            m.post(url).mock(side_effect=answer)
        yield m


@pytest.fixture
def client() -> Iterator[vlmroute.OpenAI]:
    with vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as c:
        yield c


def sent(mock: respx.MockRouter, url: str) -> dict[str, Any]:
    calls = [c for c in mock.calls if str(c.request.url) == url]
    assert calls, f"nothing was sent to {url}"
    body = json.loads(calls[-1].request.content)
    assert isinstance(body, dict)
    return body


# ---------------------------------------------------------------- it is the SDK


def test_it_is_the_openai_client_with_its_surface(
    mock: respx.MockRouter, client: vlmroute.OpenAI
) -> None:
    assert isinstance(client, openai.OpenAI)
    assert client.max_retries == 0
    assert str(client.base_url) == "http://vlmroute.local/v1/"
    slow = client.with_options(timeout=12.0, max_retries=0)
    assert isinstance(slow, vlmroute.OpenAI)
    assert slow.router is client.router  # a copy shares the router, so caps are shared
    completion = slow.chat.completions.create(model="glm-4.1v-thinking", messages=HELLO)
    assert completion.choices[0].message.content == "A cat."
    with client.chat.completions.with_streaming_response.create(
        model="glm-4.1v-thinking", messages=HELLO
    ) as response:
        assert response.headers["x-vlmroute-offer"] == "zhipu-flash"
        assert response.parse().choices[0].message.content == "A cat."
    assert len(mock.calls) == 2


def test_the_field_table_decides_every_keyword_of_create() -> None:
    keywords = set(inspect.signature(openai.resources.chat.Completions.create).parameters)
    assert keywords - {"self"} == set(FIELDS) | set(SDK_OPTIONS)


def test_endpoints_it_does_not_serve_are_a_404_naming_what_it_serves(
    mock: respx.MockRouter, client: vlmroute.OpenAI
) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.embeddings.create(model="glm-4.1v-thinking", input="hi")
    assert "POST /v1/chat/completions" in info.value.message
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="glm-4.1v-thinking", input="hi")
    assert [m.id for m in client.models.list()][:2] == ["glm-4.1v-thinking", "glm-4.1v-9b-thinking"]
    assert not mock.calls


# ---------------------------------------------------------------- fields on the wire


def test_optional_fields_go_where_each_dialect_takes_them(
    mock: respx.MockRouter, client: vlmroute.OpenAI
) -> None:
    extra: dict[str, Any] = {
        "frequency_penalty": 0.5,
        "presence_penalty": 0.25,
        "logit_bias": {"7": -100},
        "user": "u-9",
        "seed": 3,
        "stop": ["\n\n"],
        "store": False,
        "metadata": {"run": "1"},
        "service_tier": "auto",
        "parallel_tool_calls": False,
        "reasoning_effort": "high",
        "prompt_cache_key": "k",
    }
    for offer in ("zhipu-flash", "openrouter", "local-gpu"):
        client.chat.completions.create(model=offer, messages=HELLO, temperature=0.4, **extra)
    zhipu, router, local = sent(mock, ZHIPU), sent(mock, OPENROUTER), sent(mock, LOCAL)
    assert zhipu["user_id"] == "u-9"
    assert not {"frequency_penalty", "presence_penalty", "logit_bias", "user"} & set(zhipu)
    for body in (router, local):
        assert body["frequency_penalty"] == 0.5
        assert body["presence_penalty"] == 0.25
        assert body["logit_bias"] == {"7": -100}
        assert body["user"] == "u-9"
    for body in (zhipu, router, local):
        assert (body["temperature"], body["seed"], body["stop"]) == (0.4, 3, ["\n\n"])
        ignored = {"store", "metadata", "service_tier", "parallel_tool_calls", "reasoning_effort"}
        assert not ignored & set(body)


def test_json_mode_routes_only_to_offers_that_take_it(
    mock: respx.MockRouter, client: vlmroute.OpenAI
) -> None:
    completion = client.chat.completions.create(
        model="glm-4.1v-thinking", messages=HELLO, response_format={"type": "json_object"}
    )
    assert vlmroute.routing(completion) is not None
    assert sent(mock, LOCAL)["response_format"] == {"type": "json_object"}
    assert [str(c.request.url) for c in mock.calls] == [LOCAL]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="zhipu-flash", messages=HELLO, response_format={"type": "json_object"}
        )
    assert info.value.param == "response_format"
    assert "MD_JSON" in info.value.message


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"function_call": {"name": "f"}}, "function_call"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"extra_body": {"vlmroute": {"providers": "openrouter"}}}, "providers"),
        ({"extra_body": {"vlmroute": {"deadline_s": -1}}}, "deadline_s"),
        ({"extra_body": {"vlmroute": {"nope": 1}}}, "vlmroute"),
    ],
)
def test_refused_fields_name_themselves_before_anything_is_sent(
    mock: respx.MockRouter, client: vlmroute.OpenAI, arguments: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="glm-4.1v-thinking", messages=HELLO, **arguments)
    assert info.value.param == param
    assert not mock.calls


@pytest.mark.parametrize(
    "message",
    [
        {"role": "user", "content": [{"type": "image", "image": "/etc/passwd"}]},
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]},
        {"role": "user", "content": [{"type": "video_url", "video_url": {"url": "file:///x"}}]},
        {"role": "tool", "content": "x"},
        "hi",
    ],
)
def test_nothing_from_the_wire_can_name_a_local_file_or_an_odd_part(
    mock: respx.MockRouter, client: vlmroute.OpenAI, message: Any
) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="glm-4.1v-thinking", messages=[message])
    assert not mock.calls


def test_routing_hints_in_extra_body_and_headers(
    mock: respx.MockRouter, client: vlmroute.OpenAI
) -> None:
    by_body = client.chat.completions.create(
        model="glm-4.1v-thinking",
        messages=HELLO,
        extra_body={"vlmroute": {"providers": ["openrouter"], "deadline_s": 30}},
    )
    by_header = client.chat.completions.create(
        model="glm-4.1v-thinking",
        messages=HELLO,
        extra_headers={"x-vlmroute-exclude": "zhipu-flash, local-gpu"},
    )
    for completion in (by_body, by_header):
        routed = vlmroute.routing(completion)
        assert routed is not None
        assert routed["offer"] == "openrouter"
    assert "vlmroute" not in sent(mock, OPENROUTER)
    assert "x-vlmroute-exclude" not in mock.calls[-1].request.headers


def test_an_error_after_the_first_delta_raises_in_the_iteration(
    mock: respx.MockRouter, client: vlmroute.OpenAI
) -> None:
    broken = 'data: {"id":"c","choices":[{"index":0,"delta":{"content":"A"}}]}\n\ndata: {"error'
    mock.post(ZHIPU).respond(200, text=broken, headers={"content-type": "text/event-stream"})
    stream = client.chat.completions.create(model="zhipu-flash", messages=HELLO, stream=True)
    first = next(iter(stream))
    assert first.choices[0].delta.content == "A"
    with pytest.raises(openai.APIError) as info:
        list(stream)
    assert isinstance(info.value.body, dict)
    assert info.value.body["vlmroute"] == "MalformedResponseError"


# ---------------------------------------------------------------- event loops and threads


def test_an_async_client_survives_a_second_asyncio_run(mock: respx.MockRouter) -> None:
    client = vlmroute.AsyncOpenAI(config=CONFIG, api_keys=KEYS)

    async def ask() -> str | None:
        completion = await client.chat.completions.create(model="zhipu-flash", messages=HELLO)
        return completion.choices[0].message.content

    first_router = client.router
    assert asyncio.run(ask()) == "A cat."
    assert asyncio.run(ask()) == "A cat."  # a new loop: the router is built afresh there
    assert client.router is not first_router
    asyncio.run(client.close())


def test_a_router_passed_in_cannot_follow_to_another_loop(mock: respx.MockRouter) -> None:
    router = vlmroute.AsyncRouter.from_config(CONFIG, api_keys=KEYS)
    client = vlmroute.AsyncOpenAI(router=router)

    async def ask() -> None:
        await client.chat.completions.create(model="zhipu-flash", messages=HELLO)

    asyncio.run(ask())
    with pytest.raises(openai.APIConnectionError, match="one client per event loop"):
        asyncio.run(ask())

    asyncio.run(router.aclose())  # yours to close; its pool was on a loop that is gone


def test_a_loop_still_running_elsewhere_is_a_clear_error(mock: respx.MockRouter) -> None:
    client = vlmroute.AsyncOpenAI(config=CONFIG, api_keys=KEYS)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def ask() -> str | None:
        completion = await client.chat.completions.create(model="zhipu-flash", messages=HELLO)
        return completion.choices[0].message.content

    try:
        assert asyncio.run_coroutine_threadsafe(ask(), loop).result(10) == "A cat."
        with pytest.raises(openai.APIConnectionError, match="still running in another thread"):
            asyncio.run(ask())
        asyncio.run(client.close())  # closes the router on its own loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_the_sync_client_from_many_threads_keeps_the_cap(mock: respx.MockRouter) -> None:
    in_flight, peak = 0, 0
    lock = threading.Lock()

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        with lock:
            in_flight -= 1
        return answer(request)

    mock.post(ZHIPU).mock(side_effect=slow)
    config = {**CONFIG, "offers": [{"offer": "zhipu-flash", "base_url": ZHIPU_BASE, "cap": 2}]}
    errors: list[BaseException] = []
    with vlmroute.OpenAI(config=config, api_keys=KEYS) as client:

        def work() -> None:
            try:
                client.chat.completions.create(model="zhipu-flash", messages=HELLO)
            except BaseException as exc:  # collected, and asserted on below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
    assert peak == 2
    assert len(mock.calls) == 8


def test_a_foreign_http_client_is_refused_by_name() -> None:
    with pytest.raises(vr.ConfigurationError, match="http_client"):
        vlmroute.OpenAI(config=CONFIG, api_keys=KEYS, http_client=httpx.Client())


def test_an_untyped_failure_underneath_is_a_500_not_a_traceback(
    mock: respx.MockRouter, client: vlmroute.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider's 200 of the wrong shape (issue 12 types these) still reaches the app as
    an openai error with no traceback in it."""
    mock.post(ZHIPU).respond(200, json={"choices": [5]})
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="zhipu-flash", messages=HELLO)
    assert "Traceback" not in info.value.message
    assert info.value.status_code in (500, 502)
