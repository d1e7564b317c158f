"""Slots shared through a real Redis: LocalSlots' semantics across processes, crashes, outages.

Two stores on one namespace stand for two processes; the slow tests use real ones (spawned
routers against one spawned fake provider, a holder killed with SIGKILL, a Redis killed and
restarted mid-run).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import random
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing.synchronize import Barrier, Event
from typing import Any

import pytest
import redis

import vlmroute
from vlmroute._fake.redis_server import MISSING, free_port
from vlmroute._router.config import BreakerPolicy, RateLimitPolicy, RouterConfig
from vlmroute._router.health import Breaker, OfferHealth
from vlmroute._store import redact_url
from vlmroute._store.protocol import Lease, Pause, SlotTimeout
from vlmroute._store.redis_slots import RedisSlots
from vlmroute.errors import (
    ConfigurationError,
    InsufficientBalanceError,
    NoRouteError,
    RateLimitedError,
    ServerError,
)
from vlmroute.testing import FakeProvider, Fault, redis_server

# On a laptop without Redis these skip; under CI (where .ci/run installs it) they never do.
pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None and not os.environ.get("CI"), reason=MISSING
)

HELLO = [{"role": "user", "content": "hi"}]
SECRET = "pw-9f3a7c-never-shown"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with redis_server() as server:
        yield server.url


def namespace() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def leftovers(url: str, space: str) -> int:
    """Leases and tickets still in Redis under ``space``."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        keys = [str(k) for k in client.keys(f"{space}:*")]
        return sum(int(client.zcard(k)) for k in keys if k.endswith(("leases", "queue")))
    finally:
        client.close()


def store(url: str, caps: dict[str, int], space: str | None = None, **kw: Any) -> RedisSlots:
    """A store with the caps in ``caps``; stores given one ``space`` share slots."""
    return RedisSlots(
        list(caps),
        url=url,
        capacity=lambda name: caps[name],
        namespace=space or namespace(),
        **kw,
    )


# ---------------------------------------------------------------------- LocalSlots' semantics


def test_spills_to_the_next_offer_when_the_first_is_full(url: str) -> None:
    async def main() -> tuple[list[str], int]:
        slots = store(url, {"free": 2, "paid": 3})
        leases = [await slots.acquire(["free", "paid"]) for _ in range(5)]
        for lease in leases:
            await slots.release(lease)
        await slots.aclose()
        return [lease.offer for lease in leases], slots.round_trips

    offers, round_trips = asyncio.run(main())
    assert offers == ["free", "free", "paid", "paid", "paid"]
    # subscribe, read the learned caps, then one call to take and one to give back
    assert round_trips == 2 + 5 * 2


def test_waiting_costs_no_round_trips(url: str) -> None:
    async def main() -> int:
        slots = store(url, {"a": 2})

        async def request() -> None:
            lease = await slots.acquire(["a"])
            await asyncio.sleep(0.01)
            await slots.release(lease)

        await asyncio.gather(*(request() for _ in range(20)))  # 18 wait their turn
        await slots.aclose()
        return slots.round_trips

    # subscribe and read the learned caps; each release hands its slot to the next
    assert asyncio.run(main()) == 2 + 20 * 2


def test_waiters_are_served_in_arrival_order_across_processes(url: str) -> None:
    async def main() -> list[int]:
        space = namespace()
        one, two = store(url, {"a": 1}, space), store(url, {"a": 1}, space)
        await two.release(await two.acquire(["a"]))  # connected, so its arrivals are calls
        first = await one.acquire(["a"])
        order: list[int] = []

        async def waiter(i: int) -> None:
            lease = await (one, two)[i % 2].acquire(["a"])
            order.append(i)
            await asyncio.sleep(0.005)
            await (one, two)[i % 2].release(lease)

        tasks = []
        for i in range(6):
            tasks.append(asyncio.create_task(waiter(i)))
            await asyncio.sleep(0.05)  # arrive in this order (with room on a busy machine)
        await one.release(first)
        await asyncio.gather(*tasks)
        await one.aclose()
        await two.aclose()
        return order

    assert asyncio.run(main()) == [0, 1, 2, 3, 4, 5]


def test_a_waiter_takes_the_first_slot_freed_anywhere(url: str) -> None:
    async def main() -> str:
        slots = store(url, {"a": 1, "b": 1})
        held_a = await slots.acquire(["a"])
        held_b = await slots.acquire(["b"])
        pending = asyncio.create_task(slots.acquire(["a", "b"]))
        await asyncio.sleep(0.05)
        await slots.release(held_b)
        lease = await pending
        await slots.release(held_a)
        await slots.release(lease)
        await slots.aclose()
        return lease.offer

    assert asyncio.run(main()) == "b"


