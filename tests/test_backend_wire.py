"""The typed client at the HTTP edge: the exact JSON and headers each dialect sends, the
typed results and stream events it returns, every error mapping, retries, input validation
before any I/O, the sync twin, and local server health. Providers are mocked with respx."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

import httpx
import pytest
import respx

import vlmroute
from vlmroute import (
    AnswerDelta,
    AspectRatioError,
    AsyncClient,
    AuthenticationError,
    BackendOptions,
    ChatResponse,
    Client,
    ConfigurationError,
    ContentFilteredError,
    ContextTooLongError,
    ImageError,
    InsufficientBalanceError,
    MalformedResponseError,
    Money,
    OverloadedError,
    ProviderConnectionError,
    ProviderTimeoutError,
    RateLimitedError,
    ReasoningDelta,
    RequestError,
    RetryPolicy,
    ServerError,
    ServerHealth,
    ServerLoad,
    StreamEnd,
    StreamEvent,
    Timeouts,
    UnreadableImageError,
    VideoError,
    VlmrouteError,
)
from vlmroute import _client as client_module
from vlmroute._retry import run_with_retries

_T = TypeVar("_T")

KEY = "sk-wire-KEY-77e1"
ZHIPU = "https://open.bigmodel.cn/api/paas/v4/chat/completions"
OPENROUTER = "https://openrouter.ai/api/v1/chat/completions"
SILICONFLOW = "https://api.siliconflow.cn/v1/chat/completions"
LOCAL_ROOT = "http://127.0.0.1:8000"
LOCAL = f"{LOCAL_ROOT}/v1/chat/completions"
URLS = {
    "zhipu-flash": ZHIPU,
    "zhipu-flashx": ZHIPU,
    "openrouter": OPENROUTER,
    "siliconflow": SILICONFLOW,
    "local-gpu": LOCAL,
}
MODELS = {
    "zhipu-flash": "glm-4.1v-thinking-flash",
    "zhipu-flashx": "glm-4.1v-thinking-flashx",
    "openrouter": "thudm/glm-4.1v-9b-thinking",
    "siliconflow": "THUDM/GLM-4.1V-9B-Thinking",
    "local-gpu": "zai-org/GLM-4.1V-9B-Thinking",
}
OFFERS = tuple(URLS)

PHOTO = Path(__file__).resolve().parents[1] / "examples" / "photo.png"  # 640x480 PNG
PNG = PHOTO.read_bytes()
PNG_B64 = base64.b64encode(PNG).decode()
PNG_URI = f"data:image/png;base64,{PNG_B64}"
CAT_URL = "https://example.com/cat.jpg"
VIDEO_B64 = base64.b64encode(b"\x00\x00\x00\x18ftypmp42 fake video").decode()
VIDEO_URI = f"data:video/mp4;base64,{VIDEO_B64}"
VIDEO_URL = "https://example.com/clip.mp4"

HELLO = [{"role": "user", "content": "hi"}]
PRICING = vlmroute.load_pricing()  # parsed once: the client takes a table
NO_RETRY = RetryPolicy(attempts=1)
FAST_RETRY = RetryPolicy(attempts=3, initial_backoff_s=0, max_backoff_s=0)


# ---------------------------------------------------------------- helpers


pytestmark = pytest.mark.usefixtures("no_env_keys")


#: respx mocks httpx: these tests send through ``transport="httpx"`` (the default, aiohttp,
#: is checked against loopback servers in tests/test_edges.py).
HX: Literal["httpx"] = "httpx"


def run(make: Callable[[], Awaitable[_T]]) -> _T:
    return asyncio.run(make())  # type: ignore[arg-type]


def make_client(offer: str = "zhipu-flash", **kwargs: Any) -> AsyncClient:
    if offer != "local-gpu":
        kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("retry", NO_RETRY)
    kwargs.setdefault("pricing", PRICING)
    kwargs.setdefault("transport", "httpx")  # the transport respx sees
    if offer.startswith("siliconflow"):
        kwargs.setdefault("allow_retired", True)
    return AsyncClient(offer, **kwargs)


def chat(
    offer: str = "zhipu-flash",
    messages: Any = HELLO,
    *,
    client_kwargs: Mapping[str, Any] | None = None,
    **params: Any,
) -> ChatResponse:
    async def go() -> ChatResponse:
        async with make_client(offer, **(client_kwargs or {})) as client:
            return await client.chat(messages, **params)

    return run(go)


def stream(
    offer: str = "zhipu-flash",
    messages: Any = HELLO,
    *,
    client_kwargs: Mapping[str, Any] | None = None,
    **params: Any,
) -> list[StreamEvent]:
    async def go() -> list[StreamEvent]:
        async with make_client(offer, **(client_kwargs or {})) as client:
            return [event async for event in client.stream(messages, **params)]

    return run(go)


def stream_until_error(
    offer: str, messages: Any = HELLO, **client_kwargs: Any
) -> tuple[list[StreamEvent], BaseException]:
    """The events a stream yielded before it raised, and what it raised."""
    events: list[StreamEvent] = []

    async def go() -> BaseException:
        async with make_client(offer, **client_kwargs) as client:
            try:
                async for event in client.stream(messages):
                    events.append(event)
            except VlmrouteError as exc:
                return exc
        raise AssertionError("the stream did not fail")

    error = run(go)
    return events, error


def chat_error(offer: str = "zhipu-flash", **client_kwargs: Any) -> VlmrouteError:
    with pytest.raises(VlmrouteError) as info:
        chat(offer, client_kwargs=client_kwargs)
    return info.value


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    body = json.loads(route.calls[index].request.content)
    assert isinstance(body, dict)
    return body


def completion(
    message: Mapping[str, Any],
    *,
    usage: Mapping[str, Any] | None = None,
    finish_reason: str = "stop",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model": "served-model",
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": dict(message)}],
        "usage": dict(usage)
        if usage is not None
        else {"prompt_tokens": 10, "completion_tokens": 5},
        **extra,
    }


OK = completion({"role": "assistant", "content": "A cat.", "reasoning_content": "Whiskers."})


def sse(*chunks: Mapping[str, Any] | str, done: bool = True) -> httpx.Response:
    """An SSE body: each mapping as one ``data:`` event, each string as a raw line."""
    parts = [c + "\n" if isinstance(c, str) else f"data: {json.dumps(c)}\n\n" for c in chunks]
    if done:
        parts.append("data: [DONE]\n\n")
    return httpx.Response(
        200, content="".join(parts).encode(), headers={"content-type": "text/event-stream"}
    )


def delta(
    fields: Mapping[str, Any], finish: str | None = None, usage: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": "chunk-1",
        "model": "served-model",
        "choices": [{"index": 0, "delta": dict(fields), "finish_reason": finish}],
    }
    if usage is not None:
        chunk["usage"] = dict(usage)
    return chunk


def texts(events: Sequence[StreamEvent]) -> list[tuple[str, str]]:
    return [(e.kind, e.text) for e in events if isinstance(e, ReasoningDelta | AnswerDelta)]


def final(events: Sequence[StreamEvent]) -> ChatResponse:
    assert isinstance(events[-1], StreamEnd)
    assert sum(isinstance(e, StreamEnd) for e in events) == 1
    return events[-1].response


# ---------------------------------------------------------------- what each dialect sends

MULTIMODAL: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": PNG_URI, "detail": "high"}},
            {"type": "image_url", "image_url": {"url": CAT_URL}},
            {"type": "text", "text": "Compare them."},
        ],
    },
]


def image_parts(offer: str) -> list[dict[str, Any]]:
    # Zhipu gets raw base64 (what both official SDKs send); everyone else the data URI.
    inline = PNG_B64 if offer.startswith("zhipu") else PNG_URI
    return [
        {"type": "image_url", "image_url": {"url": inline, "detail": "high"}},
        {"type": "image_url", "image_url": {"url": CAT_URL}},
        {"type": "text", "text": "Compare them."},
    ]


@pytest.mark.parametrize("offer", OFFERS)
def test_each_dialect_posts_the_exact_body_and_headers(mock: respx.MockRouter, offer: str) -> None:
    route = mock.post(URLS[offer]).respond(200, json=OK)
    chat(
        offer,
        MULTIMODAL,
        max_tokens=1234,
        temperature=0.3,
        top_p=0.9,
        stop="END",
        seed=7,
    )
    assert route.call_count == 1
    expected: dict[str, Any] = {
        "model": MODELS[offer],
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": image_parts(offer)},
        ],
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 1234,
        "seed": 7,
        "stop": ["END"],
    }
    if offer == "local-gpu":
        expected["skip_special_tokens"] = False  # keeps <think> when no reasoning parser runs
    assert sent(route) == expected
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    if offer == "local-gpu":
        assert "authorization" not in request.headers  # no key configured, none sent
    else:
        assert request.headers["authorization"] == f"Bearer {KEY}"


def test_default_bodies_carry_no_reasoning_switches(mock: respx.MockRouter) -> None:
    """GLM-4.1V always thinks: no Zhipu ``thinking`` (GLM-4.5+ only), no OpenRouter
    ``reasoning``/``include_reasoning`` (reasoning is returned by default)."""
    zhipu = mock.post(ZHIPU).respond(200, json=OK)
    openrouter = mock.post(OPENROUTER).respond(200, json=OK)
    chat("zhipu-flash")
    chat("openrouter")
    assert sent(zhipu) == {"model": "glm-4.1v-thinking-flash", "messages": HELLO}
    assert sent(openrouter) == {"model": "thudm/glm-4.1v-9b-thinking", "messages": HELLO}


@pytest.mark.parametrize("offer", OFFERS)
@pytest.mark.parametrize("source", ["uri", "url"])
def test_video_parts_per_dialect(mock: respx.MockRouter, offer: str, source: str) -> None:
    route = mock.post(URLS[offer]).respond(200, json=OK)
    url = VIDEO_URI if source == "uri" else VIDEO_URL
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "video_url", "video_url": {"url": url}},
                {"type": "text", "text": "What happens?"},
            ],
        }
    ]
    chat(offer, messages)
    expected_url = VIDEO_B64 if (offer.startswith("zhipu") and source == "uri") else url
    assert sent(route)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "video_url", "video_url": {"url": expected_url}},
                {"type": "text", "text": "What happens?"},
            ],
        }
    ]


def test_image_shortcuts_become_data_uris_with_the_measured_size(
    mock: respx.MockRouter,
) -> None:
    boxed = completion(
        {"role": "assistant", "content": "<|begin_of_box|>[500,500,1000,1000]<|end_of_box|>"}
    )
    route = mock.post(OPENROUTER).respond(200, json=boxed)
    messages = [
        vlmroute.user("First?", PNG),
        {
            "role": "user",
            "content": [{"type": "image", "image": str(PHOTO)}, {"type": "text", "text": "?"}],
        },
    ]
    reply = chat("openrouter", messages)
    body = sent(route)
    assert body["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": PNG_URI}},
        {"type": "text", "text": "First?"},
    ]
    assert body["messages"][1]["content"][0] == {"type": "image_url", "image_url": {"url": PNG_URI}}
    # the measured 640x480 size reaches the response: boxes are relative to it
    assert reply.boxes[0].pixels == ((320.0, 240.0, 640.0, 480.0),)


@pytest.mark.parametrize("offer", OFFERS)
def test_stream_flag_and_stream_options(mock: respx.MockRouter, offer: str) -> None:
    route = mock.post(URLS[offer]).mock(
        return_value=sse(delta({"content": "ok"}, "stop", usage={"prompt_tokens": 1}))
    )
    stream(offer, max_tokens=64)
    body = sent(route)
    assert body["stream"] is True
    assert body["max_tokens"] == 64
    if offer == "local-gpu":
        # vLLM/SGLang send usage in a stream only when asked
        assert body["stream_options"] == {"include_usage": True}
    else:
        assert "stream_options" not in body


def test_zhipu_temperature_zero_is_greedy_decoding(mock: respx.MockRouter) -> None:
    route = mock.post(ZHIPU).respond(200, json=OK)
    chat("zhipu-flashx", temperature=0)
    body = sent(route)
    assert body["do_sample"] is False
    assert "temperature" not in body


def test_temperature_zero_is_sent_as_is_elsewhere(mock: respx.MockRouter) -> None:
    route = mock.post(OPENROUTER).respond(200, json=OK)
    chat("openrouter", temperature=0)
    assert sent(route)["temperature"] == 0
    assert "do_sample" not in sent(route)


def test_openrouter_attribution_headers_and_extras(mock: respx.MockRouter) -> None:
    route = mock.post(OPENROUTER).respond(200, json=OK)
    options = BackendOptions(
        app_url="https://myapp.example",
        app_title="My App",
        extra_headers={"X-Trace": "t-1"},
        extra_body={"provider": {"order": ["novita"]}, "reasoning": {"effort": "low"}},
    )
    chat(
        "openrouter",
        client_kwargs={"options": options},
        extra_body={"reasoning": {"effort": "high"}, "include_reasoning": True},
    )
    headers = route.calls.last.request.headers
    assert headers["http-referer"] == "https://myapp.example"
    assert headers["x-openrouter-title"] == "My App"
    assert headers["x-trace"] == "t-1"
    assert headers["authorization"] == f"Bearer {KEY}"
    body = sent(route)
    assert body["provider"] == {"order": ["novita"]}
    assert body["reasoning"] == {"effort": "high"}  # the request's extra wins over the offer's
    assert body["include_reasoning"] is True


def test_siliconflow_thinking_controls_pass_through(mock: respx.MockRouter) -> None:
    route = mock.post(SILICONFLOW).respond(200, json=OK)
    chat("siliconflow", extra_body={"enable_thinking": True, "thinking_budget": 4096})
    assert sent(route) == {
        "model": "THUDM/GLM-4.1V-9B-Thinking",
        "messages": HELLO,
        "enable_thinking": True,
        "thinking_budget": 4096,
    }


def test_local_key_base_url_and_model_overrides(mock: respx.MockRouter) -> None:
    route = mock.post("http://gpu-1:9000/v1/chat/completions").respond(200, json=OK)
    chat(
        "local-gpu",
        client_kwargs={"api_key": "local-key", "base_url": "http://gpu-1:9000/v1/", "model": "glm"},
    )
    assert route.calls.last.request.headers["authorization"] == "Bearer local-key"
    assert sent(route)["model"] == "glm"


ZAI = "https://api.z.ai/api/paas/v4/chat/completions"


@pytest.mark.parametrize(
    ("env", "region", "url", "key"),
    [
        ({"ZHIPUAI_API_KEY": "cn-key"}, None, ZHIPU, "cn-key"),
        ({"ZAI_API_KEY": "intl-key"}, None, ZAI, "intl-key"),  # a z.ai key goes to z.ai
        ({"ZHIPUAI_API_KEY": "cn-key", "ZAI_API_KEY": "intl-key"}, None, ZHIPU, "cn-key"),
        ({"ZHIPUAI_API_KEY": "cn-key", "ZAI_API_KEY": "intl-key"}, "intl", ZAI, "intl-key"),
        ({"ZAI_API_KEY": "intl-key"}, "cn", ZHIPU, "intl-key"),  # asked for: a 401 will say
    ],
)
def test_the_key_variable_or_the_region_picks_zhipus_endpoint(
    mock: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    *,
    env: dict[str, str],
    region: str | None,
    url: str,
    key: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    route = mock.post(url).respond(200, json=OK)

    async def go() -> None:
        async with AsyncClient(
            "zhipu-flash", region=region, retry=NO_RETRY, pricing=PRICING, transport="httpx"
        ) as client:
            await client.chat(HELLO)

    run(go)
    assert route.calls.last.request.headers["authorization"] == f"Bearer {key}"


def test_an_unknown_region_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"no region 'eu': it has cn, intl"):
        AsyncClient("zhipu-flash", api_key="k", region="eu", pricing=PRICING)
    with pytest.raises(ConfigurationError, match=r"no region 'intl': it has none but"):
        AsyncClient("openrouter", api_key="k", region="intl", pricing=PRICING)


def test_a_router_offer_takes_a_region(mock: respx.MockRouter) -> None:
    route = mock.post(ZAI).respond(200, json=OK)
    config = {
        "offers": [{"offer": "zhipu-flashx", "region": "intl"}],
        "ledger": False,
        "transport": "httpx",
    }

    async def go() -> None:
        async with vlmroute.AsyncRouter.from_config(config, api_keys={"zhipu": "k"}) as router:
            await router.chat(HELLO)

    run(go)
    assert route.call_count == 1


# ---------------------------------------------------------------- parsing results


def test_zhipu_reasoning_content_answer_markup_boxes_usage_and_cost(
    mock: respx.MockRouter,
) -> None:
    body = completion(
        {
            "role": "assistant",
            "content": "<answer>The cat is at <|begin_of_box|>[100, 200, 300, 400]<|end_of_box|>"
            "</answer>",
            "reasoning_content": "I see a cat on the left.",
        },
        usage={
            "prompt_tokens": 1000,
            "completion_tokens": 500,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 40},
            "completion_tokens_details": {"reasoning_tokens": 300},
        },
        request_id="req-zhipu-1",
    )
    mock.post(ZHIPU).respond(200, json=body)
    reply = chat("zhipu-flashx", [vlmroute.user("Where is the cat?", PNG)])
    assert reply.reasoning == "I see a cat on the left."
    assert reply.answer == "The cat is at [100, 200, 300, 400]"
    assert len(reply.boxes) == 1
    assert reply.boxes[0].normalized == ((100.0, 200.0, 300.0, 400.0),)
    assert reply.boxes[0].pixels == ((64.0, 96.0, 192.0, 192.0),)  # 640x480 image
    assert reply.usage.prompt_tokens == 1000
    assert reply.usage.completion_tokens == 500
    assert reply.usage.cached_tokens == 40
    assert reply.usage.reasoning_tokens == 300
    assert reply.usage.cost is None
    assert reply.cost == Money(Decimal("0.003"), "CNY")  # (1000 + 500) x 2 CNY / M
    assert reply.provider == "zhipu"
    assert reply.offer == "zhipu-flashx"
    assert reply.model == "served-model"
    assert reply.finish_reason == "stop"
    assert reply.request_id == "req-zhipu-1"
    assert reply.latency_s is not None
    assert reply.latency_s >= 0
    assert [(a.offer, a.outcome) for a in reply.attempts] == [("zhipu-flashx", "ok")]


def test_zhipu_flash_is_free(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).respond(200, json=OK)
    assert chat("zhipu-flash").cost == Money(Decimal(0), "CNY")


def test_openrouter_reasoning_field_and_reported_cost(mock: respx.MockRouter) -> None:
    body = completion(
        {"role": "assistant", "content": "Two cats.", "reasoning": "Counting: one, two."},
        usage={"prompt_tokens": 1000, "completion_tokens": 500, "cost": 0.00042},
    )
    mock.post(OPENROUTER).respond(200, json=body, headers={"x-generation-id": "gen-9"})
    reply = chat("openrouter")
    assert reply.reasoning == "Counting: one, two."
    assert reply.answer == "Two cats."
    assert reply.usage.cost == Decimal("0.00042")
    assert reply.cost == Money(Decimal("0.00042"), "USD")  # the provider's charge wins
    assert reply.request_id == "gen-9"


def test_openrouter_cost_from_the_table_when_not_reported(mock: respx.MockRouter) -> None:
    body = completion(
        {"role": "assistant", "content": "x"},
        usage={"prompt_tokens": 1000, "completion_tokens": 500},
    )
    mock.post(OPENROUTER).respond(200, json=body)
    # 1000 x 0.035 / M + 500 x 0.138 / M
    assert chat("openrouter").cost == Money(Decimal("0.000104"), "USD")


def test_openrouter_reasoning_details(mock: respx.MockRouter) -> None:
    body = completion(
        {
            "role": "assistant",
            "content": "Yes.",
            "reasoning_details": [
                {"type": "reasoning.text", "text": "Step one. "},
                {"type": "reasoning.encrypted", "data": "opaque"},
                {"type": "reasoning.text", "text": "Step two."},
            ],
        }
    )
    mock.post(OPENROUTER).respond(200, json=body)
    reply = chat("openrouter")
    assert reply.reasoning == "Step one. Step two."
    assert reply.answer == "Yes."


def test_siliconflow_reasoning_content(mock: respx.MockRouter) -> None:
    body = completion({"role": "assistant", "content": "\nBlue.", "reasoning_content": "Sky."})
    mock.post(SILICONFLOW).respond(200, json=body)
    reply = chat("siliconflow")
    assert (reply.reasoning, reply.answer) == ("Sky.", "Blue.")


def test_local_inline_think_and_answer_tags(mock: respx.MockRouter) -> None:
    body = completion(
        {
            "role": "assistant",
            "content": "<think>\nA red ball.\n</think><answer>A <|begin_of_box|>ball<|end_of_box|>"
            "</answer>",
        },
        usage={"prompt_tokens": 2000, "completion_tokens": 1000},
    )
    mock.post(LOCAL).respond(200, json=body)
    reply = chat("local-gpu")
    assert reply.reasoning == "A red ball."
    assert reply.answer == "A ball"
    assert reply.boxes[0].text == "ball"
    assert reply.boxes[0].normalized == ()
    offer = PRICING.offer("local-gpu")
    assert reply.cost == offer.cost(2000, 1000)
    assert reply.cost is not None
    assert reply.cost.currency == "USD"
    assert reply.cost.amount > 0


def test_local_new_vllm_reasoning_field(mock: respx.MockRouter) -> None:
    body = completion({"role": "assistant", "content": "B", "reasoning": "Think."})
    mock.post(LOCAL).respond(200, json=body)
    reply = chat("local-gpu")
    assert (reply.reasoning, reply.answer) == ("Think.", "B")


def test_cut_off_while_thinking(mock: respx.MockRouter) -> None:
    body = completion(
        {"role": "assistant", "content": "<think>Still looking at the"}, finish_reason="length"
    )
    mock.post(LOCAL).respond(200, json=body)
    reply = chat("local-gpu")
    assert reply.reasoning == "Still looking at the"
    assert reply.answer == ""
    assert reply.finish_reason == "length"


# ---------------------------------------------------------------- streaming


def test_zhipu_stream_separates_reasoning_and_answer(mock: respx.MockRouter) -> None:
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "completion_tokens_details": {"reasoning_tokens": 120},
    }
    route = mock.post(ZHIPU).mock(
        return_value=sse(
            delta({"role": "assistant", "reasoning_content": "Look"}),
            delta({"reasoning_content": "ing."}),
            delta({"content": "A "}),
            delta({"content": "cat."}),
            delta({}, "stop", usage=usage),
        )
    )
    events = stream("zhipu-flashx")
    assert route.call_count == 1
    assert texts(events) == [
        ("reasoning", "Look"),
        ("reasoning", "ing."),
        ("answer", "A "),
        ("answer", "cat."),
    ]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.finish_reason == "stop"
    assert end.usage.prompt_tokens == 1000
    assert end.usage.completion_tokens == 500
    assert end.usage.reasoning_tokens == 120
    reply = end.response
    assert (reply.reasoning, reply.answer) == ("Looking.", "A cat.")
    assert reply.cost == Money(Decimal("0.003"), "CNY")
    assert reply.offer == "zhipu-flashx"
    assert [a.outcome for a in reply.attempts] == ["ok"]


def test_openrouter_stream_skips_keepalive_comments_and_reports_cost(
    mock: respx.MockRouter,
) -> None:
    mock.post(OPENROUTER).mock(
        return_value=sse(
            ": OPENROUTER PROCESSING",
            "",
            delta({"reasoning": "Hmm."}),
            ": OPENROUTER PROCESSING",
            "",
            delta({"content": "Dog."}),
            delta({}, "stop", usage={"prompt_tokens": 10, "completion_tokens": 20, "cost": 0.0001}),
        )
    )
    events = stream("openrouter")
    assert texts(events) == [("reasoning", "Hmm."), ("answer", "Dog.")]
    reply = final(events)
    assert reply.cost == Money(Decimal("0.0001"), "USD")
    assert (reply.reasoning, reply.answer) == ("Hmm.", "Dog.")


def test_local_stream_splits_think_tags_cut_across_chunks(mock: respx.MockRouter) -> None:
    usage_chunk = {
        "id": "c",
        "model": "m",
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 9},
    }
    mock.post(LOCAL).mock(
        return_value=sse(
            delta({"content": "<thi"}),
            delta({"content": "nk>Red"}),
            delta({"content": " ball</th"}),
            delta({"content": "ink><answer>"}),
            delta({"content": "A ball"}),
            delta({"content": "</answer>"}, "stop"),
            usage_chunk,
        )
    )
    events = stream("local-gpu")
    got = texts(events)
    assert "".join(t for k, t in got if k == "reasoning") == "Red ball"
    assert "".join(t for k, t in got if k == "answer") == "A ball"
    assert all("<" not in t for _, t in got)  # no tag fragments leak into deltas
    reply = final(events)
    assert (reply.reasoning, reply.answer) == ("Red ball", "A ball")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (7, 9)


def test_a_stream_cut_short_is_a_server_error_after_the_deltas(mock: respx.MockRouter) -> None:
    route = mock.post(ZHIPU).mock(return_value=sse(delta({"content": "Half"}), done=False))
    events, error = stream_until_error("zhipu-flash", retry=FAST_RETRY)
    assert texts(events) == [("answer", "Half")]
    assert type(error) is ServerError
    assert error.status_code == 200
    assert "cut short" in str(error)
    assert route.call_count == 1  # never retried once a delta was out


def test_openrouter_in_stream_error_is_typed(mock: respx.MockRouter) -> None:
    error_chunk = {
        "id": "gen-1",
        "error": {
            "code": 502,
            "message": "Upstream overloaded",
            "metadata": {"error_type": "provider_overloaded"},
        },
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    }
    mock.post(OPENROUTER).mock(return_value=sse(delta({"content": "Par"}), error_chunk))
    events, error = stream_until_error("openrouter")
    assert texts(events) == [("answer", "Par")]
    assert type(error) is OverloadedError
    assert error.status_code == 502  # OpenRouter's in-stream code is the HTTP status
    assert error.provider == "openrouter"
    assert "Upstream overloaded" in str(error)


def test_zhipu_in_stream_content_filter(mock: respx.MockRouter) -> None:
    error_chunk = {"error": {"code": "1301", "message": "unsafe content"}}
    mock.post(ZHIPU).mock(return_value=sse(delta({"reasoning_content": "Hm"}), error_chunk))
    events, error = stream_until_error("zhipu-flash")
    assert texts(events) == [("reasoning", "Hm")]
    assert type(error) is ContentFilteredError
    assert error.provider_code == "1301"


def test_a_stream_refused_before_any_delta_raises_the_typed_error(
    mock: respx.MockRouter,
) -> None:
    mock.post(ZHIPU).respond(401, json={"error": {"code": "1002", "message": "bad token"}})
    events, error = stream_until_error("zhipu-flash")
    assert events == []
    assert type(error) is AuthenticationError
    assert (error.status_code, error.provider_code) == (401, "1002")


def test_a_stream_is_retried_before_its_first_delta(mock: respx.MockRouter) -> None:
    route = mock.post(ZHIPU)
    route.side_effect = [
        httpx.Response(503, json={"error": {"code": "1305", "message": "busy"}}),
        sse(delta({"content": "Fine."}, "stop")),
    ]
    events = stream("zhipu-flash", client_kwargs={"retry": FAST_RETRY})
    assert route.call_count == 2
    assert texts(events) == [("answer", "Fine.")]
    reply = final(events)
    assert [a.outcome for a in reply.attempts] == ["OverloadedError", "ok"]
    assert reply.attempts[0].status_code == 503


# ---------------------------------------------------------------- error mapping


def zerr(code: str, message: str = "provider says no") -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def orerr(status: int, error_type: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": "nope", "metadata": {"error_type": error_type}}}


def sferr(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "data": None}


class ErrorCase(NamedTuple):
    id: str
    offer: str
    status: int
    body: Any  # JSON, or a str sent as text
    cls: type[Exception]
    code: str | None = None
    headers: Mapping[str, str] = {}
    retry_after: float | None = None


E = ErrorCase
ERRORS = [
    E("zhipu-401-1002", "zhipu-flash", 401, zerr("1002"), AuthenticationError, "1002"),
    E("zhipu-401-1000", "zhipu-flash", 401, zerr("1000"), AuthenticationError, "1000"),
    E("zhipu-403-1121", "zhipu-flash", 403, zerr("1121"), AuthenticationError, "1121"),
    E("plain-401", "zhipu-flash", 401, "Unauthorized", AuthenticationError),
    E("plain-403", "zhipu-flash", 403, "", AuthenticationError),
    E("zhipu-429-1302", "zhipu-flash", 429, zerr("1302"), RateLimitedError, "1302"),
    E(
        "zhipu-429-1302-retry-after",
        "zhipu-flashx",
        429,
        zerr("1302"),
        RateLimitedError,
        "1302",
        {"Retry-After": "3"},
        3.0,
    ),
    E("zhipu-429-1303", "zhipu-flash", 429, zerr("1303"), RateLimitedError, "1303"),
    E("zhipu-429-1113", "zhipu-flashx", 429, zerr("1113"), InsufficientBalanceError, "1113"),
    E("zhipu-429-1304", "zhipu-flash", 429, zerr("1304"), InsufficientBalanceError, "1304"),
    E("zhipu-429-1305", "zhipu-flash", 429, zerr("1305"), OverloadedError, "1305"),
    E("zhipu-429-1312", "zhipu-flash", 429, zerr("1312"), OverloadedError, "1312"),
    E("zhipu-400-1261", "zhipu-flash", 400, zerr("1261"), ContextTooLongError, "1261"),
    E("zhipu-400-1301", "zhipu-flash", 400, zerr("1301"), ContentFilteredError, "1301"),
    E("zhipu-500-500", "zhipu-flash", 500, zerr("500"), ServerError, "500"),
    E("plain-500", "zhipu-flash", 500, "Internal Server Error", ServerError),
    E("plain-599", "zhipu-flash", 599, "", ServerError),
    E("plain-502", "zhipu-flash", 502, "Bad Gateway", OverloadedError),
    E("plain-503", "zhipu-flash", 503, "", OverloadedError),
    E("plain-529", "zhipu-flash", 529, "", OverloadedError),
    E("plain-504", "zhipu-flash", 504, "", ProviderTimeoutError),
    E("plain-408", "zhipu-flash", 408, "", ProviderTimeoutError),
    E("plain-413", "zhipu-flash", 413, "", ContextTooLongError),
    E("plain-402", "zhipu-flash", 402, "", InsufficientBalanceError),
    # OpenRouter: error.metadata.error_type decides; provider_code is its error.code
    E(
        "or-400-ctx",
        "openrouter",
        400,
        orerr(400, "context_length_exceeded"),
        ContextTooLongError,
        "400",
    ),
    E(
        "or-400-max",
        "openrouter",
        400,
        orerr(400, "max_tokens_exceeded"),
        ContextTooLongError,
        "400",
    ),
    E("or-401", "openrouter", 401, orerr(401, "authentication"), AuthenticationError, "401"),
    E("or-402", "openrouter", 402, orerr(402, "payment_required"), InsufficientBalanceError, "402"),
    E("or-403-mod", "openrouter", 403, orerr(403, "moderation"), ContentFilteredError, "403"),
    E(
        "or-403-perm",
        "openrouter",
        403,
        orerr(403, "permission_denied"),
        AuthenticationError,
        "403",
    ),
    E(
        "or-429",
        "openrouter",
        429,
        orerr(429, "rate_limit_exceeded"),
        RateLimitedError,
        "429",
        {"Retry-After": "2"},
        2.0,
    ),
    E(
        "or-429-retry-after-ms",
        "openrouter",
        429,
        orerr(429, "rate_limit_exceeded"),
        RateLimitedError,
        "429",
        {"retry-after-ms": "1500", "Retry-After": "9"},
        1.5,
    ),
    E("or-503", "openrouter", 503, orerr(503, "provider_overloaded"), OverloadedError, "503"),
    E("or-500", "openrouter", 500, orerr(500, "server"), ServerError, "500"),
    E("sf-429", "siliconflow", 429, sferr(50603, "TPM limit reached"), RateLimitedError, "50603"),
    E("sf-401", "siliconflow", 401, sferr(20003, "Invalid token"), AuthenticationError, "20003"),
    E("sf-503", "siliconflow", 503, sferr(50505, "busy"), OverloadedError, "50505"),
    E("local-500", "local-gpu", 500, {"message": "engine dead"}, ServerError),
]


def _response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> httpx.Response:
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in ERRORS])
def test_provider_errors_are_typed(mock: respx.MockRouter, case: ErrorCase) -> None:
    route = mock.post(URLS[case.offer]).mock(
        return_value=_response(case.status, case.body, case.headers)
    )
    error = chat_error(case.offer)
    assert route.call_count == 1
    assert type(error) is case.cls
    assert getattr(error, "provider", None) == case.offer
    assert getattr(error, "status_code", None) == case.status
    assert getattr(error, "provider_code", None) == case.code
    assert str(error).startswith(f"{case.offer}: ")
    assert f"(HTTP {case.status}" in str(error)
    if isinstance(error, RateLimitedError):
        assert error.retry_after == case.retry_after


@pytest.mark.parametrize(
    ("offer", "status", "body", "cls"),
    [
        ("zhipu-flash", 400, zerr("1210", "bad param"), RequestError),
        ("zhipu-flash", 400, zerr("1211", "model does not exist"), ConfigurationError),
        ("zhipu-flash", 434, zerr("1220", "no permission"), ConfigurationError),
        ("zhipu-flash", 404, "Not Found", ConfigurationError),
        ("siliconflow", 400, sferr(20012, "Model does not exist"), ConfigurationError),
        ("local-gpu", 400, {"object": "error", "message": "bad", "code": 400}, RequestError),
        (  # vLLM's words for a prompt over the window
            "local-gpu",
            400,
            {
                "object": "error",
                "message": "This model's maximum context length is 65536 tokens. However, you "
                "requested 70000 tokens (69000 in the messages, 1000 in the completion).",
                "code": 400,
            },
            ContextTooLongError,
        ),
        (  # SGLang's
            "local-gpu",
            400,
            {"message": "The input (70000 tokens) is longer than the model's context length"},
            ContextTooLongError,
        ),
        (
            "siliconflow",
            403,
            sferr(30001, "Sorry, your account balance is insufficient"),
            InsufficientBalanceError,
        ),
        (
            "siliconflow",
            403,
            sferr(30003, "Permission denied: real-name verification"),
            AuthenticationError,
        ),
        ("openrouter", 418, "teapot", RequestError),
    ],
)
def test_request_and_configuration_errors_name_status_and_code(
    mock: respx.MockRouter, offer: str, status: int, body: Any, cls: type[Exception]
) -> None:
    mock.post(URLS[offer]).mock(return_value=_response(status, body))
    error = chat_error(offer, retry=FAST_RETRY)
    assert type(error) is cls
    assert str(error).startswith(f"{offer}: ")
    assert f"(HTTP {status}" in str(error)


def test_an_error_message_names_offer_status_and_code(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).respond(
        429,
        json={"error": {"code": "1113", "message": "Insufficient balance."}},
        headers={"x-request-id": "req-77"},
    )
    error = chat_error("zhipu-flashx")
    assert str(error) == "zhipu-flashx: Insufficient balance. (HTTP 429, code 1113)"
    assert isinstance(error, InsufficientBalanceError)
    assert error.request_id == "req-77"


def test_siliconflow_403_balance_is_insufficient_balance(mock: respx.MockRouter) -> None:
    mock.post(SILICONFLOW).respond(
        403, json=sferr(30001, "Sorry, your account balance is insufficient")
    )
    assert type(chat_error("siliconflow")) is InsufficientBalanceError


def test_a_200_error_body_is_classified(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).respond(200, json=zerr("1301", "sensitive"))
    error = chat_error("zhipu-flash")
    assert type(error) is ContentFilteredError
    assert (error.status_code, error.provider_code) == (200, "1301")


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"<html>gateway</html>", "a body that is not JSON"),
        (b'{"id": "x"}', "JSON without a choices list"),
    ],
)
def test_a_malformed_200_is_a_server_error(mock: respx.MockRouter, body: bytes, what: str) -> None:
    mock.post(ZHIPU).respond(200, content=body)
    error = chat_error("zhipu-flash")
    assert type(error) is MalformedResponseError
    assert isinstance(error, ServerError)  # failed over and counted as a 5xx
    assert error.status_code == 200
    assert str(error) == f"zhipu-flash: HTTP 200 with {what}"


class ServerDisconnectedError(Exception):
    """Named like aiohttp's: httpx_aiohttp reports it as a ConnectTimeout."""


