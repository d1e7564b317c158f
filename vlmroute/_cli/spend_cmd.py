"""``vlmroute spend``: what routed requests cost, from the spend ledger."""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from .._estimate.measure import prompt_drift
from .._ledger import SpendLine, SpendRecord, SpendSummary, SqliteLedger, default_ledger_path
from .._ledger.record import COLUMNS, to_row
from .._ledger.summary import GroupKey, summarize
from .._pricing import load_pricing
from ..errors import ConfigurationError
from ..money import FxTable, Money, normalize_currency
from . import render

__all__ = ["register"]

_DAYS = re.compile(r"^(\d+)d$")
_GROUPINGS: dict[str, tuple[GroupKey, ...]] = {
    "provider": ("provider",),
    "day": ("day",),
    "provider,day": ("provider", "day"),
    "day,provider": ("provider", "day"),
}


def register(commands: Any) -> None:
    p = commands.add_parser(
        "spend",
        help="what routed requests cost, by provider and day (from the spend ledger)",
        description="Summarise the spend ledger the router writes: cost by provider and day,\n"
        "totals, and the router's estimates against the actual cost.",
        epilog="examples:\n  vlmroute spend --since 7d\n"
        "  vlmroute spend --since 2026-11-01 --until 2026-11-30 --by provider --currency CNY\n"
        "  vlmroute spend --csv spend.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--ledger",
        metavar="PATH",
        help="the ledger file (default: $VLMROUTE_LEDGER, else "
        "$XDG_STATE_HOME/vlmroute/spend.sqlite3)",
    )
    p.add_argument(
        "--since",
        type=_when,
        metavar="WHEN",
        help="from this UTC day (YYYY-MM-DD), instant (ISO 8601), or Nd: the last N days, "
        "today included (default: the first record)",
    )
    p.add_argument(
        "--until",
        type=_when,
        metavar="WHEN",
        help="up to and including this UTC day (YYYY-MM-DD), or before this ISO instant",
    )
    p.add_argument("--currency", default="USD", help="display currency (default USD)")
    p.add_argument(
        "--by",
        type=_by,
        default=_GROUPINGS["provider,day"],
        metavar="provider|day|provider,day",
        help="how to group (default provider,day)",
    )
    p.add_argument(
        "--pricing", metavar="FILE", help="your pricing YAML, for its FX rates (fx.rates)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--csv", metavar="FILE", help="also write every record in range to FILE")
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw spend per day and offer, against budgets, to FILE.png "
        "(pip install 'vlmroute[plot]')",
    )
    p.add_argument(
        "--config", metavar="FILE", help="router YAML whose budgets: the --plot draws as limits"
    )
    p.set_defaults(run=run)


def _when(text: str) -> date | datetime:
    days = _DAYS.match(text.strip())
    if days:
        if int(days.group(1)) < 1:
            raise argparse.ArgumentTypeError(f"{text!r}: Nd needs N >= 1 (1d is today)")
        return datetime.now(UTC).date() - timedelta(days=int(days.group(1)) - 1)
    try:
        if len(text.strip()) == 10:
            return date.fromisoformat(text.strip())
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected YYYY-MM-DD, an ISO 8601 instant, or Nd such as 7d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _by(text: str) -> tuple[GroupKey, ...]:
    key = text.replace(" ", "").lower()
    if key not in _GROUPINGS:
        raise argparse.ArgumentTypeError(f"{text!r}: expected provider, day or provider,day")
    return _GROUPINGS[key]


