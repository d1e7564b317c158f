"""``vlmroute prices``: the pricing table, retired offers marked."""

from __future__ import annotations

import argparse
from typing import Any

from .._pricing import Offer, load_pricing
from ..money import FxTable, Money, normalize_currency
from . import render

__all__ = ["register"]


def register(commands: Any) -> None:
    p = commands.add_parser(
        "prices",
        help="list the pricing table (retired offers marked)",
        description="List every offer in the pricing table.",
        epilog="example:\n  vlmroute prices --currency CNY",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--pricing", metavar="FILE", help="your pricing YAML, layered over the shipped one"
    )
    p.add_argument(
        "--currency", default="USD", help="also show rates in this currency (default USD)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    table = load_pricing(args.pricing)
    currency = normalize_currency(args.currency)
    fx = table.fx_table()
    fx.rate(currency, currency)
    if args.json:
        render.print_json(table.model_dump(mode="json"))
        return 0
    rows = [_row(o, fx, currency) for o in table.offers.values()]
    print(
        render.table(
            rows,
            [
                "offer",
                "model",
                "in / out per M (native)",
                f"in / out per M ({currency})",
                "context",
                "max out",
                "in flight by tier",
                "state",
            ],
        )
    )
    print(
        render.prose(
            f"\nFX as of {fx.as_of} ({table.fx.confidence}): {table.fx.source}. Table as of "
            f"{table.as_of}. Figures marked as assumptions: see `vlmroute prices --json`."
        )
    )
    return 0


def _row(offer: Offer, fx: FxTable, currency: str) -> tuple[str, ...]:
    def pair(a: Money, b: Money) -> str:
        return f"{render.money(a, 3)} / {render.money(b, 3)}"

    native_in = Money(offer.input_per_mtok, offer.currency)
    native_out = Money(offer.output_per_mtok, offer.currency)
    tiers = " ".join(f"{name}={cap}" for name, cap in offer.concurrency.tiers.items())
    state = "live" if offer.is_live else f"RETIRED {offer.lifecycle.retired_on}"
    if offer.local_gpu is not None:
        gpu = offer.local_gpu
        hourly = render.money(Money(gpu.hour_price, gpu.currency))
        state += f" (self-hosted: {gpu.gpu} at {hourly}/h)"
    return (
        offer.id,
        offer.model,
        pair(native_in, native_out),
        pair(native_in.to(currency, fx), native_out.to(currency, fx)),
        f"{offer.context_window:,}",
        f"{offer.max_output_tokens:,}",
        tiers,
        state,
    )