async def _slow(request: httpx.Request) -> httpx.Response:
    await asyncio.sleep(0.1)
    return httpx.Response(200, json=OK)


@pytest.mark.parametrize(
    ("side_effect", "timeouts", "cls", "text"),
    [
        (
            httpx.ConnectError("Name or service not known"),
            None,
            ProviderConnectionError,
            "zhipu-flash: cannot reach the server (ConnectError: Name or service not known)",
        ),
        (
            httpx.RemoteProtocolError("peer closed"),
            None,
            ProviderConnectionError,
            "zhipu-flash: the connection was closed before the answer was complete (peer closed)",
        ),
        (
            httpx.ReadTimeout("slow"),
            Timeouts(read=12),
            ProviderTimeoutError,
            "zhipu-flash: no data for 12 s (timeouts.read); raise it for long reasoning or "
            "stream the answer",
        ),
        (
            httpx.ConnectTimeout("slow"),
            Timeouts(connect=2.5),
            ProviderTimeoutError,
            "zhipu-flash: no connection within 2.5 s (timeouts.connect)",
        ),
        (
            _slow,
            Timeouts(total=0.02),
            ProviderTimeoutError,
            "zhipu-flash: no complete answer within 0.02 s (timeouts.total)",
        ),
    ],
    ids=["connect-error", "protocol-error", "read-timeout", "connect-timeout", "total"],
)
def test_transport_failures_are_typed(
    mock: respx.MockRouter,
    side_effect: Any,
    timeouts: Timeouts | None,
    cls: type[Exception],
    text: str,
) -> None:
    mock.post(ZHIPU).mock(side_effect=side_effect)
    kwargs: dict[str, Any] = {} if timeouts is None else {"timeouts": timeouts}
    error = chat_error("zhipu-flash", **kwargs)
    assert type(error) is cls
    assert str(error) == text
    assert isinstance(error, ProviderTimeoutError | ProviderConnectionError)
    assert error.provider == "zhipu-flash"
    assert error.status_code is None
    assert error.__cause__ is not None  # raised from the httpx/asyncio error


