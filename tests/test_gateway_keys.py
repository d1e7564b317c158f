"""Gateway keys, per-key offers and budgets, /metrics, the status page's auth and the
x-ratelimit headers: the gateway in-process on a loopback port, driven by the openai SDK
and aiohttp, against fake providers."""

from __future__ import annotations

import asyncio
import base64
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from vlmroute import AsyncRouter
from vlmroute._gateway import make_app
from vlmroute._gateway.keys import GatewayKeys
from vlmroute._ledger import SqliteLedger
from vlmroute._router.config import GatewayConfig
from vlmroute.errors import ConfigurationError
from vlmroute.testing import FakeProvider

HELLO: list[Any] = [{"role": "user", "content": "hi"}]
WEB_KEY = "web-app-key-0123456789abcdef"
BATCH_KEY = "batch-key-0123456789abcdef"
PROVIDER_KEY = "sk-provider-secret-0123456789"
ENV = {"WEB_KEY": WEB_KEY, "BATCH_KEY": BATCH_KEY}


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def gateway_config(zhipu: FakeProvider, silicon: FakeProvider, tmp: Path) -> dict[str, Any]:
    return {
        "offers": [
            {"offer": "zhipu-flashx", "base_url": zhipu.base_url, "cap": 50},
            {
                "offer": "siliconflow",
                "base_url": silicon.base_url,
                "cap": 50,
                "allow_retired": True,
            },
        ],
        "ledger": str(tmp / "spend.db"),
        "gateway": {
            "keys": [
                {
                    "name": "web-app",
                    "key_env": "WEB_KEY",
                    "providers": ["zhipu"],
                    # less than one request's estimate: the key's own budget refuses it
                    "budgets": [{"amount": "0.000001", "currency": "CNY", "period": "day"}],
                },
                {"name": "batch", "key_env": "BATCH_KEY"},
            ]
        },
    }