def _bound(value: date | datetime | None, *, end: bool) -> datetime | None:
    """A day starts at UTC midnight; as an end, the whole day is included."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1 if end else 0), time(), tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    if args.plot:
        from .plot import require_matplotlib

        require_matplotlib()  # before the ledger is read: a missing extra fails at once
    path = Path(args.ledger).expanduser() if args.ledger else default_ledger_path()
    currency = normalize_currency(args.currency)
    fx = load_pricing(args.pricing).fx_table()
    fx.rate(currency, currency)  # an unknown currency fails before the ledger is read
    since, until = _bound(args.since, end=False), _bound(args.until, end=True)
    records = []
    if path.exists():
        with SqliteLedger(path, create=False) as ledger:
            records = ledger.rows(since=since, until=until)
    else:  # a fresh install: nothing routed yet is an empty result, not an error
        print(
            f"vlmroute: no spend ledger at {path} yet: routed requests are recorded there "
            "(ledger: PATH in the router config, or VLMROUTE_LEDGER)",
            file=sys.stderr,
        )
    summary = summarize(records, currency=currency, fx=fx, by=args.by)
    if args.plot:
        _plot(args, records, currency, fx)
    if args.csv:
        _write_csv(Path(args.csv), records)
        print(f"wrote {len(records):,} records to {args.csv}", file=sys.stderr)
    drift = prompt_drift(records)  # offers that count images differently from vlmroute
    if args.json:
        data = _as_json(summary, path, since, until)
        render.print_json(data | {"prompt_drift": [d.model_dump(mode="json") for d in drift]})
    else:
        print(format_spend(summary, path, since, until))
        for found in drift:
            print(render.prose(f"\nPrompt-token drift: {found.message}."))
    return 0


def _plot(
    args: argparse.Namespace, records: Sequence[SpendRecord], currency: str, fx: FxTable
) -> None:
    from .._router import load_router_config
    from .spend_plot import spend_png

    if not records:
        print(f"vlmroute: no spend in range: no plot written to {args.plot}", file=sys.stderr)
        return
    budgets = load_router_config(args.config).all_budgets if args.config else ()
    title = f"Spend ({currency}), {render.plural(len(records), 'request')} in the ledger"
    spend_png(records, Path(args.plot), currency=currency, fx=fx, budgets=budgets, title=title)
    print(f"wrote the spend plot to {args.plot}", file=sys.stderr)


def _span(since: datetime | None, until: datetime | None) -> str:
    start = "the first record" if since is None else f"{since:%Y-%m-%d %H:%M} UTC"
    stop = "now" if until is None else f"{until:%Y-%m-%d %H:%M} UTC"
    return f"from {start} to {stop}"


def format_spend(
    summary: SpendSummary, path: Path, since: datetime | None, until: datetime | None
) -> str:
    if not summary.total.requests:
        return f"No spend recorded in {path} {_span(since, until)}."
    names = {"provider": "provider", "day": "day (UTC)"}
    headers = [names[k] for k in summary.by] + ["requests", "failed", "tokens in", "tokens out"]
    rows = [[*_keys(line, summary.by), *_figures(line)] for line in summary.lines]
    t = summary.total
    out = [
        f"Spend by {' and '.join(summary.by)} ({summary.currency}), {_span(since, until)}",
        render.table(rows, [*headers, "cost"]),
        f"Total: {render.plural(t.requests, 'request')} ({t.failed:,} failed), "
        f"{render.tokens(t.prompt_tokens)} tokens in, {render.tokens(t.completion_tokens)} out "
        f"({render.tokens(t.reasoning_tokens)} of them reasoning), {render.money(t.cost)}.",
    ]
    if summary.estimates:
        estimate_rows = [
            (
                e.provider,
                f"{e.requests:,}",
                render.money(e.estimated, 4),
                render.money(e.actual, 4),
                "-" if e.difference_pct is None else f"{e.difference_pct:+.1f}%",
            )
            for e in summary.estimates
        ]
        out += [
            "",
            "Estimated vs actual cost (requests that carry an estimate)",
            render.table(
                estimate_rows, ["provider", "requests", "estimated", "actual", "difference"]
            ),
        ]
    out.append(f"\nLedger: {path}")
    return "\n".join(out)


def _keys(line: SpendLine, by: Sequence[GroupKey]) -> list[str]:
    return [str(line.provider) if k == "provider" else str(line.day) for k in by]


def _figures(line: SpendLine) -> list[str]:
    return [
        f"{line.requests:,}",
        f"{line.failed:,}",
        render.tokens(line.prompt_tokens),
        render.tokens(line.completion_tokens),
        render.money(line.cost, 4),
    ]


def _money_json(money: Money) -> dict[str, str]:
    return {"amount": format(money.amount, "f"), "currency": money.currency}


def _line_json(line: SpendLine, by: Sequence[GroupKey]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if "provider" in by:
        data["provider"] = line.provider
    if "day" in by:
        data["day"] = None if line.day is None else line.day.isoformat()
    return data | {
        "requests": line.requests,
        "failed": line.failed,
        "prompt_tokens": line.prompt_tokens,
        "completion_tokens": line.completion_tokens,
        "reasoning_tokens": line.reasoning_tokens,
        "cost": _money_json(line.cost),
    }


def _as_json(
    summary: SpendSummary, path: Path, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    return {
        "ledger": str(path),
        "currency": summary.currency,
        "since": None if since is None else since.isoformat(),
        "until": None if until is None else until.isoformat(),
        "by": list(summary.by),
        "groups": [_line_json(line, summary.by) for line in summary.lines],
        "total": _line_json(summary.total, ()),
        "estimates": [
            {
                "provider": e.provider,
                "requests": e.requests,
                "estimated": _money_json(e.estimated),
                "actual": _money_json(e.actual),
                "difference_pct": (
                    None if e.difference_pct is None else str(round(e.difference_pct, 2))
                ),
            }
            for e in summary.estimates
        ],
    }


def _write_csv(path: Path, records: Sequence[SpendRecord]) -> None:
    try:
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows(to_row(r) for r in records)
    except OSError as exc:
        raise ConfigurationError(f"--csv {path}: cannot write it ({exc.strerror})") from exc