def test_a_dropped_connection_is_not_reported_as_a_timeout() -> None:
    """httpx_aiohttp reports aiohttp's ServerDisconnectedError as ConnectTimeout. respx
    replaces an exception's __cause__, so this one goes through httpx.MockTransport."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("dropped", request=request) from ServerDisconnectedError()

    async def go() -> VlmrouteError:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = make_client("zhipu-flash", http_client=http)
            try:
                await client.chat(HELLO)
            except VlmrouteError as exc:
                return exc
            finally:
                await client.aclose()
        raise AssertionError("no error")

    error = run(go)
    assert type(error) is ProviderConnectionError
    assert str(error) == (
        "zhipu-flash: the connection was closed before the answer was complete "
        "(ServerDisconnectedError)"
    )


def test_a_stream_read_timeout_is_typed(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).mock(side_effect=httpx.ReadTimeout("slow"))
    events, error = stream_until_error("zhipu-flash")
    assert events == []
    assert type(error) is ProviderTimeoutError


# ---------------------------------------------------------------- retries


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Waits the client's retry loop asked for; nothing actually sleeps."""
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(
        client_module, "run_with_retries", functools.partial(run_with_retries, sleep=sleep)
    )
    return waited


def test_a_500_then_200_is_retried(mock: respx.MockRouter, sleeps: list[float]) -> None:
    route = mock.post(ZHIPU)
    route.side_effect = [httpx.Response(500, text="oops"), httpx.Response(200, json=OK)]
    reply = chat("zhipu-flash", client_kwargs={"retry": FAST_RETRY})
    assert route.call_count == 2
    assert reply.answer == "A cat."
    assert [(a.outcome, a.status_code) for a in reply.attempts] == [
        ("ServerError", 500),
        ("ok", None),
    ]
    assert sleeps == [0.0]