def sdk(url: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def run_gateway(
    config: dict[str, Any], body: Callable[[str, AsyncRouter], Awaitable[None]]
) -> None:
    async def main() -> None:
        router = AsyncRouter.from_config(
            config, api_keys={"zhipu": PROVIDER_KEY, "siliconflow": PROVIDER_KEY}
        )
        offers = {name: offer.provider for name, offer in router.offers.items()}
        keys = GatewayKeys.from_config(router.config.gateway, offers=offers, environ=ENV)
        async with served(make_app(router, keys=keys)) as url:
            await body(url, router)

    asyncio.run(main())


def test_each_key_is_its_own_caller_with_its_own_offers_and_budget(tmp_path: Path) -> None:
    with FakeProvider("zhipu") as zhipu, FakeProvider("siliconflow") as silicon:

        async def body(url: str, _router: AsyncRouter) -> None:
            async with sdk(url, "not-a-gateway-key") as stranger:
                with pytest.raises(openai.AuthenticationError) as refused:
                    await stranger.chat.completions.create(
                        model="glm-4.1v-thinking", messages=HELLO
                    )
            assert refused.value.code == "invalid_api_key"
            assert "not-a-gateway-key" not in str(refused.value.body)
            async with sdk(url, BATCH_KEY) as batch:
                answer = await batch.chat.completions.with_raw_response.create(
                    model="siliconflow", messages=HELLO
                )
                assert answer.headers["x-vlmroute-offer"] == "siliconflow"
            async with sdk(url, WEB_KEY) as web_app:
                with pytest.raises(openai.PermissionDeniedError) as denied:  # zhipu only
                    await web_app.chat.completions.create(model="siliconflow", messages=HELLO)
                assert "web-app" in str(denied.value)
                with pytest.raises(openai.RateLimitError) as over:  # its budget, not batch's
                    await web_app.chat.completions.create(model="glm-4.1v-thinking", messages=HELLO)
                assert over.value.code == "insufficient_quota"
                assert "gateway key web-app" in str(over.value)

        run_gateway(gateway_config(zhipu, silicon, tmp_path), body)
        assert zhipu.stats.requests_seen == 0  # the budget refused before sending
        assert silicon.stats.served == 1
        assert all(r.authorized for r in silicon.requests)
    with SqliteLedger(tmp_path / "spend.db", create=False) as ledger:
        rows = ledger.rows()
    by_caller = {(r.caller, r.outcome) for r in rows}
    assert by_caller == {("batch", "ok"), ("web-app", "BudgetExceededError")}
    assert len(rows) == 2  # the 401 and the 403 were refused before routing: no row


def test_metrics_count_requests_and_need_a_key(tmp_path: Path) -> None:
    with FakeProvider("zhipu") as zhipu, FakeProvider("siliconflow") as silicon:

        async def body(url: str, _router: AsyncRouter) -> None:
            async with sdk(url, BATCH_KEY) as batch:
                for _ in range(3):
                    await batch.chat.completions.create(model="siliconflow", messages=HELLO)
                stream = await batch.chat.completions.create(
                    model="zhipu-flashx", messages=HELLO, stream=True
                )
                async for _chunk in stream:
                    pass
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/metrics") as anonymous:
                    assert anonymous.status == 401
                auth = {"authorization": f"Bearer {BATCH_KEY}"}
                async with http.get(f"{url}/metrics", headers=auth) as scraped:
                    assert scraped.status == 200
                    assert scraped.content_type == "text/plain"
                    text = await scraped.text()
            samples = _samples(text)
            ok = 'vlmroute_requests_total{caller="batch",offer="siliconflow",outcome="ok"}'
            assert samples[ok] == 3
            assert samples['vlmroute_time_to_first_token_seconds_count{offer="zhipu-flashx"}'] == 1
            assert samples['vlmroute_in_flight{offer="siliconflow"}'] == 0
            assert samples['vlmroute_cap{offer="siliconflow"}'] == 50
            assert samples['vlmroute_offer_ready{offer="zhipu-flashx"}'] == 1
            assert samples['vlmroute_prompt_tokens_total{kind="text",offer="siliconflow"}'] > 0
            assert any(k.startswith("vlmroute_cost_total{currency=") for k in samples)
            assert PROVIDER_KEY not in text
            assert BATCH_KEY not in text
            assert WEB_KEY not in text

        run_gateway(gateway_config(zhipu, silicon, tmp_path), body)


def _samples(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def test_the_status_page_asks_a_browser_for_the_key(tmp_path: Path) -> None:
    with FakeProvider("zhipu") as zhipu, FakeProvider("siliconflow") as silicon:

        async def body(url: str, _router: AsyncRouter) -> None:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/") as anonymous:
                    assert anonymous.status == 401
                    assert anonymous.headers["www-authenticate"].startswith("Basic ")
                    assert (await anonymous.json())["error"]["code"] == "invalid_api_key"
                basic = base64.b64encode(f"me:{WEB_KEY}".encode()).decode()
                async with http.get(f"{url}/", headers={"authorization": f"Basic {basic}"}) as ok:
                    assert ok.status == 200
                    page = await ok.text()
                    assert "siliconflow" in page
                    assert PROVIDER_KEY not in page
                async with http.get(f"{url}/health") as health:  # open to load balancers
                    assert health.status == 200

        run_gateway(gateway_config(zhipu, silicon, tmp_path), body)


def test_x_ratelimit_headers_say_what_is_left_of_the_offer_s_minute(tmp_path: Path) -> None:
    with FakeProvider("zhipu") as zhipu, FakeProvider("siliconflow") as silicon:

        async def body(url: str, _router: AsyncRouter) -> None:
            async with sdk(url, BATCH_KEY) as batch:
                first = await batch.chat.completions.with_raw_response.create(
                    model="siliconflow", messages=HELLO
                )
                second = await batch.chat.completions.with_raw_response.create(
                    model="siliconflow", messages=HELLO
                )
                flashx = await batch.chat.completions.with_raw_response.create(
                    model="zhipu-flashx", messages=HELLO
                )
            # SiliconFlow's table rate limits: 1,000 requests and 50,000 tokens a minute.
            assert first.headers["x-ratelimit-limit-requests"] == "1000"
            assert first.headers["x-ratelimit-limit-tokens"] == "50000"
            before = int(first.headers["x-ratelimit-remaining-requests"])
            after = int(second.headers["x-ratelimit-remaining-requests"])
            assert before <= 999
            assert after == before - 1
            assert first.headers["x-ratelimit-reset-requests"].endswith("s")
            assert "x-ratelimit-limit-requests" not in flashx.headers  # no per-minute limit

        run_gateway(gateway_config(zhipu, silicon, tmp_path), body)


def test_every_key_is_compared_so_the_time_does_not_say_which_matched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = GatewayConfig.model_validate(
        {"keys": [{"name": n, "key_env": n.upper()} for n in ("a", "b", "c")]}
    )
    env = {"A": "a" * 20, "B": "b" * 20, "C": "c" * 20}
    keys = GatewayKeys.from_config(config, offers={"zhipu-flash": "zhipu"}, environ=env)
    calls: list[int] = []
    compare = hmac.compare_digest

    def counted(a: bytes, b: bytes) -> bool:
        calls.append(len(a))
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counted)
    assert keys.caller("Bearer " + "a" * 20).name == "a"
    assert calls == [32, 32, 32]  # SHA-256 digests: every key, the same length, no early exit
    assert "a" * 20 not in repr(keys)


@pytest.mark.parametrize(
    ("env", "entry", "message"),
    [
        ({}, {"name": "web", "key_env": "WEB"}, r"\$WEB is not set"),
        ({"WEB": "short"}, {"name": "web", "key_env": "WEB"}, "at least 16"),
        (
            {"WEB": "x" * 20},
            {"name": "web", "key_env": "WEB", "providers": ["openai"]},
            "'openai' is not an offer or provider",
        ),
    ],
)
def test_a_bad_key_setting_is_named_and_its_value_never_shown(
    env: dict[str, str], entry: dict[str, Any], message: str
) -> None:
    config = GatewayConfig.model_validate({"keys": [entry]})
    with pytest.raises(ConfigurationError, match=message) as raised:
        GatewayKeys.from_config(config, offers={"zhipu-flash": "zhipu"}, environ=env)
    assert "short" not in str(raised.value)


def test_two_keys_with_one_value_are_refused() -> None:
    config = GatewayConfig.model_validate(
        {"keys": [{"name": "a", "key_env": "A"}, {"name": "b", "key_env": "B"}]}
    )
    with pytest.raises(ConfigurationError, match="hold the same key"):
        GatewayKeys.from_config(
            config, offers={"zhipu-flash": "zhipu"}, environ={"A": "k" * 20, "B": "k" * 20}
        )


def test_the_readme_s_gateway_keys_block_is_a_valid_config() -> None:
    import re

    import yaml

    from vlmroute._router.config import RouterConfig

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n\s*# router.yaml \(with the offers\)\n(.*?)```", readme, re.S)
    assert block is not None
    data = yaml.safe_load(block.group(1))
    config = RouterConfig.from_mapping({"offers": [{"offer": "zhipu-flash"}], **data})
    env = {"WEB_APP_GATEWAY_KEY": WEB_KEY, "BATCH_GATEWAY_KEY": BATCH_KEY}
    keys = GatewayKeys.from_config(config.gateway, offers={"zhipu-flash": "zhipu"}, environ=env)
    assert keys.names() == ["web-app", "batch"]
    assert keys.caller(f"Bearer {WEB_KEY}").offers == frozenset({"zhipu-flash"})
    assert [b.describe() for b in config.all_budgets] == [
        "USD 1 a day across all providers for gateway key web-app"
    ]