def test_a_waiter_that_cannot_use_the_freed_offer_lets_a_later_one_take_it(url: str) -> None:
    async def main() -> tuple[bool, str]:
        slots = store(url, {"a": 1, "b": 1})
        held_a = await slots.acquire(["a"])
        held_b = await slots.acquire(["b"])
        only_a = asyncio.create_task(slots.acquire(["a"]))
        await asyncio.sleep(0.02)
        either = asyncio.create_task(slots.acquire(["a", "b"]))
        await asyncio.sleep(0.02)
        await slots.release(held_b)
        lease = await either
        done = only_a.done()
        await slots.release(held_a)
        await slots.release(await only_a)
        await slots.release(lease)
        await slots.aclose()
        return done, lease.offer

    assert asyncio.run(main()) == (False, "b")


def test_deadline_raises_slot_timeout_and_leaves_no_ticket_behind(url: str) -> None:
    async def main(space: str) -> tuple[float, int]:
        slots = store(url, {"a": 1}, space)
        held = await slots.acquire(["a"])
        started = time.monotonic()
        with pytest.raises(SlotTimeout):
            await slots.acquire(["a"], deadline=time.monotonic() + 0.1)
        waited = time.monotonic() - started
        await slots.release(held)
        again = await slots.acquire(["a"])  # no stale ticket of the timed-out waiter in line
        await slots.release(again)
        await slots.aclose()
        return waited, slots.in_flight("a")

    space = namespace()
    waited, in_flight = asyncio.run(main(space))
    assert waited > 0.09  # it waited out its deadline (no upper bound: machines are noisy)
    assert in_flight == 0
    assert leftovers(url, space) == 0


def test_cancelled_waiter_does_not_leak_a_slot(url: str) -> None:
    async def main(space: str) -> tuple[int, str]:
        slots, other = store(url, {"a": 1}, space), store(url, {"a": 1}, space)
        held = await slots.acquire(["a"])
        waiter = asyncio.create_task(slots.acquire(["a"]))
        await asyncio.sleep(0.02)
        waiter.cancel()
        await slots.release(held)
        with pytest.raises(asyncio.CancelledError):
            await waiter
        lease = await other.acquire(["a"], deadline=time.monotonic() + 1.0)  # the slot is free
        await other.release(lease)
        await slots.aclose()
        await other.aclose()
        return slots.in_flight("a"), lease.offer

    space = namespace()
    assert asyncio.run(main(space)) == (0, "a")
    assert leftovers(url, space) == 0


@pytest.mark.parametrize("seed", range(2))
def test_cap_never_exceeded_across_processes_under_random_interleavings(
    url: str, seed: int
) -> None:
    caps = {"a": 3, "b": 5, "c": 2}
    rng = random.Random(seed)
    peaks = dict.fromkeys(caps, 0)

    async def main() -> None:
        space = namespace()
        stores = [store(url, caps, space) for _ in range(3)]
        live = dict.fromkeys(caps, 0)

        async def request() -> None:
            order = list(caps)
            rng.shuffle(order)
            slots = rng.choice(stores)
            lease = await slots.acquire(order)
            live[lease.offer] += 1
            peaks[lease.offer] = max(peaks[lease.offer], live[lease.offer])
            await asyncio.sleep(rng.random() / 200)
            live[lease.offer] -= 1
            await slots.release(lease)

        await asyncio.gather(*(request() for _ in range(200)))
        for slots in stores:
            assert all(slots.in_flight(n) == 0 for n in caps)
            await slots.aclose()

    asyncio.run(main())
    assert peaks == caps  # never over, and the caps were used


def test_capacity_zero_means_the_offer_takes_nothing_until_poked(url: str) -> None:
    async def main() -> str:
        caps = {"a": 0}
        slots = store(url, caps)
        pending = asyncio.create_task(slots.acquire(["a"]))
        await asyncio.sleep(0.05)
        assert not pending.done()
        caps["a"] = 1
        slots.poke()
        lease = await pending
        await slots.release(lease)
        await slots.aclose()
        return lease.offer

    assert asyncio.run(main()) == "a"


def test_a_slot_handed_to_a_process_that_sees_the_offer_paused_goes_to_the_next(
    url: str,
) -> None:
    async def main() -> tuple[bool, bool]:
        space = namespace()
        paused_caps = {"a": 1}
        paused, other = store(url, paused_caps, space), store(url, {"a": 1}, space)
        held = await other.acquire(["a"])
        first = asyncio.create_task(paused.acquire(["a"]))  # first in line
        await asyncio.sleep(0.02)
        second = asyncio.create_task(other.acquire(["a"]))
        await asyncio.sleep(0.02)
        paused_caps["a"] = 0  # e.g. its circuit opened meanwhile; no poke
        await other.release(held)  # handed to `first`, whose process gives it back
        lease = await asyncio.wait_for(second, 2)
        first_waits = not first.done()
        paused_caps["a"] = 1
        paused.poke()
        await other.release(lease)
        await paused.release(await asyncio.wait_for(first, 2))
        await paused.aclose()
        await other.aclose()
        return first_waits, lease.offer == "a"

    assert asyncio.run(main()) == (True, True)


