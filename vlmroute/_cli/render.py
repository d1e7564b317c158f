"""Text rendering shared by the commands: durations, money, tables."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from tabulate import tabulate

from ..money import Money

__all__ = ["duration", "money", "print_json", "table", "tokens"]


def duration(seconds: float | None) -> str:
    """``3h 05m``, ``4m 10s``, ``12.3s``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def money(value: Money, places: int = 2) -> str:
    """Amounts under one cent keep significant digits instead of showing as 0.00."""
    amount = value.amount
    if amount == 0:
        return f"{value.currency} 0"
    if abs(amount) < Decimal("0.01"):
        return f"{value.currency} {amount:.2g}"
    return f"{value.currency} {amount:,.{places}f}"


def tokens(count: int | float) -> str:
    return f"{count:,.0f}"


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    return tabulate(list(rows), headers=list(headers), tablefmt="simple", disable_numparse=True)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))
