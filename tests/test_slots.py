"""Concurrency slots: caps never exceeded, spill order, FIFO waiting, buckets, deadlines."""

from __future__ import annotations

import asyncio
import random

import pytest

from vlmroute._store.local import LocalSlots, TokenBucket
from vlmroute._store.protocol import Lease, SlotTimeout


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def slots(caps: dict[str, int], **kw: object) -> LocalSlots:
    return LocalSlots(list(caps), capacity=lambda name: caps[name], **kw)  # type: ignore[arg-type]


def test_spills_to_the_next_offer_when_the_first_is_full() -> None:
    async def main() -> list[str]:
        store = slots({"free": 2, "paid": 3})
        return [(await store.acquire(["free", "paid"])).offer for _ in range(5)]

    assert run(main()) == ["free", "free", "paid", "paid", "paid"]


def test_waiters_are_served_in_arrival_order() -> None:
    async def main() -> list[int]:
        store = slots({"a": 1})
        first = await store.acquire(["a"])
        order: list[int] = []

        async def waiter(i: int) -> None:
            lease = await store.acquire(["a"])
            order.append(i)
            await asyncio.sleep(0)
            await store.release(lease)

        tasks = [asyncio.create_task(waiter(i)) for i in range(5)]
        await asyncio.sleep(0.01)
        await store.release(first)
        await asyncio.gather(*tasks)
        return order

    assert run(main()) == [0, 1, 2, 3, 4]


def test_a_waiter_takes_the_first_slot_freed_anywhere() -> None:
    async def main() -> str:
        store = slots({"a": 1, "b": 1})
        held_a = await store.acquire(["a"])
        held_b = await store.acquire(["b"])
        pending = asyncio.create_task(store.acquire(["a", "b"]))
        await asyncio.sleep(0.01)
        await store.release(held_b)
        lease = await pending
        await store.release(held_a)
        return lease.offer

    assert run(main()) == "b"


def test_a_waiter_that_cannot_use_the_freed_offer_lets_a_later_one_take_it() -> None:
    async def main() -> tuple[bool, str]:
        store = slots({"a": 1, "b": 1})
        held_a = await store.acquire(["a"])
        held_b = await store.acquire(["b"])
        only_a = asyncio.create_task(store.acquire(["a"]))
        either = asyncio.create_task(store.acquire(["a", "b"]))
        await asyncio.sleep(0.01)
        await store.release(held_b)
        lease = await either
        done = only_a.done()
        await store.release(held_a)
        await store.release(await only_a)
        return done, lease.offer

    assert run(main()) == (False, "b")


def test_deadline_raises_slot_timeout_and_leaves_no_waiter_behind() -> None:
    async def main() -> int:
        store = slots({"a": 1})
        held = await store.acquire(["a"])
        loop = asyncio.get_running_loop()
        with pytest.raises(SlotTimeout):
            await store.acquire(["a"], deadline=loop.time() + 0.02)
        await store.release(held)
        again = await store.acquire(["a"])
        await store.release(again)
        return store.in_flight("a")

    assert run(main()) == 0


def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    async def main() -> int:
        store = slots({"a": 1})
        held = await store.acquire(["a"])
        waiter = asyncio.create_task(store.acquire(["a"]))
        await asyncio.sleep(0.01)
        waiter.cancel()
        await store.release(held)
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return store.in_flight("a")

    assert run(main()) == 0


@pytest.mark.parametrize("seed", range(5))
def test_cap_never_exceeded_under_random_interleavings(seed: int) -> None:
    caps = {"a": 3, "b": 5, "c": 2}
    rng = random.Random(seed)
    peaks = dict.fromkeys(caps, 0)

    async def main() -> None:
        store = slots(caps)
        live = dict.fromkeys(caps, 0)

        async def request() -> None:
            order = list(caps)
            rng.shuffle(order)
            lease = await store.acquire(order)
            live[lease.offer] += 1
            peaks[lease.offer] = max(peaks[lease.offer], live[lease.offer])
            await asyncio.sleep(rng.random() / 500)
            live[lease.offer] -= 1
            await store.release(lease)

        await asyncio.gather(*(request() for _ in range(300)))
        assert all(store.in_flight(n) == 0 for n in caps)

    run(main())
    assert all(peaks[n] <= caps[n] for n in caps)
    assert peaks == caps  # and the caps were actually used


def test_capacity_zero_means_the_offer_takes_nothing_until_poked() -> None:
    async def main() -> str:
        caps = {"a": 0}
        store = slots(caps)
        pending = asyncio.create_task(store.acquire(["a"]))
        await asyncio.sleep(0.01)
        assert not pending.done()
        caps["a"] = 1
        store.poke()
        lease = await pending
        await store.release(lease)
        return lease.offer

    assert run(main()) == "a"


def test_rpm_bucket_spills_then_refills() -> None:
    now = [0.0]
    store = LocalSlots(["a", "b"], capacity=lambda _n: 100, rpm={"a": 2}, clock=lambda: now[0])
    taken = [store.try_take(["a", "b"]) for _ in range(3)]
    assert taken == ["a", "a", "b"]
    now[0] = 30.0  # half a minute: one request's worth of a 2-RPM bucket
    assert store.try_take(["a", "b"]) == "a"
    assert store.try_take(["a", "b"]) == "b"


def test_tpm_bucket_counts_tokens() -> None:
    store = LocalSlots(["a", "b"], capacity=lambda _n: 100, tpm={"a": 10_000}, clock=lambda: 0.0)
    assert store.try_take(["a", "b"], tokens=6_000) == "a"
    assert store.try_take(["a", "b"], tokens=6_000) == "b"


def test_waiter_on_an_empty_bucket_wakes_on_refill_without_a_release() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        store = LocalSlots(["a"], capacity=lambda _n: 1000, rpm={"a": 600}, clock=loop.time)
        for _ in range(600):
            assert store.try_take(["a"]) == "a"
        started = loop.time()
        await store.acquire(["a"])  # 600 RPM refills one request every 0.1 s
        return loop.time() - started

    waited = run(main())
    assert isinstance(waited, float)
    assert waited > 0.05  # no upper bound: machines are noisy


def test_token_bucket_eta() -> None:
    bucket = TokenBucket.per_minute(60, now=0.0)
    bucket.take(60, now=0.0)
    assert bucket.eta(1, now=0.0) == pytest.approx(1.0)
    assert bucket.eta(1, now=1.0) == 0.0
    assert bucket.eta(1000, now=1.0) == pytest.approx(59.0)  # over capacity: when full


def test_lease_is_a_value() -> None:
    assert Lease("a") == Lease("a", "")
