"""Caps the router learns: a configured cap is an upper bound; "too many in flight" answers
lower it at once, successes at the cap grow it back slowly (issue 13). The invariants are
counts (429s, peak in flight, failures, the learned value), never times."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import vlmroute
from vlmroute._router.learned import LearnedCap
from vlmroute._store.protocol import Pause
from vlmroute.testing import FakeProvider

HELLO = [{"role": "user", "content": "hi"}]
KEYS = {"zhipu": "k", "openrouter": "k"}


# ---------------------------------------------------------------- the pure rule


def test_too_many_lowers_the_cap_to_what_else_is_in_flight() -> None:
    cap = LearnedCap(ceiling=20, recover_s=10.0)
    assert cap.current() == 20
    assert not cap.learned
    assert cap.too_many(now=0.0, others_in_flight=19) == 19
    assert cap.too_many(now=0.0, others_in_flight=19) is None  # a 429 at the cap: no change
    assert cap.too_many(now=0.0, others_in_flight=25) is None  # never raised by a 429
    assert cap.too_many(now=0.0, others_in_flight=0) == 1  # at least one slot
    assert cap.current() == 1


def test_it_grows_only_after_a_success_at_the_cap_and_recover_s() -> None:
    cap = LearnedCap(ceiling=6, recover_s=10.0)
    cap.too_many(now=0.0, others_in_flight=4)
    assert cap.succeeded(now=5.0, busy=4) is None  # too soon
    assert cap.succeeded(now=11.0, busy=3) is None  # below the cap: no evidence
    assert cap.succeeded(now=11.0, busy=4) == 5
    assert cap.succeeded(now=12.0, busy=5) is None  # recover_s counts from the last change
    assert cap.succeeded(now=21.0, busy=5) == 6
    assert not cap.learned  # back at the ceiling: nothing learned any more
    assert cap.succeeded(now=40.0, busy=6) is None  # never above the ceiling


def test_adopting_another_process_s_cap_goes_either_way_within_the_ceiling() -> None:
    cap = LearnedCap(ceiling=10, recover_s=10.0)
    cap.adopt(now=0.0, value=3)
    assert cap.current() == 3
    cap.adopt(now=1.0, value=7)
    assert cap.current() == 7
    cap.adopt(now=2.0, value=50)
    assert cap.current() == 10
    assert not cap.learned


# ---------------------------------------------------------------- the router, end to end


def _burst(config: dict[str, Any], count: int) -> tuple[list[Any], vlmroute.AsyncRouter]:
    async def go() -> tuple[list[Any], vlmroute.AsyncRouter]:
        async with vlmroute.AsyncRouter.from_config(config, api_keys=KEYS) as router:
            replies = await asyncio.gather(
                *(router.chat(HELLO) for _ in range(count)), return_exceptions=True
            )
        return replies, router

    return asyncio.run(go())


def test_a_tier_set_too_high_costs_one_429_per_overstated_slot() -> None:
    """tier V3 says 20 in flight; the account takes 5. The first 20 go out at once (15
    answered 429); from then on the router sends at most 5 and none is lost."""
    with FakeProvider("zhipu", latency_s=0.05, cap=5) as fake:
        config = {
            "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url, "tier": "V3"}],
            "ledger": False,
        }
        replies, router = _burst(config, 60)
        stats = fake.stats
    assert not [r for r in replies if isinstance(r, BaseException)]
    assert stats.status_counts.get(429, 0) == 15
    assert router.health["zhipu-flash"].learned.value == 5
    crowded = [a for r in replies for a in r.attempts if a.outcome == "RateLimitedError"]
    assert len(crowded) == 15  # each 429 is in its request's attempts
    assert all(r.attempts[-1].outcome == "ok" for r in replies)


def test_a_learned_cap_spills_the_rest_to_the_next_offer() -> None:
    with (
        FakeProvider("zhipu", latency_s=0.05, cap=2) as free,
        FakeProvider("openrouter", latency_s=0.05) as paid,
    ):
        config = {
            "offers": [
                {"offer": "zhipu-flash", "base_url": free.base_url, "cap": 8},
                {"offer": "openrouter", "base_url": paid.base_url, "cap": 30},
            ],
            "ledger": False,
        }
        replies, router = _burst(config, 40)
        rejected = free.stats.status_counts.get(429, 0)
        free_peak = free.stats.peak_in_flight
    assert not [r for r in replies if isinstance(r, BaseException)]
    assert rejected <= 6  # the 8 - 2 overstated slots, at most
    assert free_peak <= 2
    assert router.health["zhipu-flash"].learned.value == 2
    assert {r.offer for r in replies} == {"zhipu-flash", "openrouter"}


def test_a_lone_429_is_a_rate_limit_not_a_cap_it_rests_and_fails_over() -> None:
    """With nothing else in flight, a 429 says nothing about concurrency: the offer rests
    (cooldown) and the request goes to the next offer."""
    with FakeProvider("zhipu", cap=0) as never, FakeProvider("openrouter") as other:
        config = {
            "offers": [
                {"offer": "zhipu-flash", "base_url": never.base_url},
                {"offer": "openrouter", "base_url": other.base_url},
            ],
            "ledger": False,
            "retry": {"attempts": 1},
        }
        replies, router = _burst(config, 1)
    [reply] = replies
    assert reply.offer == "openrouter"
    assert reply.attempts[0].outcome == "RateLimitedError"
    health = router.health["zhipu-flash"]
    assert health.paused(router._clock()) is not None  # cooling down


def test_plan_explain_shows_a_learned_cap() -> None:
    router = vlmroute.AsyncRouter.from_config(
        {"offers": [{"offer": "zhipu-flash", "tier": "V3"}], "ledger": False},
        api_keys=KEYS,
    )
    router.health["zhipu-flash"].learned.too_many(now=router._clock(), others_in_flight=4)
    plan = router.plan(HELLO)
    [candidate] = plan.candidates
    assert candidate.cap == 4
    assert candidate.configured_cap == 20


@pytest.mark.parametrize("value", [3])
def test_a_cap_message_from_another_process_is_adopted(value: int) -> None:
    router = vlmroute.AsyncRouter.from_config(
        {"offers": [{"offer": "zhipu-flash", "tier": "V3"}], "ledger": False},
        api_keys=KEYS,
    )

    async def go() -> None:
        router._adopt("zhipu-flash", Pause("cap", 0.0, cap=value))
        await router.aclose()

    asyncio.run(go())
    assert router.health["zhipu-flash"].effective_cap() == value


def test_the_plan_table_says_when_a_cap_was_learned() -> None:
    from vlmroute._cli.route_cmd import _cap

    assert _cap(3, 4, 20) == "3/4 (learned; set 20)"
    assert _cap(3, 20, None) == "3/20"


def test_a_frequency_limit_teaches_no_cap() -> None:
    """Zhipu's 1303 is "too frequent", not "too many at once": the cap stays as set."""
    from vlmroute._router.router import _says_crowded

    def limited(code: str | None, retry_after: float | None = None) -> vlmroute.RateLimitedError:
        return vlmroute.RateLimitedError(
            "x", provider="p", status_code=429, provider_code=code, retry_after=retry_after
        )

    assert _says_crowded(limited("1302"))
    assert _says_crowded(limited(None))
    assert not _says_crowded(limited("1303"))
    assert not _says_crowded(limited("1302", retry_after=2.0))