def test_retries_stop_after_the_policy_attempts(
    mock: respx.MockRouter, sleeps: list[float]
) -> None:
    route = mock.post(ZHIPU).respond(503, text="busy")
    error = chat_error("zhipu-flash", retry=FAST_RETRY)
    assert type(error) is OverloadedError
    assert route.call_count == 3
    assert len(sleeps) == 2


def test_a_timeout_is_retried(mock: respx.MockRouter, sleeps: list[float]) -> None:
    route = mock.post(ZHIPU)
    route.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(200, json=OK)]
    reply = chat("zhipu-flash", client_kwargs={"retry": FAST_RETRY})
    assert route.call_count == 2
    assert [a.outcome for a in reply.attempts] == ["ProviderTimeoutError", "ok"]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, zerr("1210")),
        (401, zerr("1002")),
        (429, zerr("1113")),
        (400, zerr("1301")),
        (400, zerr("1261")),
    ],
    ids=["bad-request", "auth", "balance", "content-filter", "context"],
)
def test_errors_no_retry_can_fix_are_not_retried(
    mock: respx.MockRouter, sleeps: list[float], status: int, body: Any
) -> None:
    route = mock.post(ZHIPU).respond(status, json=body)
    chat_error("zhipu-flash", retry=RetryPolicy(attempts=5, initial_backoff_s=0))
    assert route.call_count == 1
    assert sleeps == []


