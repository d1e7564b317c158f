"""The openai-SDK drop-in: unmodified openai app code, run against fake providers twice.

Each ``app_*`` function below is application code written for the openai SDK: it receives
a client and uses nothing but openai's API. It runs once with a real ``openai.OpenAI``
pointed at a fake provider and once with ``vlmroute.OpenAI``; what it prints must match.
The fakes speak the providers' wire format through respx (vlmroute's HTTP client and the
openai SDK's are both httpx).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import struct
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

import httpx
import openai
import pytest
import respx
from openai.types.chat import ChatCompletionChunk

import vlmroute
from vlmroute import errors as vr

ZHIPU_BASE = "https://zhipu.fake/api/paas/v4"
OPENROUTER_BASE = "https://openrouter.fake/api/v1"
ZHIPU = f"{ZHIPU_BASE}/chat/completions"
OPENROUTER = f"{OPENROUTER_BASE}/chat/completions"
KEYS = {"zhipu": "k1", "openrouter": "k2"}
CONFIG: dict[str, Any] = {
    "offers": [
        {"offer": "zhipu-flash", "base_url": ZHIPU_BASE},
        {"offer": "openrouter", "base_url": OPENROUTER_BASE},
    ],
    "ledger": False,
    "transport": "httpx",  # the transport respx sees
    "retry": {"attempts": 2, "faults": ["server", "connection"], "initial_backoff_s": 0},
}
HELLO: list[Any] = [{"role": "user", "content": "hi"}]
REASONING = "The picture shows a small cat on a sofa."
ANSWER = "A cat."
_T = TypeVar("_T")


def png(width: int = 640, height: int = 480) -> bytes:
    """A PNG header: all vlmroute reads to size an image."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0"


IMAGE_URI = "data:image/png;base64," + base64.b64encode(png()).decode()

# ---------------------------------------------------------------- the fake providers


def _usage() -> dict[str, Any]:
    return {
        "prompt_tokens": 1000,
        "completion_tokens": 50,
        "total_tokens": 1050,
        "completion_tokens_details": {"reasoning_tokens": 30},
    }


def _sse(chunks: list[dict[str, Any]]) -> bytes:
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


def reply(request: httpx.Request) -> httpx.Response:
    """A provider answering with reasoning in ``reasoning_content`` (Zhipu's dialect)."""
    body = json.loads(request.content)
    model = body["model"]
    head = {"id": "chatcmpl-fake1", "object": "chat.completion.chunk", "created": 1}
    if not body.get("stream"):
        message = {"role": "assistant", "content": ANSWER, "reasoning_content": REASONING}
        payload = {
            **head,
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": _usage(),
        }
        return httpx.Response(200, json=payload)

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**head, "model": model, "choices": [choice], **extra}

    chunks = [
        chunk({"role": "assistant", "reasoning_content": REASONING[:20]}),
        chunk({"reasoning_content": REASONING[20:]}),
        chunk({"content": "A "}),
        chunk({"content": "cat."}),
        chunk({}, "stop", usage=_usage()),  # Zhipu: usage on the last chunk
    ]
    return httpx.Response(200, content=_sse(chunks), headers={"content-type": "text/event-stream"})


def provider_error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": f"error {code}"}})


def routing(obj: Any) -> vlmroute.Routing:
    """The ``vlmroute`` object a routed completion or last chunk carries."""
    value = vlmroute.routing(obj)
    assert value is not None
    assert value == obj.vlmroute  # the same, untyped
    return value


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(using="httpx", assert_all_called=False) as m:
        yield m


def sync_clients() -> tuple[openai.OpenAI, vlmroute.OpenAI]:
    raw = openai.OpenAI(base_url=ZHIPU_BASE, api_key="x", max_retries=0)
    return raw, vlmroute.OpenAI(config=CONFIG, api_keys=KEYS)


