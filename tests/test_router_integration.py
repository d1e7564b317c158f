"""The router against fake providers on loopback: caps, spill order, every fault, no loss.

Each fake counts the peak number of requests it had in flight, so "the cap is never
exceeded" is measured where it matters: at the provider.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import vlmroute
from vlmroute import MemoryLedger, VlmrouteError
from vlmroute.testing import FakeProvider, Fault

HELLO = [{"role": "user", "content": "hi"}]
KEYS = {"zhipu": "k", "openrouter": "k", "local": "k"}


def config(*pairs: tuple[str, FakeProvider, int], **extra: Any) -> dict[str, Any]:
    offers = [{"offer": o, "base_url": f.base_url, "cap": cap} for o, f, cap in pairs]
    return {"offers": offers, "ledger": False, **extra}


@pytest.fixture
def fakes() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_caps_hold_and_spill_goes_cheapest_first(fakes: ExitStack) -> None:
    free = fakes.enter_context(FakeProvider("zhipu", latency_s=0.05, cap=3))
    paid = fakes.enter_context(FakeProvider("openrouter", latency_s=0.05, cap=4))
    pricey = fakes.enter_context(FakeProvider("zhipu", latency_s=0.05, cap=50))
    cfg = config(("zhipu-flash", free, 3), ("openrouter", paid, 4), ("zhipu-flashx", pricey, 50))

    async def main() -> Counter[str]:
        async with vlmroute.AsyncRouter.from_config(cfg, api_keys=KEYS) as router:
            replies = await asyncio.gather(*(router.chat(HELLO) for _ in range(60)))
        return Counter(r.offer or "" for r in replies)

    served = asyncio.run(main())
    assert sum(served.values()) == 60
    # The first wave fills free (3), then paid (4), then the rest goes to flashx at once.
    assert served["zhipu-flash"] >= 3
    assert served["openrouter"] >= 4
    for fake, cap in ((free, 3), (paid, 4), (pricey, 50)):
        assert fake.stats.peak_in_flight <= cap
        assert fake.stats.rejected == 0


def test_all_full_requests_wait_fifo_and_never_exceed(fakes: ExitStack) -> None:
    only = fakes.enter_context(FakeProvider("zhipu", latency_s=0.02, cap=2))

    async def main() -> None:
        async with vlmroute.AsyncRouter.from_config(
            config(("zhipu-flash", only, 2)), api_keys=KEYS
        ) as router:
            await asyncio.gather(*(router.chat(HELLO) for _ in range(30)))

    asyncio.run(main())
    assert only.stats.peak_in_flight == 2
    assert only.stats.rejected == 0
    assert only.stats.served == 30


def test_sync_router_from_many_threads_holds_the_cap(fakes: ExitStack) -> None:
    only = fakes.enter_context(FakeProvider("zhipu", latency_s=0.02, cap=3))
    from concurrent.futures import ThreadPoolExecutor

    with (
        vlmroute.Router.from_config(config(("zhipu-flash", only, 3)), api_keys=KEYS) as router,
        ThreadPoolExecutor(12) as pool,
    ):
        replies = list(pool.map(lambda _i: router.chat(HELLO), range(36)))
    assert len(replies) == 36
    assert only.stats.peak_in_flight == 3
    assert only.stats.rejected == 0


@pytest.mark.parametrize(
    "fault",
    [
        Fault.rate_limit(),
        Fault.no_balance(),
        Fault.overloaded(),
        Fault.server_error(502),
        Fault.malformed_json(),
        Fault.drop(),
        Fault.hang(2.0),
    ],
    ids=["429-1302", "1113", "1305", "502", "malformed", "dropped", "timeout"],
)
def test_every_fault_ends_in_success_elsewhere(fakes: ExitStack, fault: Fault) -> None:
    first = fakes.enter_context(FakeProvider("zhipu"))
    second = fakes.enter_context(FakeProvider("openrouter"))
    first.inject(fault, times=10)
    cfg = config(("zhipu-flash", first, 5), ("openrouter", second, 5))
    cfg["offers"][0]["timeouts"] = {"connect": 1, "read": 0.5, "total": 1}
    cfg["retry"] = {"attempts": 1}

    with vlmroute.Router.from_config(cfg, api_keys=KEYS) as router:
        answer = router.chat(HELLO)
    assert answer.offer == "openrouter"
    assert [a.offer for a in answer.attempts] == ["zhipu-flash", "openrouter"]
    assert answer.attempts[0].outcome != "ok"


@pytest.mark.parametrize("fault", [Fault.cut_stream(after_chunks=0), Fault.overloaded()])
def test_streams_fail_over_before_the_first_delta(fakes: ExitStack, fault: Fault) -> None:
    first = fakes.enter_context(FakeProvider("zhipu"))
    second = fakes.enter_context(FakeProvider("openrouter"))
    first.inject(fault)
    cfg = config(("zhipu-flash", first, 5), ("openrouter", second, 5), retry={"attempts": 1})
    with vlmroute.Router.from_config(cfg, api_keys=KEYS) as router:
        events = list(router.stream(HELLO))
    end = events[-1]
    assert isinstance(end, vlmroute.StreamEnd)
    assert end.response.offer == "openrouter"
    assert end.response.answer == "The cat is on the mat."


def test_a_stream_cut_after_the_first_delta_is_a_typed_error(fakes: ExitStack) -> None:
    only = fakes.enter_context(FakeProvider("zhipu", stream_chunks=6))
    only.inject(Fault.cut_stream(after_chunks=3))
    cfg = config(("zhipu-flash", only, 5), retry={"attempts": 1})
    seen: list[object] = []
    with (
        vlmroute.Router.from_config(cfg, api_keys=KEYS) as router,
        pytest.raises(vlmroute.ProviderError),
    ):
        seen.extend(router.stream(HELLO))
    assert seen  # deltas arrived before the cut; no failover after them


def test_a_server_killed_mid_run_loses_no_request(fakes: ExitStack) -> None:
    doomed = fakes.enter_context(FakeProvider("zhipu", latency_s=0.2, cap=5))
    backup = fakes.enter_context(FakeProvider("openrouter", latency_s=0.05, cap=20))
    ledger = MemoryLedger()
    cfg = config(("zhipu-flash", doomed, 5), ("openrouter", backup, 20), retry={"attempts": 1})

    async def main() -> list[vlmroute.ChatResponse | BaseException]:
        async with vlmroute.AsyncRouter.from_config(cfg, api_keys=KEYS, ledger=ledger) as r:
            tasks = [asyncio.create_task(r.chat(HELLO)) for _ in range(40)]
            await asyncio.sleep(0.1)  # five requests are in flight on the doomed server
            await asyncio.to_thread(doomed.kill)
            return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    assert len(results) == 40
    rows = ledger.rows()
    assert len(rows) == 40
    assert len({row.request_id for row in rows}) == 40
    survivors = [r for r in results if isinstance(r, vlmroute.ChatResponse)]
    rescued = [r for r in survivors if r.attempts[0].offer == "zhipu-flash" and len(r.attempts) > 1]
    assert rescued  # the ones cut by the kill were sent again, elsewhere


def test_content_filter_is_returned_not_failed_over(fakes: ExitStack) -> None:
    first = fakes.enter_context(FakeProvider("zhipu"))
    second = fakes.enter_context(FakeProvider("openrouter"))
    first.inject(Fault.content_filter())
    cfg = config(("zhipu-flash", first, 5), ("openrouter", second, 5))
    with (
        vlmroute.Router.from_config(cfg, api_keys=KEYS) as router,
        pytest.raises(vlmroute.ContentFilteredError) as info,
    ):
        router.chat(HELLO)
    assert info.value.provider_code == "1301"
    assert second.stats.requests_seen == 0


def test_every_candidate_down_raises_a_typed_error_with_attempts(fakes: ExitStack) -> None:
    first = fakes.enter_context(FakeProvider("zhipu"))
    second = fakes.enter_context(FakeProvider("openrouter"))
    first.inject(Fault.overloaded(), times=5)
    second.inject(Fault.server_error(500), times=5)
    cfg = config(("zhipu-flash", first, 5), ("openrouter", second, 5), retry={"attempts": 1})
    with (
        vlmroute.Router.from_config(cfg, api_keys=KEYS) as router,
        pytest.raises(VlmrouteError) as info,
    ):
        router.chat(HELLO)
    assert isinstance(info.value, vlmroute.ServerError)
    assert info.value.provider == "openrouter"


def test_sqlite_ledger_one_row_per_request_under_load_with_retries(
    fakes: ExitStack, tmp_path: Path
) -> None:
    flaky = fakes.enter_context(FakeProvider("openrouter", latency_s=0.01, cost_usd=0.001))
    flaky.inject(Fault.server_error(502), times=15)
    path = tmp_path / "spend.sqlite3"
    cfg = config(("openrouter", flaky, 8), ledger=str(path))
    cfg["retry"] = {"attempts": 4, "faults": ["server"], "initial_backoff_s": 0}

    async def main() -> list[vlmroute.ChatResponse]:
        async with vlmroute.AsyncRouter.from_config(cfg, api_keys=KEYS) as router:
            return await asyncio.gather(*(router.chat(HELLO) for _ in range(50)))

    replies = asyncio.run(main())
    retried = [r for r in replies if len(r.attempts) > 1]
    assert retried  # the injected 502s were retried on the same offer
    with vlmroute.SqliteLedger(path) as ledger:
        rows = ledger.rows()
    assert len(rows) == 50
    assert len({row.request_id for row in rows}) == 50
    assert sum(row.attempts for row in rows) == 50 + 15
    assert all(row.cost == vlmroute.Money(Decimal("0.001"), "USD") for row in rows)