def test_a_renewed_lease_outlives_its_ttl(url: str) -> None:
    async def main() -> None:
        space = namespace()
        holder = store(url, {"a": 1}, space, lease_ttl_s=0.6)
        other = store(url, {"a": 1}, space, lease_ttl_s=0.6)
        held = await holder.acquire(["a"])
        with pytest.raises(SlotTimeout):  # 2 TTLs: renewed every 0.2 s, never lapses
            await other.acquire(["a"], deadline=time.monotonic() + 1.2)
        await holder.release(held)
        await other.release(await other.acquire(["a"], deadline=time.monotonic() + 0.5))
        await holder.aclose()
        await other.aclose()

    asyncio.run(main())


def test_rpm_and_tpm_buckets_are_shared(url: str) -> None:
    async def main() -> list[str]:
        space = namespace()
        caps = {"a": 100, "b": 100}
        one = store(url, caps, space, rpm={"a": 2}, tpm={"a": 10_000})
        two = store(url, caps, space, rpm={"a": 2}, tpm={"a": 10_000})
        taken = [
            (await one.acquire(["a", "b"], tokens=100)).offer,
            (await two.acquire(["a", "b"], tokens=9_000)).offer,  # 9,100 of 10,000 tokens
            (await one.acquire(["a", "b"], tokens=100)).offer,  # tokens left, but 2 RPM spent
            (await two.acquire(["a", "b"], tokens=100)).offer,
        ]
        await one.aclose()
        await two.aclose()
        return taken

    assert asyncio.run(main()) == ["a", "a", "b", "b"]


def test_a_waiter_on_an_empty_bucket_wakes_on_refill(url: str) -> None:
    async def main() -> float:
        slots = store(url, {"a": 1000}, rpm={"a": 120})
        started = time.monotonic()
        await asyncio.gather(*(slots.acquire(["a"]) for _ in range(120)))
        await slots.acquire(["a"])  # 120 RPM refills one request every 0.5 s
        await slots.aclose()
        return time.monotonic() - started

    # The 121st slot exists 0.5 s after the full bucket's first: a lower bound that a slow
    # machine only makes longer (the bound from the 120th grant was not: the refill may
    # already have come while a busy machine granted the 120).
    assert asyncio.run(main()) > 0.4


def test_in_flight_counts_this_process_and_the_account_as_last_seen(url: str) -> None:
    async def main() -> list[int]:
        space = namespace()
        one, two = store(url, {"a": 5}, space), store(url, {"a": 5}, space)
        await one.acquire(["a"])
        await one.acquire(["a"])
        held = await two.acquire(["a"])
        counts = [one.in_flight("a"), two.in_flight("a")]
        counts += [one.account_in_flight("a"), two.account_in_flight("a")]
        await two.release(held)
        counts.append(two.account_in_flight("a"))  # as last seen, less its own release
        await one.aclose()
        await two.aclose()
        return counts

    assert asyncio.run(main()) == [2, 1, 2, 3, 2]


# ---------------------------------------------------------------------- Redis unreachable


def dead_url(password: str | None = SECRET) -> str:
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{free_port()}/0"


def test_refuse_raises_no_route_error_naming_the_url_without_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> NoRouteError:
        slots = store(dead_url(), {"a": 1}, on_unreachable="refuse")
        with pytest.raises(NoRouteError) as caught:
            await slots.acquire(["a"])
        assert SECRET not in repr(slots)
        await slots.aclose()
        return caught.value

    error = asyncio.run(main())
    assert "redis://:***@127.0.0.1" in str(error)
    assert "on_unreachable" in str(error)
    assert error.reasons == {"a": "the shared slot store (Redis) is unreachable"}
    for text in (str(error), repr(error), str(error.__cause__), caplog.text):
        assert SECRET not in text


def test_local_fallback_holds_a_share_of_each_cap_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> list[str]:
        slots = store(dead_url(), {"a": 9, "b": 1}, workers=4)
        leases = await asyncio.gather(*(slots.acquire(["a", "b"]) for _ in range(3)))
        with pytest.raises(SlotTimeout):
            await slots.acquire(["a", "b"], deadline=time.monotonic() + 0.05)
        for lease in leases:
            await slots.release(lease)
        assert slots.state == "down"
        assert slots.round_trips == 1  # the burst made one attempt; retries are every 2 s
        await slots.aclose()
        return [lease.offer for lease in leases]

    assert asyncio.run(main()) == ["a", "a", "b"]  # 9 // 4 = 2 on a; 1 // 4 -> 1 on b
    warnings = [r for r in caplog.records if r.name == "vlmroute" and r.levelno >= logging.WARN]
    assert len(warnings) == 1
    assert "redis://:***@127.0.0.1" in warnings[0].getMessage()
    assert SECRET not in caplog.text


