"""vlmroute.metrics over a real router and fake providers: what each counter and gauge says
after spills, failovers, 429s, streams and refusals (read from prometheus_client's own
exposition, not from our objects)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import vlmroute
from vlmroute.metrics import RouterMetrics
from vlmroute.testing import FakeProvider, Fault

HELLO: list[Any] = [{"role": "user", "content": "hi"}]
KEYS = {"zhipu": "k" * 20, "openrouter": "k" * 20}


def samples(metrics: RouterMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.expose()
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_spills_failovers_429s_tokens_and_gauges() -> None:
    with (
        FakeProvider("zhipu", latency_s=0.3) as zhipu,
        FakeProvider("openrouter") as openrouter,
    ):
        config = {
            "offers": [
                {"offer": "zhipu-flash", "base_url": zhipu.base_url, "cap": 1},
                {"offer": "openrouter", "base_url": openrouter.base_url},
            ],
            "policy": "ordered",
            "ledger": False,
            "retry": {"attempts": 1},
        }

        async def main() -> dict[Any, float]:
            async with vlmroute.AsyncRouter.from_config(config, api_keys=KEYS) as router:
                metrics = RouterMetrics(router)
                # two at once on a cap of 1: the second spills to openrouter
                await asyncio.gather(router.chat(HELLO), router.chat(HELLO))
                zhipu.inject(Fault.server_error(500))  # fails over to openrouter
                await router.chat(HELLO)
                async for _event in router.stream(HELLO):
                    pass
                return samples(metrics)

        found = asyncio.run(main())
    ok = "vlmroute_requests_total"
    assert value(found, ok, offer="zhipu-flash", outcome="ok", caller="") == 2
    assert value(found, ok, offer="openrouter", outcome="ok", caller="") == 2
    assert value(found, "vlmroute_spills_total", offer="openrouter") == 1
    assert value(found, "vlmroute_failovers_total", offer="zhipu-flash") == 1
    assert value(found, "vlmroute_attempts_total", offer="zhipu-flash", outcome="ServerError") == 1
    assert value(found, "vlmroute_time_to_first_token_seconds_count", offer="zhipu-flash") == 1
    tokens = "vlmroute_completion_tokens_total"
    assert value(found, tokens, offer="openrouter", kind="reasoning") > 0  # reported split
    assert value(found, tokens, offer="openrouter", kind="answer") > 0
    assert value(found, tokens, offer="zhipu-flash", kind="completion") > 0  # reported whole
    assert value(found, "vlmroute_in_flight", offer="zhipu-flash") == 0
    assert value(found, "vlmroute_cap", offer="zhipu-flash") == 1
    assert value(found, "vlmroute_queue_depth") == 0


def test_a_429_is_counted_and_the_gauges_show_the_rest() -> None:
    with FakeProvider("openrouter") as openrouter:
        config = {
            "offers": [{"offer": "openrouter", "base_url": openrouter.base_url, "cap": 4}],
            "ledger": False,
            "retry": {"attempts": 1},
            "budgets": [{"amount": 5, "currency": "USD", "period": "day"}],
        }

        async def main() -> dict[Any, float]:
            async with vlmroute.AsyncRouter.from_config(config, api_keys=KEYS) as router:
                metrics = RouterMetrics(router)
                openrouter.inject(Fault.rate_limit(retry_after=30))
                with pytest.raises(vlmroute.errors.RateLimitedError):
                    await router.chat(HELLO)
                return samples(metrics)

        found = asyncio.run(main())
    assert value(found, "vlmroute_rate_limited_total", offer="openrouter") == 1
    outcome = {"offer": "openrouter", "outcome": "RateLimitedError", "caller": ""}
    assert value(found, "vlmroute_requests_total", **outcome) == 1
    assert value(found, "vlmroute_offer_ready", offer="openrouter") == 0  # resting 30 s
    budget = {"budget": "USD 5 a day across all providers", "currency": "USD"}
    assert value(found, "vlmroute_budget_remaining", **budget) == 5