def test_retry_after_is_honoured(mock: respx.MockRouter, sleeps: list[float]) -> None:
    route = mock.post(ZHIPU)
    route.side_effect = [
        httpx.Response(429, json=zerr("1302"), headers={"Retry-After": "0.05"}),
        httpx.Response(200, json=OK),
    ]
    reply = chat("zhipu-flash", client_kwargs={"retry": FAST_RETRY})
    assert route.call_count == 2
    assert sleeps == [0.05]  # never less than Retry-After, though the backoff is 0
    assert [a.outcome for a in reply.attempts] == ["RateLimitedError", "ok"]


def test_retry_after_is_honoured_with_real_sleep(mock: respx.MockRouter) -> None:
    route = mock.post(ZHIPU)
    route.side_effect = [
        httpx.Response(429, json=zerr("1302"), headers={"retry-after-ms": "60"}),
        httpx.Response(200, json=OK),
    ]

    async def go() -> tuple[ChatResponse, float]:
        loop = asyncio.get_running_loop()
        async with make_client("zhipu-flash", retry=FAST_RETRY) as client:
            started = loop.time()
            reply = await client.chat(HELLO)
            return reply, loop.time() - started

    reply, elapsed = run(go)
    assert route.call_count == 2
    assert elapsed >= 0.055
    assert reply.answer == "A cat."


