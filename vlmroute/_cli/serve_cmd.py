"""``vlmroute serve``: the router as an OpenAI-compatible HTTP gateway.

Point any OpenAI client at it (``OPENAI_BASE_URL=http://127.0.0.1:4000/v1``): chat
completions (JSON and server-sent events), ``/v1/models``, ``/health`` and ``/ready``.
Without gateway keys it serves loopback only; another address needs ``--insecure-no-auth``,
since anyone who reaches it spends your provider keys. SIGTERM or Ctrl-C stops accepting,
lets requests in flight finish (up to ``--grace`` seconds), closes the router (its ledger
rows are all written) and exits 0 (130 after Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import signal
import sys
from typing import Any

from .estimate_cmd import UsageError, count

__all__ = ["register", "run"]

_EPILOG = """\
examples:
  vlmroute serve --config router.yaml
  OPENAI_BASE_URL=http://127.0.0.1:4000/v1 OPENAI_API_KEY=unused your-app
"""
_MIB = 1024 * 1024


def register(commands: Any) -> None:
    p = commands.add_parser(
        "serve",
        help="serve the router as an OpenAI-compatible HTTP API",
        description="Serve the router as an OpenAI-compatible HTTP API:\n"
        "POST /v1/chat/completions, GET /v1/models, GET /health, GET /ready.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE", help="router YAML (default: keys in env)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=count(0), default=4000, help="port (default: 4000)")
    p.add_argument(
        "--max-body-mib",
        type=count(1),
        default=64,
        metavar="N",
        help="largest request body accepted, in MiB (default: 64; images are base64)",
    )
    p.add_argument(
        "--grace",
        type=count(0),
        default=30,
        metavar="SECONDS",
        help="how long requests in flight may finish after SIGTERM (default: 30)",
    )
    p.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve a non-loopback address without gateway keys (anyone reaching it spends "
        "your provider keys)",
    )
    p.set_defaults(run=run)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    if not _loopback(args.host) and not args.insecure_no_auth:
        raise UsageError(
            f"--host {args.host} is not a loopback address and no gateway keys are set: "
            "anyone who reaches it would spend your provider keys. Serve 127.0.0.1, or pass "
            "--insecure-no-auth if the network in front of it is yours"
        )
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from .._gateway import make_app
    from .._router import AsyncRouter

    router = AsyncRouter.from_config(args.config)
    app = make_app(router, body_limit=args.max_body_mib * _MIB)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=float(args.grace))
    await runner.setup()
    try:
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else args.port
        offers = ", ".join(router.offers)
        print(f"vlmroute: serving http://{args.host}:{port}/v1 ({offers})", file=sys.stderr)
        if not _loopback(args.host):
            print("vlmroute: warning: no gateway keys: every caller is trusted", file=sys.stderr)
        return await _until_stopped()
    finally:
        await runner.cleanup()  # stops accepting, lets requests finish, closes the router


async def _until_stopped() -> int:
    """Wait for SIGTERM (0) or SIGINT (130)."""
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[int] = loop.create_future()

    def stop(code: int) -> None:
        if not stopped.done():
            stopped.set_result(code)

    for sig, code in ((signal.SIGTERM, 0), (signal.SIGINT, 130)):
        loop.add_signal_handler(sig, stop, code)
    try:
        code = await stopped
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    if code == 130:
        print("vlmroute: interrupted", file=sys.stderr)
    return code