def test_a_wrong_password_is_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="vlmroute")
    with redis_server(password=SECRET) as server:
        wrong = server.url.replace(SECRET, SECRET[::-1])

        async def main() -> tuple[NoRouteError, str]:
            slots = store(wrong, {"a": 1}, on_unreachable="refuse")
            with pytest.raises(NoRouteError) as caught:
                await slots.acquire(["a"])
            await slots.aclose()
            return caught.value, repr(slots)

        error, shown = asyncio.run(main())
    for text in (str(error), repr(error), shown, caplog.text):
        assert SECRET not in text
        assert SECRET[::-1] not in text
    assert redact_url("redis://user:pw@h:1/0?password=pw") == "redis://user:***@h:1/0?password=***"


def test_store_config_hides_the_password() -> None:
    config = RouterConfig.from_mapping(
        {"offers": [{"offer": "zhipu-flash"}], "store": {"url": f"redis://:{SECRET}@h:6379"}}
    )
    assert config.store is not None
    assert SECRET not in repr(config)
    assert SECRET not in str(config.store)
    with pytest.raises(ConfigurationError) as caught:
        RouterConfig.from_mapping(
            {"offers": [{"offer": "zhipu-flash"}], "store": {"url": f"http://:{SECRET}@h"}}
        )
    assert "store.url" in str(caught.value)
    assert SECRET not in str(caught.value.__cause__)


def test_the_router_scopes_slots_by_account(url: str) -> None:
    space = namespace()

    def router(key: str) -> vlmroute.AsyncRouter:
        config = {"offers": [{"offer": "zhipu-flash", "cap": 1}], "ledger": False}
        config["store"] = {"url": url, "namespace": space}
        return vlmroute.AsyncRouter.from_config(config, api_keys={"zhipu": key})

    async def main() -> tuple[str, str]:
        same, also_same, other = router("key-1"), router("key-1"), router("key-2")
        held = await same.slots.acquire(["zhipu-flash"])
        with pytest.raises(SlotTimeout):  # one account: one cap, whatever the router
            await also_same.slots.acquire(["zhipu-flash"], deadline=time.monotonic() + 0.05)
        lease = await other.slots.acquire(["zhipu-flash"])  # another account: its own cap
        await same.slots.release(held)
        await other.slots.release(lease)
        scopes = (same.backends["zhipu-flash"].account_scope(), repr(same.slots))
        for each in (same, also_same, other):
            await each.aclose()
        return scopes

    scope, shown = asyncio.run(main())
    assert scope.startswith("zhipu-flash:")
    assert len(scope) == len("zhipu-flash:") + 16
    assert "key-1" not in scope
    assert "RedisSlots" in shown


def test_a_missing_redis_package_says_what_to_install(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "redis" or m.startswith("redis.")]:
        monkeypatch.delitem(sys.modules, name)
    for name in ("vlmroute._store.redis_slots", "vlmroute._store.link"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "redis", None)
    config = {"offers": [{"offer": "zhipu-flash"}], "ledger": False, "store": {"url": url}}
    with pytest.raises(ConfigurationError, match=r"pip install 'vlmroute\[redis\]'"):
        vlmroute.AsyncRouter.from_config(config, api_keys={"zhipu": "k"})