def test_a_long_retry_after_ends_the_retries(mock: respx.MockRouter, sleeps: list[float]) -> None:
    route = mock.post(ZHIPU).respond(429, json=zerr("1302"), headers={"Retry-After": "120"})
    error = chat_error("zhipu-flash", retry=FAST_RETRY)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 120.0
    assert route.call_count == 1
    assert sleeps == []


def test_faults_outside_the_policy_are_not_retried(
    mock: respx.MockRouter, sleeps: list[float]
) -> None:
    route = mock.post(ZHIPU).respond(429, json=zerr("1302"))
    policy = RetryPolicy(attempts=3, faults=frozenset({"server"}), initial_backoff_s=0)
    assert type(chat_error("zhipu-flash", retry=policy)) is RateLimitedError
    assert route.call_count == 1


def test_default_client_policy_makes_no_call_after_success(mock: respx.MockRouter) -> None:
    route = mock.post(ZHIPU).respond(200, json=OK)

    async def go() -> ChatResponse:
        async with AsyncClient(
            "zhipu-flash", api_key=KEY, pricing=PRICING, transport="httpx"
        ) as client:  # default retry
            assert client.retry == RetryPolicy()
            return await client.chat(HELLO)

    assert run(go).attempts[0].outcome == "ok"
    assert route.call_count == 1


