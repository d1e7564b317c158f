"""The slot stores' shared vocabulary: a lease, a pause, the store protocol (no I/O).

Two stores implement :class:`SlotStore`: :class:`~.local.LocalSlots` (this process, the
default) and :class:`~.redis_slots.RedisSlots` (every process on an account, through Redis).
The router uses them through this protocol only; neither imports the router.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from ..errors import VlmrouteError

__all__ = ["Lease", "Pause", "SlotStore", "SlotTimeout"]


class SlotTimeout(VlmrouteError):
    """No slot on any of the offers before the deadline (the router turns it into
    :class:`~vlmroute.errors.NoRouteError`)."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A slot held on ``offer``; ``token`` identifies it in a shared store (Redis)."""

    offer: str
    token: str = ""


@dataclass(frozen=True, slots=True)
class Pause:
    """What one process learned about an account that every process on it should act on:
    a 429 despite the cap (``cooldown``: rest ``seconds``, cap shrunk to ``cap``), an
    exhausted balance or rejected key (``disabled`` for ``seconds``, because ``reason``),
    failures in a row (``circuit`` open for ``seconds`` more), or a cap learned from the
    provider's answers (``cap``: the account takes ``cap`` in flight; ``seconds`` unused)."""

    kind: Literal["cooldown", "disabled", "circuit", "cap"]
    seconds: float
    cap: int | None = None
    reason: str = ""


class SlotStore(Protocol):
    """Where concurrency slots live: this process (:class:`~.local.LocalSlots`) or Redis."""

    def in_flight(self, offer: str) -> int:
        """This process's requests in flight on ``offer`` (for display)."""

    def account_in_flight(self, offer: str) -> int:
        """Requests in flight on ``offer``'s account, every process's as far as this store
        knows (what a 429 says about the real cap)."""

    async def acquire(
        self, offers: Sequence[str], *, tokens: int = 0, deadline: float | None = None
    ) -> Lease:
        """A slot on the first of ``offers`` with room, else the first freed (FIFO)."""

    async def release(self, lease: Lease) -> None:
        """Give the slot back. Must complete even if the calling task is being cancelled
        (a store that awaits I/O here shields it); the in-process store never suspends."""

    def poke(self) -> None:
        """Capacity may have grown without a release (a cooldown ended): re-check waiters."""

    def share(self, offer: str, pause: Pause) -> None:
        """Tell the other processes on ``offer``'s account (a shared store); never raises,
        never waits. The in-process store has no one to tell."""

    def add_spend(self, amounts: Sequence[tuple[str, Decimal]]) -> None:
        """Add to the budget periods' running totals shared by every process (a shared
        store; see ``BudgetBook.shares``); never raises, never waits."""

    async def aclose(self) -> None:
        """Stop background work (lease renewals)."""