def run(make: Callable[[], Awaitable[_T]]) -> _T:
    return asyncio.run(make())  # type: ignore[arg-type]


def twice(app: Callable[[Any], object], capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """The app's printed output with the openai SDK, then with the drop-in."""
    raw, routed = sync_clients()
    with raw, routed:
        app(raw)
        first = capsys.readouterr().out
        app(routed)
        second = capsys.readouterr().out
    return first, second


# ---------------------------------------------------------------- the unmodified app code

MODEL = "glm-4.1v-thinking-flash"  # what the app sent to Zhipu; the drop-in pins that offer


def app_describe_image(client: Any) -> None:
    resp = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": IMAGE_URI}},
                    {"type": "text", "text": "What is in this image?"},
                ],
            }
        ],
        temperature=0.2,
        max_tokens=2048,
    )
    message = resp.choices[0].message
    print("answer:", message.content)
    print("thinking:", getattr(message, "reasoning_content", None))
    print("finish:", resp.choices[0].finish_reason, "model:", resp.model, "id:", resp.id)
    print("tokens:", resp.usage.total_tokens, resp.usage.completion_tokens)


def app_stream(client: Any) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    with stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="")
            if chunk.choices and chunk.choices[0].finish_reason:
                print("\nfinish:", chunk.choices[0].finish_reason)
            if chunk.usage:
                print("tokens:", chunk.usage.total_tokens)


async def app_async(client: Any) -> None:
    resp = await client.chat.completions.create(model=MODEL, messages=HELLO)
    print("answer:", resp.choices[0].message.content, resp.usage.prompt_tokens)
    stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
    async for chunk in stream:
        delta = chunk.choices[0].delta
        if getattr(delta, "reasoning_content", None):
            print("[thinking]", end="")
        if delta.content:
            print(delta.content, end="")
    print()


def app_handles_errors(client: Any) -> None:
    for attempt in range(2):
        try:
            client.chat.completions.create(model=MODEL, messages=HELLO)
        except openai.RateLimitError as exc:
            print("slow down:", exc.status_code)
        except openai.APIStatusError as exc:
            print("refused:", exc.status_code, attempt)
        except openai.APIError:
            print("other error")


# ---------------------------------------------------------------- acceptance