# ---------------------------------------------------------------- bad input, no I/O


def _png_header(width: int, height: int) -> bytes:
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR" + ihdr + b"\0\0\0\0"


def _image(url: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]


BAD_INPUTS: list[tuple[str, Any, dict[str, Any], type[Exception], str]] = [
    ("empty", [], {}, RequestError, "messages"),
    ("role", [{"role": "tool", "content": "x"}], {}, RequestError, "role"),
    ("no-content", [{"role": "user"}], {}, RequestError, "content must be"),
    ("not-a-mapping", ["hello"], {}, RequestError, "not a mapping"),
    (
        "part-type",
        [{"role": "user", "content": [{"type": "audio", "audio": "x"}]}],
        {},
        RequestError,
        "has type 'audio'",
    ),
    ("local-path", _image("/etc/passwd"), {}, RequestError, "must be an http(s) URL"),
    ("file-url", _image("file:///etc/passwd"), {}, RequestError, "must be an http(s) URL"),
    ("ftp-url", _image("ftp://host/x.png"), {}, RequestError, "must be an http(s) URL"),
    (
        "bad-base64",
        _image("data:image/png;base64,@@@not base64@@@"),
        {},
        UnreadableImageError,
        "not valid base64",
    ),
    (
        "not-an-image",
        _image("data:image/png;base64," + base64.b64encode(b"just some text").decode()),
        {},
        UnreadableImageError,
        "not a PNG, JPEG, WebP or GIF",
    ),
    (
        "aspect-ratio",
        _image("data:image/png;base64," + base64.b64encode(_png_header(5000, 20)).decode()),
        {},
        AspectRatioError,
        "aspect ratio 250.00",
    ),
    (
        "missing-file",
        [{"role": "user", "content": [{"type": "image", "image": "/no/such/image.png"}]}],
        {},
        ImageError,
        "no such image file",
    ),
    (
        "bad-detail",
        [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": CAT_URL, "detail": "max"}}],
            }
        ],
        {},
        RequestError,
        "detail",
    ),
    (
        "two-videos",
        [
            {
                "role": "user",
                "content": [
                    {"type": "video_url", "video_url": {"url": VIDEO_URL}},
                    {"type": "video_url", "video_url": {"url": VIDEO_URL}},
                ],
            }
        ],
        {},
        RequestError,
        "one video per request",
    ),
    (
        "image-and-video",
        [
            {
                "role": "user",
                "content": [
                    {"type": "video_url", "video_url": {"url": VIDEO_URL}},
                    {"type": "image_url", "image_url": {"url": CAT_URL}},
                ],
            }
        ],
        {},
        RequestError,
        "cannot take images and a video",
    ),
    (
        "video-type",
        [{"role": "user", "content": [{"type": "video", "video": 42}]}],
        {},
        VideoError,
        "cannot send a video given as int",
    ),
    ("max-tokens-negative", HELLO, {"max_tokens": -1}, RequestError, "max_tokens"),
    ("max-tokens-zero", HELLO, {"max_tokens": 0}, RequestError, "max_tokens"),
    ("temperature", HELLO, {"temperature": 2.5}, RequestError, "temperature"),
    ("negative-temperature", HELLO, {"temperature": -0.1}, RequestError, "temperature"),
    ("top-p", HELLO, {"top_p": 0}, RequestError, "top_p"),
]


def send(mode: str, messages: Any, params: Mapping[str, Any]) -> object:
    if mode == "chat":
        return chat("zhipu-flash", messages, **params)
    return stream("zhipu-flash", messages, **params)


@pytest.mark.parametrize("case", [pytest.param(c[1:], id=c[0]) for c in BAD_INPUTS])
@pytest.mark.parametrize("mode", ["chat", "stream"])
def test_bad_input_fails_before_any_request(
    mock: respx.MockRouter, mode: str, case: tuple[Any, dict[str, Any], type[Exception], str]
) -> None:
    messages, params, cls, text = case
    route = mock.post(ZHIPU).respond(200, json=OK)
    with pytest.raises(RequestError) as info:
        send(mode, messages, params)
    assert type(info.value) is cls
    assert text in str(info.value)
    assert route.call_count == 0


def test_aspect_ratio_error_carries_the_size() -> None:
    with pytest.raises(AspectRatioError) as info:
        vlmroute.user("x", _png_header(201, 1))
    assert (info.value.width, info.value.height) == (201, 1)


def test_base64_with_stray_characters_is_refused(mock: respx.MockRouter) -> None:
    route = mock.post(ZHIPU).respond(200, json=OK)
    corrupt = f"data:image/png;base64,{PNG_B64[:40]}!!!!{PNG_B64[40:]}"
    with pytest.raises(UnreadableImageError):
        chat("zhipu-flash", _image(corrupt))
    assert route.call_count == 0


@pytest.mark.parametrize(
    ("offer", "kwargs", "text"),
    [
        ("no-such-offer", {"api_key": KEY}, "no offer 'no-such-offer' in the pricing table"),
        ("zhipu-flash", {}, "set ZHIPUAI_API_KEY or ZAI_API_KEY"),
        ("openrouter", {}, "set OPENROUTER_API_KEY"),
        ("siliconflow", {"api_key": KEY}, "was retired by siliconflow on 2026-05-15"),
    ],
)
def test_bad_client_setup_fails_at_construction(
    mock: respx.MockRouter, offer: str, kwargs: dict[str, Any], text: str
) -> None:
    async def go() -> None:
        AsyncClient(offer, pricing=PRICING, **kwargs)

    with pytest.raises(ConfigurationError, match=text.replace("(", r"\(")):
        run(go)
    assert mock.calls.call_count == 0


@pytest.mark.parametrize(
    "build",
    [
        lambda: BackendOptions(bogus=1),  # type: ignore[call-arg]
        lambda: Timeouts(read=0),
        lambda: RetryPolicy(attempts=0),
        lambda: RetryPolicy(faults=frozenset({"everything"})),
    ],
    ids=["unknown-option", "zero-timeout", "zero-attempts", "unknown-fault"],
)
def test_unknown_or_invalid_options_are_refused(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="validation error"):
        build()


def test_unknown_chat_keyword_is_refused(mock: respx.MockRouter) -> None:
    route = mock.post(ZHIPU).respond(200, json=OK)

    async def go() -> None:
        async with make_client() as client:
            await client.chat(HELLO, frequency_penalty=1.0)  # type: ignore[call-arg]

    with pytest.raises(TypeError, match="frequency_penalty"):
        run(go)
    assert route.call_count == 0


def test_message_keys_glm_cannot_use_are_refused_or_dropped(mock: respx.MockRouter) -> None:
    """An openai reply appended to the history (empty tool fields, its reasoning) and a
    participant name go through, none of it sent; a key with meaning GLM lacks is refused."""
    route = mock.post(ZHIPU).respond(200, json=OK)
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "hi", "name": "ana"},
        {
            "role": "assistant",
            "content": "hello",
            "refusal": None,
            "tool_calls": None,
            "function_call": None,
            "reasoning_content": "they greeted me",
        },
        {"role": "user", "content": "and now?"},
    ]
    chat("zhipu-flash", history)
    assert sent(route)["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and now?"},
    ]
    tool_call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    with pytest.raises(RequestError, match=r"messages\.1 has tool_calls: .*remove the other"):
        chat("zhipu-flash", [history[0], {**history[1], "tool_calls": [tool_call]}])
    with pytest.raises(RequestError, match=r"messages\.0 has cache_control, weight"):
        chat("zhipu-flash", [{"role": "user", "content": "x", "weight": 1, "cache_control": {}}])
    assert route.call_count == 1


