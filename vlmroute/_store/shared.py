"""The Redis half of :class:`~vlmroute._store.redis_slots.RedisSlots`: :class:`SharedSlots`.

A slot is a lease in Redis (a member of the account's ``leases`` sorted set, scored by its
expiry), taken and given back by the Lua scripts of :mod:`.lua`.

Costs. A request costs two round trips, whether it waits or not: one call to take a slot
(or, when all are full, to leave a ticket in each offer's queue) and one to give it back,
which runs in the background (the caller's answer does not wait for it).
Waiting costs no calls: the script that frees a slot hands it to the oldest ticket and
publishes ``grant <ticket>`` on the scope's channel, which only that waiter acts on. Pub/sub
rather than BLPOP: one subscriber connection per process serves all its waiters and scopes
(BLPOP holds a connection per blocked waiter), the hand-over is decided in Redis in the same
atomic step as the release (a popped list item would wake whichever popper comes first, maybe
one that cannot use the slot), and a message costs Redis one write however many listen. A
lost message (pub/sub does not queue) costs latency, not a slot: each waiter also asks again
every ``lease_ttl_s / 4`` (its heartbeat, which keeps its ticket alive), finding the lease
handed to it, and at the instant the oldest lease would lapse when it is next in line (a
process killed with SIGKILL).

Leases live ``lease_ttl_s``; one background task renews all of this process's leases every
third of that in one script call, so a stream may last any time and a dead process's slots
come back within one TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from .link import RedisLink, RedisUnreachable, log
from .protocol import Lease, Pause, SlotTimeout
from .tasks import Background

__all__ = ["SharedSlots"]

#: The kinds of ``pause`` message this version understands (a newer one may send others).
_PAUSE_KINDS: dict[str, Literal["cooldown", "disabled", "circuit", "cap"]] = {
    "cooldown": "cooldown",
    "disabled": "disabled",
    "circuit": "circuit",
    "cap": "cap",
}
_NANO = Decimal(10) ** 9  # budget totals are kept in integer nano-units of their currency
_SPEND_TTL_MS = 40 * 86_400_000  # a total outlives its period (a month at most)
#: How long an account's last learned cap is kept for processes that start later: long
#: enough for a deploy's workers to come and go, short enough that a cap learned once (a
#: busy hour, another app on the key) lapses back to the configured one.
LEARNED_CAP_TTL_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class _Scope:
    """The Redis names of one account (see :mod:`.lua`): its key prefix, leases, channel."""

    prefix: str
    leases: str
    wake: str

    @classmethod
    def named(cls, namespace: str, scope: str) -> _Scope:
        prefix = f"{namespace}:{scope}:"
        if any(c.isspace() for c in prefix):
            raise ValueError(f"a Redis namespace or scope has no spaces: {prefix!r}")
        return cls(prefix, prefix + "leases", prefix + "wake")


@dataclass(slots=True, eq=False)
class _Waiter:
    token: str
    offers: tuple[str, ...]
    tokens: int
    nudged: asyncio.Event = field(default_factory=asyncio.Event)
    granted: str | None = None  # the offer a release handed over ("grant" message)
    asked: bool = False  # a call went out, so a ticket may wait in Redis
    pending: asyncio.Future[tuple[str | None, float]] | None = None


class SharedSlots:
    """Leases in Redis at ``url``, for the offers of ``scopes`` (offer -> account).
    ``on_freed()`` runs when a lease ends while Redis is down (the fallback, which counts
    these leases, may admit more); ``down_note`` says in the warning what happens then."""

    def __init__(
        self,
        url: str,
        scopes: Mapping[str, str],
        *,
        capacity: Callable[[str], int],
        on_take: Callable[[str], None],
        on_pause: Callable[[str, Pause], None],
        spend_keys: Callable[[], Sequence[str]],
        on_spend: Callable[[str, Decimal], None],
        rpm: Mapping[str, int],
        tpm: Mapping[str, int],
        namespace: str,
        lease_ttl_s: float,
        on_freed: Callable[[], None],
        down_note: str,
        retry_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = capacity
        self._on_take = on_take
        self._on_pause = on_pause
        self._spend_keys = spend_keys
        self._on_spend = on_spend
        self._spend_prefix = f"{namespace}:spend:"
        self._spend_channel = f"{namespace}:spend"
        self._origin = uuid.uuid4().hex  # to know this process's own pause messages
        self._rpm, self._tpm = rpm, tpm
        self._scopes = {offer: _Scope.named(namespace, s) for offer, s in scopes.items()}
        self._by_channel = {scope.wake: offer for offer, scope in self._scopes.items()}
        self._lease_ms = math.ceil(lease_ttl_s * 1000)
        self._recheck_s = lease_ttl_s / 4
        self._on_freed = on_freed
        self._clock = clock
        self._held: dict[str, str] = {}  # token -> offer
        self.held = Counter[str]()  # offer -> leases this process holds
        #: offer -> leases on its account when this process last took one, less the ones it
        #: gave back since (what a 429 says about the account's real cap).
        self.account_seen = Counter[str]()
        self._cap_news = itertools.count(1)  # the number of each learned cap published
        self._cap_heard: dict[tuple[str, str], int] = {}  # (origin, offer) -> newest heard
        self._to_remember: dict[str, str] = {}  # cap key -> the newest cap not yet written
        self._remembering: set[str] = set()  # cap keys with a write under way
        self._waiters: dict[str, _Waiter] = {}
        self._renewing = asyncio.Event()  # clear while a renewal is in flight
        self._renewing.set()
        self._renewal: asyncio.Task[None] | None = None
        self._background = Background()
        self.link = RedisLink(
            url,
            channels=[*self._by_channel, self._spend_channel],
            on_message=self.on_message,
            on_down=self.wake_all,
            on_up=self._caught_up,
            down_note=down_note,
            retry_s=retry_s,
        )

    # ------------------------------------------------------------------ taking a slot

    async def acquire(
        self, offers: Sequence[str], tokens: int, deadline: float | None
    ) -> Lease | None:
        """A lease from Redis, or None when Redis went away meanwhile.

        Raises:
            SlotTimeout: none before ``deadline``.
        """
        if self._renewal is None:
            self._renewal = self._background.spawn(self._renew_forever())
        waiter = _Waiter(uuid.uuid4().hex, tuple(offers), tokens)
        self._waiters[waiter.token] = waiter
        try:
            offer = await self._wait(waiter, deadline)
        except RedisUnreachable:
            return None
        except BaseException:
            self._abandon(waiter)
            raise
        finally:
            del self._waiters[waiter.token]
        return None if offer is None else Lease(offer, waiter.token)

    async def _wait(self, waiter: _Waiter, deadline: float | None) -> str | None:
        """Ask; if refused, wait for a hand-over, a wake-up, the heartbeat or a lapse."""
        while self.link.state == "up":
            offer, retry_s = waiter.granted, math.inf
            if offer is None:
                waiter.nudged.clear()
                offer, retry_s = await self._ask(waiter)
            if offer is not None:
                if await self._accept(waiter, offer):
                    return offer
                continue
            left = math.inf if deadline is None else deadline - self._clock()
            if left <= 0:
                raise SlotTimeout(f"no free slot on {', '.join(waiter.offers)} in time")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(self._recheck_s, retry_s, left)):
                    await waiter.nudged.wait()
        return None

    async def _ask(self, waiter: _Waiter) -> tuple[str | None, float]:
        """One ACQUIRE call, shielded: if the caller gives up meanwhile, :meth:`_abandon`
        settles the answer (gives back a slot granted too late)."""
        waiter.pending = asyncio.ensure_future(self._acquire_call(waiter))
        answer = await asyncio.shield(waiter.pending)
        waiter.pending = None
        return answer

    async def _acquire_call(self, waiter: _Waiter) -> tuple[str | None, float]:
        """The offer granted (None if none) and the seconds after which asking again helps."""
        args: list[str | int] = [
            self._lease_ms,
            waiter.token,
            math.ceil(self._recheck_s * 3000),  # a ticket outlives two missed heartbeats
            waiter.tokens,
            int(waiter.asked),
            *self._limits(waiter.offers),
        ]
        waiter.asked = True
        keys = [self._scopes[offer].prefix for offer in waiter.offers]
        index, wait_ms, held = await self.link.call("acquire", keys, args)
        if not index:
            return None, math.inf if wait_ms < 0 else wait_ms / 1000
        offer = waiter.offers[int(index) - 1]
        self.account_seen[offer] = int(held)
        return offer, 0.0

    async def _accept(self, waiter: _Waiter, offer: str) -> bool:
        """Count the lease as this process's. A slot on an offer this process now sees
        paused (handed over since it last asked) goes back, to the next in line."""
        self._held[waiter.token] = offer
        self.held[offer] += 1
        if self._capacity(offer) > 0:
            self._on_take(offer)
            return True
        waiter.granted = None
        await self.release(Lease(offer, waiter.token))
        return False

    def _limits(self, offers: Sequence[str]) -> list[int]:
        """cap, rpm, tpm of each offer, as the scripts take them."""
        limits: list[int] = []
        for offer in offers:
            limits += [self._capacity(offer), self._rpm.get(offer, 0), self._tpm.get(offer, 0)]
        return limits

    def _abandon(self, waiter: _Waiter) -> None:
        """The caller gave up (deadline, cancel): give back a slot granted meanwhile (the
        answer in flight, or a hand-over) and take its tickets out of line."""
        if waiter.asked:
            self._background.spawn(self._withdraw(waiter, waiter.pending))

    async def _withdraw(
        self, waiter: _Waiter, pending: asyncio.Future[tuple[str | None, float]] | None
    ) -> None:
        if pending is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await pending
        with contextlib.suppress(RedisUnreachable):
            await self._leave(waiter.offers, waiter.token)

    # ------------------------------------------------------------------ giving it back

    async def release(self, lease: Lease) -> None:
        """Give the lease back. The count here drops at once; the call to Redis goes on in
        the background, so a caller's answer never waits for it (nor does a cancelled
        caller stop it). Never raises for want of Redis: the lease then lapses within a TTL,
        or went with a restarted Redis."""
        offer = self._held.pop(lease.token, None)
        if offer is None:
            return
        self.held[offer] -= 1
        if self.account_seen[offer] > 0:  # the account holds one fewer than Redis last said
            self.account_seen[offer] -= 1
        if self.link.state == "up":
            self._background.spawn(self._give_back(offer, lease.token))
        else:
            self._on_freed()

    async def _give_back(self, offer: str, token: str) -> None:
        await self._renewing.wait()  # a renewal in flight must not bring this lease back
        try:
            await self._leave([offer], token)
        except RedisUnreachable:
            self._on_freed()

    async def _leave(self, offers: Sequence[str], token: str) -> None:
        """Remove ``token``'s lease and tickets; what that frees goes to the next in line."""
        keys = [self._scopes[offer].prefix for offer in offers]
        args: list[str | int] = [self._lease_ms, token, *self._limits(offers)]
        await self.link.call("leave", keys, args)

    # ------------------------------------------------------------------ background

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            if self._held and self.link.state == "up":
                await self._renew()

    async def _renew(self) -> None:
        """Renew every lease held, in one call; releases wait for it (see ``RENEW``)."""
        self._renewing.clear()
        try:
            held = list(self._held.items())
            keys = [self._scopes[offer].leases for _token, offer in held]
            args: list[str | int] = [self._lease_ms, *(token for token, _offer in held)]
            restored = await self.link.call("renew", keys, args)
            if restored:
                log.info("Redis had lost %d leases of requests in flight; restored", restored)
        except RedisUnreachable:
            pass
        finally:
            self._renewing.set()

    def on_message(self, channel: str, words: list[str]) -> None:
        """``grant <ticket>...``: a slot was handed over; ``wake <ticket>``: ask again;
        ``pause <origin> <kind> <ms> <cap or -> <reason>``: see :meth:`share`."""
        if channel == self._spend_channel:
            self._spent(words)
            return
        offer = self._by_channel.get(channel)
        if offer is None or not words:
            return
        if words[0] == "pause":
            self._paused(offer, words)
            return
        for ticket in words[1:]:
            waiter = self._waiters.get(ticket)
            if waiter is not None:
                if words[0] == "grant":
                    waiter.granted = offer
                waiter.nudged.set()

    def share(self, offer: str, pause: Pause) -> None:
        """Publish ``pause`` to the other processes on ``offer``'s account (background)."""
        if self.link.state != "up":
            return
        cap = "-" if pause.cap is None else str(pause.cap)
        ms = max(1, math.ceil(pause.seconds * 1000))
        if pause.kind == "cap":  # a learned cap lasts; the field orders this origin's news
            ms = next(self._cap_news)
            self._remember(self._scopes[offer].prefix + "cap", cap)
        message = f"pause {self._origin} {pause.kind} {ms} {cap} {pause.reason}".rstrip()
        self._background.spawn(self._publish(self._scopes[offer].wake, message))

    def _remember(self, key: str, cap: str) -> None:
        """Keep the newest learned cap for processes that start later (see ``_caught_up``);
        it lapses after :data:`LEARNED_CAP_TTL_MS`, so a cap learned once does not bind an
        account forever after the processes that learned it are gone. One write per key at
        a time, each of the newest value, so that writes cannot land out of order."""
        self._to_remember[key] = cap
        if key not in self._remembering:
            self._remembering.add(key)
            self._background.spawn(self._write_caps(key))

    async def _write_caps(self, key: str) -> None:
        try:
            while key in self._to_remember:
                cap = self._to_remember.pop(key)
                with contextlib.suppress(RedisUnreachable):
                    await self.link.call("remember", [key], [cap, LEARNED_CAP_TTL_MS])
        finally:
            self._remembering.discard(key)

    async def _publish(self, channel: str, message: str) -> None:
        with contextlib.suppress(RedisUnreachable):
            await self.link.publish(channel, message)

    def _paused(self, offer: str, words: list[str]) -> None:
        if len(words) < 5 or words[1] == self._origin or words[2] not in _PAUSE_KINDS:
            return  # this process's own message, or not one this version understands
        try:
            seconds, cap = int(words[3]) / 1000, None if words[4] == "-" else int(words[4])
        except ValueError:
            return
        if words[2] == "cap":  # publishes may overtake each other: keep the newest only
            key, number = (words[1], offer), int(words[3])
            if number <= self._cap_heard.get(key, 0):
                return
            self._cap_heard[key], seconds = number, 0.0
        pause = Pause(_PAUSE_KINDS[words[2]], seconds, cap=cap, reason=" ".join(words[5:]))
        self._on_pause(offer, pause)

    # ------------------------------------------------------------------ budgets

    def add_spend(self, amounts: Sequence[tuple[str, Decimal]]) -> None:
        """Add to budget periods' running totals (background; dropped while Redis is down,
        when each process goes by its own ledger)."""
        if amounts and self.link.state == "up":
            self._background.spawn(self._add_spend(amounts))

    async def _add_spend(self, amounts: Sequence[tuple[str, Decimal]]) -> None:
        keys = [self._spend_prefix + key for key, _amount in amounts]
        nanos = [int((amount * _NANO).to_integral_value(ROUND_HALF_UP)) for _k, amount in amounts]
        args: list[str | int] = [self._spend_channel, _SPEND_TTL_MS, *nanos]
        with contextlib.suppress(RedisUnreachable):
            totals = await self.link.call("spend", keys, args)
            for (key, _amount), total in zip(amounts, totals, strict=True):
                self._on_spend(key, Decimal(int(total)) / _NANO)

    def _spent(self, words: list[str]) -> None:
        """``spend <key> <total>`` (see ``lua.SPEND``)."""
        if len(words) == 3 and words[0] == "spend" and words[1].startswith(self._spend_prefix):
            with contextlib.suppress(ArithmeticError, ValueError):
                total = Decimal(int(words[2])) / _NANO
                self._on_spend(words[1].removeprefix(self._spend_prefix), total)

    def _caught_up(self) -> None:
        """Connected: read the totals of the current periods (spend while this process was
        away from Redis), and the caps other processes learned for these accounts."""
        keys = list(self._spend_keys())
        if keys:
            self._background.spawn(self._read_totals(keys))
        self._background.spawn(self._read_caps())

    async def _read_caps(self) -> None:
        """Adopt each account's last learned cap, as if its message had just come."""
        offers = list(self._scopes)
        with contextlib.suppress(RedisUnreachable):
            values = await self.link.values([self._scopes[o].prefix + "cap" for o in offers])
            for offer, value in zip(offers, values, strict=True):
                if value is not None and value.isdigit():
                    self._on_pause(offer, Pause("cap", 0.0, cap=int(value)))

    async def _read_totals(self, keys: list[str]) -> None:
        with contextlib.suppress(RedisUnreachable):
            values = await self.link.values([self._spend_prefix + key for key in keys])
            for key, value in zip(keys, values, strict=True):
                if value is not None:
                    self._on_spend(key, Decimal(int(value)) / _NANO)

    def wake_all(self) -> None:
        """Every waiter asks again (or, Redis being down, leaves for the fallback)."""
        for waiter in self._waiters.values():
            waiter.nudged.set()

    async def aclose(self) -> None:
        """Stop renewing (leases still held lapse within a TTL); let releases finish."""
        if self._renewal is not None:
            self._renewal.cancel()
        await self._background.stop(grace_s=2.0)  # releases and withdrawals in flight
