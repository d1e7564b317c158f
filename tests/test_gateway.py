"""``vlmroute serve`` as a process, driven by real clients (the openai SDK, curl) against
fake providers: what the fake received, what the client got, and how the process stops."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from vlmroute._ledger import SqliteLedger
from vlmroute.testing import FakeProvider, Fault

ROOT = Path(__file__).resolve().parents[1]
MODEL = "glm-4.1v-thinking-flash"
HELLO: list[Any] = [{"role": "user", "content": "hi"}]


class Gateway:
    def __init__(self, process: subprocess.Popen[str], base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(sig)
        code = self.process.wait(30)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()


@contextmanager
def gateway(config: dict[str, Any], tmp: Path, *extra: str) -> Iterator[Gateway]:
    path = tmp / "router.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "vlmroute._cli.main", "serve", "--config", str(path)]
    env = {**os.environ, "ZHIPUAI_API_KEY": "sk-gateway-test-key"}
    with subprocess.Popen(
        [*command, "--port", "0", *extra], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stderr is not None
            line = process.stderr.readline()
            found = re.search(r"serving (http://\S+/v1)", line)
            assert found, line
            yield Gateway(process, found.group(1))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def config_for(fake: FakeProvider, tmp: Path, **extra: Any) -> dict[str, Any]:
    offer = {"offer": "zhipu-flash", "base_url": fake.base_url}
    return {"offers": [offer], "ledger": str(tmp / "spend.db"), **extra}


def test_the_openai_sdk_chats_and_streams_through_the_gateway(tmp_path: Path) -> None:
    with FakeProvider("zhipu") as fake, gateway(config_for(fake, tmp_path), tmp_path) as gw:
        client = openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=HELLO, max_tokens=64
        )
        reply = raw.parse()
        assert raw.headers["x-vlmroute-offer"] == "zhipu-flash"
        assert raw.headers["x-request-id"]
        assert reply.choices[0].message.content
        stream = client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert streamed == reply.choices[0].message.content

        async def async_call() -> str:
            async with openai.AsyncOpenAI(base_url=gw.base_url, api_key="u") as a:
                answer = await a.chat.completions.create(model=MODEL, messages=HELLO)
                return answer.choices[0].message.content or ""

        assert asyncio.run(async_call()) == reply.choices[0].message.content
        sent = fake.requests
        assert [r.json["max_tokens"] for r in sent[:1]] == [64]
        assert all(r.authorized for r in sent)  # the gateway's provider key, not the caller's
        code, err = gw.stop()
    assert code == 0
    assert "sk-gateway-test-key" not in err
    with SqliteLedger(tmp_path / "spend.db", create=False) as ledger:
        assert [r.outcome for r in ledger.rows()] == ["ok", "ok", "ok"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_reads_the_stream_and_every_error_is_openai_json(tmp_path: Path) -> None:
    with (
        FakeProvider("zhipu") as fake,
        gateway(config_for(fake, tmp_path), tmp_path, "--max-body-mib", "1") as gw,
    ):
        url = f"{gw.base_url}/chat/completions"

        def curl(*args: str) -> str:
            run = subprocess.run(["curl", "-sN", *args], capture_output=True, text=True, check=True)
            return run.stdout

        body = '{"model": "%s", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
        lines = curl("-X", "POST", url, "-H", "content-type: application/json", "-d", body % MODEL)
        assert lines.strip().splitlines()[-1] == "data: [DONE]"
        assert '"finish_reason":"stop"' in lines.replace(" ", "")
        assert '"code":"invalid_json"' in curl("-X", "POST", url, "-d", "{not json")
        assert '"code":"unknown_url"' in curl(f"{gw.base_url}/nowhere")
        big = tmp_path / "big.json"
        big.write_bytes(b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}')
        too_big = curl("-X", "POST", url, "--data-binary", f"@{big}", "-w", " %{http_code}")
        assert too_big.endswith(" 413")
        assert '"code":"too_large"' in too_big.replace(" ", "")
        assert '"ready":true' in curl(f"{gw.base_url.removesuffix('/v1')}/ready").replace(" ", "")
        assert gw.stop()[0] == 0


def test_a_provider_429_reaches_the_sdk_as_its_rate_limit_error(tmp_path: Path) -> None:
    with FakeProvider("zhipu") as fake:
        config = config_for(fake, tmp_path, retry={"attempts": 1})
        with gateway(config, tmp_path) as gw:
            fake.inject(Fault.rate_limit(retry_after=30))
            client = openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
            with pytest.raises(openai.RateLimitError) as info:
                client.chat.completions.create(model=MODEL, messages=HELLO)
            assert "sk-gateway-test-key" not in str(info.value.body)
            code, _ = gw.stop(signal.SIGINT)
    assert code == 130  # Ctrl-C, as every vlmroute command
    with SqliteLedger(tmp_path / "spend.db", create=False) as ledger:
        assert [r.outcome for r in ledger.rows()] == ["RateLimitedError"]


def test_a_public_address_without_gateway_keys_is_refused_before_serving() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "vlmroute._cli.main", "serve", "--host", "0.0.0.0", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "--insecure-no-auth" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_s_curl_line_runs_against_the_gateway(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n# gateway\n(.*?)```", text, re.S)
    assert block is not None
    [line] = [x for x in block.group(1).splitlines() if x.startswith("curl ")]
    with FakeProvider("zhipu") as fake, gateway(config_for(fake, tmp_path), tmp_path) as gw:
        command = line.replace("http://127.0.0.1:4000/v1", gw.base_url)
        out = subprocess.run(command, shell=True, capture_output=True, text=True, check=True)
        assert out.stdout.strip().splitlines()[-1] == "data: [DONE]"
        assert gw.stop()[0] == 0


def test_a_client_that_drops_a_stream_frees_its_slot_at_once(tmp_path: Path) -> None:
    """Cap 1 and a stream that would last 200 s: the client reads one event and
    leaves; the next request gets the one slot (so it was freed before the provider was
    done), the stream is recorded as abandoned, and the gateway serves on."""
    with FakeProvider("zhipu", stream_chunks=40, chunk_delay_s=5.0) as fake:
        config = config_for(fake, tmp_path)
        config["offers"][0]["cap"] = 1
        with gateway(config, tmp_path) as gw:
            import httpx

            body = {"model": MODEL, "messages": HELLO, "stream": True}
            with (
                httpx.Client(timeout=120) as http,
                http.stream("POST", f"{gw.base_url}/chat/completions", json=body) as response,
            ):
                assert response.status_code == 200
                next(response.iter_lines())  # one event, then the client goes away
            client = openai.OpenAI(
                base_url=gw.base_url, api_key="unused", max_retries=0, timeout=120
            )
            plain = client.chat.completions.create(model=MODEL, messages=HELLO)
            assert plain.choices[0].message.content
            ready = httpx.get(f"{gw.base_url.removesuffix('/v1')}/ready", timeout=120).json()
            assert ready["offers"]["zhipu-flash"]["in_flight"] == 0
            assert gw.stop()[0] == 0
    with SqliteLedger(tmp_path / "spend.db", create=False) as ledger:
        rows = ledger.rows()
    assert sorted(r.outcome for r in rows) == ["abandoned", "ok"]  # the dropped one too


def _node_openai() -> str | None:
    """Where the `openai` npm package is, or None when node or the package is missing.
    .ci/run installs it and sets VLMROUTE_NODE_PATH: then the test always runs (and fails
    if the package is broken), never skips."""
    if "VLMROUTE_NODE_PATH" in os.environ:
        return os.environ["VLMROUTE_NODE_PATH"]
    if shutil.which("node") is None:
        return None
    path = ""
    env = {**os.environ, "NODE_PATH": path}
    found = subprocess.run(
        ["node", "-e", "require('openai')"], env=env, capture_output=True, check=False
    )
    return path if found.returncode == 0 else None


NODE_PATH = _node_openai()


@pytest.mark.skipif(NODE_PATH is None, reason="node or the openai npm package is missing")
def test_the_openai_npm_package_chats_streams_and_gets_its_rate_limit_error(
    tmp_path: Path,
) -> None:
    script = ROOT / "tests" / "node" / "openai_client.cjs"
    env = {**os.environ, "NODE_PATH": NODE_PATH or ""}

    def node(base_url: str, mode: str) -> dict[str, Any]:
        run = subprocess.run(
            ["node", str(script), base_url, mode],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        return dict(json.loads(run.stdout))

    with FakeProvider("zhipu") as fake:
        config = config_for(fake, tmp_path, retry={"attempts": 1})
        with gateway(config, tmp_path) as gw:
            chat = node(gw.base_url, "chat")
            assert chat["answer"]
            assert chat["model"] == MODEL
            assert node(gw.base_url, "stream")["answer"] == chat["answer"]
            fake.inject(Fault.rate_limit(retry_after=30))
            error = node(gw.base_url, "error")
            assert error == {"error": "RateLimitError", "rateLimit": True, "status": 429}
            assert gw.stop()[0] == 0
    assert len(fake.requests) == 3


def test_the_gateway_serves_on_asyncio_s_own_loop_too(tmp_path: Path) -> None:
    """The default is uvloop where installed (the test extra installs it); --loop asyncio
    is the same gateway on the standard loop."""
    with (
        FakeProvider("zhipu") as fake,
        gateway(config_for(fake, tmp_path), tmp_path, "--loop", "asyncio") as gw,
    ):
        client = openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(model=MODEL, messages=HELLO)
        assert reply.choices[0].message.content
        assert gw.stop()[0] == 0


def test_bad_input_gets_openai_answers_and_the_ledger_stays_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Malformed JSON, a 50 MB body, a slowloris client, an unknown path, a wrong key and a
    dropped stream, each against the running gateway: each gets its OpenAI-shaped answer,
    good requests are served meanwhile, and the ledger holds exactly the routed ones."""
    import socket

    import httpx

    key = "gateway-key-for-bad-input-0123"
    monkeypatch.setenv("BAD_INPUT_GATEWAY_KEY", key)
    with FakeProvider("zhipu", stream_chunks=20, chunk_delay_s=0.5) as fake:
        config = config_for(fake, tmp_path)
        config["gateway"] = {"keys": [{"name": "app", "key_env": "BAD_INPUT_GATEWAY_KEY"}]}
        flags = ("--header-timeout", "1")
        with gateway(config, tmp_path, *flags) as gw, httpx.Client(timeout=120) as http:
            auth = {"authorization": f"Bearer {key}"}
            url = f"{gw.base_url}/chat/completions"

            def error(response: httpx.Response) -> tuple[int, str]:
                assert response.headers["content-type"].startswith("application/json")
                return response.status_code, response.json()["error"]["code"]

            assert error(http.post(url, content=b"{not json", headers=auth)) == (
                400,
                "invalid_json",
            )
            # read whole under the default 64 MiB limit, then refused for what it says (the
            # 413 over the limit is tested with curl above: a client still sending when the
            # server answers may see its connection reset instead, which is a client's race)
            huge = b'{"model": "x", "pad": "' + b"a" * 50_000_000 + b'"}'
            assert error(http.post(url, content=huge, headers=auth)) == (404, "model_not_found")
            assert error(http.get(f"{gw.base_url}/nowhere", headers=auth))[0] == 404
            wrong = {"authorization": "Bearer not-the-key-0123456789"}
            assert error(
                http.post(url, json={"model": MODEL, "messages": HELLO}, headers=wrong)
            ) == (
                401,
                "invalid_api_key",
            )
            port = int(gw.base_url.rsplit(":", 1)[1].split("/")[0])
            with socket.create_connection(("127.0.0.1", port), timeout=60) as slow:
                slow.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
                answer = slow.recv(4096)  # the header timeout (1 s) answers, then closes
            assert answer.startswith(b"HTTP/1.1 408")
            assert b'"request_timeout"' in answer
            body = {"model": MODEL, "messages": HELLO, "stream": True}
            with http.stream("POST", url, json=body, headers=auth) as dropped:
                next(dropped.iter_lines())  # one event, then the client leaves
            good = http.post(url, json={"model": MODEL, "messages": HELLO}, headers=auth)
            assert good.status_code == 200
            assert good.json()["choices"][0]["message"]["content"]
            code, err = gw.stop()
    assert code == 0
    assert "Traceback" not in err
    assert key not in err
    assert "sk-gateway-test-key" not in err
    with SqliteLedger(tmp_path / "spend.db", create=False) as ledger:
        rows = ledger.rows()
    assert sorted(r.outcome for r in rows) == ["abandoned", "ok"]
    assert {r.caller for r in rows} == {"app"}