def test_a_rate_limit_or_empty_balance_seen_by_one_router_pauses_the_others(url: str) -> None:
    """Cooldowns and disables are the account's: one router's 429 or 1113 reaches the rest."""
    space = namespace()

    with FakeProvider("zhipu", latency_s=0.0) as fake:

        def router() -> vlmroute.AsyncRouter:
            offers = [{"offer": "zhipu-flashx", "base_url": fake.base_url, "cap": 4}]
            config = {
                "offers": offers,
                "ledger": False,
                "retry": {"attempts": 1},
                "store": {"url": url, "namespace": space},
            }
            return vlmroute.AsyncRouter.from_config(config, api_keys={"zhipu": "k"})

        async def until(check: Any) -> Any:
            for _ in range(100):
                if value := check():
                    return value
                await asyncio.sleep(0.01)
            return check()

        async def main() -> tuple[str | None, int | None, str | None, int, int]:
            async with router() as hit, router() as other:
                await hit.chat(HELLO)  # both subscribed
                await other.chat(HELLO)
                health = other.health["zhipu-flashx"]
                fake.inject(Fault.rate_limit(retry_after=30))
                with pytest.raises(RateLimitedError):
                    await hit.chat(HELLO)
                paused = await until(lambda: health.paused(other._clock()))
                shrunk = health.learned.value
                fake.inject(Fault.no_balance())
                health.cooldown_until = -1.0  # as if the 30 s had passed
                with pytest.raises(InsufficientBalanceError):
                    await other.chat(HELLO)  # `other` finds the balance empty this time
                blocked = await until(lambda: hit.health["zhipu-flashx"].blocked(hit._clock()))
                served = fake.stats.served
                with pytest.raises(NoRouteError, match="disabled"):
                    await hit.chat(HELLO)  # refused here, without a call to the provider
                assert isinstance(hit.slots, RedisSlots)
                trips = hit.slots.round_trips
            return paused, shrunk, blocked, fake.stats.served - served, trips

        paused, shrunk, blocked, sent_after, trips = asyncio.run(main())
    assert paused is not None
    assert "cooling down after a rate limit" in paused
    assert 29 < float(paused.split(" for ")[1].split(" s")[0]) <= 30
    assert shrunk == 1  # the sender had 1 in flight when the 429 came
    assert blocked is not None
    assert blocked.startswith("disabled: out of balance or credits")
    assert "(seen by another process)" in blocked
    assert sent_after == 0
    assert trips > 0


def test_a_429_shrinks_the_cap_to_what_the_whole_account_had_in_flight(url: str) -> None:
    """3 of the account's 4 slots held elsewhere: a 429 on the 4th says the real cap is 3,
    not 0 (what this process alone had in flight, less one)."""
    space = namespace()
    with FakeProvider("zhipu", latency_s=0.0) as fake:
        config = {
            "offers": [{"offer": "zhipu-flashx", "base_url": fake.base_url, "cap": 4}],
            "ledger": False,
            "retry": {"attempts": 1},
            "store": {"url": url, "namespace": space},
        }

        async def main() -> tuple[int | None, int | None]:
            make = vlmroute.AsyncRouter.from_config
            async with (
                make(config, api_keys={"zhipu": "k"}) as hit,
                make(config, api_keys={"zhipu": "k"}) as other,
            ):
                await other.chat(HELLO)  # subscribed
                held = [await other.slots.acquire(["zhipu-flashx"]) for _ in range(3)]
                fake.inject(Fault.rate_limit(retry_after=30))
                with pytest.raises(RateLimitedError):
                    await hit.chat(HELLO)
                health = other.health["zhipu-flashx"]
                for _ in range(100):
                    if health.learned.value is not None:
                        break
                    await asyncio.sleep(0.01)
                for lease in held:
                    await other.slots.release(lease)
                return hit.health["zhipu-flashx"].learned.value, health.learned.value

        assert asyncio.run(main()) == (3, 3)


def v3_on_a_cap_of_4(fake: FakeProvider, url: str, space: str) -> dict[str, Any]:
    """A router config claiming tier V3 (20 in flight) on the fake, whose real cap is 4."""
    return {
        "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url, "tier": "V3"}],
        "ledger": False,
        "store": {"url": url, "namespace": space},
    }


def test_a_cap_learned_by_one_router_is_adopted_by_the_others(url: str) -> None:
    """tier V3 (20) on an account that takes 4: the router that meets the 1302s learns 4
    and publishes it; the other router on the account adopts it without a 429 of its own."""
    space = namespace()
    with FakeProvider("zhipu", latency_s=0.05, cap=4) as fake:
        config = v3_on_a_cap_of_4(fake, url, space)

        async def main() -> tuple[int | None, int | None, int]:
            make = vlmroute.AsyncRouter.from_config
            async with (
                make(config, api_keys={"zhipu": "k"}) as hit,
                make(config, api_keys={"zhipu": "k"}) as other,
            ):
                await other.chat(HELLO)  # subscribed
                replies = await asyncio.gather(*(hit.chat(HELLO) for _ in range(12)))
                health = other.health["zhipu-flash"]
                for _ in range(3000):  # each change is a message: wait for the last one
                    if health.learned.value == hit.health["zhipu-flash"].learned.value:
                        break
                    await asyncio.sleep(0.01)
                return hit.health["zhipu-flash"].learned.value, health.learned.value, len(replies)

        learned_here, adopted, served = asyncio.run(main())
    assert served == 12
    assert learned_here == 4
    assert adopted == 4


