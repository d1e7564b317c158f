"""The fake providers speak each wire format, enforce their cap and play their faults."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from vlmroute.testing import DIALECTS, FakeProvider, Fault, spawn


def post(fake: FakeProvider, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{fake.base_url}/chat/completions", json=body, headers=headers, timeout=5)


BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def sse_chunks(text: str) -> list[dict[str, Any]]:
    lines = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_completion_shape_per_dialect(dialect: str) -> None:
    with FakeProvider(dialect, answer="A cat.", reasoning="fur") as fake:  # type: ignore[arg-type]
        data = post(fake, BODY).json()
    message = data["choices"][0]["message"]
    assert message["content"] == "A cat."
    field = {"openrouter": "reasoning", "vllm": "reasoning"}.get(dialect, "reasoning_content")
    assert message[field] == "fur"
    assert data["usage"]["prompt_tokens"] > 0
    assert ("request_id" in data) == (dialect == "zhipu")
    assert ("cost" in data["usage"]) == (dialect == "openrouter")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_stream_shape_per_dialect(dialect: str) -> None:
    with FakeProvider(dialect, answer="A cat.", reasoning="fur", stream_chunks=4) as fake:  # type: ignore[arg-type]
        response = post(fake, {**BODY, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith(": OPENROUTER PROCESSING") == (dialect == "openrouter")
    chunks = sse_chunks(response.text)
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert content == "A cat."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert ("usage" in chunks[-1]) == (dialect not in ("vllm", "sglang"))


def test_vllm_usage_in_stream_only_when_asked_and_inline_reasoning() -> None:
    with FakeProvider("vllm", reasoning_field="inline", answer="A", reasoning="R") as fake:
        plain = post(fake, BODY).json()["choices"][0]["message"]["content"]
        chunks = sse_chunks(
            post(fake, {**BODY, "stream": True, "stream_options": {"include_usage": True}}).text
        )
    assert plain == "<think>R</think><answer>A</answer>"
    assert "usage" in chunks[-1]


@pytest.mark.parametrize(
    ("fault", "dialect", "status", "code"),
    [
        (Fault.rate_limit(), "zhipu", 429, "1302"),
        (Fault.no_balance(), "zhipu", 429, "1113"),
        (Fault.content_filter(), "zhipu", 400, "1301"),
        (Fault.overloaded(), "zhipu", 429, "1305"),
        (Fault.rate_limit(), "openrouter", 429, "rate_limit_exceeded"),
        (Fault.no_balance(), "openrouter", 402, "payment_required"),
        (Fault.overloaded(), "openrouter", 503, "provider_overloaded"),
        (Fault.no_balance(), "siliconflow", 403, 30001),
        (Fault.rate_limit(), "vllm", 429, "rate_limit_exceeded"),
    ],
)
def test_error_faults_use_the_dialects_body(
    fault: Fault, dialect: str, status: int, code: str | int
) -> None:
    with FakeProvider(dialect) as fake:  # type: ignore[arg-type]
        fake.inject(fault)
        first = post(fake, BODY)
        second = post(fake, BODY)
    assert first.status_code == status
    body = first.json()
    found = {
        "zhipu": lambda: body["error"]["code"],
        "openrouter": lambda: body["error"]["metadata"]["error_type"],
        "siliconflow": lambda: body["code"],
        "vllm": lambda: body["error"]["type"],
    }[dialect]()
    assert found == code
    assert second.status_code == 200  # times=1


def test_retry_after_header_and_custom_status() -> None:
    with FakeProvider("zhipu") as fake:
        fake.inject(Fault.rate_limit(retry_after=2))
        fake.inject(Fault.status(502, "<html>bad gateway</html>"))
        fake.inject(Fault.malformed_json())
        limited, bad, malformed = (post(fake, BODY) for _ in range(3))
    assert limited.headers["retry-after"] == "2"
    assert (bad.status_code, bad.text) == (502, "<html>bad gateway</html>")
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        malformed.json()


def test_cut_stream_and_stream_error() -> None:
    with FakeProvider("openrouter", stream_chunks=6) as fake:
        fake.inject(Fault.stream_error(after_chunks=2))
        errored = sse_chunks(post(fake, {**BODY, "stream": True}).text + "\ndata: [DONE]")
        fake.inject(Fault.cut_stream(after_chunks=2))
        with pytest.raises(httpx.HTTPError):
            post(fake, {**BODY, "stream": True})
        fake.inject(Fault.drop())
        with pytest.raises(httpx.HTTPError):
            post(fake, BODY)
    assert errored[-1]["choices"][0]["finish_reason"] == "error"
    assert "error" in errored[-1]


def test_cap_rejects_the_excess_with_1302() -> None:
    async def main(fake: FakeProvider) -> list[int]:
        async with httpx.AsyncClient(timeout=5) as client:
            url = f"{fake.base_url}/chat/completions"
            answers = await asyncio.gather(*(client.post(url, json=BODY) for _ in range(8)))
        return sorted(a.status_code for a in answers)

    with FakeProvider("zhipu", latency_s=0.2, cap=5) as fake:
        statuses = asyncio.run(main(fake))
        stats = fake.snapshot()
    assert statuses == [200] * 5 + [429] * 3
    assert stats.rejected == 3
    assert stats.served == 5


def test_api_key_is_checked_and_never_recorded() -> None:
    with FakeProvider("zhipu", api_key="sk-secret") as fake:
        assert post(fake, BODY).status_code == 401
        assert post(fake, BODY, key="sk-secret").status_code == 200
        assert "sk-secret" not in repr(fake.requests)


def test_kill_drops_in_flight_and_start_serves_on_the_same_port() -> None:
    async def main(fake: FakeProvider) -> BaseException | httpx.Response:
        async with httpx.AsyncClient(timeout=5) as client:
            pending = asyncio.create_task(
                client.post(f"{fake.base_url}/chat/completions", json=BODY)
            )
            await asyncio.sleep(0.2)
            await asyncio.to_thread(fake.kill)
            results = await asyncio.gather(pending, return_exceptions=True)
            return results[0]

    with FakeProvider("zhipu", latency_s=2.0) as fake:
        port = fake.port
        outcome = asyncio.run(main(fake))
        assert isinstance(outcome, httpx.HTTPError)
        fake.latency_s = 0
        fake.start()
        assert fake.port == port
        assert post(fake, BODY).status_code == 200


def test_local_server_endpoints() -> None:
    with FakeProvider("vllm") as fake:
        root = f"http://127.0.0.1:{fake.port}"
        assert httpx.get(f"{root}/health").status_code == 200
        assert httpx.get(f"{fake.base_url}/models").json()["data"][0]["id"] == fake.model
        assert "vllm:num_requests_running" in httpx.get(f"{root}/metrics").text


def test_random_failure_rate_is_seeded() -> None:
    with FakeProvider("zhipu", fail_rate=0.5, seed=7) as fake:
        statuses = [post(fake, BODY).status_code for _ in range(20)]
    assert 3 < statuses.count(429) < 17


@pytest.mark.slow
def test_spawned_fake_runs_in_another_process_and_goes_away() -> None:
    with spawn("zhipu", cap=1) as fake:
        fake.inject("rate_limit", times=1)
        url = f"{fake.base_url}/chat/completions"
        assert httpx.post(url, json=BODY).status_code == 429
        assert httpx.post(url, json=BODY).status_code == 200
        assert fake.stats()["status_counts"] == {"429": 1, "200": 1}
        process = fake.process
    assert process.poll() is not None
