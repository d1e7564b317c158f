"""``vlmroute`` command line: estimate, prices, tokens, route, spend.

Exit codes: 0 ok; 1 a vlmroute error (the message names what to fix); 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import VlmrouteError
from . import estimate_cmd, prices_cmd, route_cmd, spend_cmd, tokens_cmd

__all__ = ["main"]

_EPILOG = """\
examples:
  vlmroute estimate --requests 10000 --image 1920x1080 --prompt-tokens 200 --output-tokens 1500
  vlmroute estimate --workload examples/workload.yaml --deadline 2h --currency CNY
  vlmroute prices
  vlmroute tokens photo.jpg 3840x2160
  vlmroute route --explain --image 1920x1080 --prompt "What is in this image?"
  vlmroute spend --since 7d
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlmroute",
        description="Route GLM-4.1V-9B-Thinking requests and know what a workload costs.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    estimate_cmd.register(commands)
    prices_cmd.register(commands)
    route_cmd.register(commands)
    tokens_cmd.register(commands)
    spend_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except VlmrouteError as exc:
        print(f"vlmroute: error: {exc}", file=sys.stderr)
        return 1
    except estimate_cmd.UsageError as exc:
        parser.exit(2, f"vlmroute {args.command}: error: {exc}\n")
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