def test_a_router_that_starts_later_adopts_the_learned_cap(url: str) -> None:
    """The cap one router learned (4 on a V3 tier's 20) is kept in Redis: a router started
    after it has gone adopts 4 on connecting, and the fake sees no 429 from it."""
    space = namespace()
    with FakeProvider("zhipu", latency_s=0.05, cap=4) as fake:
        config = v3_on_a_cap_of_4(fake, url, space)
        make = vlmroute.AsyncRouter.from_config

        async def first() -> int | None:
            async with make(config, api_keys={"zhipu": "k"}) as hit:
                await asyncio.gather(*(hit.chat(HELLO) for _ in range(12)))
                return hit.health["zhipu-flash"].learned.value

        async def later() -> int | None:
            async with make(config, api_keys={"zhipu": "k"}) as late:
                await late.chat(HELLO)  # connects: the stored cap is read
                health = late.health["zhipu-flash"]
                for _ in range(3000):  # ends at the adoption; the bound only stops a hang
                    if health.learned.value is not None:
                        break
                    await asyncio.sleep(0.01)
                return health.learned.value

        assert asyncio.run(first()) == 4
        refused = fake.stats.rejected
        assert refused > 0  # the first router met the real cap
        assert asyncio.run(later()) == 4
        assert fake.stats.rejected == refused  # learned without a 429 of its own
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        (key,) = [str(k) for k in client.keys(f"{space}:*:cap")]
        assert client.get(key) == "4"
        ttl = client.pttl(key)
    finally:
        client.close()
    assert 0 < ttl <= 3_600_000


def test_a_circuit_opened_by_one_router_opens_in_the_others(url: str) -> None:
    space = namespace()
    with FakeProvider("zhipu", latency_s=0.0) as fake:
        config = {
            "offers": [{"offer": "zhipu-flashx", "base_url": fake.base_url}],
            "ledger": False,
            "retry": {"attempts": 1},
            "breaker": {"failures": 2, "open_s": 30},
            "store": {"url": url, "namespace": space},
        }

        async def main() -> tuple[str, str, str]:
            make = vlmroute.AsyncRouter.from_config
            async with (
                make(config, api_keys={"zhipu": "k"}) as hit,
                make(config, api_keys={"zhipu": "k"}) as other,
            ):
                await hit.chat(HELLO)
                await other.chat(HELLO)
                breaker = other.health["zhipu-flashx"].breaker
                fake.inject(Fault.server_error(502), times=2)
                for _ in range(2):
                    with pytest.raises(ServerError):
                        await hit.chat(HELLO)
                for _ in range(100):
                    if breaker.state(other._clock()) == "open":
                        break
                    await asyncio.sleep(0.01)
                now = other._clock()
                seen = breaker.state(now), breaker.state(now + 29), breaker.state(now + 31)
                return seen

        assert asyncio.run(main()) == ("open", "open", "half-open")


def test_two_sync_routers_called_from_threads_share_one_cap(url: str) -> None:
    """The sync twin (its own loop thread) with the store, as in a threaded WSGI worker."""
    space = namespace()
    with FakeProvider("zhipu", latency_s=0.03, cap=3) as fake:
        config = {
            "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url, "cap": 3}],
            "ledger": False,
            "retry": {"attempts": 1},
            "store": {"url": url, "namespace": space},
        }
        keys = {"zhipu": "k"}
        with (
            vlmroute.Router.from_config(config, api_keys=keys) as one,
            vlmroute.Router.from_config(config, api_keys=keys) as two,
            ThreadPoolExecutor(max_workers=12) as pool,
        ):
            replies = list(pool.map(lambda i: (one, two)[i % 2].chat(HELLO), range(36)))
            assert isinstance(one.engine.slots, RedisSlots)
            trips = one.engine.slots.round_trips
        stats = fake.stats
    assert len(replies) == 36
    assert stats.served == 36
    assert stats.peak_in_flight == 3
    assert stats.rejected == 0
    assert trips >= 18 * 2


def test_pause_messages_from_other_versions_or_this_process_are_ignored(url: str) -> None:
    seen: list[tuple[str, Pause]] = []

    async def main() -> None:
        slots = store(url, {"a": 1}, on_pause=lambda offer, pause: seen.append((offer, pause)))
        await slots.release(await slots.acquire(["a"]))  # connected
        shared = slots._shared
        channel = shared._scopes["a"].wake
        shared.on_message(channel, f"pause {shared._origin} cooldown 1000 2".split())
        shared.on_message(channel, ["pause", "someone", "else", "1000", "2"])  # unknown kind
        shared.on_message(channel, ["pause", "someone", "circuit", "5000"])  # too short
        shared.on_message(channel, ["pause", "someone", "cooldown", "soon", "2"])  # not a number
        rejected = "pause someone disabled 60000 - the API key was rejected"
        shared.on_message(channel, rejected.split())
        slots.share("a", Pause("cooldown", 2.5, cap=3))  # goes out; comes back as our own
        await asyncio.sleep(0.1)
        await slots.aclose()

    asyncio.run(main())
    assert seen == [("a", Pause("disabled", 60.0, reason="the API key was rejected"))]
    circuit = Pause("circuit", 12.0)
    breaker = Breaker(BreakerPolicy(failures=3, open_s=20))
    health = OfferHealth(cap=5, breaker=breaker, limits=RateLimitPolicy())
    health.adopt(100.0, circuit)
    assert (breaker.state(100.0), breaker.state(111.9), breaker.state(112.0)) == (
        "open",
        "open",
        "half-open",
    )
    health.adopt(105.0, Pause("circuit", 20.0))  # open already: not extended
    assert breaker.state(112.0) == "half-open"


