"""A ledger row for every request, and a chaos run that loses none (issue 12, part 1).

Requests refused before any offer is tried (no offer can take them; no slot freed in time)
are recorded as well as those served or failed; the chaos test drives a router over three
fakes playing every fault ``Fault`` has, kills one of them mid-run, and checks that every
request ended typed, that caps held at the providers, and one row per request.
"""

from __future__ import annotations

import asyncio
import random
import typing
from typing import Any

import pytest

import vlmroute
from vlmroute.testing import FakeProvider, Fault

HELLO = [{"role": "user", "content": "hi"}]
KEYS = {"zhipu": "k", "openrouter": "k"}


def test_a_request_no_offer_can_take_is_recorded() -> None:
    ledger = vlmroute.MemoryLedger()
    config = {"offers": [{"offer": "zhipu-flash", "base_url": "http://127.0.0.1:9/v4"}]}
    with (
        vlmroute.Router.from_config(config, api_keys=KEYS, ledger=ledger) as router,
        pytest.raises(vlmroute.NoRouteError),
    ):
        router.chat(HELLO, max_tokens=10_000_000)  # over every offer's context
    [row] = ledger.rows()
    assert (row.outcome, row.offer, row.provider, row.attempts) == ("NoRouteError", None, None, 0)
    assert row.cost.amount == 0


def test_a_slot_wait_that_times_out_after_a_failed_offer_is_recorded_once() -> None:
    """The first offer fails; the second is full until the deadline: one NoRouteError row."""
    ledger = vlmroute.MemoryLedger()
    with (
        FakeProvider("zhipu") as broken,
        FakeProvider("openrouter", latency_s=2.0) as busy,
    ):
        broken.inject(Fault.server_error(500), times=5)
        config = {
            "offers": [
                {"offer": "zhipu-flash", "base_url": broken.base_url},
                {"offer": "openrouter", "base_url": busy.base_url, "cap": 1},
            ],
            "retry": {"attempts": 1},
        }

        async def main() -> BaseException | None:
            async with vlmroute.AsyncRouter.from_config(
                config, api_keys=KEYS, ledger=ledger
            ) as router:
                holder = asyncio.create_task(router.chat(HELLO, providers=["openrouter"]))
                await asyncio.sleep(0.3)  # the holder has openrouter's only slot
                try:
                    await router.chat(HELLO, deadline_s=0.5)
                except vlmroute.VlmrouteError as exc:
                    error: BaseException | None = exc
                else:
                    error = None
                await holder
                return error

        error = asyncio.run(main())
    assert isinstance(error, vlmroute.NoRouteError)
    outcomes = sorted(r.outcome for r in ledger.rows())
    assert outcomes == ["NoRouteError", "ok"]
    refused = next(r for r in ledger.rows() if r.outcome == "NoRouteError")
    assert refused.offer == "zhipu-flash"  # the offer it had tried


FAULTS: list[Fault] = [
    Fault.rate_limit(retry_after=0.05),
    Fault.no_balance(),
    Fault.content_filter(),
    Fault.overloaded(),
    Fault.server_error(502),
    Fault.status(200, {"choices": [5]}),
    Fault.hang(0.3),
    Fault.malformed_json(),
    Fault.cut_stream(1),
    Fault.stream_error(1),
    Fault.drop(),
]


def test_every_fault_kind_is_covered() -> None:
    from vlmroute._fake.faults import FaultKind

    assert {f.kind for f in FAULTS} | {"status"} == set(typing.get_args(FaultKind))


@pytest.mark.slow
def test_chaos_every_request_ends_typed_caps_hold_one_row_each() -> None:
    ledger = vlmroute.MemoryLedger()
    rng = random.Random(7)
    caps = {"zhipu-flash": 3, "zhipu-flashx": 4, "openrouter": 5}
    with (
        FakeProvider("zhipu", cap=3, latency_s=0.01) as flash,
        FakeProvider("zhipu", cap=4, latency_s=0.01) as flashx,
        FakeProvider("openrouter", cap=5, latency_s=0.01) as backup,
    ):
        fakes = {"zhipu-flash": flash, "zhipu-flashx": flashx, "openrouter": backup}
        for name, fake in fakes.items():
            for fault in FAULTS:
                if fault.kind == "no_balance" and name != "zhipu-flashx":
                    continue  # an empty account is off for good: leave two offers to serve
                fake.inject(fault, times=rng.randint(1, 3))
        config: dict[str, Any] = {
            "offers": [
                {
                    "offer": name,
                    "base_url": fake.base_url,
                    "cap": caps[name],
                    "timeouts": {"connect": 1.0, "read": 1.0, "total": 2.0},
                }
                for name, fake in fakes.items()
            ],
            "retry": {"attempts": 2, "initial_backoff_s": 0},
            "rate_limits": {"cooldown_s": 0.05},
            "breaker": {"failures": 5, "open_s": 0.2},
        }
        outcomes: list[str] = []

        async def one(router: vlmroute.AsyncRouter, i: int) -> None:
            try:
                if i % 3 == 0:
                    async for _ in router.stream(HELLO, deadline_s=4):
                        pass
                else:
                    await router.chat(HELLO, deadline_s=4)
                outcomes.append("ok")
            except vlmroute.VlmrouteError as exc:
                outcomes.append(type(exc).__name__)

        async def main() -> None:
            async with vlmroute.AsyncRouter.from_config(
                config, api_keys=KEYS, ledger=ledger
            ) as router:
                tasks = [asyncio.create_task(one(router, i)) for i in range(120)]
                await asyncio.sleep(0.2)
                backup.kill()  # mid-run: its connections drop, it answers nothing more
                await asyncio.gather(*tasks)

        asyncio.run(main())
        peaks = {name: fake.stats.peak_in_flight for name, fake in fakes.items()}
        rejected = sum(fake.stats.rejected for fake in fakes.values())
    assert len(outcomes) == 120  # every request ended, with a vlmroute type or "ok"
    assert all(peaks[name] <= caps[name] for name in caps), peaks
    assert rejected == 0  # the router never sent past a cap
    rows = ledger.rows()
    assert len(rows) == 120
    assert len({r.request_id for r in rows}) == 120
    assert sorted(r.outcome for r in rows) == sorted(outcomes)
    assert "ok" in outcomes
