"""The router's decisions and failover, against provider answers mocked at the HTTP level."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
import respx

import vlmroute
from vlmroute import (
    AsyncRouter,
    BudgetExceededError,
    ContentFilteredError,
    MemoryLedger,
    NoRouteError,
    RateLimitedError,
    RouterConfig,
)
from vlmroute._router.config import config_from_env

ZHIPU = "https://open.bigmodel.cn/api/paas/v4/chat/completions"
OPENROUTER = "https://openrouter.ai/api/v1/chat/completions"
KEYS = {"zhipu": "zk", "openrouter": "ok"}
HELLO = [{"role": "user", "content": "hi"}]
_T = TypeVar("_T")


def completion(answer: str = "A cat.", *, cost: float | None = None) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": 1000, "completion_tokens": 500}
    if cost is not None:
        usage["cost"] = cost
    return {
        "id": "c1",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": answer, "reasoning_content": "r"},
            }
        ],
        "usage": usage,
    }


def zhipu_error(code: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": f"error {code}"}}


def config(*offers: str, **extra: Any) -> RouterConfig:
    return RouterConfig.from_mapping(
        {"offers": [{"offer": o} for o in offers], "ledger": False, "transport": "httpx", **extra}
    )


def router(*offers: str, ledger: MemoryLedger | None = None, **extra: Any) -> AsyncRouter:
    return AsyncRouter(config(*offers, **extra), api_keys=KEYS, ledger=ledger)


def run(make: Callable[[], Awaitable[_T]]) -> _T:
    return asyncio.run(make())  # type: ignore[arg-type]


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(using="httpx", assert_all_called=False) as m:
        yield m


def sent_model(route: respx.Route, index: int = 0) -> str:
    return str(json.loads(route.calls[index].request.content)["model"])


def test_cheapest_first_free_zhipu_flash(mock: respx.MockRouter) -> None:
    zhipu = mock.post(ZHIPU).respond(200, json=completion())

    async def main() -> vlmroute.ChatResponse:
        async with router("zhipu-flashx", "openrouter", "zhipu-flash") as r:
            return await r.chat(HELLO)

    reply = run(main)
    assert reply.offer == "zhipu-flash"
    assert sent_model(zhipu) == "glm-4.1v-thinking-flash"
    assert reply.cost == vlmroute.Money(Decimal(0), "CNY")
    assert [a.outcome for a in reply.attempts] == ["ok"]


def test_plan_explains_every_skip_without_io() -> None:
    r = AsyncRouter(config("zhipu-flash", "openrouter", "siliconflow-pro"), dry_run=True)
    plan = r.plan(HELLO, max_tokens=66_000)
    assert plan.candidates == ()
    reasons = plan.reasons
    assert reasons["zhipu-flash"].endswith("exceeds its context window (64,000)")
    assert reasons["openrouter"].endswith("exceeds its context window (65,536)")
    assert "retired on 2026-02-09" in reasons["siliconflow-pro"]
    plan = r.plan(HELLO, max_cost="0.00001")
    assert [c.offer for c in plan.candidates] == ["zhipu-flash"]
    assert "max_cost" in plan.reasons["openrouter"]
    plan = r.plan(HELLO, exclude=["zhipu"])
    assert [c.offer for c in plan.candidates] == ["openrouter"]


def test_cost_ranking_uses_the_real_token_mix() -> None:
    r = AsyncRouter(config("zhipu-flashx", "openrouter"), dry_run=True)
    plan = r.plan(HELLO)
    costs = {c.offer: c.native_cost for c in plan.candidates}
    prompt, output = plan.shape.prompt_tokens, plan.shape.output_tokens
    assert costs["zhipu-flashx"].amount == Decimal(2) * (prompt + output) / 1_000_000
    assert (
        costs["openrouter"].amount
        == (Decimal("0.035") * prompt + Decimal("0.138") * output) / 1_000_000
    )
    assert [c.offer for c in plan.candidates] == ["openrouter", "zhipu-flashx"]


def test_rate_limit_fails_over_and_cools_the_offer_down(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).respond(429, json=zhipu_error("1302"), headers={"Retry-After": "30"})
    mock.post(OPENROUTER).respond(200, json=completion(cost=0.0002))

    async def main() -> tuple[vlmroute.ChatResponse, vlmroute.RoutePlan]:
        async with router("zhipu-flash", "openrouter") as r:
            reply = await r.chat(HELLO)
            return reply, r.plan(HELLO)

    reply, plan = run(main)
    paused = {c.offer: c.paused for c in plan.candidates}
    assert [(a.offer, a.outcome) for a in reply.attempts] == [
        ("zhipu-flash", "RateLimitedError"),
        ("openrouter", "ok"),
    ]
    assert reply.cost == vlmroute.Money(Decimal("0.0002"), "USD")
    assert "cooling down" in (paused["zhipu-flash"] or "")  # still a candidate to wait for
    assert paused["openrouter"] is None


def test_no_balance_disables_the_offer_and_is_not_retried(mock: respx.MockRouter) -> None:
    zhipu = mock.post(ZHIPU).respond(429, json=zhipu_error("1113"))
    mock.post(OPENROUTER).respond(200, json=completion())

    async def main() -> str:
        async with router("zhipu-flash", "openrouter") as r:
            await r.chat(HELLO)
            await r.chat(HELLO)
            return r.plan(HELLO).reasons["zhipu-flash"]

    reason = run(main)
    assert zhipu.call_count == 1
    assert reason.startswith("disabled: out of balance")


def test_content_filter_does_not_fail_over_by_default(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).respond(400, json=zhipu_error("1301"))
    openrouter = mock.post(OPENROUTER).respond(200, json=completion())

    async def main() -> None:
        async with router("zhipu-flash", "openrouter") as r:
            await r.chat(HELLO)

    with pytest.raises(ContentFilteredError):
        run(main)
    assert openrouter.call_count == 0


def test_transient_faults_are_retried_once_on_the_same_offer(mock: respx.MockRouter) -> None:
    zhipu = mock.post(ZHIPU)
    zhipu.side_effect = [
        httpx.Response(500, json=zhipu_error("500")),
        httpx.Response(200, json=completion()),
    ]

    async def main() -> vlmroute.ChatResponse:
        retry = {"attempts": 2, "faults": ["server"], "initial_backoff_s": 0}
        async with router("zhipu-flash", "openrouter", retry=retry) as r:
            return await r.chat(HELLO)

    reply = run(main)
    assert [(a.offer, a.outcome) for a in reply.attempts] == [
        ("zhipu-flash", "ServerError"),
        ("zhipu-flash", "ok"),
    ]


def test_breaker_opens_after_consecutive_failures(mock: respx.MockRouter) -> None:
    zhipu = mock.post(ZHIPU).respond(503, json=zhipu_error("1305"))
    mock.post(OPENROUTER).respond(200, json=completion())

    async def main() -> str:
        async with router("zhipu-flash", "openrouter", breaker={"failures": 2}) as r:
            for _ in range(4):
                await r.chat(HELLO)
            return r.plan(HELLO).candidates[0].paused or ""

    reason = run(main)
    assert zhipu.call_count == 2
    assert reason.startswith("circuit open after 2 failures")


def test_every_candidate_failing_raises_the_last_error(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).respond(429, json=zhipu_error("1302"))
    mock.post(OPENROUTER).respond(429, json={"error": {"code": 429, "message": "slow down"}})

    async def main() -> None:
        async with router("zhipu-flash", "openrouter") as r:
            await r.chat(HELLO)

    with pytest.raises(RateLimitedError) as info:
        run(main)
    assert info.value.provider == "openrouter"


def test_nothing_fits_raises_no_route_with_reasons() -> None:
    async def main() -> None:
        async with router("zhipu-flash") as r:
            await r.chat(HELLO, max_tokens=66_000)

    with pytest.raises(NoRouteError) as info:
        run(main)
    assert "context window" in info.value.reasons["zhipu-flash"]


def test_an_output_limit_is_a_filter_when_confirmed_and_a_caveat_when_not() -> None:
    """Zhipu's 16,384 is unconfirmed: a larger max_tokens keeps it, after an offer whose
    larger limit is confirmed (here OpenRouter, as if it had published 32,768), free or not."""
    table = vlmroute.load_pricing()
    openrouter = table.offer("openrouter")
    sure = openrouter.sources["max_output_tokens"].model_copy(update={"confidence": "confirmed"})
    published = openrouter.model_copy(
        update={
            "max_output_tokens": 32_768,
            "sources": {**openrouter.sources, "max_output_tokens": sure},
        }
    )
    table = table.model_copy(update={"offers": {**table.offers, "openrouter": published}})
    r = AsyncRouter(config("zhipu-flash", "openrouter"), pricing=table, dry_run=True)

    plan = r.plan(HELLO, max_tokens=8_000)  # fits both: the free one first
    assert [(c.offer, c.caveat) for c in plan.candidates] == [
        ("zhipu-flash", None),
        ("openrouter", None),
    ]
    plan = r.plan(HELLO, max_tokens=20_000)  # over Zhipu's unconfirmed 16,384: last
    assert [c.offer for c in plan.candidates] == ["openrouter", "zhipu-flash"]
    assert plan.candidates[1].caveat is not None
    assert "16,384, which is unconfirmed" in plan.candidates[1].caveat
    plan = r.plan(HELLO, max_tokens=40_000)  # over OpenRouter's confirmed 32,768: out
    assert [c.offer for c in plan.candidates] == ["zhipu-flash"]
    assert plan.reasons["openrouter"] == "max_tokens 40,000 is over its output limit 32,768"


def test_ledger_gets_one_record_per_request(mock: respx.MockRouter) -> None:
    mock.post(ZHIPU).respond(429, json=zhipu_error("1302"))
    mock.post(OPENROUTER).respond(200, json=completion(cost=0.0002))
    ledger = MemoryLedger()

    async def main() -> None:
        async with router("zhipu-flash", "openrouter", ledger=ledger) as r:
            await asyncio.gather(*(r.chat(HELLO) for _ in range(5)))

    run(main)
    rows = ledger.rows()
    assert len(rows) == 5
    assert len({row.request_id for row in rows}) == 5
    assert {row.offer for row in rows} == {"openrouter"}
    assert all(row.cost == vlmroute.Money(Decimal("0.0002"), "USD") for row in rows)


def test_a_spent_budget_routes_elsewhere_then_refuses(mock: respx.MockRouter) -> None:
    mock.post(OPENROUTER).respond(200, json=completion(cost=0.01))
    ledger = MemoryLedger()
    budget = [{"amount": "0.015", "currency": "USD", "period": "day"}]

    async def main() -> None:
        async with router("openrouter", ledger=ledger, budgets=budget) as r:
            await r.chat(HELLO)  # estimated well under the budget; costs 0.01
            await r.chat(HELLO)  # 0.01 spent, 0.005 left: still fits the estimate
            await r.chat(HELLO)

    with pytest.raises(BudgetExceededError):
        run(main)
    rows = ledger.rows()
    assert [r.outcome for r in rows] == ["ok", "ok", "BudgetExceededError"]  # one per request
    assert rows[-1].cost.amount == 0


def test_config_from_env_takes_offers_with_keys() -> None:
    pricing = vlmroute.load_pricing()
    cfg = config_from_env(pricing, {"ZHIPUAI_API_KEY": "x"})
    assert [o.offer for o in cfg.offers] == ["zhipu-flash", "zhipu-flashx"]
    cfg = config_from_env(
        pricing, {"OPENROUTER_API_KEY": "x", "VLMROUTE_LOCAL_BASE_URL": "http://h:1/v1"}
    )
    assert [o.offer for o in cfg.offers] == ["openrouter", "local-gpu"]
    with pytest.raises(vlmroute.ConfigurationError, match="ZHIPUAI_API_KEY"):
        config_from_env(pricing, {})


def test_bad_config_names_the_key_path() -> None:
    with pytest.raises(vlmroute.ConfigurationError, match=r"offers\.0\.cap"):
        RouterConfig.from_mapping({"offers": [{"offer": "zhipu-flash", "cap": 0}]})
    with pytest.raises(vlmroute.ConfigurationError, match="listed twice"):
        RouterConfig.from_mapping({"offers": [{"offer": "a"}, {"offer": "a"}]})
    with pytest.raises(vlmroute.ConfigurationError, match="no offer 'nope'"):
        AsyncRouter(config("nope"), dry_run=True)


def test_a_paused_only_offer_is_waited_for_not_refused(mock: respx.MockRouter) -> None:
    zhipu = mock.post(ZHIPU)
    zhipu.side_effect = [
        httpx.Response(429, json=zhipu_error("1302"), headers={"Retry-After": "0.2"}),
        httpx.Response(200, json=completion()),
    ]

    async def main() -> tuple[str, float]:
        async with router("zhipu-flash") as r:
            with pytest.raises(RateLimitedError):
                await r.chat(HELLO)
            loop = asyncio.get_running_loop()
            started = loop.time()
            reply = await r.chat(HELLO)  # waits out the 0.2 s cooldown, then goes
            return reply.answer, loop.time() - started

    answer, waited = run(main)
    assert answer == "A cat."
    assert waited > 0.15  # it waited for the pause to end (no upper bound: noisy machines)


def test_deadline_bounds_the_whole_request(mock: respx.MockRouter) -> None:
    async def slow(_request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=completion())

    mock.post(ZHIPU).side_effect = slow
    ledger = MemoryLedger()

    async def main() -> str:
        async with router("zhipu-flash", ledger=ledger) as r:
            with pytest.raises(vlmroute.ProviderTimeoutError, match="deadline_s") as info:
                await r.chat(HELLO, deadline_s=0.2)
            assert r.plan(HELLO).candidates[0].paused is None  # no breaker count
            return info.value.provider

    assert run(main) == "zhipu-flash"
    assert [row.outcome for row in ledger.rows()] == ["ProviderTimeoutError"]