def test_budget_spend_is_shared_by_routers_on_one_namespace(url: str) -> None:
    """Each router keeps its own ledger (another host); the day's total is Redis's."""
    space = namespace()

    with FakeProvider("zhipu", latency_s=0.0) as fake:

        def router() -> vlmroute.AsyncRouter:
            return vlmroute.AsyncRouter.from_config(
                {
                    "offers": [{"offer": "zhipu-flashx", "base_url": fake.base_url}],
                    "budgets": [{"amount": 1, "currency": "CNY", "period": "day"}],
                    "store": {"url": url, "namespace": space},
                },
                api_keys={"zhipu": "k"},
                ledger=vlmroute.MemoryLedger(),
            )

        def left(each: vlmroute.AsyncRouter) -> Decimal:
            return each.budgets.remaining()[0][1].amount

        async def until_left(each: vlmroute.AsyncRouter, amount: Decimal) -> Decimal:
            for _ in range(100):
                if left(each) == amount:
                    break
                await asyncio.sleep(0.01)
            return left(each)

        async def main() -> list[Decimal]:
            seen = []
            async with router() as one, router() as two:
                a = (await one.chat(HELLO)).cost
                b = (await two.chat(HELLO)).cost
                assert a is not None
                assert b is not None
                assert a.currency == b.currency == "CNY"
                assert a.amount > 0
                total = Decimal(1) - a.amount - b.amount
                seen += [await until_left(one, total), await until_left(two, total)]
                async with router() as late:  # starts after the spend: reads the total
                    await late.slots.release(await late.slots.acquire(["zhipu-flashx"]))
                    seen += [await until_left(late, total), total]
            return seen

        one_left, two_left, late_left, expected = asyncio.run(main())
    assert one_left == two_left == late_left == expected


# ---------------------------------------------------------------------- processes (slow)

PROCESSES, PER_PROCESS, CAP, LATENCY_S = 4, 100, 5, 0.05


@dataclass(frozen=True)
class _Sync:
    """What the parent shares with each worker: two barriers and a results queue."""

    ready: Barrier
    go: Barrier
    results: Any


def _route_worker(url: str, base_url: str, space: str, sync: _Sync) -> None:
    """One "gunicorn worker": its own router, PER_PROCESS requests at once after ``go``."""
    asyncio.run(_route(url, base_url, space, sync))


async def _route(url: str, base_url: str, space: str, sync: _Sync) -> None:
    config = {
        "offers": [{"offer": "zhipu-flash", "base_url": base_url, "cap": CAP}],
        "ledger": False,
        "store": {"url": url, "namespace": space},
    }
    async with vlmroute.AsyncRouter.from_config(config, api_keys={"zhipu": "k"}) as router:
        slots = router.slots
        assert isinstance(slots, RedisSlots)
        await router.chat(HELLO)  # warm: Redis subscribed, a connection to the provider
        sync.ready.wait()
        sync.go.wait()
        started, before = time.time(), slots.round_trips
        replies = await asyncio.gather(
            *(router.chat(HELLO) for _ in range(PER_PROCESS)), return_exceptions=True
        )
        errors = [type(r).__name__ for r in replies if isinstance(r, BaseException)]
        sync.results.put((started, time.time(), errors, slots.round_trips - before))


