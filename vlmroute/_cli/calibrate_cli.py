"""``vlmroute estimate --calibrate``: read the spend ledger, say what it measured.

The measuring is pure (:mod:`vlmroute._estimate.calibrate`); this edge opens the ledger,
and words what was measured, from how many requests and since when, and what is still the
pricing table's assumption.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._estimate.calibrate import ALL, Calibration, Figures, Measured, days
from .._estimate.measure import calibrate
from .._ledger import SqliteLedger, default_ledger_path
from .._pricing.models import PriceTable
from ..errors import ConfigurationError
from . import render

__all__ = ["add_flags", "describe", "fills_output", "load"]


def add_flags(parser: Any) -> None:
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="use the latency and output tokens measured in the spend ledger where it has "
        "enough requests (see --ledger)",
    )
    parser.add_argument(
        "--ledger",
        metavar="FILE",
        help="the spend ledger --calibrate reads (default: $VLMROUTE_LEDGER, else "
        "$XDG_STATE_HOME/vlmroute/spend.sqlite3)",
    )


def load(args: argparse.Namespace) -> Calibration | None:
    """The ledger's calibration with ``--calibrate`` (None without); a note on stderr when
    the ledger holds nothing to measure."""
    if not getattr(args, "calibrate", False):
        return None
    path = Path(args.ledger).expanduser() if args.ledger else default_ledger_path()
    if not path.is_file():
        raise ConfigurationError(
            f"--calibrate: no spend ledger at {path}: route some requests with a ledger "
            "(ledger: PATH in the router config, or VLMROUTE_LEDGER) first, or give --ledger"
        )
    with SqliteLedger(path, create=False) as ledger:
        calibration = calibrate(ledger)
    if calibration.empty:
        print(
            f"vlmroute estimate: nothing measured yet: the ledger {path} holds no successful "
            "request; every figure stays the pricing table's assumption",
            file=sys.stderr,
        )
    return calibration


def fills_output(calibration: Calibration | None, data: Mapping[str, Any]) -> bool:
    """Whether the calibration gives the output tokens a workload (``data``) leaves unset.

    Not where it states reasoning tokens: they are part of the output, which the measured
    figure could fall short of; the usual default stands there."""
    if calibration is None or calibration.output_tokens(ALL) is None:
        return False
    mix = data.get("mix")
    profiles = mix if isinstance(mix, list) else []
    stated = [data, *(p for p in profiles if isinstance(p, Mapping))]
    return all(p.get("reasoning_tokens") is None for p in stated)


def describe(calibration: Calibration, table: PriceTable) -> str:
    """Which figures are measured (from how many requests, since when), which are not."""
    if calibration.empty:
        return "Calibration: nothing measured yet; times use the pricing table's assumptions."
    n = calibration.min_requests
    lines = [
        f"Calibrated from {render.plural(calibration.measured, 'request')} in the spend "
        f"ledger: times above use the figures measured below where an offer has them ({n} "
        "requests or more each), the pricing table's assumptions elsewhere."
    ]
    for key in table.offers:
        lines.append(f"  {key}: {_offer_line(calibration, key, table)}")
    pooled = calibration.get(None)
    output = pooled.output_tokens if pooled is not None else None
    if calibration.enough(output):
        assert output is not None
        lines.append(
            f"  Output tokens: measured {output.mean:,.0f} a request (p95 {output.p95:,.0f}; "
            f"{_span(output)}), used where the workload states none."
        )
    else:
        lines.append("  Output tokens: not measured enough; the workload's figure is used.")
    return "\n".join(lines)


def _offer_line(calibration: Calibration, offer: str, table: PriceTable) -> str:
    found = calibration.get(offer)
    if found is None:
        return "no requests; latency is the table's assumption"
    measured = calibration.latency(offer)
    fitted = calibration.fitted_latency(offer, table.offers[offer].latency)
    if measured is None and fitted is not None and found.latency_s is not None:
        head = (
            f"decode {fitted[0].output_tokens_per_s:,.0f} tokens/s fitted to the median "
            f"latency {found.latency_s.p50:.3g} s ({_span(found.latency_s)}) with the table's "
            f"assumed {fitted[0].ttft_s:.3g} s to first token (no streamed request measured it)"
        )
    elif measured is None:
        streamed = found.ttft_s.requests if found.ttft_s is not None else 0
        why = (
            f"{render.plural(streamed, 'streamed request')}, {calibration.min_requests} needed"
            if streamed
            else "no streamed request: time to first token and decode speed need streams"
        )
        head = f"latency is the table's assumption ({why})"
    else:
        ttft, decode = measured
        head = (
            f"measured time to first token {ttft.p50:.3g} s and decode {decode.p50:,.0f} "
            f"tokens/s ({_span(decode)})"
        )
    return "; ".join([head, *_extras(found)])


def _extras(found: Figures) -> list[str]:
    out = []
    if found.latency_s is not None:
        out.append(f"latency p50 {found.latency_s.p50:.3g} s, p95 {found.latency_s.p95:.3g} s")
    if found.prompt_ratio is not None:
        out.append(f"prompt tokens {found.prompt_ratio.mean:.3f}x vlmroute's count")
    out.append(f"{found.concurrency} in flight at most")
    return out


def _span(figure: Measured) -> str:
    return f"{render.plural(figure.requests, 'request')}, {days(figure.since, figure.until)}"
