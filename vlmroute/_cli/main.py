"""``vlmroute`` command line: estimate, prices, tokens, route, spend, serve.

Exit codes, as ``gh`` and ``git`` keep theirs: 0 ok; 1 a vlmroute error (the message names
what to fix); 2 a usage error; 3 an internal error (a bug: one line, and the traceback only
with ``VLMROUTE_DEBUG=1``); 130 interrupted (Ctrl-C); 141 the reader of stdout went away
(``| head``), quietly, as a process ended by SIGPIPE.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from .. import __version__
from ..errors import VlmrouteError
from . import estimate_cmd, prices_cmd, route_cmd, run_cmd, serve_cmd, spend_cmd, tokens_cmd

EXIT_ERROR, EXIT_USAGE, EXIT_BUG, EXIT_INTERRUPTED, EXIT_PIPE = 1, 2, 3, 130, 141

__all__ = ["main"]

_EPILOG = """\
examples:
  vlmroute estimate --requests 10000 --image 1920x1080 --prompt-tokens 200 --output-tokens 1500
  vlmroute estimate --workload examples/workload.yaml --deadline 2h --currency CNY
  vlmroute prices
  vlmroute tokens examples/photo.png 3840x2160
  vlmroute route --explain --image 1920x1080 --prompt "What is in this image?"
  vlmroute spend --since 7d
  vlmroute serve --config router.yaml
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlmroute",
        description="Route GLM-4.1V-9B-Thinking requests and know what a workload costs.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vlmroute {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    estimate_cmd.register(commands)
    prices_cmd.register(commands)
    route_cmd.register(commands)
    tokens_cmd.register(commands)
    spend_cmd.register(commands)
    serve_cmd.register(commands)
    run_cmd.register(commands)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; an unknown flag is reported with its subcommand's own usage."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = _subparsers(parser).get(args.command, parser)
        sub.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    command = "vlmroute"
    try:
        args = _parse(parser, argv)
        command = f"vlmroute {args.command}"
        return int(args.run(args))
    except VlmrouteError as exc:
        print(f"vlmroute: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except estimate_cmd.UsageError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vlmroute: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_PIPE
    except Exception as exc:  # a bug: one line, never a traceback unless asked for
        if os.environ.get("VLMROUTE_DEBUG"):
            traceback.print_exc()
        print(
            f"vlmroute: internal error ({type(exc).__name__}: {exc}); this is a bug: please "
            "report it, with VLMROUTE_DEBUG=1 for the traceback",
            file=sys.stderr,
        )
        return EXIT_BUG


def _silence_stdout() -> None:
    """The reader is gone: point stdout at /dev/null so the interpreter's final flush at
    exit does not raise again (Python's documented recipe for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def entry() -> None:
    """The console script: :func:`main`, flushing stdout inside the pipe guard."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        code = EXIT_PIPE
    raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