def test_import_vlmroute_does_not_import_openai() -> None:
    code = (
        "import sys, vlmroute; before = 'openai' in sys.modules; vlmroute.OpenAI; "
        "print(before, 'openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_sync_app_with_an_image_prints_the_same(
    mock: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    zhipu = mock.post(ZHIPU).mock(side_effect=reply)
    raw, routed = twice(app_describe_image, capsys)
    assert raw == routed
    assert f"answer: {ANSWER}\nthinking: {REASONING}\n" in routed
    assert "tokens: 1050 50" in routed
    sent = json.loads(zhipu.calls[-1].request.content)
    image = sent["messages"][0]["content"][0]["image_url"]["url"]
    assert base64.b64decode(image) == png()  # Zhipu gets raw base64, as its SDKs send


def test_sync_streaming_app_prints_the_same(
    mock: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    mock.post(ZHIPU).mock(side_effect=reply)
    raw, routed = twice(app_stream, capsys)
    assert raw == routed == "A cat.\nfinish: stop\ntokens: 1050\n"


def test_async_app_prints_the_same(
    mock: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    mock.post(ZHIPU).mock(side_effect=reply)

    async def main() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=ZHIPU_BASE, api_key="x") as raw:
            await app_async(raw)
        first = capsys.readouterr().out
        async with vlmroute.AsyncOpenAI(config=CONFIG, api_keys=KEYS) as routed:
            await app_async(routed)
        return first, capsys.readouterr().out

    raw, routed = run(main)
    assert raw == routed == f"answer: {ANSWER} 1000\n[thinking][thinking]A cat.\n"


def test_error_handling_app_takes_the_same_branches(
    mock: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    zhipu = mock.post(ZHIPU)
    zhipu.side_effect = [provider_error(429, "1302"), provider_error(400, "1301")]
    raw = openai.OpenAI(base_url=ZHIPU_BASE, api_key="x", max_retries=0)
    with raw:
        app_handles_errors(raw)
    expected = capsys.readouterr().out
    assert expected == "slow down: 429\nrefused: 400 1\n"

    zhipu.side_effect = [provider_error(429, "1302"), provider_error(400, "1301")]
    config = {**CONFIG, "rate_limits": {"cooldown_s": 0}}  # retry at once, as the app does
    with vlmroute.OpenAI(config=config, api_keys=KEYS) as client:
        app_handles_errors(client)
    assert capsys.readouterr().out == expected


# ---------------------------------------------------------------- the vlmroute view


def test_completion_carries_the_router_response_and_dumps_as_openai(
    mock: respx.MockRouter,
) -> None:
    mock.post(ZHIPU).mock(side_effect=reply)
    with vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as client:
        completion = client.chat.completions.create(model="glm-4.1v-thinking", messages=HELLO)
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    routed = routing(completion)
    assert routed["offer"] == "zhipu-flash"
    assert routed["cost"] == {"amount": "0", "currency": "CNY", "source": "table"}
    assert [a["outcome"] for a in routed["attempts"]] == ["ok"]
    dumped = completion.model_dump()
    assert dumped["vlmroute"] == routed
    assert Decimal(routed["cost"]["amount"]) == 0
    assert dumped["choices"][0]["message"]["reasoning_content"] == REASONING
    assert dumped["model"] == "glm-4.1v-thinking-flash"
    assert completion.id == "chatcmpl-fake1"
    assert completion.usage is not None
    details = completion.usage.completion_tokens_details
    assert details is not None
    assert details.reasoning_tokens == 30
    again = openai.types.chat.ChatCompletion.model_validate(dumped)
    assert again.choices[0].message.content == ANSWER


def test_a_429_fails_over_and_the_attempts_show_it(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).mock(return_value=provider_error(429, "1302"))
    mock.post(OPENROUTER).mock(side_effect=reply)
    with vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as client:
        completion = client.chat.completions.create(model="glm-4.1v-thinking", messages=HELLO)
    assert completion.choices[0].message.content == ANSWER
    assert completion.model == "thudm/glm-4.1v-9b-thinking"
    assert [(a["offer"], a["outcome"]) for a in routing(completion)["attempts"]] == [
        ("zhipu-flash", "RateLimitedError"),
        ("openrouter", "ok"),
    ]


def test_raw_response_headers_say_where_it_went(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).mock(return_value=provider_error(429, "1302"))
    mock.post(OPENROUTER).mock(side_effect=reply)
    with vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="glm-4.1v-thinking", messages=HELLO
        )
    assert raw.headers["x-vlmroute-offer"] == "openrouter"
    assert raw.headers["x-vlmroute-attempts"] == "2"
    assert raw.headers["x-vlmroute-cost"].endswith("USD; source=table")
    assert raw.headers["x-request-id"] == "chatcmpl-fake1"
    assert raw.parse().choices[0].message.content == ANSWER


# ---------------------------------------------------------------- model names


@pytest.mark.parametrize(
    ("model", "served_by"),
    [
        ("glm-4.1v-thinking", "zhipu-flash"),  # every offer; the free one is cheapest
        ("GLM-4.1V-9B-Thinking", "zhipu-flash"),
        ("thudm/glm-4.1v-9b-thinking", "openrouter"),  # OpenRouter's own model id
        ("glm-4.1v-thinking-flash", "zhipu-flash"),
        ("openrouter", "openrouter"),  # an offer id
        ("paid", "openrouter"),  # the user's alias
    ],
)
def test_model_names_route(mock: respx.MockRouter, model: str, served_by: str) -> None:
    mock.post(ZHIPU).mock(side_effect=reply)
    mock.post(OPENROUTER).mock(side_effect=reply)
    with vlmroute.OpenAI(config=CONFIG, api_keys=KEYS, models={"paid": ["openrouter"]}) as c:
        completion = c.chat.completions.create(model=model, messages=HELLO)
    assert routing(completion)["offer"] == served_by


def test_an_unknown_model_is_a_404_listing_the_known_names(mock: respx.MockRouter) -> None:
    with vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as client:
        with pytest.raises(openai.NotFoundError) as info:
            client.chat.completions.create(model="gpt-4o", messages=HELLO)
        names = [m.id for m in client.models.list()]
        assert client.models.retrieve("OpenRouter").owned_by == "openrouter"
    assert info.value.status_code == 404
    assert info.value.code == "model_not_found"
    assert "glm-4.1v-thinking-flash" in info.value.message
    assert names[:2] == ["glm-4.1v-thinking", "glm-4.1v-9b-thinking"]
    assert {"zhipu-flash", "openrouter", "thudm/glm-4.1v-9b-thinking"} <= set(names)
    assert not mock.calls


def test_an_alias_to_an_unconfigured_offer_fails_at_construction() -> None:
    with pytest.raises(vr.ConfigurationError, match="siliconflow"):
        vlmroute.OpenAI(config=CONFIG, api_keys=KEYS, models={"x": ["siliconflow"]})


# ---------------------------------------------------------------- errors


def _config(*offers: str, **extra: Any) -> dict[str, Any]:
    bases = {"zhipu-flash": ZHIPU_BASE, "openrouter": OPENROUTER_BASE}
    entries = [{"offer": o, "base_url": bases[o]} for o in offers]
    return {
        "offers": entries,
        "ledger": False,
        "transport": "httpx",
        "retry": CONFIG["retry"],
        **extra,
    }


ZHIPU_ONLY = _config("zhipu-flash")
BUDGET = _config("openrouter", budgets=[{"amount": "1e-7", "currency": "USD", "period": "day"}])


def answers(status: int, code: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _request: provider_error(status, code)


def raises(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def fail(_request: httpx.Request) -> httpx.Response:
        raise exc

    return fail


def not_json(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="<html>")


class Case(NamedTuple):
    """A fake answer, the router config, the vlmroute error, openai's, its HTTP status."""

    fake: Callable[[httpx.Request], httpx.Response]
    config: dict[str, Any]
    cause: type[vr.VlmrouteError]
    expected: type[openai.APIError]
    status: int | None


ERROR_CASES = {
    "rate-limited": Case(answers(429, "1302"), ZHIPU_ONLY, vr.RateLimitedError,
                         openai.RateLimitError, 429),
    "budget": Case(reply, BUDGET, vr.BudgetExceededError, openai.RateLimitError, 429),
    "bad-key": Case(answers(401, "1001"), ZHIPU_ONLY, vr.AuthenticationError,
                    openai.AuthenticationError, 401),
    "no-balance": Case(answers(429, "1113"), ZHIPU_ONLY, vr.InsufficientBalanceError,
                       openai.APIStatusError, 402),
    "filtered": Case(answers(400, "1301"), ZHIPU_ONLY, vr.ContentFilteredError,
                     openai.BadRequestError, 400),
    "too-long": Case(answers(400, "1261"), ZHIPU_ONLY, vr.ContextTooLongError,
                     openai.BadRequestError, 400),
    "bad-request": Case(answers(400, "1210"), ZHIPU_ONLY, vr.RequestError,
                        openai.BadRequestError, 400),
    "no-such-model": Case(answers(400, "1211"), ZHIPU_ONLY, vr.ConfigurationError,
                          openai.BadRequestError, 400),
    "overloaded": Case(answers(429, "1305"), ZHIPU_ONLY, vr.OverloadedError,
                       openai.InternalServerError, 503),
    "server-error": Case(answers(500, "500"), ZHIPU_ONLY, vr.ServerError,
                         openai.InternalServerError, 500),
    "malformed": Case(not_json, ZHIPU_ONLY, vr.MalformedResponseError,
                      openai.InternalServerError, 502),
    "timeout": Case(raises(httpx.ReadTimeout("slow")), ZHIPU_ONLY, vr.ProviderTimeoutError,
                    openai.APITimeoutError, None),
    "unreachable": Case(raises(httpx.ConnectError("refused")), ZHIPU_ONLY,
                        vr.ProviderConnectionError, openai.APIConnectionError, None),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ERROR_CASES))
def test_errors_are_openai_exceptions_caused_by_vlmroute_errors(
    mock: respx.MockRouter, name: str
) -> None:
    case = ERROR_CASES[name]
    mock.post(ZHIPU).mock(side_effect=case.fake)
    mock.post(OPENROUTER).mock(side_effect=case.fake)
    with (
        vlmroute.OpenAI(config=case.config, api_keys=KEYS) as client,
        pytest.raises(case.expected) as info,
    ):
        client.chat.completions.create(model="glm-4.1v-thinking", messages=HELLO)
    error = info.value
    if case.status is None:  # a timeout or connection error: httpx's, caused by vlmroute's
        assert isinstance(error.__cause__, httpx.TransportError)
        assert type(error.__cause__.__cause__) is case.cause
        return
    assert isinstance(error, openai.APIStatusError)
    cause = error.vlmroute_error  # type: ignore[attr-defined]
    assert type(cause) is case.cause
    assert error.status_code == case.status
    assert error.response.json()["error"]["message"] == str(cause)
    assert error.response.json()["error"]["vlmroute"] == case.cause.__name__


def test_quota_codes_and_retry_after_reach_the_app(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).respond(429, json={"error": {"code": "1302"}}, headers={"Retry-After": "7"})
    with (
        vlmroute.OpenAI(config=ZHIPU_ONLY, api_keys=KEYS) as client,
        pytest.raises(openai.RateLimitError) as limited,
    ):
        client.chat.completions.create(model="glm-4.1v-thinking", messages=HELLO)
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after"] == "7"
    with (
        vlmroute.OpenAI(config=BUDGET, api_keys=KEYS) as client,
        pytest.raises(openai.RateLimitError) as budget,
    ):
        client.chat.completions.create(model="glm-4.1v-thinking", messages=HELLO)
    assert budget.value.code == "insufficient_quota"


def test_no_route_is_a_503_with_the_reasons(mock: respx.MockRouter) -> None:
    with (
        vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as client,
        pytest.raises(openai.InternalServerError) as info,
    ):
        client.chat.completions.create(
            model="glm-4.1v-thinking", messages=HELLO, max_completion_tokens=10_000_000
        )
    assert info.value.status_code == 503
    assert isinstance(info.value.vlmroute_error, vr.NoRouteError)  # type: ignore[attr-defined]
    body = info.value.body
    assert isinstance(body, dict)
    assert set(body["reasons"]) == {"zhipu-flash", "openrouter"}
    assert not mock.calls


# ---------------------------------------------------------------- refused before sending


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"n": 2}, "n"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"max_tokens": 10, "max_completion_tokens": 20}, "max_completion_tokens"),
    ],
)
def test_unsupported_arguments_are_refused_before_any_request(
    mock: respx.MockRouter, arguments: dict[str, Any], param: str
) -> None:
    with (
        vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as client,
        pytest.raises(openai.BadRequestError) as info,
    ):
        client.chat.completions.create(model="glm-4.1v-thinking", messages=HELLO, **arguments)
    assert info.value.status_code == 400
    assert info.value.param == param
    assert not mock.calls