@pytest.mark.slow
def test_four_processes_share_one_cap(url: str) -> None:
    """Issue 6: 4 workers x 100 requests, one account capped at 5, 50 ms per answer."""
    ctx = multiprocessing.get_context("spawn")
    sync = _Sync(ctx.Barrier(PROCESSES + 1), ctx.Barrier(PROCESSES + 1), ctx.Queue())
    with FakeProvider.spawn("zhipu", latency_s=LATENCY_S, cap=CAP) as fake:
        space = namespace()
        workers = [
            ctx.Process(target=_route_worker, args=(url, fake.base_url, space, sync))
            for _ in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        try:
            sync.ready.wait(timeout=60)
            fake.reset_stats()
            sync.go.wait(timeout=10)
            done = [sync.results.get(timeout=60) for _ in workers]
        finally:
            for worker in workers:
                worker.join(timeout=10)
                worker.kill()
        stats = fake.stats()
    makespan = max(end for _s, end, _e, _r in done) - min(start for start, _e, _x, _r in done)
    ideal = -(-PROCESSES * PER_PROCESS // CAP) * LATENCY_S
    per_request = sum(r for _s, _e, _x, r in done) / (PROCESSES * PER_PROCESS)
    print(
        f"\n4 x 100 requests, cap 5, 50 ms: makespan {makespan:.2f} s (ideal {ideal:.2f} s), "
        f"peak {stats.peak_in_flight} in flight, {stats.rejected} x 429, "
        f"{per_request:.2f} Redis round trips per request"
    )
    assert [errors for _s, _e, errors, _r in done] == [[]] * PROCESSES
    assert stats.served == PROCESSES * PER_PROCESS
    assert stats.peak_in_flight <= CAP
    assert stats.rejected == 0
    # No upper bound on the makespan: a busy machine stretches it (the timing, against the
    # in-process store in the same run, is benchmarks/redis_store.py). Faster than the ideal
    # would mean the cap was not held.
    assert makespan >= ideal * 0.98


def _hold_worker(url: str, space: str, held: Event) -> None:
    asyncio.run(_hold(url, space, held))


async def _hold(url: str, space: str, held: Event) -> None:
    slots = RedisSlots(["a"], url=url, capacity=lambda _o: CAP, namespace=space, lease_ttl_s=2.0)
    for _ in range(CAP):
        await slots.acquire(["a"])
    held.set()
    await asyncio.sleep(60)  # renewing, until killed


@pytest.mark.slow
def test_slots_of_a_killed_process_come_back_within_the_lease_ttl(url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    space, held = namespace(), ctx.Event()
    holder = ctx.Process(target=_hold_worker, args=(url, space, held))
    holder.start()
    try:
        assert held.wait(timeout=30)

        async def main() -> float:
            slots = RedisSlots(
                ["a"], url=url, capacity=lambda _o: CAP, namespace=space, lease_ttl_s=2.0
            )
            waiting = [asyncio.create_task(slots.acquire(["a"])) for _ in range(CAP)]
            await asyncio.sleep(1.0)  # the holder renews meanwhile: nothing frees up
            assert not any(task.done() for task in waiting)
            holder.kill()
            killed = time.monotonic()
            leases: list[Lease] = await asyncio.wait_for(asyncio.gather(*waiting), 10)
            regained = time.monotonic() - killed
            assert slots.in_flight("a") == CAP == len(leases)
            await slots.aclose()
            return regained

        regained = asyncio.run(main())
    finally:
        holder.kill()
        holder.join()
    print(f"\nSIGKILLed holder: full capacity back after {regained:.2f} s (lease TTL 2 s)")
    # They come back (within the 10 s wait above), and not before the TTL ran out; how soon
    # after is a timing, printed above, not asserted (a busy machine delays it).
    assert regained > 0.5


@pytest.mark.slow
def test_a_redis_restart_loses_no_request(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vlmroute")
    with redis_server() as server, FakeProvider("zhipu", latency_s=0.02, cap=CAP) as fake:
        config = {
            "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url, "cap": CAP}],
            "ledger": False,
            "store": {"url": server.url, "namespace": namespace()},
        }

        async def main() -> tuple[int, list[str], list[str]]:
            router = vlmroute.AsyncRouter.from_config(config, api_keys={"zhipu": "k"})
            slots = router.slots
            assert isinstance(slots, RedisSlots)
            flowing = [asyncio.create_task(router.chat(HELLO)) for _ in range(100)]
            await asyncio.sleep(0.15)
            states: list[str] = [slots.state]
            await asyncio.to_thread(server.kill)
            replies = await asyncio.gather(*flowing, return_exceptions=True)
            errors = [type(r).__name__ for r in replies if isinstance(r, BaseException)]
            states.append(slots.state)
            await asyncio.gather(*(router.chat(HELLO) for _ in range(10)))  # per process now
            await asyncio.to_thread(server.start)  # the same port, empty
            for _ in range(60):
                if slots.state == "up":
                    break
                await asyncio.sleep(0.1)
            before = slots.round_trips
            await asyncio.gather(*(router.chat(HELLO) for _ in range(10)))
            shared = slots.round_trips - before
            states.append(slots.state)
            await router.aclose()
            return shared, errors, states

        shared, errors, states = asyncio.run(main())
        stats = fake.stats
    assert errors == []
    assert stats.served == 120
    assert stats.peak_in_flight <= CAP
    assert stats.rejected == 0
    assert states == ["up", "down", "up"]
    assert shared >= 20
    records = [r for r in caplog.records if r.name == "vlmroute"]
    assert [r.levelname for r in records] == ["WARNING", "INFO"]
    assert "unreachable" in records[0].getMessage()
    assert "answers again" in records[1].getMessage()
