"""``vlmroute serve``: the router as an OpenAI-compatible HTTP gateway.

Point any OpenAI client at it (``OPENAI_BASE_URL=http://127.0.0.1:4000/v1``): chat
completions (JSON and server-sent events), ``/v1/models``, ``/health``, ``/ready``,
``/metrics`` and a status page at ``/``.

- Without gateway keys (``gateway: keys:`` in the config) it serves loopback only; another
  address needs ``--insecure-no-auth``, since anyone who reaches it spends your provider keys.
- ``--workers N`` pre-forks N processes on one listening socket. Caps belong to the account:
  with a Redis ``store:`` the workers share them; without one each worker takes ``cap // N``
  (at least 1), and start-up says so.
- SIGTERM or Ctrl-C stops accepting, lets requests in flight finish (up to ``--grace``
  seconds), closes the router (its ledger rows are all written, its Redis leases given back)
  and exits 0 (130 after Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .estimate_cmd import UsageError, count

if TYPE_CHECKING:
    from .._router import RouterConfig

__all__ = ["register", "run"]

_EPILOG = """\
examples:
  vlmroute serve --config router.yaml
  vlmroute serve --config router.yaml --host 0.0.0.0 --workers 4   # keys and Redis set
  OPENAI_BASE_URL=http://127.0.0.1:4000/v1 OPENAI_API_KEY=unused your-app
"""
_MIB = 1024 * 1024


def register(commands: Any) -> None:
    p = commands.add_parser(
        "serve",
        help="serve the router as an OpenAI-compatible HTTP API",
        description="Serve the router as an OpenAI-compatible HTTP API:\n"
        "POST /v1/chat/completions, GET /v1/models, GET /health, GET /ready, GET /metrics,\n"
        "and a status page at GET /.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE", help="router YAML (default: keys in env)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=count(0), default=4000, help="port (default: 4000)")
    p.add_argument(
        "--workers",
        type=count(1),
        default=1,
        metavar="N",
        help="processes serving the port (default: 1); share caps with a Redis store:",
    )
    p.add_argument(
        "--max-body-mib",
        type=count(1),
        default=64,
        metavar="N",
        help="largest request body accepted, in MiB (default: 64; images are base64)",
    )
    p.add_argument(
        "--max-connections",
        type=count(1),
        default=1024,
        metavar="N",
        help="open client connections per worker; one more gets a 503 (default: 1024)",
    )
    p.add_argument(
        "--header-timeout",
        type=count(1),
        default=10,
        metavar="SECONDS",
        help="time a client has to send a request's headers (default: 10)",
    )
    p.add_argument(
        "--body-timeout",
        type=count(1),
        default=60,
        metavar="SECONDS",
        help="time a client has to send a request's body (default: 60)",
    )
    p.add_argument(
        "--idle-timeout",
        type=count(1),
        default=75,
        metavar="SECONDS",
        help="how long an idle keep-alive connection stays open (default: 75)",
    )
    p.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop: uvloop if installed (pip install 'vlmroute[gateway]'), else asyncio "
        "(default: auto)",
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


@dataclass(frozen=True, slots=True)
class _Plan:
    """What each worker serves: its router config, and what start-up says."""

    config: RouterConfig
    notes: tuple[str, ...]


def run(args: argparse.Namespace) -> int:
    made: str | None = None
    if args.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # /metrics adds up every worker's; set before prometheus_client is imported
        made = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="vlmroute-")
    try:
        return _run(args)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def _run(args: argparse.Namespace) -> int:
    plan = _plan(args)  # every config error before a socket is opened or a worker forked
    sock = _listen(args.host, args.port)
    port = sock.getsockname()[1]
    offers = ", ".join(o.offer for o in plan.config.offers)
    print(f"vlmroute: serving http://{_url_host(args.host)}:{port}/v1 ({offers})", file=sys.stderr)
    for note in plan.notes:
        print(f"vlmroute: {note}", file=sys.stderr)
    if args.workers == 1:
        return _run_loop(args, _serve(args, plan.config, sock))
    return _prefork(args, plan.config, sock)


def _run_loop(args: argparse.Namespace, main: Coroutine[Any, Any, int]) -> int:
    """``main`` on uvloop where it is installed (or asked for), else on asyncio's loop."""
    if args.loop != "asyncio":
        try:
            import uvloop
        except ModuleNotFoundError:
            if args.loop == "uvloop":
                main.close()
                raise UsageError(
                    "--loop uvloop: uvloop is not installed (pip install 'vlmroute[gateway]')"
                ) from None
        else:
            return uvloop.run(main)
    return asyncio.run(main)