# ---------------------------------------------------------------- the sync twin


def test_sync_client_chat_stream_and_error(mock: respx.MockRouter) -> None:
    route = mock.post(OPENROUTER)
    route.side_effect = [
        httpx.Response(
            200, json=completion({"role": "assistant", "content": "Hi", "reasoning": "R"})
        ),
        sse(delta({"reasoning": "Th"}), delta({"content": "Yo"}, "stop")),
        httpx.Response(402, json=orerr(402, "payment_required")),
    ]
    with Client("openrouter", api_key=KEY, retry=NO_RETRY, pricing=PRICING, transport=HX) as client:
        assert repr(client).startswith("Client(Backend(offer='openrouter'")
        assert client.offer.id == "openrouter"
        reply = client.chat(MULTIMODAL, max_tokens=99)
        assert (reply.reasoning, reply.answer) == ("R", "Hi")
        assert reply.offer == "openrouter"
        events = list(client.stream(HELLO))
        assert texts(events) == [("reasoning", "Th"), ("answer", "Yo")]
        assert final(events).answer == "Yo"
        with pytest.raises(InsufficientBalanceError) as info:
            client.chat(HELLO)
    assert info.value.status_code == 402
    assert route.call_count == 3
    first = sent(route, 0)
    assert first["max_tokens"] == 99
    assert first["messages"][1]["content"] == image_parts("openrouter")
    assert sent(route, 1)["stream"] is True
    assert route.calls[0].request.headers["authorization"] == f"Bearer {KEY}"


def test_sync_client_refuses_bad_input_without_a_request(mock: respx.MockRouter) -> None:
    route = mock.post(ZHIPU).respond(200, json=OK)
    with Client("zhipu-flash", api_key=KEY, pricing=PRICING, transport=HX) as client:
        with pytest.raises(RequestError, match="max_tokens"):
            client.chat(HELLO, max_tokens=-5)
        with pytest.raises(RequestError, match="must be an http"):
            list(client.stream(_image("C:/photo.png")))
    assert route.call_count == 0


def test_sync_client_retries_like_the_async_one(mock: respx.MockRouter) -> None:
    route = mock.post(ZHIPU)
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(200, json=OK)]
    with Client(
        "zhipu-flash", api_key=KEY, retry=FAST_RETRY, pricing=PRICING, transport=HX
    ) as client:
        reply = client.chat(HELLO)
    assert route.call_count == 2
    assert [a.outcome for a in reply.attempts] == ["ProviderConnectionError", "ok"]


# ---------------------------------------------------------------- local server health

VLLM_METRICS = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="zai-org/GLM-4.1V-9B-Thinking"} 3.0
vllm:num_requests_running{engine="1",model_name="zai-org/GLM-4.1V-9B-Thinking"} 1.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="zai-org/GLM-4.1V-9B-Thinking"} 2.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="zai-org/GLM-4.1V-9B-Thinking"} 0.42
vllm:prompt_tokens_total{model_name="zai-org/GLM-4.1V-9B-Thinking"} 12345.0
"""

SGLANG_METRICS = """\
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="glm-4.1v"} 5.0
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="glm-4.1v"} 7.0
sglang:token_usage{model_name="glm-4.1v"} 0.25
"""

MODELS_JSON = {"object": "list", "data": [{"id": "zai-org/GLM-4.1V-9B-Thinking"}]}


def local_health(**client_kwargs: Any) -> ServerHealth:
    async def go() -> ServerHealth:
        async with make_client("local-gpu", **client_kwargs) as client:
            return await client.health()

    return run(go)


def test_vllm_health_models_and_load(mock: respx.MockRouter) -> None:
    health = mock.get(f"{LOCAL_ROOT}/health").respond(200)
    models = mock.get(f"{LOCAL_ROOT}/v1/models").respond(200, json=MODELS_JSON)
    metrics = mock.get(f"{LOCAL_ROOT}/metrics").respond(
        200, text=VLLM_METRICS, headers={"content-type": "text/plain; version=0.0.4"}
    )
    result = local_health(api_key="local-key")
    assert result == ServerHealth(
        ok=True,
        models=("zai-org/GLM-4.1V-9B-Thinking",),
        load=ServerLoad(running=4, waiting=2, kv_cache_usage=0.42),
    )
    for route in (health, models, metrics):
        assert route.call_count == 1
        assert route.calls.last.request.headers["authorization"] == "Bearer local-key"


def test_old_vllm_gpu_cache_metric(mock: respx.MockRouter) -> None:
    mock.get(f"{LOCAL_ROOT}/health").respond(200)
    mock.get(f"{LOCAL_ROOT}/v1/models").respond(200, json=MODELS_JSON)
    mock.get(f"{LOCAL_ROOT}/metrics").respond(
        200,
        text="vllm:num_requests_running 1\nvllm:num_requests_waiting 0\n"
        "vllm:gpu_cache_usage_perc 0.9\n",
    )
    assert local_health().load == ServerLoad(running=1, waiting=0, kv_cache_usage=0.9)


def test_sglang_health_and_load(mock: respx.MockRouter) -> None:
    mock.get("http://gpu-2:30000/health").respond(200)
    mock.get("http://gpu-2:30000/v1/models").respond(200, json={"data": [{"id": "glm-4.1v"}]})
    mock.get("http://gpu-2:30000/metrics").respond(200, text=SGLANG_METRICS)
    result = local_health(base_url="http://gpu-2:30000/v1")
    assert result == ServerHealth(
        ok=True, models=("glm-4.1v",), load=ServerLoad(running=5, waiting=7, kv_cache_usage=0.25)
    )


def test_health_without_metrics_has_no_load(mock: respx.MockRouter) -> None:
    mock.get(f"{LOCAL_ROOT}/health").respond(200)
    mock.get(f"{LOCAL_ROOT}/v1/models").respond(200, json=MODELS_JSON)
    mock.get(f"{LOCAL_ROOT}/metrics").respond(404)
    result = local_health()
    assert result.ok is True
    assert result.load is None
    assert result.models == ("zai-org/GLM-4.1V-9B-Thinking",)


def test_health_down_and_unreachable(mock: respx.MockRouter) -> None:
    mock.get(f"{LOCAL_ROOT}/health").respond(503)
    mock.get(f"{LOCAL_ROOT}/v1/models").respond(200, json=MODELS_JSON)
    mock.get(f"{LOCAL_ROOT}/metrics").respond(200, text=VLLM_METRICS)
    assert local_health() == ServerHealth(ok=False, error="/health answered HTTP 503")

    mock.get("http://gpu-3:8000/health").mock(side_effect=httpx.ConnectError("refused"))
    mock.get("http://gpu-3:8000/v1/models").mock(side_effect=httpx.ConnectError("refused"))
    mock.get("http://gpu-3:8000/metrics").mock(side_effect=httpx.ConnectError("refused"))
    down = local_health(base_url="http://gpu-3:8000/v1")
    assert down.ok is False
    assert down.error == "ConnectError: refused"


def test_sync_client_health(mock: respx.MockRouter) -> None:
    mock.get(f"{LOCAL_ROOT}/health").respond(200)
    mock.get(f"{LOCAL_ROOT}/v1/models").respond(500)
    mock.get(f"{LOCAL_ROOT}/metrics").respond(200, text="# nothing useful\nother_metric 1\n")
    with Client("local-gpu", pricing=PRICING, transport=HX) as client:
        assert client.health() == ServerHealth(ok=True, models=(), load=None)