def test_no_op_values_and_not_given_markers_are_accepted(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).mock(side_effect=reply)
    with vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as client:
        completion = client.chat.completions.create(  # type: ignore[call-overload]
            model="glm-4.1v-thinking",
            messages=HELLO,
            n=1,
            tools=openai.omit,
            tool_choice="none",
            response_format={"type": "text"},
            temperature=openai.NOT_GIVEN,  # openai 1.x's marker, still taken at run time
            user="u-1",
            extra_headers={"X-Trace": "1"},
            timeout=30,
        )
    assert completion.choices[0].message.content == ANSWER
    sent = json.loads(mock.calls[0].request.content)
    assert "user" not in sent
    assert sent["user_id"] == "u-1"  # Zhipu's name for it
    assert "temperature" not in sent
    assert "X-Trace" not in mock.calls[0].request.headers


def test_a_local_path_as_image_url_is_refused(mock: respx.MockRouter) -> None:
    part: Any = {"type": "image_url", "image_url": {"url": "/etc/hosts"}}
    with (
        vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as client,
        pytest.raises(openai.BadRequestError, match="http"),
    ):
        client.chat.completions.create(
            model="glm-4.1v-thinking", messages=[{"role": "user", "content": [part]}]
        )
    assert not mock.calls


def test_a_returned_message_can_be_sent_back(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).mock(side_effect=reply)
    with vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as client:
        first = client.chat.completions.create(model="glm-4.1v-thinking", messages=HELLO)
        history: list[Any] = [*HELLO, first.choices[0].message, {"role": "user", "content": "ok"}]
        client.chat.completions.create(model="glm-4.1v-thinking", messages=history)
    sent = json.loads(mock.calls[-1].request.content)["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == ANSWER


# ---------------------------------------------------------------- streams


def _chunks(include_usage: bool) -> tuple[list[ChatCompletionChunk], vlmroute.Routing]:
    with vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as client:
        options: Any = {"include_usage": True} if include_usage else openai.omit
        stream = client.chat.completions.create(
            model="glm-4.1v-thinking", messages=HELLO, stream=True, stream_options=options
        )
        assert isinstance(stream, openai.Stream)
        with stream:
            chunks = list(stream)
        last = next(c for c in reversed(chunks) if c.choices)
        return chunks, routing(last)


def test_stream_chunks_follow_openai(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).mock(side_effect=reply)
    chunks, response = _chunks(include_usage=False)
    assert all(c.choices for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.role for c in chunks[1:]] == [None] * (len(chunks) - 1)
    deltas = [c.choices[0].delta for c in chunks]
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    assert reasoning == REASONING
    assert [d.content for d in deltas if getattr(d, "reasoning_content", None)] == [None, None]
    assert "".join(d.content or "" for d in deltas) == ANSWER
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].model == "glm-4.1v-thinking-flash"
    assert response["offer"] == "zhipu-flash"
    assert response["attempts"][0]["outcome"] == "ok"


