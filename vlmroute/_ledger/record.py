"""One spend record per routed request, the :class:`Ledger` protocol, and their flat form.

A record holds no secrets: ids, token counts, amounts, timings and an outcome. The flat form
(:data:`COLUMNS`, :func:`to_row`, :func:`from_row`) is what the SQLite ledger stores and what
``vlmroute spend --csv`` writes: amounts as exact decimal text beside their currency, instants
as fixed-width UTC text that sorts in time order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from ..money import FxTable, Money

__all__ = [
    "COLUMNS",
    "Ledger",
    "SpendRecord",
    "default_ledger_path",
    "format_at",
    "from_row",
    "in_range",
    "parse_at",
    "sum_costs",
    "to_row",
    "utc",
]

_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Cell = str | int | float | None


def utc(moment: datetime, what: str = "at") -> datetime:
    """``moment`` in UTC; a naive datetime is refused rather than guessed at."""
    if moment.tzinfo is UTC:  # the router's own instants: nothing to convert
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{what} must be timezone-aware, got the naive {moment.isoformat()}; "
            "use datetime.now(UTC) or .replace(tzinfo=UTC)"
        )
    return moment.astimezone(UTC)


def format_at(moment: datetime) -> str:
    """``2026-11-21T09:30:00.000000Z``: fixed width, so text order is time order."""
    # isoformat is C and 5x faster than strftime; in UTC it ends in "+00:00", made "Z".
    return utc(moment).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_at(text: str) -> datetime:
    return datetime.strptime(text, _AT_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SpendRecord:
    """What one routed request cost, written once when it finishes (success or final failure).

    ``request_id`` is the router's id for the request and the ledger's idempotency key.
    ``cost`` is in the offer's own currency; ``display_cost`` and ``estimated_cost`` in the
    router's display currency. ``outcome`` is ``"ok"`` or the error class name.
    ``caller`` names the gateway key a request came in with (None in-process).
    ``provider``, ``offer`` and ``model`` are None for a request refused before any offer was
    tried (``NoRouteError``), which is recorded all the same, with 0 ``attempts``.
    """

    request_id: str
    at: datetime
    provider: str | None
    offer: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int | None
    cost: Money
    display_cost: Money
    estimated_cost: Money | None
    latency_s: float | None
    outcome: str
    attempts: int = 1
    provider_request_id: str | None = None
    #: Who sent the request: the gateway key's name (``vlmroute serve``), or None.
    caller: str | None = None
    #: The caller's own name for the request: a batch line's ``custom_id`` (``vlmroute run``).
    label: str | None = None
    #: Seconds from sending a stream to its first delta (reasoning or answer) on the offer
    #: that answered; None for a request not streamed. Calibration reads it.
    ttft_s: float | None = None
    #: vlmroute's own count of the prompt as sent (``ChatRequest.prompt_tokens()``): beside
    #: ``prompt_tokens`` (the provider's), it shows a provider counting images differently.
    expected_prompt_tokens: int | None = None
    #: The image and video part of ``expected_prompt_tokens`` (exact, from the sizes).
    media_tokens: int | None = None
    #: How many images and videos the request carried (its shape, for calibration).
    images: int | None = None
    videos: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", utc(self.at, "SpendRecord.at"))
        if not self.request_id or not self.outcome:
            raise ValueError("a SpendRecord needs a non-empty request_id and outcome")
        counts = (
            self.prompt_tokens,
            self.completion_tokens,
            self.reasoning_tokens or 0,
            self.expected_prompt_tokens or 0,
            self.media_tokens or 0,
            self.images or 0,
            self.videos or 0,
        )
        if min(counts) < 0 or self.attempts < 0:
            raise ValueError(
                f"SpendRecord {self.request_id}: token counts and attempts must be >= 0"
            )
        for money in (self.cost, self.display_cost, self.estimated_cost):
            if money is not None and not money.amount.is_finite():
                raise ValueError(f"SpendRecord {self.request_id}: amount {money} is not finite")

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class Ledger(Protocol):
    """Where spend records go. ``record`` is idempotent on ``request_id``."""

    def record(self, rec: SpendRecord) -> bool:
        """Store ``rec``; False (and nothing stored) if its request_id is already there."""
        ...

    def spent(
        self,
        *,
        provider: str | None = None,
        since: datetime,
        until: datetime | None = None,
        currency: str,
        fx: FxTable,
        caller: str | None = None,
    ) -> Money:
        """The sum of ``cost`` over ``since <= at < until``, converted to ``currency``
        (only ``provider``'s, and only ``caller``'s, where they are given)."""
        ...

    def rows(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[SpendRecord]:
        """Records with ``since <= at < until``, oldest first."""
        ...

    def close(self) -> None: ...


def default_ledger_path() -> Path:
    """``$VLMROUTE_LEDGER``, else ``$XDG_STATE_HOME/vlmroute/spend.sqlite3``.

    ``XDG_STATE_HOME`` defaults to ``~/.local/state``; a relative value is ignored, as the XDG
    specification asks.
    """
    explicit = os.environ.get("VLMROUTE_LEDGER")
    if explicit:
        return Path(explicit).expanduser()
    state = Path(os.environ.get("XDG_STATE_HOME", ""))
    if not state.is_absolute():
        state = Path.home() / ".local" / "state"
    return state / "vlmroute" / "spend.sqlite3"


def in_range(at: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or at >= since) and (until is None or at < until)


def sum_costs(costs: Iterable[Money], currency: str, fx: FxTable) -> Money:
    """Exact sum per currency first, then one conversion per currency."""
    by_currency: dict[str, Decimal] = {}
    for money in costs:
        by_currency[money.currency] = by_currency.get(money.currency, Decimal(0)) + money.amount
    total = Money.zero(currency)
    for code in sorted(by_currency):
        total += fx.convert(Money(by_currency[code], code), currency)
    return total


COLUMNS: tuple[str, ...] = (
    "request_id",
    "at",
    "provider",
    "offer",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cost_amount",
    "cost_currency",
    "display_cost_amount",
    "display_cost_currency",
    "estimated_cost_amount",
    "estimated_cost_currency",
    "latency_s",
    "outcome",
    "attempts",
    "provider_request_id",
    "caller",
    "label",
    "ttft_s",
    "expected_prompt_tokens",
    "media_tokens",
    "images",
    "videos",
)


def _amount_text(money: Money | None) -> tuple[str | None, str | None]:
    if money is None:
        return None, None
    return format(money.amount, "f"), money.currency


def to_row(rec: SpendRecord) -> tuple[Cell, ...]:
    """The record as a flat tuple in :data:`COLUMNS` order; amounts are exact text."""
    return (
        rec.request_id,
        format_at(rec.at),
        rec.provider,
        rec.offer,
        rec.model,
        rec.prompt_tokens,
        rec.completion_tokens,
        rec.reasoning_tokens,
        *_amount_text(rec.cost),
        *_amount_text(rec.display_cost),
        *_amount_text(rec.estimated_cost),
        rec.latency_s,
        rec.outcome,
        rec.attempts,
        rec.provider_request_id,
        rec.caller,
        rec.label,
        rec.ttft_s,
        rec.expected_prompt_tokens,
        rec.media_tokens,
        rec.images,
        rec.videos,
    )


def _text(cell: Cell) -> str | None:
    return None if cell is None else str(cell)


def _int(cell: Cell) -> int | None:
    return None if cell is None else int(cell)


def _float(cell: Cell) -> float | None:
    return None if cell is None else float(cell)


def _money(amount: Cell, currency: Cell) -> Money:
    return Money(Decimal(str(amount)), str(currency))


def from_row(row: Sequence[Cell]) -> SpendRecord:
    """The inverse of :func:`to_row` (for rows read back from SQLite)."""
    if len(row) < len(COLUMNS):  # a journal line written before a column was added
        row = (*row, *(None,) * (len(COLUMNS) - len(row)))
    cell = dict(zip(COLUMNS, row, strict=True))
    estimated = cell["estimated_cost_amount"]
    reasoning = cell["reasoning_tokens"]
    latency = cell["latency_s"]
    provider_request_id = cell["provider_request_id"]
    return SpendRecord(
        request_id=str(cell["request_id"]),
        at=parse_at(str(cell["at"])),
        provider=_text(cell["provider"]),
        offer=_text(cell["offer"]),
        model=_text(cell["model"]),
        prompt_tokens=int(cell["prompt_tokens"] or 0),
        completion_tokens=int(cell["completion_tokens"] or 0),
        reasoning_tokens=None if reasoning is None else int(reasoning),
        cost=_money(cell["cost_amount"], cell["cost_currency"]),
        display_cost=_money(cell["display_cost_amount"], cell["display_cost_currency"]),
        estimated_cost=(
            None if estimated is None else _money(estimated, cell["estimated_cost_currency"])
        ),
        latency_s=None if latency is None else float(latency),
        outcome=str(cell["outcome"]),
        attempts=int(cell["attempts"] or 0),
        provider_request_id=None if provider_request_id is None else str(provider_request_id),
        caller=_text(cell["caller"]),
        label=_text(cell["label"]),
        ttft_s=_float(cell["ttft_s"]),
        expected_prompt_tokens=_int(cell["expected_prompt_tokens"]),
        media_tokens=_int(cell["media_tokens"]),
        images=_int(cell["images"]),
        videos=_int(cell["videos"]),
    )
