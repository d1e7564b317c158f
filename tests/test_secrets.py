"""A user's API key, and a Redis password, never leak: not in a repr, an error (its message,
args, cause chain or traceback), a log record, the spend ledger or the CLI's output, even
when a provider's error body echoes the key back. Providers are mocked with respx."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest
import respx
import yaml
from pydantic import SecretStr

import vlmroute
from vlmroute import (
    AsyncClient,
    AsyncRouter,
    AuthenticationError,
    Client,
    ConfigurationError,
    ContentFilteredError,
    MemoryLedger,
    RateLimitedError,
    RetryPolicy,
    Router,
    RouterConfig,
    ServerError,
    SqliteLedger,
    StreamEvent,
    VlmrouteError,
)
from vlmroute._cli.main import main
from vlmroute._router import config as config_module
from vlmroute._router.config import load_router_config

_T = TypeVar("_T")

KEY = "sk-test-SECRET-4f9a2c"
ZHIPU = "https://open.bigmodel.cn/api/paas/v4/chat/completions"
OPENROUTER = "https://openrouter.ai/api/v1/chat/completions"
HELLO: list[Any] = [{"role": "user", "content": "hi"}]
PRICING = vlmroute.load_pricing()
FAST_RETRY = RetryPolicy(attempts=3, initial_backoff_s=0, max_backoff_s=0)

OK = {
    "id": "c1",
    "model": "glm-4.1v-thinking-flash",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "A cat.", "reasoning_content": "r"},
        }
    ],
    "usage": {"prompt_tokens": 100, "completion_tokens": 50},
}


def echo(code: str, status_text: str = "rejected") -> dict[str, Any]:
    """A Zhipu error body that echoes the key and the whole Authorization header."""
    return {
        "error": {
            "code": code,
            "message": f"{status_text}: key {KEY} (header 'Authorization: Bearer {KEY}')",
        }
    }


pytestmark = pytest.mark.usefixtures("no_env_keys")


def run(make: Callable[[], Awaitable[_T]]) -> _T:
    return asyncio.run(make())  # type: ignore[arg-type]


def chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts (each once)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend([item.__cause__, item.__context__])
    return seen


def error_texts(exc: BaseException) -> str:
    """Everything an app could print or log about ``exc``."""
    parts = ["".join(traceback.format_exception(exc))]
    for item in chain(exc):
        parts += [str(item), repr(item), repr(item.args), repr(vars(item))]
        for name in ("message", "body", "provider", "provider_code", "request_id"):
            parts.append(repr(getattr(item, name, None)))
        response = getattr(item, "response", None)
        if isinstance(response, httpx.Response):
            parts += [response.text, repr(dict(response.headers))]
    return "\n".join(parts)


def assert_no_key(text: str, secret: str = KEY) -> None:
    assert secret not in text
    # nor a recognisable part of it
    assert secret[-12:] not in text


def assert_key_was_sent(route: respx.Route) -> None:
    """The test is meaningful: the key did go out, in the Authorization header."""
    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


def client(offer: str = "zhipu-flash", **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("retry", RetryPolicy(attempts=1))
    return AsyncClient(offer, pricing=PRICING, transport="httpx", **kwargs)


def client_error(offer: str = "zhipu-flash", **kwargs: Any) -> VlmrouteError:
    async def go() -> VlmrouteError:
        async with client(offer, **kwargs) as c:
            try:
                await c.chat(HELLO)
            except VlmrouteError as exc:
                return exc
        raise AssertionError("no error raised")

    return run(go)


def router_config(*offers: str, **extra: Any) -> RouterConfig:
    data: dict[str, Any] = {
        "offers": [{"offer": o} for o in offers],
        "ledger": False,
        "transport": "httpx",
    }
    data.update(extra)
    return RouterConfig.from_mapping(data)


# ---------------------------------------------------------------- reprs


def test_clients_and_backends_do_not_show_the_key(mock: respx.MockRouter) -> None:
    async def go() -> list[str]:
        async with client() as c, client("openrouter", api_key=SecretStr(KEY)) as c2:
            backend = c.backend
            assert "key=set" in repr(backend)  # it says whether a key is set, not which
            assert c.backend.headers()["Authorization"] == f"Bearer {KEY}"  # it has the key
            return [repr(c), str(c), repr(backend), str(backend), repr(c2), repr(vars(c))]

    for text in run(go):
        assert_no_key(text)

    with Client("zhipu-flash", api_key=KEY, pricing=PRICING, transport="httpx") as sync:
        assert_no_key(repr(sync))
        assert_no_key(str(sync))
        assert "key=set" in repr(sync)


def test_a_key_from_the_environment_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)

    async def go() -> str:
        async with AsyncClient("openrouter", pricing=PRICING, transport="httpx") as c:
            assert c.backend.headers()["Authorization"] == f"Bearer {KEY}"
            return repr(c) + repr(c.backend)

    assert_no_key(run(go))


def test_routers_and_the_dropin_do_not_show_the_key() -> None:
    keys = {"zhipu": KEY, "openrouter": KEY}
    config = router_config("zhipu-flash", "openrouter")

    async def go() -> list[str]:
        async with AsyncRouter(config, pricing=PRICING, api_keys=keys) as router:
            assert router.backends["zhipu-flash"].headers()["Authorization"] == f"Bearer {KEY}"
            return [
                repr(router),
                str(router),
                repr(router.backends),
                repr(router.config),
                repr(router.offers),
                repr(router.plan(HELLO)),
            ]

    for text in run(go):
        assert_no_key(text)

    with Router(config, pricing=PRICING, api_keys=keys) as sync:
        assert_no_key(repr(sync))
        assert_no_key(repr(sync.engine.backends))
        assert_no_key(repr(sync.plan(HELLO)))

    with vlmroute.OpenAI(config=config, api_keys=keys, pricing=PRICING) as dropin:
        for obj in (dropin, dropin.router, dropin.chat, dropin.chat.completions, dropin.models):
            assert_no_key(repr(obj))
        assert_no_key(repr(dropin.models.list()))

    async def go_async() -> str:
        async with vlmroute.AsyncOpenAI(config=config, api_keys=keys, pricing=PRICING) as a:
            return repr(a) + repr(a.router) + repr(a.router.backends)

    assert_no_key(run(go_async))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (401, echo("1002", "Incorrect API key"), AuthenticationError),
        (429, echo("1302", "Too many requests"), RateLimitedError),
        (400, echo("1301", "Unsafe content"), ContentFilteredError),
        (500, f"upstream crashed; Authorization: Bearer {KEY}", ServerError),  # not JSON
        (200, echo("1301", "Unsafe output"), ContentFilteredError),  # an error under 200
    ],
    ids=["401", "429", "400-filter", "500-text", "200-error-body"],
)
def test_an_echoed_key_is_scrubbed_from_errors(
    mock: respx.MockRouter, status: int, body: Any, cls: type[Exception]
) -> None:
    response = (
        httpx.Response(status, text=body)
        if isinstance(body, str)
        else httpx.Response(status, json=body)
    )
    route = mock.post(ZHIPU).mock(return_value=response)
    error = client_error()
    assert_key_was_sent(route)
    assert type(error) is cls
    assert "***" in str(error)  # the echo was there, and replaced
    assert_no_key(error_texts(error))


def test_a_json_escaped_echo_is_scrubbed(mock: respx.MockRouter) -> None:
    r"""A provider may escape the key in its JSON (``\u0073k-...``): the raw text does not
    contain it, the decoded message does."""
    escaped = "".join(f"\\u{ord(ch):04x}" for ch in KEY)
    raw = '{"error": {"code": "1002", "message": "bad key ' + escaped + '"}}'
    mock.post(ZHIPU).respond(
        401, content=raw.encode(), headers={"content-type": "application/json"}
    )
    error = client_error()
    assert type(error) is AuthenticationError
    assert "bad key ***" in str(error)
    assert_no_key(error_texts(error))


def test_an_openrouter_echo_in_metadata_is_scrubbed(mock: respx.MockRouter) -> None:
    body = {
        "error": {
            "code": 401,
            "message": f"No auth credentials found for {KEY}",
            "metadata": {"error_type": "authentication", "raw": f"Bearer {KEY}"},
        }
    }
    mock.post(OPENROUTER).respond(401, json=body)
    error = client_error("openrouter")
    assert type(error) is AuthenticationError
    assert_no_key(error_texts(error))


def test_stream_errors_are_scrubbed(mock: respx.MockRouter) -> None:
    in_stream = {"error": {"code": "1301", "message": f"unsafe, key {KEY}"}}
    sse = (
        'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
        f"data: {json.dumps(in_stream)}\n\n"
    )
    route = mock.post(ZHIPU)
    route.side_effect = [
        httpx.Response(401, json=echo("1002")),
        httpx.Response(200, content=sse.encode(), headers={"content-type": "text/event-stream"}),
    ]

    async def go() -> list[VlmrouteError]:
        errors: list[VlmrouteError] = []
        async with client() as c:
            for _ in range(2):
                events: list[StreamEvent] = []
                try:
                    async for event in c.stream(HELLO):
                        events.append(event)
                except VlmrouteError as exc:
                    errors.append(exc)
        return errors

    before, during = run(go)
    assert type(before) is AuthenticationError
    assert type(during) is ContentFilteredError
    for error in (before, during):
        assert "***" in str(error)
        assert_no_key(error_texts(error))


def test_attempt_records_of_a_retried_request_are_scrubbed(mock: respx.MockRouter) -> None:
    route = mock.post(ZHIPU)
    route.side_effect = [
        httpx.Response(500, json=echo("500", "Internal error")),
        httpx.Response(200, json=OK),
    ]

    async def go() -> vlmroute.ChatResponse:
        async with client(retry=FAST_RETRY) as c:
            return await c.chat(HELLO)

    reply = run(go)
    assert route.call_count == 2
    assert reply.attempts[0].outcome == "ServerError"
    assert reply.attempts[0].message is not None
    assert "***" in reply.attempts[0].message
    assert_no_key(repr(reply))
    assert_no_key(reply.model_dump_json())


def test_transport_errors_do_not_show_the_key(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).mock(side_effect=httpx.ConnectError("connection refused"))
    error = client_error()
    assert type(error) is vlmroute.ProviderConnectionError
    # the httpx error underneath carries the request, Authorization header and all
    cause = error.__cause__
    assert isinstance(cause, httpx.ConnectError)
    assert cause.request.headers["authorization"] == f"Bearer {KEY}"
    assert_no_key(error_texts(error))


def test_a_missing_key_error_names_the_variable_not_a_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)  # another provider's key is set
    with pytest.raises(ConfigurationError) as info:
        AsyncClient("zhipu-flash", pricing=PRICING)
    assert "ZHIPUAI_API_KEY" in str(info.value)
    assert_no_key(error_texts(info.value))


def test_dropin_errors_do_not_show_the_key(mock: respx.MockRouter) -> None:
    route = mock.post(ZHIPU).respond(401, json=echo("1002", "Incorrect API key"))
    config = router_config("zhipu-flash")
    with (
        vlmroute.OpenAI(config=config, api_keys={"zhipu": KEY}, pricing=PRICING) as dropin,
        pytest.raises(openai.AuthenticationError) as info,
    ):
        dropin.chat.completions.create(model="glm-4.1v-thinking-flash", messages=HELLO)
    assert_key_was_sent(route)
    error = info.value
    assert isinstance(error.vlmroute_error, AuthenticationError)  # type: ignore[attr-defined]
    assert "***" in error.message
    assert_no_key(error.response.text)
    assert_no_key(str(dict(error.response.headers)))
    assert_no_key(error_texts(error))


# ---------------------------------------------------------------- logs


def test_log_records_never_show_the_key(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    route = mock.post(ZHIPU)
    route.side_effect = [
        httpx.Response(200, json=OK),  # a success
        httpx.Response(500, json=echo("500")),  # a retried request
        httpx.Response(200, json=OK),
        httpx.Response(401, json=echo("1002")),  # a failure
    ]
    app_log = logging.getLogger("tests.app")

    async def go() -> None:
        async with client(retry=RetryPolicy(attempts=2, initial_backoff_s=0)) as c:
            await c.chat(HELLO)
            await c.chat(HELLO)
            try:
                await c.chat(HELLO)
            except AuthenticationError as exc:
                app_log.exception("chat failed: %s", exc)  # what an app would log

    run(go)
    assert route.call_count == 4
    assert_key_was_sent(route)
    records = caplog.records
    assert any(r.name == "httpx" for r in records)  # the HTTP layer did log
    assert any(r.name == "tests.app" and r.exc_info for r in records)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        assert_no_key(formatter.format(record))
        assert_no_key(repr(record.args))
        assert_no_key(repr(record.__dict__))
    assert_no_key(caplog.text)


def test_router_logs_never_show_the_key(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mock.post(ZHIPU).respond(429, json=echo("1302"), headers={"Retry-After": "0"})
    mock.post(OPENROUTER).respond(401, json=echo("1002"))
    config = router_config("zhipu-flash", "openrouter")

    async def go() -> VlmrouteError:
        keys = {"zhipu": KEY, "openrouter": KEY}
        async with AsyncRouter(config, pricing=PRICING, api_keys=keys) as router:
            try:
                await router.chat(HELLO)
            except VlmrouteError as exc:
                logging.getLogger("tests.app").exception("routing failed")
                return exc
        raise AssertionError("no error")

    error = run(go)
    assert type(error) is AuthenticationError
    assert caplog.records
    assert_no_key(caplog.text)
    for record in caplog.records:
        assert_no_key(repr(record.__dict__))
    assert_no_key(error_texts(error))


# ---------------------------------------------------------------- the ledger


def test_ledger_rows_never_hold_the_key(mock: respx.MockRouter, tmp_path: Path) -> None:
    zhipu = mock.post(ZHIPU)
    zhipu.side_effect = [
        httpx.Response(200, json=OK),  # ok
        httpx.Response(500, json=echo("500")),  # retried, then ok
        httpx.Response(200, json=OK),
        httpx.Response(429, json=echo("1302")),  # fails over to OpenRouter, which refuses
    ]
    mock.post(OPENROUTER).respond(401, json=echo("1002"))
    path = tmp_path / "spend.sqlite3"
    config = router_config(
        "zhipu-flash",
        "openrouter",
        retry={"attempts": 2, "initial_backoff_s": 0, "faults": ["server"]},
    )
    memory = MemoryLedger()

    async def go(ledger: Any, offers: tuple[str, ...]) -> None:
        keys = {"zhipu": KEY, "openrouter": KEY}
        async with AsyncRouter(config, pricing=PRICING, api_keys=keys, ledger=ledger) as router:
            await router.chat(HELLO, providers=offers)
            await router.chat(HELLO, providers=offers)
            with pytest.raises(AuthenticationError):
                await router.chat(HELLO)

    run(lambda: go(SqliteLedger(path), ("zhipu-flash",)))
    zhipu.side_effect = [
        httpx.Response(200, json=OK),
        httpx.Response(500, json=echo("500")),
        httpx.Response(200, json=OK),
        httpx.Response(429, json=echo("1302")),
    ]
    run(lambda: go(memory, ("zhipu-flash",)))

    with SqliteLedger(path) as ledger:
        rows = ledger.rows()
    assert [r.outcome for r in rows] == ["ok", "ok", "AuthenticationError"]
    assert [r.outcome for r in memory.rows()] == ["ok", "ok", "AuthenticationError"]
    for row in [*rows, *memory.rows()]:
        assert_no_key(repr(row))
    with sqlite3.connect(path) as conn:
        dump = "\n".join(conn.iterdump())
    assert_no_key(dump)
    for file in tmp_path.iterdir():  # the database and any WAL/SHM files beside it
        assert KEY.encode() not in file.read_bytes()


# ---------------------------------------------------------------- the CLI


def test_route_explain_with_keys_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZHIPUAI_API_KEY", KEY)
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    assert main(["route", "--explain", "--image", "1920x1080", "--prompt", "What?"]) == 0
    out = capsys.readouterr()
    assert "zhipu-flash" in out.out  # the keyed offers are planned
    assert_no_key(out.out + out.err)
    assert main(["route", "--explain", "--json", "--prompt", "What?"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["candidates"]
    assert_no_key(out.out + out.err)


def test_route_send_output_and_errors_never_show_the_key(
    mock: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("ZHIPUAI_API_KEY", KEY)
    config = tmp_path / "router.yaml"
    data = {"offers": [{"offer": "zhipu-flash"}], "ledger": False, "transport": "httpx"}
    config.write_text(yaml.safe_dump(data))
    route = mock.post(ZHIPU)
    route.side_effect = [httpx.Response(200, json=OK), httpx.Response(401, json=echo("1002"))]

    assert main(["route", "--config", str(config), "--prompt", "hi"]) == 0
    ok = capsys.readouterr()
    assert "answer:\nA cat." in ok.out
    assert main(["route", "--config", str(config), "--prompt", "hi", "--json"]) == 1
    failed = capsys.readouterr()
    assert failed.err.startswith("vlmroute: error: zhipu-flash: ")
    assert "***" in failed.err
    assert_key_was_sent(route)
    assert_no_key(ok.out + ok.err + failed.out + failed.err)


# ---------------------------------------------------------------- the Redis password

PASSWORD = "hunter2-REDIS-pw-91c"
needs_store = pytest.mark.skipif(
    not hasattr(config_module, "StoreConfig"), reason="no StoreConfig in this version"
)
STORE_URLS = [
    f"redis://:{PASSWORD}@redis-1:6379/0",
    f"redis://vlm:{PASSWORD}@redis-1:6379/0",
    f"rediss://vlm:{PASSWORD}@redis-1:6380/2?password={PASSWORD}",
    f"redis://redis-1:6379/0?password={PASSWORD}",
]


@needs_store
@pytest.mark.parametrize("url", STORE_URLS)
def test_store_password_is_not_in_the_config_repr(url: str) -> None:
    config = RouterConfig.from_mapping(
        {"offers": [{"offer": "zhipu-flash"}], "store": {"url": url, "workers": 2}}
    )
    assert config.store is not None
    assert config.store.url == url  # the config keeps it, to connect with
    for text in (repr(config), str(config), repr(config.store), str(config.store)):
        assert_no_key(text, PASSWORD)
        assert "redis-1" in text  # the rest of the URL still shows


@needs_store
@pytest.mark.parametrize(
    "store",
    [
        {"url": f"redis://:{PASSWORD}@redis-1:6379/0", "workers": 0},
        {"url": f"redis://:{PASSWORD}@redis-1:6379/0", "bogus": True},
        {"url": f"http://:{PASSWORD}@redis-1:6379/0"},
        {"url": f"redis://:{PASSWORD}@redis-1:6379/0", "namespace": "has space"},
        {"url": f"redis://:{PASSWORD}@redis-1:6379/0", "on_unreachable": PASSWORD},
        f"redis://:{PASSWORD}@redis-1:6379/0",
    ],
    ids=["workers", "extra-key", "scheme", "namespace", "enum", "not-a-mapping"],
)
def test_store_password_is_not_in_config_errors(store: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        RouterConfig.from_mapping({"offers": [{"offer": "zhipu-flash"}], "store": store})
    assert "store" in str(info.value)
    assert_no_key(error_texts(info.value), PASSWORD)


@needs_store
def test_store_password_is_not_in_other_config_errors(tmp_path: Path) -> None:
    store = {"url": f"redis://:{PASSWORD}@redis-1:6379/0"}
    with pytest.raises(ConfigurationError) as info:
        RouterConfig.from_mapping({"offers": [], "store": store})
    assert_no_key(error_texts(info.value), PASSWORD)

    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump({"offers": [{"offer": "zhipu-flash"}], "store": store}))
    assert_no_key(repr(load_router_config(path)), PASSWORD)
    path.write_text(yaml.safe_dump({"offers": [{"offer": "zhipu-flash"}], "store": store}) + "x")
    with pytest.raises(ConfigurationError) as bad:
        load_router_config(path)
    assert_no_key(error_texts(bad.value), PASSWORD)


@needs_store
def test_store_password_is_not_in_a_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    path.write_text(
        f'offers:\n  - offer: zhipu-flash\nstore:\n  url: "redis://:{PASSWORD}@redis-1:6379/0\n'
    )
    with pytest.raises(ConfigurationError) as info:
        load_router_config(path)
    assert_no_key(error_texts(info.value), PASSWORD)


def test_a_key_echoed_in_part_is_scrubbed(mock: respx.MockRouter) -> None:
    """Issue 12: "Insufficient credits on key <30 of its 32 characters>" was shown as is."""
    partial = KEY[:-2]
    body = {"error": {"code": 402, "message": f"Insufficient credits on key {partial}..."}}
    route = mock.post(ZHIPU).mock(return_value=httpx.Response(402, json=body))
    error = client_error()
    assert_key_was_sent(route)
    assert "Insufficient credits on key ***" in str(error)
    assert partial[:8] not in error_texts(error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key abcdefgh1234 here", "key *** here"),  # a run of 12 characters of it
        ("key abcdefg here", "key abcdefg here"),  # 7: too short to mean anything
        ("x 5678-wxyz x", "x *** x"),  # from the middle of the key
        ("no secret at all", "no secret at all"),
    ],
)
def test_scrub_takes_out_every_run_of_eight_or_more(text: str, expected: str) -> None:
    from vlmroute._scrub import scrub

    assert scrub(text, "abcdefgh12345678-wxyz") == expected