def test_include_usage_adds_one_last_chunk_without_choices(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).mock(side_effect=reply)
    chunks, _ = _chunks(include_usage=True)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 1050
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.choices and c.usage is None for c in chunks[:-1])


def test_a_stream_refused_everywhere_raises_from_create(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).mock(return_value=provider_error(429, "1302"))
    mock.post(OPENROUTER).respond(429, json={"error": {"message": "slow", "code": 429}})
    with (
        vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as client,
        pytest.raises(openai.RateLimitError) as info,
    ):
        client.chat.completions.create(model="glm-4.1v-thinking", messages=HELLO, stream=True)
    assert isinstance(info.value.vlmroute_error, vr.RateLimitedError)  # type: ignore[attr-defined]


def test_closing_a_stream_early_frees_its_slot(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).mock(side_effect=reply)
    with vlmroute.OpenAI(config=CONFIG, api_keys=KEYS) as client:
        stream = client.chat.completions.create(
            model="glm-4.1v-thinking", messages=HELLO, stream=True
        )
        next(iter(stream))
        stream.close()
        stream.close()
        assert client.router.engine.slots.in_flight("zhipu-flash") == 0


def test_async_stream_and_models(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).mock(side_effect=reply)

    async def main() -> tuple[list[ChatCompletionChunk], list[str], list[str]]:
        async with vlmroute.AsyncOpenAI(config=CONFIG, api_keys=KEYS) as client:
            stream = await client.chat.completions.create(
                model="glm-4.1v-thinking",
                messages=HELLO,
                stream=True,
                stream_options={"include_usage": True},
            )
            assert isinstance(stream, openai.AsyncStream)
            async with stream:
                chunks = [chunk async for chunk in stream]
            page = await client.models.list()
            names = [m.id async for m in client.models.list()]
            return chunks, [m.id for m in page.data], names

    chunks, listed, iterated = run(main)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert listed == iterated
    assert "zhipu-flash" in listed


