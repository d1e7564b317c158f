"""vlmroute.testing: fake providers speak each wire format, play faults, enforce the cap."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal, get_args

import httpx
import pytest

import vlmroute.testing
from vlmroute.testing import FakeProvider, FakeStats, Fault

Dialect = Literal["zhipu", "openrouter", "siliconflow", "vllm", "sglang"]
DIALECTS: tuple[Dialect, ...] = get_args(Dialect)
BODY: dict[str, Any] = {"model": "glm", "messages": [{"role": "user", "content": "Describe."}]}
REASONING = "Let me look at the image."
ANSWER = "The cat is on the mat."
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
ERROR_FAULTS = ("rate_limit", "no_balance", "content_filter", "overloaded", "server_error")
#: Per dialect and error fault: the HTTP status and the dialect's code (or error type).
ERRORS: dict[str, dict[str, tuple[int, Any]]] = {
    "zhipu": {
        "rate_limit": (429, "1302"),
        "no_balance": (429, "1113"),
        "content_filter": (400, "1301"),
        "overloaded": (429, "1305"),
        "server_error": (502, "500"),
    },
    "openrouter": {
        "rate_limit": (429, "rate_limit_exceeded"),
        "no_balance": (402, "payment_required"),
        "content_filter": (403, "moderation"),
        "overloaded": (503, "provider_overloaded"),
        "server_error": (502, "server"),
    },
    "siliconflow": {
        "rate_limit": (429, 429),
        "no_balance": (403, 30001),
        "content_filter": (400, 400),
        "overloaded": (503, 50603),
        "server_error": (502, 50500),
    },
    "vllm": {
        "rate_limit": (429, "RateLimitError"),
        "no_balance": (402, "PaymentRequiredError"),
        "content_filter": (400, "BadRequestError"),
        "overloaded": (503, "ServiceUnavailableError"),
        "server_error": (502, "InternalServerError"),
    },
}
ERRORS["sglang"] = ERRORS["vllm"]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


def post(client: httpx.Client, fake: FakeProvider, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"{fake.base_url}/chat/completions", json=body)


def sse(text: str) -> list[Any]:
    """SSE events: JSON objects, "[DONE]", or the comment line itself."""
    events: list[Any] = []
    for block in text.split("\n\n"):
        if not block:
            continue
        if block.startswith(":"):
            events.append(block)
        elif block == "data: [DONE]":
            events.append("[DONE]")
        else:
            assert block.startswith("data: "), block
            events.append(json.loads(block[len("data: ") :]))
    return events


def code_of(dialect: str, status: int, body: Any) -> Any:
    """The dialect's error code, after checking the body has exactly the dialect's shape."""
    if dialect == "zhipu":
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message"}
        return body["error"]["code"]
    if dialect == "openrouter":
        assert set(body["error"]) == {"code", "message", "metadata"}
        assert body["error"]["code"] == status
        return body["error"]["metadata"]["error_type"]
    if dialect == "siliconflow":
        assert set(body) == {"code", "message", "data"}
        assert body["data"] is None
        return body["code"]
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == status
    return body["error"]["type"]


def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def gone(pid: int) -> bool:
    """Whether a process has exited (a zombie nobody reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def test_all_is_sorted() -> None:
    assert vlmroute.testing.__all__ == sorted(vlmroute.testing.__all__)
    for name in vlmroute.testing.__all__:
        assert getattr(vlmroute.testing, name) is not None


# -- answers --------------------------------------------------------------------------------


def _message(dialect: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": ANSWER}
    if dialect == "openrouter":
        details = [{"type": "reasoning.text", "text": REASONING}]
        return {**message, "reasoning": REASONING, "reasoning_details": details}
    field = "reasoning" if dialect == "vllm" else "reasoning_content"
    return {**message, field: REASONING}


def _expected_completion(dialect: str) -> dict[str, Any]:
    message = _message(dialect)
    if dialect == "zhipu":
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        usage = {**USAGE, "prompt_tokens_details": {"cached_tokens": 0}}
        head = {"id": "ID", "created": 0, "model": "glm", "request_id": "ID"}
        return {**head, "choices": [choice], "usage": usage}
    head = {"id": "ID", "object": "chat.completion", "created": 0, "model": "glm"}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
    if dialect == "openrouter":
        usage = {
            **USAGE,
            "cost": (1000 * 0.035 + 500 * 0.138) / 1e6,
            "is_byok": False,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "cost_details": {"upstream_inference_cost": None},
            "completion_tokens_details": {"reasoning_tokens": 7},
        }
        choice["native_finish_reason"] = "stop"
        head = {**head, "provider": "Novita", "system_fingerprint": None}  # its SDK needs it
        return {**head, "choices": [choice], "usage": usage}
    if dialect == "siliconflow":
        del choice["logprobs"]
        usage = {**USAGE, "completion_tokens_details": {"reasoning_tokens": 7}}
        return {**head, "choices": [choice], "usage": usage, "system_fingerprint": ""}
    return {**head, "choices": [choice], "usage": USAGE}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_non_stream_answer_has_the_dialects_exact_shape(
    dialect: Dialect, client: httpx.Client
) -> None:
    with FakeProvider(dialect, prompt_tokens=1000, completion_tokens=500) as fake:
        response = post(client, fake, BODY)
        data = response.json()
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert isinstance(data["id"], str)
        assert isinstance(data["created"], int)
        if dialect == "openrouter":
            assert response.headers["x-generation-id"] == data["id"]
        data["id"], data["created"] = "ID", 0
        if dialect == "zhipu":
            data["request_id"] = "ID"
        assert data == _expected_completion(dialect)
        assert fake.stats.served == 1
        assert fake.stats.status_counts == {200: 1}


def test_base_urls_follow_each_provider() -> None:
    paths = {"zhipu": "/api/paas/v4", "openrouter": "/api/v1", "siliconflow": "/v1"}
    for dialect in DIALECTS:
        with FakeProvider(dialect) as fake:
            expected = f"http://127.0.0.1:{fake.port}{paths.get(dialect, '/v1')}"
            assert fake.base_url == expected


@pytest.mark.parametrize("dialect", DIALECTS)
def test_stream_sends_reasoning_then_content_then_finish_and_usage(
    dialect: Dialect, client: httpx.Client
) -> None:
    with FakeProvider(dialect, stream_chunks=4, prompt_tokens=1000, completion_tokens=500) as fake:
        body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
        response = post(client, fake, body)
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse(response.text)
    if dialect == "openrouter":
        assert events.pop(0) == ": OPENROUTER PROCESSING"
    assert events.pop() == "[DONE]"
    field = {"openrouter": "reasoning", "vllm": "reasoning"}.get(dialect, "reasoning_content")
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    assert deltas[0]["role"] == "assistant"
    reasoning = [d[field] for d in deltas if field in d]
    content = [d["content"] for d in deltas if d.get("content")]
    assert len(reasoning) == 4
    assert len(content) == 4
    assert "".join(reasoning) == REASONING
    assert "".join(content) == ANSWER
    first_content = next(i for i, d in enumerate(deltas) if d.get("content"))
    assert all(field not in d for d in deltas[first_content:])  # reasoning comes first
    if dialect == "openrouter":
        assert deltas[0]["reasoning_details"] == [{"type": "reasoning.text", "text": "Let me "}]
    if dialect in ("vllm", "sglang"):  # finish, then usage on a chunk of its own
        assert events[-2]["choices"][0]["finish_reason"] == "stop"
        assert events[-1]["choices"] == []
        assert events[-1]["usage"] == USAGE
    else:
        assert events[-1]["choices"][0]["finish_reason"] == "stop"
        assert {k: events[-1]["usage"][k] for k in USAGE} == USAGE
    assert all(e["id"] == events[0]["id"] for e in events)
    if dialect == "zhipu":  # Zhipu's chunks carry no "object"
        assert set(events[0]) == {"id", "created", "model", "choices"}


@pytest.mark.parametrize("dialect", ["vllm", "sglang"])
def test_local_servers_stream_usage_only_when_asked(dialect: Dialect, client: httpx.Client) -> None:
    with FakeProvider(dialect) as fake:
        events = sse(post(client, fake, {**BODY, "stream": True}).text)
    assert events[-1] == "[DONE]"
    assert all("usage" not in e for e in events[:-1])
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


def test_inline_reasoning_is_cut_anywhere_even_inside_tags(client: httpx.Client) -> None:
    with FakeProvider("vllm", reasoning_field="inline", stream_chunks=7) as fake:
        message = post(client, fake, BODY).json()["choices"][0]["message"]
        events = sse(post(client, fake, {**BODY, "stream": True}).text)
    inline = f"<think>{REASONING}</think><answer>{ANSWER}</answer>"
    assert message == {"role": "assistant", "content": inline}
    pieces = [e["choices"][0]["delta"].get("content", "") for e in events[:-2]]
    assert "".join(pieces) == inline
    assert len(pieces) == 7
    assert "e image.</t" in pieces
    assert "hink><answe" in pieces


def test_reasoning_field_model_and_token_overrides(client: httpx.Client) -> None:
    with FakeProvider("vllm", reasoning_field="reasoning_content", model="served") as fake:
        data = post(client, fake, BODY).json()
    assert data["model"] == "served"
    assert data["choices"][0]["message"]["reasoning_content"] == REASONING
    with FakeProvider("openrouter", cost_usd=0.5, answer="A dog.", reasoning="") as fake:
        data = post(client, fake, BODY).json()
    assert data["usage"]["cost"] == 0.5
    assert data["choices"][0]["message"]["content"] == "A dog."


def test_token_counts_are_computed_from_the_request_and_the_answer(client: httpx.Client) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    text = {"type": "text", "text": "What is in the picture?"}  # 23 characters: 6 tokens
    body = {"model": "glm", "messages": [{"role": "user", "content": [image, text]}]}
    with FakeProvider("siliconflow") as fake:
        usage = post(client, fake, body).json()["usage"]
    assert usage["prompt_tokens"] == 4 + 1000 + 6
    assert usage["completion_tokens"] == 7 + 6  # ceil(25 / 4) + ceil(22 / 4)
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 7}


# -- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_error_faults_answer_in_the_dialects_format(dialect: Dialect, client: httpx.Client) -> None:
    builders: dict[str, Fault] = {
        "rate_limit": Fault.rate_limit(),
        "no_balance": Fault.no_balance(),
        "content_filter": Fault.content_filter(),
        "overloaded": Fault.overloaded(),
        "server_error": Fault.server_error(502),
    }
    with FakeProvider(dialect) as fake:
        for name in ERROR_FAULTS:
            fake.inject(builders[name])
            response = post(client, fake, BODY)
            status, code = ERRORS[dialect][name]
            assert response.status_code == status, name
            assert response.headers["content-type"] == "application/json"
            assert code_of(dialect, status, response.json()) == code, name
        assert post(client, fake, BODY).status_code == 200  # each fault was used once
        stats = fake.stats
    assert stats.faulted == 5
    assert stats.served == 1
    assert stats.requests_seen == 6


def test_error_messages_are_the_providers_own(client: httpx.Client) -> None:
    with FakeProvider("zhipu") as fake:
        fake.inject(Fault.rate_limit(retry_after=2), times=2)
        first, second = post(client, fake, BODY), post(client, fake, BODY)
        assert "并发数过高" in first.json()["error"]["message"]
        assert first.headers["retry-after"] == second.headers["retry-after"] == "2"
        assert "retry-after" not in post(client, fake, BODY).headers
    with FakeProvider("siliconflow") as fake:
        fake.inject(Fault.rate_limit(retry_after=0.5))
        response = post(client, fake, BODY)
    message = response.json()["message"]
    assert "rejected due to rate limiting" in message
    assert "TPM limit reached" in message
    assert response.headers["retry-after"] == "0.5"


def test_status_fault_sends_exactly_what_it_is_given(client: httpx.Client) -> None:
    with FakeProvider("openrouter") as fake:
        fake.inject(Fault.status(418, {"teapot": True}, headers={"X-Why": "test"}))
        response = post(client, fake, BODY)
    assert response.status_code == 418
    assert response.json() == {"teapot": True}
    assert response.headers["x-why"] == "test"


def test_hang_says_nothing_then_answers(client: httpx.Client) -> None:
    with FakeProvider("zhipu") as fake:
        fake.inject(Fault.hang(5.0))
        with pytest.raises(httpx.ReadTimeout):
            client.post(f"{fake.base_url}/chat/completions", json=BODY, timeout=0.2)
        until(lambda: fake.stats.in_flight == 0)  # the client hung up: no longer in flight
        fake.inject(Fault.hang(0.05))
        started = time.monotonic()
        assert post(client, fake, BODY).status_code == 200
        assert time.monotonic() - started >= 0.05


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_json_is_a_200_that_does_not_parse(stream: bool, client: httpx.Client) -> None:
    with FakeProvider("siliconflow") as fake:
        fake.inject(Fault.malformed_json())
        response = post(client, fake, {**BODY, "stream": stream})
    assert response.status_code == 200
    text = response.text.removeprefix("data: ").split("\n\n")[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_cut_stream_sends_some_chunks_then_drops(client: httpx.Client) -> None:
    with FakeProvider("openrouter") as fake:
        fake.inject(Fault.cut_stream(after_chunks=2))
        received: list[str] = []
        url = f"{fake.base_url}/chat/completions"
        with (
            pytest.raises(httpx.RemoteProtocolError),
            client.stream("POST", url, json={**BODY, "stream": True}) as response,
        ):
            received.extend(response.iter_lines())
        fake.inject(Fault.cut_stream())
        with pytest.raises(httpx.RemoteProtocolError):  # non-stream: headers, then nothing
            post(client, fake, BODY)
        assert fake.stats.status_counts == {200: 2}
        assert fake.stats.served == 0
    data = [line for line in received if line.startswith("data: ")]
    assert len(data) == 2
    assert "data: [DONE]" not in received


@pytest.mark.parametrize("dialect", DIALECTS)
def test_stream_error_arrives_in_stream_under_200(dialect: Dialect, client: httpx.Client) -> None:
    with FakeProvider(dialect) as fake:
        fake.inject(Fault.stream_error(after_chunks=1))
        response = post(client, fake, {**BODY, "stream": True})
        fake.inject(Fault.stream_error())
        non_stream = post(client, fake, BODY)
    assert response.status_code == 200
    events = [e for e in sse(response.text) if not (isinstance(e, str) and e.startswith(":"))]
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    error = events[1]
    if dialect == "zhipu":
        assert error == {"error": {"code": "1305", "message": error["error"]["message"]}}
    elif dialect == "openrouter":
        assert error["error"]["code"] == 502
        assert error["choices"] == [
            {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
        ]
    elif dialect == "siliconflow":
        assert error["code"] == 50603
        assert error["data"] is None
    else:
        assert error["error"]["type"] == "InternalServerError"
    assert events[2:] == (["[DONE]"] if dialect in ("vllm", "sglang") else [])
    assert non_stream.status_code == ERRORS[dialect]["overloaded"][0]


def test_drop_closes_the_connection_without_an_answer(client: httpx.Client) -> None:
    with FakeProvider("vllm") as fake:
        fake.inject(Fault.drop())
        with pytest.raises(httpx.RemoteProtocolError):
            post(client, fake, BODY)
        assert post(client, fake, BODY).status_code == 200
        stats = fake.stats
    assert stats.status_counts == {200: 1}
    assert stats.faulted == 1
    assert stats.in_flight == 0


def test_fail_rate_fails_a_seeded_random_share(client: httpx.Client) -> None:
    def statuses(seed: int) -> list[int]:
        fail = Fault.server_error(503)
        with FakeProvider("openrouter", fail_rate=0.5, fail_with=fail, seed=seed) as fake:
            codes = [post(client, fake, BODY).status_code for _ in range(20)]
            assert fake.stats.faulted == codes.count(503)
        return codes

    first = statuses(7)
    assert set(first) == {200, 503}
    assert statuses(7) == first  # the same seed fails the same requests
    with FakeProvider("zhipu", fail_rate=1.0) as fake:  # default: the dialect's overload
        assert post(client, fake, BODY).json()["error"]["code"] == "1305"


def test_faults_round_trip_through_their_json_spec() -> None:
    faults = [
        Fault.rate_limit(),
        Fault.rate_limit(retry_after=1.5),
        Fault.no_balance(),
        Fault.content_filter(),
        Fault.overloaded(retry_after=3),
        Fault.server_error(503),
        Fault.status(400, {"a": [1]}, headers={"X": "y"}),
        Fault.hang(0.25),
        Fault.malformed_json(),
        Fault.cut_stream(3),
        Fault.stream_error(0),
        Fault.drop(),
    ]
    for fault in faults:
        assert Fault.from_spec(json.loads(json.dumps(fault.to_spec()))) == fault
    assert len(set(faults)) == len(faults)  # frozen and hashable
    with pytest.raises(ValueError, match="unknown fault"):
        Fault.from_spec({"fault": "meteor"})
    with pytest.raises(ValueError, match="status"):
        Fault.server_error(700)


# -- cap, auth, control ---------------------------------------------------------------------


async def _fire(url: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(trust_env=False, timeout=10, limits=limits) as client:
        return await asyncio.gather(*(client.post(url, json=BODY) for _ in range(n)))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_cap_turns_away_exactly_the_requests_over_it(dialect: Dialect) -> None:
    with FakeProvider(dialect, latency_s=0.2, cap=5) as fake:
        responses = asyncio.run(_fire(f"{fake.base_url}/chat/completions", 8))
        stats = fake.stats
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [429] * 3
    rejected = next(r for r in responses if r.status_code == 429)
    assert code_of(dialect, 429, rejected.json()) == ERRORS[dialect]["rate_limit"][1]
    assert stats.peak_in_flight == 5
    assert stats.rejected == 3
    assert stats.served == 5
    assert stats.requests_seen == 8
    assert stats.in_flight == 0
    assert stats.status_counts == {200: 5, 429: 3}


def test_faulted_requests_skip_the_cap_but_count_in_flight(client: httpx.Client) -> None:
    with FakeProvider("zhipu", cap=0) as fake:
        assert post(client, fake, BODY).status_code == 429  # a cap of 0 turns everyone away
        fake.inject(Fault.server_error())
        assert post(client, fake, BODY).status_code == 500
        stats = fake.stats
    assert stats.rejected == 1
    assert stats.faulted == 1
    assert stats.peak_in_flight == 1


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_key_is_checked_and_redacted_in_records(dialect: Dialect, client: httpx.Client) -> None:
    with FakeProvider(dialect, api_key="right") as fake:
        url = f"{fake.base_url}/chat/completions"
        missing = client.post(url, json=BODY)
        wrong = client.post(url, json=BODY, headers={"Authorization": "Bearer wrong"})
        right = client.post(url, json=BODY, headers={"Authorization": "Bearer right"})
        records = fake.requests
    assert missing.status_code == wrong.status_code == 401
    assert right.status_code == 200
    if dialect == "zhipu":
        assert wrong.json()["error"]["code"] == "1000"
    if dialect in ("vllm", "sglang"):
        assert wrong.json() == {"error": "Unauthorized"}
    assert [(r.authorized, r.auth_scheme) for r in records] == [
        (False, None),
        (False, "Bearer"),
        (True, "Bearer"),
    ]
    assert records[2].headers["authorization"] == "<redacted>"
    assert records[2].json == BODY
    assert records[2].path.endswith("/chat/completions")
    assert "right" not in repr(fake)
    assert "right" not in repr(fake.config)


def test_control_endpoints_drive_a_fake_over_http(client: httpx.Client) -> None:
    with FakeProvider("zhipu") as fake:
        spec = {"fault": "rate_limit", "times": 2, "retry_after": 1}
        assert client.post(f"{fake.root_url}/_fake/inject", json=spec).json()["queued"] == 2
        assert [post(client, fake, BODY).status_code for _ in range(3)] == [429, 429, 200]
        stats = FakeStats.from_json(client.get(f"{fake.root_url}/_fake/stats").json())
        assert stats == fake.stats
        assert stats.status_counts == {429: 2, 200: 1}
        recorded = client.get(f"{fake.root_url}/_fake/requests").json()
        assert [r["json"] for r in recorded] == [BODY] * 3
        bad = client.post(f"{fake.root_url}/_fake/inject", json={"fault": "meteor"})
        assert bad.status_code == 400
        assert "unknown fault" in bad.json()["error"]
        client.post(f"{fake.root_url}/_fake/reset")
        assert fake.stats == FakeStats()
        assert fake.requests == []


def test_vllm_health_models_and_metrics(client: httpx.Client) -> None:
    with FakeProvider("vllm", latency_s=0.5, cap=4, api_key="k") as fake:
        health = client.get(f"{fake.root_url}/health")
        assert health.status_code == 200
        assert health.content == b""
        assert client.get(f"{fake.base_url}/models").status_code == 401
        models = client.get(f"{fake.base_url}/models", headers={"Authorization": "Bearer k"})
        assert [m["id"] for m in models.json()["data"]] == ["zai-org/GLM-4.1V-9B-Thinking"]
        assert models.json()["object"] == "list"

        async def two_in_flight_then_metrics() -> str:
            async with httpx.AsyncClient(trust_env=False, timeout=10) as aclient:
                url = f"{fake.base_url}/chat/completions"
                auth = {"Authorization": "Bearer k"}
                calls = [asyncio.create_task(aclient.post(url, json=BODY, headers=auth))]
                calls.append(asyncio.create_task(aclient.post(url, json=BODY, headers=auth)))
                while fake.stats.in_flight < 2:
                    await asyncio.sleep(0.005)
                metrics = (await aclient.get(f"{fake.root_url}/metrics")).text
                await asyncio.gather(*calls)
            return metrics

        metrics = asyncio.run(two_in_flight_then_metrics())
    label = '{engine="0",model_name="zai-org/GLM-4.1V-9B-Thinking"}'
    assert f"vllm:num_requests_running{label} 2.0" in metrics.splitlines()
    assert f"vllm:num_requests_waiting{label} 0.0" in metrics.splitlines()
    kv = re.search(r"^vllm:kv_cache_usage_perc\{.*\} (\S+)$", metrics, re.MULTILINE)
    assert kv is not None
    assert float(kv.group(1)) == 0.5
    with FakeProvider("zhipu") as fake:  # hosted APIs have no such endpoints
        assert client.get(f"{fake.root_url}/metrics").status_code == 404


# -- life -----------------------------------------------------------------------------------


def test_kill_drops_in_flight_requests_and_start_serves_on_the_same_port() -> None:
    fake = FakeProvider("zhipu", chunk_delay_s=1.0)
    with fake:
        port = fake.port
        fake.inject(Fault.hang(10.0))

        async def killed_mid_answer() -> list[BaseException | None]:
            async with httpx.AsyncClient(trust_env=False, timeout=10) as aclient:
                url = f"{fake.base_url}/chat/completions"
                first_chunk = asyncio.Event()

                async def stream() -> None:
                    async with aclient.stream("POST", url, json={**BODY, "stream": True}) as r:
                        async for _ in r.aiter_lines():
                            first_chunk.set()

                plain = asyncio.create_task(aclient.post(url, json=BODY))
                while fake.stats.in_flight < 1:
                    await asyncio.sleep(0.005)
                streamed = asyncio.create_task(stream())
                await first_chunk.wait()
                await asyncio.to_thread(fake.kill)
                outcomes = await asyncio.gather(plain, streamed, return_exceptions=True)
            return [o if isinstance(o, BaseException) else None for o in outcomes]

        outcomes = asyncio.run(killed_mid_answer())
        assert all(isinstance(o, httpx.TransportError) for o in outcomes), outcomes
        assert fake.stats.in_flight == 0
        assert not fake.serving
        with httpx.Client(trust_env=False, timeout=5) as client:
            with pytest.raises(httpx.ConnectError):
                post(client, fake, BODY)
            fake.start()
            assert fake.port == port
            assert post(client, fake, BODY).status_code == 200
    assert not fake.serving


def test_async_with_serves_without_blocking_the_callers_loop() -> None:
    async def main() -> int:
        async with FakeProvider("openrouter", latency_s=0.05) as fake:
            async with httpx.AsyncClient(trust_env=False, timeout=5) as aclient:
                response = await aclient.post(f"{fake.base_url}/chat/completions", json=BODY)
            assert fake.serving
        assert not fake.serving
        return response.status_code

    assert asyncio.run(main()) == 200


def test_with_exit_stops_the_server_even_when_the_test_fails() -> None:
    fake = FakeProvider("sglang")
    with pytest.raises(RuntimeError, match="boom"), fake:
        raise RuntimeError("boom")
    assert not fake.serving
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{fake.root_url}/health", trust_env=False)


def test_bad_arguments_fail_when_the_fake_is_built() -> None:
    with pytest.raises(ValueError, match="unknown dialect"):
        FakeProvider("openai")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stream_chunks"):
        FakeProvider("vllm", stream_chunks=0)
    with pytest.raises(RuntimeError, match="not started"):
        _ = FakeProvider("vllm").base_url


# -- another process ------------------------------------------------------------------------


@pytest.mark.slow
def test_spawn_serves_from_a_child_process_and_leaves_none_behind(client: httpx.Client) -> None:
    with FakeProvider.spawn(
        "zhipu", cap=3, api_key="k", prompt_tokens=1000, completion_tokens=500
    ) as fake:
        pid = fake.pid
        url = f"{fake.base_url}/chat/completions"
        auth = {"Authorization": "Bearer k"}
        assert fake.base_url == f"http://127.0.0.1:{fake.port}/api/paas/v4"
        assert client.post(url, json=BODY, headers=auth).json()["usage"]["total_tokens"] == 1500
        fake.inject(Fault.no_balance(), times=2)
        assert client.post(url, json=BODY, headers=auth).json()["error"]["code"] == "1113"
        stats = fake.stats()
        assert (stats.served, stats.faulted, stats.status_counts) == (1, 1, {200: 1, 429: 1})
        assert [r.authorized for r in fake.requests()] == [True, True]
        assert fake.stats()["status_counts"] == {"200": 1, "429": 1}  # the JSON form
        fake.reset_stats()
        assert fake.stats() == FakeStats()
        fake.kill()
        assert not fake.alive
        assert gone(pid)
    spawned = vlmroute.testing.spawn("vllm", fail_rate=1.0, fail_with=Fault.drop(), seed=1)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(f"{spawned.base_url}/chat/completions", json=BODY)
    spawned.close()
    assert gone(spawned.pid)
    spawned.close()  # twice is fine


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_spawned_fake_exits_when_its_parent_dies() -> None:
    code = (
        "import time\n"
        "from vlmroute.testing import FakeProvider\n"
        "fake = FakeProvider.spawn('sglang')\n"
        "print(fake.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not gone(child)
        parent.kill()
        parent.wait()
    until(lambda: gone(child))


@pytest.mark.slow
def test_serve_prints_where_it_listens() -> None:
    command = [sys.executable, "-m", "vlmroute.testing", "serve", "--dialect", "siliconflow"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL) as server:
        try:
            assert server.stdout is not None
            info = json.loads(server.stdout.readline())
            assert info["base_url"] == f"http://127.0.0.1:{info['port']}/v1"
            with httpx.Client(trust_env=False, timeout=5) as client:
                response = client.post(f"{info['base_url']}/chat/completions", json=BODY)
            assert response.json()["choices"][0]["message"]["content"] == ANSWER
        finally:
            server.terminate()
    assert server.returncode == 0