def _plan(args: argparse.Namespace) -> _Plan:
    from .._gateway.keys import GatewayKeys
    from .._router import AsyncRouter
    from .._router.config import config_from_env, load_router_config

    # No config file: no gateway keys, so a public address is refused before the env is read.
    config = load_router_config(args.config) if args.config else None
    notes: list[str] = []
    if config is None or not config.gateway.keys:
        if not _loopback(args.host):
            if not args.insecure_no_auth:
                raise UsageError(
                    f"--host {args.host} is not a loopback address and no gateway keys are "
                    "set: anyone who reaches it would spend your provider keys. Set gateway: "
                    "keys: in the config, serve 127.0.0.1, or pass --insecure-no-auth if the "
                    "network in front of it is yours"
                )
            notes.append("warning: no gateway keys: every caller is trusted")
        else:
            notes.append("no gateway keys: serving loopback only")
    if config is None:
        from .._pricing import load_pricing

        config = config_from_env(load_pricing())
    # A router that sends nothing checks the offers, keys and budgets, with no thread or
    # socket left behind to fork with.
    dry = AsyncRouter(config, dry_run=True)
    GatewayKeys.from_config(config.gateway, offers=_providers(dry))
    if config.gateway.keys:
        notes.append(f"gateway keys: {', '.join(k.name for k in config.gateway.keys)}")
    workers = args.workers
    if workers > 1 and config.store is None:
        caps = {name: health.cap for name, health in dry.health.items()}
        offers = tuple(
            entry.model_copy(update={"cap": max(1, caps[entry.offer] // workers)})
            for entry in config.offers
        )
        config = config.model_copy(update={"offers": offers})
        each = ", ".join(f"{e.offer} {caps[e.offer]} -> {e.cap}" for e in offers)
        notes.append(
            f"warning: {workers} workers and no store: caps are the account's, so each worker "
            f"takes cap // {workers} ({each}); set store: url: redis://... to share them"
        )
    elif workers > 1 and config.store is not None and config.store.workers < workers:
        store = config.store.model_copy(update={"workers": workers})
        config = config.model_copy(update={"store": store})
    return _Plan(config, tuple(notes))


def _providers(router: Any) -> dict[str, str]:
    return {name: offer.provider for name, offer in router.offers.items()}


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket every worker accepts on (bound before any worker starts, so a
    port in use is one clear error and ``--port 0`` is one port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=1024)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


async def _serve(args: argparse.Namespace, config: RouterConfig, sock: socket.socket) -> int:
    from .._gateway import make_app
    from .._gateway.keys import GatewayKeys
    from .._gateway.limits import ConnectionLimits, make_runner, start_site
    from .._router import AsyncRouter
    from ..metrics import RouterMetrics, multiprocess_dir

    router = AsyncRouter(config)
    keys = GatewayKeys.from_config(config.gateway, offers=_providers(router))
    metrics = RouterMetrics(router)
    app = make_app(router, body_limit=args.max_body_mib * _MIB, keys=keys or None, metrics=metrics)
    limits = ConnectionLimits(
        header_timeout_s=float(args.header_timeout),
        idle_timeout_s=float(args.idle_timeout),
        body_timeout_s=float(args.body_timeout),
        max_connections=args.max_connections,
    )
    runner = make_runner(app, limits, shutdown_timeout=float(args.grace))
    await runner.setup()
    gauges = None
    if multiprocess_dir() is not None:  # other workers' scrapes read this one's gauges
        gauges = asyncio.create_task(_refresh_every(metrics.refresh, 1.0))
    try:
        await start_site(runner, sock=sock)
        return await _until_stopped(quiet=args.workers > 1)
    finally:
        if gauges is not None:
            gauges.cancel()
        await runner.cleanup()  # stops accepting, lets requests finish, closes the router


async def _refresh_every(refresh: Callable[[], None], seconds: float) -> None:
    while True:
        refresh()
        await asyncio.sleep(seconds)


async def _until_stopped(*, quiet: bool = False) -> int:
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
    if code == 130 and not quiet:
        print("vlmroute: interrupted", file=sys.stderr)
    return code


# ------------------------------------------------------------------ pre-forked workers


def _prefork(args: argparse.Namespace, config: RouterConfig, sock: socket.socket) -> int:
    """Fork ``args.workers`` processes serving ``sock``; restart one that dies; on SIGTERM
    or SIGINT, pass SIGTERM on to each and wait for them all."""
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(130 if signum == signal.SIGINT else 0)
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    children: dict[int, int] = {}
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(args.workers):
        children[_fork(args, config, sock)] = index
    restarts = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries os.wait
            continue
        if pid not in children:
            continue
        index = children.pop(pid)
        _mark_dead(pid)
        code = os.waitstatus_to_exitcode(status)
        if not stopping and restarts < 10 * args.workers:
            restarts += 1
            print(f"vlmroute: worker {index} exited ({code}); starting another", file=sys.stderr)
            children[_fork(args, config, sock)] = index
    sock.close()
    code = stopping[0] if stopping else 1
    if code == 130:
        print("vlmroute: interrupted", file=sys.stderr)
    return code


def _fork(args: argparse.Namespace, config: RouterConfig, sock: socket.socket) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the worker: its own event loop, router, ledger connection and slot store
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        code = _run_loop(args, _serve(args, config, sock))
    except BaseException as exc:
        print(f"vlmroute: worker {os.getpid()} failed: {exc}", file=sys.stderr)
    finally:
        sys.stderr.flush()
        os._exit(code)


def _mark_dead(pid: int) -> None:
    """Drop a dead worker's live gauges from the shared metrics folder."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
