"""Text rendering shared by the commands: durations, money, tables."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tabulate import tabulate

from ..money import Money

__all__ = [
    "duration",
    "money",
    "plural",
    "print_json",
    "prose",
    "table",
    "terminal_width",
    "tokens",
]

_NARROWEST = 6  # a wrapped column never gets narrower than this


def duration(seconds: float | None) -> str:
    """``3h 05m``, ``4m 10s``, ``12.3s``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days >= 3650:
        return f"{days / 365.25:,.0f} years"
    if days:
        return f"{days:,}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def money(value: Money, places: int = 2) -> str:
    """Amounts under one cent keep significant digits instead of showing as 0.00."""
    amount = value.amount
    if amount == 0:
        return f"{value.currency} 0"
    if abs(amount) < Decimal("0.01"):  # two significant digits, never 7.3e-07
        step = Decimal(1).scaleb(amount.adjusted() - 1)
        return f"{value.currency} {amount.quantize(step, ROUND_HALF_EVEN):f}"
    return f"{value.currency} {amount:,.{places}f}"


def plural(count: int, word: str) -> str:
    """``1 request``, ``10,000 requests``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def tokens(count: int | float) -> str:
    return f"{count:,.0f}"


def terminal_width() -> int | None:
    """The width tables must fit: ``COLUMNS``, or the terminal's; None when stdout is not a
    terminal and ``COLUMNS`` is unset (a pipe or a file takes whole lines, as with gh)."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain table; too wide for the terminal, its widest columns wrap to fit.

    Every column wider than a cap C wraps at C, C chosen as large as the width allows (the
    narrow columns keep their size); C is never under :data:`_NARROWEST`.
    """
    data = [[str(cell) for cell in row] for row in rows]
    names = [str(h) for h in headers]
    width = terminal_width()
    body = [_longest([row[i] for row in data if i < len(row)]) for i in range(len(names))]
    head = [_longest([name]) for name in names]

    def total(cap: int | None) -> int:
        # tabulate's "simple" pads each header by 2 and puts two spaces between columns
        limit = cap if cap is not None else 10**6
        widths = (max(min(b, limit), min(h, limit) + 2) for b, h in zip(body, head, strict=True))
        return sum(widths) + 2 * (len(names) - 1)

    if width is None or total(None) <= width:
        return _render(data, names, [None] * len(names))
    cap = _NARROWEST
    low, high = _NARROWEST, max(*body, *head)
    while low <= high:  # the largest cap that fits
        mid = (low + high) // 2
        if total(mid) <= width:
            cap, low = mid, mid + 1
        else:
            high = mid - 1
    sizes = [max(b, h) for b, h in zip(body, head, strict=True)]
    return _render(data, names, [cap if size > cap else None for size in sizes])


def prose(text: str) -> str:
    """``text`` with its prose lines wrapped to the terminal (table lines, which separate
    their columns by two spaces, are left whole: :func:`table` fits those)."""
    width = terminal_width()
    if width is None:
        return text
    out = []
    for line in text.splitlines():
        body = line.lstrip(" ")
        indent = " " * (len(line) - len(body))
        if len(line) <= width or "  " in body or set(body) <= {"-", " "}:
            out.append(line)
        else:
            out += textwrap.wrap(
                body, width, initial_indent=indent, subsequent_indent=indent + "  "
            )
    return "\n".join(out)


def _render(data: list[list[str]], names: list[str], limits: list[int | None]) -> str:
    """Cells wrapped to ``limits`` (at spaces where there are any) and tabulated."""

    def fit(text: str, limit: int | None) -> str:
        if limit is None or len(text) <= limit:
            return text
        return "\n".join(textwrap.wrap(text, limit, break_long_words=True)) or text

    cells = [
        [fit(c, limits[i] if i < len(limits) else None) for i, c in enumerate(row)] for row in data
    ]
    heads = [fit(h, limits[i]) for i, h in enumerate(names)]
    return tabulate(cells, headers=heads, tablefmt="simple", disable_numparse=True)


def _cells(data: list[list[str]], names: list[str], index: int) -> list[str]:
    return [names[index], *(row[index] for row in data if index < len(row))]


def _longest(texts: list[str]) -> int:
    return max((len(line) for t in texts for line in t.splitlines() or [""]), default=0)


def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))