# ---------------------------------------------------------------- construction


def test_a_router_passed_in_stays_open_and_cannot_be_mixed_with_config(
    mock: respx.MockRouter,
) -> None:
    mock.post(ZHIPU).mock(side_effect=reply)
    with vlmroute.Router.from_config(CONFIG, api_keys=KEYS) as router:
        with vlmroute.OpenAI(router=router) as client:
            client.chat.completions.create(model="glm-4.1v-thinking", messages=HELLO)
        assert router.chat(HELLO).answer == ANSWER  # still open
        with pytest.raises(vr.ConfigurationError, match="not both"):
            vlmroute.OpenAI(router=router, config=CONFIG)
        with pytest.raises(TypeError, match=r"vlmroute\.OpenAI"):
            vlmroute.AsyncOpenAI(router=router)  # type: ignore[arg-type]


# ---------------------------------------------------------------- against real loopback fakes


@pytest.mark.parametrize("app", [app_describe_image, app_stream])
def test_unmodified_apps_against_loopback_fake_providers(
    app: Callable[[Any], None], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same app functions, the providers real HTTP servers on 127.0.0.1."""
    from vlmroute.testing import FakeProvider

    with (
        FakeProvider("zhipu", answer=ANSWER, reasoning=REASONING) as zhipu,
        FakeProvider("openrouter", answer=ANSWER, reasoning=REASONING) as backup,
    ):
        config = {
            **CONFIG,
            "offers": [
                {"offer": "zhipu-flash", "base_url": zhipu.base_url},
                {"offer": "openrouter", "base_url": backup.base_url},
            ],
        }
        with (
            openai.OpenAI(base_url=zhipu.base_url, api_key="x", max_retries=0) as raw,
            vlmroute.OpenAI(config=config, api_keys=KEYS) as routed,
        ):
            app(raw)
            first = capsys.readouterr().out
            app(routed)
            second = capsys.readouterr().out
        seen = zhipu.stats.requests_seen

    def masked(text: str) -> str:  # the fake gives every answer its own id
        return re.sub(r"id: \S+", "id: <id>", text)

    assert masked(first) == masked(second)
    assert ANSWER in second
    assert seen == 2


def test_async_unmodified_app_against_a_loopback_fake(capsys: pytest.CaptureFixture[str]) -> None:
    from vlmroute.testing import FakeProvider

    async def both(base_url: str) -> tuple[str, str]:
        config = {**CONFIG, "offers": [{"offer": "zhipu-flash", "base_url": base_url}]}
        async with openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0) as raw:
            await app_async(raw)
        first = capsys.readouterr().out
        async with vlmroute.AsyncOpenAI(config=config, api_keys=KEYS) as routed:
            await app_async(routed)
        return first, capsys.readouterr().out

    with FakeProvider("zhipu", answer=ANSWER, reasoning=REASONING) as fake:
        first, second = asyncio.run(both(fake.base_url))
    assert first == second
    assert "[thinking]" in second
