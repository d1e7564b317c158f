"""``python -m vlmroute.testing serve``: one fake provider in the foreground of a process.

It prints one JSON line, ``{"base_url": ..., "port": ..., "pid": ...}``, flushed, then serves
until SIGTERM or Ctrl-C. With ``--watch-parent`` (what :func:`~vlmroute._fake.spawn.spawn_fake`
passes) it also exits when its standard input closes or its parent process dies, so that
a spawned fake never outlives the tests that started it. The key, if any, comes from the
environment variable :data:`API_KEY_ENV`, never from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from .config import ANSWER, DIALECT_NAMES, REASONING, FakeConfig
from .faults import Fault, FaultQueue
from .server import HOST, FakeServer
from .stats import StatsRecorder
from .wire import WIRES

__all__ = ["API_KEY_ENV", "config_argv", "main"]

API_KEY_ENV = "VLMROUTE_FAKE_API_KEY"
PARENT_POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class ServeArgs:
    config: FakeConfig
    port: int
    watch_parent: bool


def config_argv(config: FakeConfig, port: int) -> list[str]:
    """The ``serve`` arguments for this config (all but the key; see :data:`API_KEY_ENV`)."""
    argv = ["serve", "--dialect", config.dialect, "--port", str(port)]
    argv += ["--latency", repr(config.latency_s), "--chunk-delay", repr(config.chunk_delay_s)]
    argv += ["--stream-chunks", str(config.stream_chunks)]
    argv += ["--answer", config.answer, "--reasoning", config.reasoning]
    if config.fail_rate:
        argv += ["--fail-rate", repr(config.fail_rate)]
    if config.fail_with is not None:
        argv += ["--fail-with", json.dumps(config.fail_with.to_spec())]
    optional = {
        "--cap": config.cap,
        "--prompt-tokens": config.prompt_tokens,
        "--completion-tokens": config.completion_tokens,
        "--reasoning-field": config.reasoning_field,
        "--cost-usd": config.cost_usd,
        "--model": config.model,
        "--seed": config.seed,
    }
    for flag, value in optional.items():
        if value is not None:
            argv += [flag, repr(value) if isinstance(value, float) else str(value)]
    return argv


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vlmroute.testing", description="Fake GLM-4.1V provider servers."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run one fake provider in the foreground")
    serve.add_argument("--dialect", choices=DIALECT_NAMES, default="zhipu")
    serve.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    serve.add_argument("--latency", type=float, default=0.0, help="seconds before the answer")
    serve.add_argument("--cap", type=int, default=None, help="in-flight cap (default: none)")
    serve.add_argument("--answer", default=ANSWER)
    serve.add_argument("--reasoning", default=REASONING)
    serve.add_argument("--prompt-tokens", type=int, default=None)
    serve.add_argument("--completion-tokens", type=int, default=None)
    serve.add_argument("--stream-chunks", type=int, default=8)
    serve.add_argument("--chunk-delay", type=float, default=0.0)
    serve.add_argument(
        "--reasoning-field", choices=("reasoning_content", "reasoning", "inline"), default=None
    )
    serve.add_argument("--cost-usd", type=float, default=None)
    serve.add_argument("--model", default=None)
    serve.add_argument("--fail-rate", type=float, default=0.0, help="share failing at random")
    serve.add_argument("--fail-with", default=None, help='a fault, e.g. {"fault": "drop"}')
    serve.add_argument("--seed", type=int, default=None, help="seed of the random failures")
    serve.add_argument(
        "--watch-parent",
        action="store_true",
        help="exit when stdin closes or the parent process dies",
    )
    return parser


def _parse(argv: Sequence[str]) -> ServeArgs:
    args = _parser().parse_args(argv)
    config = FakeConfig(
        dialect=args.dialect,
        latency_s=args.latency,
        cap=args.cap,
        answer=args.answer,
        reasoning=args.reasoning,
        prompt_tokens=args.prompt_tokens,
        completion_tokens=args.completion_tokens,
        stream_chunks=args.stream_chunks,
        chunk_delay_s=args.chunk_delay,
        reasoning_field=args.reasoning_field,
        cost_usd=args.cost_usd,
        model=args.model,
        api_key=os.environ.get(API_KEY_ENV) or None,
        fail_rate=args.fail_rate,
        fail_with=None if args.fail_with is None else Fault.from_spec(json.loads(args.fail_with)),
        seed=args.seed,
    )
    return ServeArgs(config=config, port=args.port, watch_parent=args.watch_parent)


def _stop_on_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Read stdin to its end (the parent closed it, or died), then stop the server.

    It reads the raw descriptor, not ``sys.stdin``: a daemon thread blocked inside a buffered
    reader makes the interpreter abort at exit.
    """
    try:
        while os.read(sys.stdin.fileno(), 65536):
            pass
    except (OSError, ValueError):
        pass
    with contextlib.suppress(RuntimeError):  # the loop already closed
        loop.call_soon_threadsafe(stop.set)


async def _stop_on_orphan(stop: asyncio.Event) -> None:
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_POLL_S)
    stop.set()


async def serve(args: ServeArgs) -> None:
    """Serve until a signal (or, watching the parent, until it goes); print where first."""
    server = FakeServer(args.config, StatsRecorder(), FaultQueue())
    port = await server.open(args.port)
    base_url = f"http://{HOST}:{port}{WIRES[args.config.dialect].base_path}"
    print(json.dumps({"base_url": base_url, "port": port, "pid": os.getpid()}), flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows; not main
            loop.add_signal_handler(signum, stop.set)
    watchers: list[asyncio.Task[None]] = []
    if args.watch_parent:
        threading.Thread(target=_stop_on_eof, args=(loop, stop), daemon=True).start()
        watchers.append(asyncio.create_task(_stop_on_orphan(stop)))
    try:
        await stop.wait()
    finally:
        for task in watchers:
            task.cancel()
        await server.abort()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m vlmroute.testing``."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0
