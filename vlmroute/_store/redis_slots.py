"""Concurrency slots shared by every process on an account, in Redis: :class:`RedisSlots`.

A Zhipu concurrency cap belongs to the account, so four gunicorn workers that each hold the
cap locally send four times the cap. :class:`RedisSlots` keeps the slots in Redis
(:mod:`.shared`, :mod:`.lua`) with the semantics of
:class:`~vlmroute._router.slots.LocalSlots`: the first ranked offer with room (spill at
once), else the first slot freed on any of them, in arrival order across processes.

If Redis stops answering, ``on_unreachable="local"`` carries on with an in-process
:class:`LocalSlots` whose caps are ``max(1, cap // workers)``, less the Redis leases this
process still holds; a lease keeps the store it came from, so releases never fail and no
request is lost. Redis is retried in the background (:mod:`.link`) and used again once it
answers. ``"refuse"`` raises :class:`~vlmroute.errors.NoRouteError` instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Literal

from ..errors import NoRouteError
from .link import State
from .local import LocalSlots
from .protocol import Lease, Pause
from .shared import SharedSlots

__all__ = ["RedisSlots"]

_LOCAL = "local"  # the token of a lease taken from the in-process fallback


class RedisSlots:
    """Slots shared through Redis at ``url``; a :class:`~vlmroute._router.slots.SlotStore`.

    ``scopes`` maps each offer to the account behind it (offer id + key digest), so two
    routers on one account share its cap and two accounts do not. ``on_pause(offer, pause)``
    runs when another process on the account reports a :class:`Pause` (a 429, no balance).
    ``spend_keys()`` names the budget periods whose running totals to read on connecting, and
    ``on_spend(key, total)`` gets each total as it grows (every process on the namespace).
    ``capacity``, ``on_take``, ``rpm``, ``tpm`` and ``clock`` are as for :class:`LocalSlots`;
    ``capacity`` is this process's view (0 while it sees the offer cooling down or its
    circuit open). ``workers`` (the processes sharing the account) sizes the fallback;
    ``retry_s`` paces reconnects.
    """

    def __init__(
        self,
        offers: Sequence[str],
        *,
        url: str,
        capacity: Callable[[str], int],
        scopes: Mapping[str, str] | None = None,
        on_take: Callable[[str], None] = lambda _o: None,
        on_pause: Callable[[str, Pause], None] = lambda _o, _p: None,
        spend_keys: Callable[[], Sequence[str]] = list,
        on_spend: Callable[[str, Decimal], None] = lambda _k, _t: None,
        rpm: Mapping[str, int] | None = None,
        tpm: Mapping[str, int] | None = None,
        namespace: str = "vlmroute",
        lease_ttl_s: float = 30.0,
        on_unreachable: Literal["local", "refuse"] = "local",
        workers: int = 1,
        clock: Callable[[], float] = time.monotonic,
        retry_s: float = 2.0,
    ) -> None:
        self._capacity = capacity
        self._refuse = on_unreachable == "refuse"
        self._workers = workers
        rpm, tpm = dict(rpm or {}), dict(tpm or {})
        self._fallback = LocalSlots(
            offers,
            capacity=self._local_capacity,
            on_take=on_take,
            rpm={o: max(1, n // workers) for o, n in rpm.items()},
            tpm={o: max(1, n // workers) for o, n in tpm.items()},
            clock=clock,
        )
        self._shared = SharedSlots(
            url,
            {offer: (scopes or {}).get(offer, offer) for offer in offers},
            capacity=capacity,
            on_take=on_take,
            on_pause=on_pause,
            spend_keys=spend_keys,
            on_spend=on_spend,
            rpm=rpm,
            tpm=tpm,
            namespace=namespace,
            lease_ttl_s=lease_ttl_s,
            on_freed=self._fallback.poke,
            down_note=(
                "requests are refused (store.on_unreachable: refuse)"
                if self._refuse
                else f"each process now holds its own share of each cap (cap // {workers}, "
                "at least 1)"
            ),
            retry_s=retry_s,
            clock=clock,
        )
        self._link = self._shared.link

    def __repr__(self) -> str:
        return f"RedisSlots({self.url!r}, state={self.state!r})"

    @property
    def url(self) -> str:
        """The Redis URL, its password replaced by ``***``."""
        return self._link.safe_url

    @property
    def state(self) -> State:
        """``new`` (not connected yet), ``up`` (slots shared) or ``down`` (per process)."""
        return self._link.state

    @property
    def round_trips(self) -> int:
        """Redis calls made so far (scripts and subscriptions; pushed messages are free)."""
        return self._link.round_trips

    def in_flight(self, offer: str) -> int:
        """This process's requests in flight on ``offer``, not the account's total: the
        router's view of its own traffic (what a 429 it caused says about its cap)."""
        return self._shared.held[offer] + self._fallback.in_flight(offer)

    def account_in_flight(self, offer: str) -> int:
        """Requests in flight on ``offer``'s account from every process, as Redis counted
        them when this process last took a slot there, less the slots it gave back since
        (at least this process's own)."""
        return max(self.in_flight(offer), self._shared.account_seen[offer])

    async def acquire(
        self, offers: Sequence[str], *, tokens: int = 0, deadline: float | None = None
    ) -> Lease:
        """A slot on the first of ``offers`` with room, else the first freed (FIFO).

        Raises:
            SlotTimeout: none before ``deadline`` (a ``clock()`` instant).
            NoRouteError: Redis is unreachable and ``on_unreachable`` is ``"refuse"``.
        """
        if await self._use_redis():
            lease = await self._shared.acquire(offers, tokens, deadline)
            if lease is not None:
                return lease
        if self._refuse:
            raise self._refusal(offers)
        lease = await self._fallback.acquire(offers, tokens=tokens, deadline=deadline)
        return Lease(lease.offer, _LOCAL)

    async def _use_redis(self) -> bool:
        """Connect on first use. While Redis is down, "refuse" tries it on each request
        (it has nothing else to offer); "local" leaves that to the background retries."""
        if self._link.state == "up":
            return True
        if self._link.state == "down" and not self._refuse:
            return False
        return await self._link.connect()

    async def release(self, lease: Lease) -> None:
        """Give the slot back to the store it came from; never raises for want of Redis."""
        if lease.token == _LOCAL:
            await self._fallback.release(Lease(lease.offer))
        else:
            await self._shared.release(lease)

    def poke(self) -> None:
        """Capacity may have grown here (a cooldown ended): every waiter asks again."""
        self._shared.wake_all()
        self._fallback.poke()

    def share(self, offer: str, pause: Pause) -> None:
        """Tell every other process on ``offer``'s account (one PUBLISH, in the background;
        dropped while Redis is down: each process then learns it from its own errors)."""
        self._shared.share(offer, pause)

    def add_spend(self, amounts: Sequence[tuple[str, Decimal]]) -> None:
        """Add to the running totals of budget periods (``BudgetBook.shares``) that every
        process on this namespace sees (``on_spend(key, total)``; background, one call)."""
        self._shared.add_spend(amounts)

    def _local_capacity(self, offer: str) -> int:
        """The fallback's cap: this process's share, less the Redis leases it still holds."""
        cap = self._capacity(offer)
        if cap <= 0:
            return 0
        return max(0, max(1, cap // self._workers) - self._shared.held[offer])

    def _refusal(self, offers: Sequence[str]) -> NoRouteError:
        return NoRouteError(
            f"the shared slot store at {self.url} is unreachable and store.on_unreachable is "
            "'refuse': start Redis there or fix store.url, or set store.on_unreachable: local "
            "to fall back to per-process caps",
            reasons=dict.fromkeys(offers, "the shared slot store (Redis) is unreachable"),
        )

    async def aclose(self) -> None:
        """Stop renewing (leases still held lapse within a TTL) and close the connections."""
        await self._shared.aclose()
        await self._link.aclose()
        await self._fallback.aclose()
