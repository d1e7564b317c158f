"""``vlmroute serve``, the HTTP gateway, against its baselines: every figure beside its baseline.

    python benchmarks/gateway.py                  # full run (LiteLLM too, if its venv exists)
    python benchmarks/gateway.py --quick          # a smoke run (used by the test suite)
    python benchmarks/gateway.py --json           # the rows as JSON on stdout
    python benchmarks/gateway.py --with-litellm   # install LiteLLM's proxy first if need be

Every server is a child process: the loopback fake Zhipu (``vlmroute.testing.spawn``), the
gateway (``python -m vlmroute._cli.main serve --config router.yaml --port 0``, the same offer
as the in-process router: ``{offer: zhipu-flash, base_url: <fake>, cap: ...}``, ``ledger:
false``, ``retry: {attempts: 1}``) and LiteLLM's proxy, so that no two share an event loop
or a GIL. Every HTTP client is the same raw aiohttp POST (read, ``json.loads``) of the same
body, ``model: glm-4.1v-thinking-flash``, so the client costs the same on every path. What
each row is:

- added latency at concurrency 1, the median of interleaved single requests (the paths
  taken in turn, so that the machine's drift hits them alike) against an instant fake:
  the gateway (raw aiohttp to ``/v1/chat/completions``) less the in-process router
  (``AsyncRouter.chat``) [target <= +400 us]; beside it the router less raw aiohttp
  straight to the fake (the floor), the gateway less that floor, and a bare aiohttp relay
  (read the body, post it to the fake, answer its bytes: the least any gateway on aiohttp
  costs) less that floor, with what the gateway adds beyond that hop.
- the gateway's added latency over LiteLLM proxy's (the proxy less the floor)
  [target <= 1/5].
- throughput with 256 requests in flight against a 50-ms fake, the median of rounds
  taken in turn: the gateway with one worker against the in-process router [target >=
  0.50] and against LiteLLM's proxy with one worker [target >= 5x]; raw aiohttp straight
  to the fake and the in-process router against it, for scale; the gateway with
  ``--workers 2`` (no store: each worker takes half the cap, as ``serve`` does) against one
  worker, where ``serve`` has that flag.

LiteLLM runs from its own venv (default ``/tmp/vlmroute-litellm-venv``, never this
project's; ``--with-litellm`` creates it and ``pip install 'litellm[proxy]'`` into it), as
``litellm --config cfg.yaml --host 127.0.0.1 --port P --num_workers 1 --keepalive_timeout
75`` (uvicorn, with uvloop; 75 s is aiohttp.web's keep-alive too), ready when
``/health/liveliness`` answers. Its best fair setup, offline: one model
``glm-4.1v-thinking-flash`` -> ``openai/glm-4.1v-thinking-flash`` at the fake's base URL;
no database, no callbacks, no master key (no auth, as on the gateway; it needs
``LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY=true`` to start so); ``drop_params``,
no retries (the router gets one attempt too), message logging off, spend and error logs
off; environment ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (no cost map download),
``LITELLM_TELEMETRY=False``, ``LITELLM_LOG=ERROR``, no ``DATABASE_URL``, no provider keys
but its own, proxies bypassed for loopback. It serves some 20 times fewer requests a
second than the gateway, so its throughput row sends a fifth of the others' count.
``--quick`` leaves LiteLLM out unless ``--with-litellm`` is given; without it its rows say
why they were skipped.

Ratios are what count: these 2-core machines are noisy (client, gateway and fake share two
cores under load), absolute figures are for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from limits import MODEL, raw_post, router_config, row, us  # benchmarks/limits.py
from router import fire, interleaved  # benchmarks/router.py: the same timing, shared
from tabulate import tabulate

HELLO: list[Any] = [{"role": "user", "content": "hi"}]
KEYS = {"zhipu": "bench"}
ROOT = Path(__file__).resolve().parents[1]
LITELLM_VENV = Path("/tmp/vlmroute-litellm-venv")
IN_FLIGHT = 256
GATEWAY_STARTUP_S = 60.0
LITELLM_STARTUP_S = 180.0
STOP_WAIT_S = 10.0
# The readiness checks go straight to 127.0.0.1, whatever HTTP(S)_PROXY says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_SERVING = re.compile(rb"vlmroute: serving (http://\S+)/v1\b")

Call = Callable[[], Awaitable[object]]


# ------------------------------------------------------------------ child processes


def _env(**extra: str) -> dict[str, str]:
    """This environment, loopback never through a proxy, the child importing this checkout,
    with bytecode as installed (see ``_ENV`` in benchmarks/limits.py)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the child's process group (its workers too), SIGKILL it if it lingers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with contextlib.suppress(ProcessLookupError):  # a worker left behind by its parent
        os.killpg(process.pid, signal.SIGKILL)


def _tail(log: Path, chars: int = 400) -> str:
    text = log.read_bytes()[-chars:].decode(errors="replace").strip()
    return " | ".join(line for line in text.splitlines() if line.strip())


def _answers(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=2) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError):
        return False


#: Runs ``argv[1:]`` in its place, told to get SIGTERM when its parent dies (Linux), so no
#: server outlives a benchmark that was killed (a timed-out test's SIGKILL).
_ORPHAN_GUARD = (
    "import ctypes, os, signal, sys\n"
    "if sys.platform == 'linux':\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


@contextlib.contextmanager
def child(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process in its own session (stdout and stderr to ``log``), stopped at exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _ORPHAN_GUARD, *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=log.parent,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        _stop(process)


def _wait(
    process: subprocess.Popen[bytes], log: Path, what: str, timeout: float, ready: Callable[[], Any]
) -> Any:
    """Poll ``ready()`` until it returns something; fail if the child exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}): {_tail(log)}")
        found = ready()
        if found:
            return found
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {timeout:.0f} s: {_tail(log)}")


@contextlib.contextmanager
def gateway(base_url: str, cap: int, tmp: Path, *, workers: int = 1) -> Iterator[str]:
    """``vlmroute serve`` over one offer at ``base_url``; yields its chat completions URL."""
    name = f"gateway-{len(list(tmp.iterdir()))}"
    config = tmp / f"{name}.yaml"
    config.write_text(json.dumps(router_config(base_url, cap)))  # JSON is YAML
    argv = [sys.executable, "-m", "vlmroute._cli.main", "serve", "--config", str(config)]
    argv += ["--port", "0"] + ([] if workers == 1 else ["--workers", str(workers)])
    log = tmp / f"{name}.log"
    with child(argv, _env(ZHIPUAI_API_KEY="bench"), log) as process:

        def serving() -> str | None:
            found = _SERVING.search(log.read_bytes())
            root = found.group(1).decode() if found else None
            return root if root and _answers(f"{root}/health") else None

        root = _wait(process, log, "vlmroute serve", GATEWAY_STARTUP_S, serving)
        yield f"{root}/v1/chat/completions"


#: The least any gateway on aiohttp costs: a server that reads the body, posts it to the fake
#: with one pooled aiohttp session and answers its bytes, nothing else (no parsing, no
#: routing); on uvloop where it is installed, as ``vlmroute serve`` is.
_RELAY = """
import asyncio, sys
from aiohttp import ClientSession, web
try:
    import uvloop
except ModuleNotFoundError:
    uvloop = None
async def main(port, upstream):
    session = ClientSession()
    headers = {"content-type": "application/json", "authorization": "Bearer bench"}
    async def relay(request):
        body = await request.read()
        async with session.post(upstream, data=body, headers=headers) as answer:
            data = await answer.read()
        return web.Response(body=data, status=answer.status, content_type="application/json")
    app = web.Application()
    app.router.add_post("/v1/chat/completions", relay)
    app.router.add_get("/health", lambda request: web.Response(text="ok"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()
(uvloop.run if uvloop else asyncio.run)(main(int(sys.argv[1]), sys.argv[2]))
"""


@contextlib.contextmanager
def relay(base_url: str, tmp: Path) -> Iterator[str]:
    """The bare aiohttp relay in front of the fake; yields its chat completions URL."""
    port = free_port()
    argv = [sys.executable, "-c", _RELAY, str(port), f"{base_url}/chat/completions"]
    log = tmp / "relay.log"
    with child(argv, _env(), log) as process:
        root = f"http://127.0.0.1:{port}"
        _wait(process, log, "the relay", GATEWAY_STARTUP_S, lambda: _answers(f"{root}/health"))
        yield f"{root}/v1/chat/completions"


def serve_has_workers() -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "vlmroute._cli.main", "serve", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    ).stdout
    return "--workers" in out


# ------------------------------------------------------------------ LiteLLM


@dataclass(frozen=True, slots=True)
class LiteLLM:
    """LiteLLM's proxy in a venv of its own: ``binary`` to run, or why not."""

    binary: Path | None
    version: str
    why_not: str

    @classmethod
    def find(cls, venv: Path, *, install: bool, wanted: bool) -> LiteLLM:
        if not wanted:
            return cls(None, "", "skipped: --quick (pass --with-litellm)")
        binary = venv / "bin" / "litellm"
        if not binary.exists() and install:
            why = _install_litellm(venv)
            if why:
                return cls(None, "", f"skipped: {why}")
        if not binary.exists():
            return cls(None, "", f"skipped: no {binary} (pass --with-litellm)")
        probe = subprocess.run(
            [str(venv / "bin" / "python"), "-c", _VERSION_OF_LITELLM],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode:
            return cls(None, "", f"skipped: litellm does not import: {probe.stderr[-200:]}")
        return cls(binary, probe.stdout.strip(), "")


_VERSION_OF_LITELLM = "import importlib.metadata as m; print(m.version('litellm'))"


def _install_litellm(venv: Path) -> str:
    """``python3 -m venv VENV && VENV/bin/pip install 'litellm[proxy]'``: '' or why not."""
    print(f"gateway.py: installing litellm[proxy] into {venv} ...", file=sys.stderr)
    python = venv / "bin" / "python"
    steps = [[sys.executable, "-m", "venv", str(venv)]] if not python.exists() else []
    steps.append([str(python), "-m", "pip", "install", "--quiet", "litellm[proxy]"])
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, check=False, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(step[:3])} failed: {exc}"
        if done.returncode:
            return f"{' '.join(step[:3])} failed: {done.stderr.strip()[-300:]}"
    return ""


def litellm_config(base_url: str) -> dict[str, Any]:
    model = {
        "model_name": MODEL,
        "litellm_params": {"model": f"openai/{MODEL}", "api_base": base_url, "api_key": "bench"},
    }
    return {
        "model_list": [model],
        "litellm_settings": {
            "drop_params": True,
            "num_retries": 0,
            "telemetry": False,
            "turn_off_message_logging": True,
            "set_verbose": False,
            "json_logs": False,
            "callbacks": [],
            "success_callback": [],
            "failure_callback": [],
        },
        "general_settings": {
            "disable_spend_logs": True,
            "disable_error_logs": True,
            "disable_adding_master_key_hash_to_db": True,
            "allow_requests_on_db_unavailable": True,
        },
        "router_settings": {"num_retries": 0},
    }


def _litellm_env() -> dict[str, str]:
    drop = ("OPENAI", "LITELLM", "DATABASE_URL", "ZHIPU", "ANTHROPIC", "AZURE", "REDIS")
    env = {k: v for k, v in _env().items() if not k.upper().startswith(drop)}
    env.pop("PYTHONPATH")  # its own packages only
    return {
        **env,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
        # No master key: no auth on the proxy, as on the gateway (it refuses to start so).
        "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
        "DISABLE_SCHEMA_UPDATE": "True",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


@contextlib.contextmanager
def litellm_proxy(binary: Path, base_url: str, tmp: Path) -> Iterator[str]:
    """LiteLLM's proxy, one worker, over the fake; yields its chat completions URL."""
    port = free_port()
    config = tmp / f"litellm-{port}.yaml"
    config.write_text(json.dumps(litellm_config(base_url)))
    argv = [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--num_workers", "1", "--keepalive_timeout", "75"]
    log = tmp / f"litellm-{port}.log"
    root = f"http://127.0.0.1:{port}"
    with child(argv, _litellm_env(), log) as process:
        live = f"{root}/health/liveliness"
        _wait(process, log, "LiteLLM proxy", LITELLM_STARTUP_S, lambda: _answers(live))
        yield f"{root}/chat/completions"


# ------------------------------------------------------------------ measures


@contextlib.asynccontextmanager
async def session(limit: int) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=limit)
    async with aiohttp.ClientSession(connector=connector) as client:
        yield client


def skipped(measure: str, figure: str, why: str, target: str) -> dict[str, str]:
    """A row whose baseline could not be measured: why not, cut short (stderr has it all)."""
    why = why if len(why) <= 100 else f"{why[:99]}..."
    return {"measure": measure, "vlmroute": figure, "baseline": why, "ratio": "", "target": target}


def _because(why: str) -> str:
    print(f"gateway.py: {why}", file=sys.stderr)
    return why


def plus(seconds: float) -> str:
    return f"{'+' if seconds >= 0 else '-'}{us(abs(seconds))}"


async def bench_latency(
    base_url: str, litellm: LiteLLM, tmp: Path, quick: bool
) -> list[dict[str, str]]:
    import vlmroute

    n = 200 if quick else 2000
    direct_url = f"{base_url}/chat/completions"
    with contextlib.ExitStack() as servers:
        gateway_url = servers.enter_context(gateway(base_url, 8, tmp))
        relay_url = servers.enter_context(relay(base_url, tmp))
        why_not = litellm.why_not
        litellm_url = ""
        if litellm.binary is not None:
            try:
                litellm_url = servers.enter_context(litellm_proxy(litellm.binary, base_url, tmp))
            except RuntimeError as exc:
                why_not = _because(f"skipped: {exc}")
        async with (
            session(8) as client,
            vlmroute.AsyncRouter.from_config(router_config(base_url, 8), api_keys=KEYS) as router,
        ):
            calls: list[Call] = [
                lambda: raw_post(client, direct_url),
                lambda: router.chat(HELLO),
                lambda: raw_post(client, gateway_url),
                lambda: raw_post(client, relay_url),
            ]
            if litellm_url:
                calls.append(lambda: raw_post(client, litellm_url))
            medians = await interleaved(n, *calls)
    direct, routed, served, relayed = medians[:4]
    added = served - routed
    rows = [
        row(
            "gateway added latency, concurrency 1",
            plus(added),
            f"{us(routed)} (router in process)",
            served / routed,
            "<= +400 us",
        ),
        row(
            "  the gateway",
            us(served),
            f"{us(direct)} (raw aiohttp to the fake)",
            served / direct,
            "",
        ),
        row(
            "  one bare aiohttp hop (a relay) over raw aiohttp",
            plus(relayed - direct),
            f"{us(direct)} (raw aiohttp to the fake)",
            relayed / direct,
            "",
        ),
        row(
            "  gateway added over the bare hop's",
            plus(added - (relayed - direct)),
            f"{plus(relayed - direct)} (the bare hop)",
            added / (relayed - direct),
            "",
        ),
        row(
            "  router in process over raw aiohttp",
            plus(routed - direct),
            f"{us(direct)} (raw aiohttp to the fake)",
            routed / direct,
            "",
        ),
    ]
    if litellm_url:
        proxied = medians[4]
        rows += [
            row(
                "gateway added / LiteLLM proxy added",
                plus(added),
                f"{plus(proxied - direct)} (LiteLLM proxy over raw aiohttp)",
                added / (proxied - direct),
                "<= 0.20",
            ),
            row("  LiteLLM proxy", us(proxied), us(direct), proxied / direct, ""),
        ]
    else:
        rows.append(skipped("gateway added / LiteLLM proxy added", plus(added), why_not, "<= 0.20"))
    return rows


async def _rate(count: int, call: Call) -> float:
    """Requests a second with 256 in flight, after 256 to open the connections."""
    await fire(IN_FLIGHT, IN_FLIGHT, call)
    return count / await fire(count, IN_FLIGHT, call)


async def _raw_rate(url: str, count: int) -> float:
    async with session(IN_FLIGHT) as client:
        return await _rate(count, lambda: raw_post(client, url))


async def _router_rate(base_url: str, count: int) -> float:
    import vlmroute

    config = router_config(base_url, IN_FLIGHT)
    async with vlmroute.AsyncRouter.from_config(config, api_keys=KEYS) as router:
        return await _rate(count, lambda: router.chat(HELLO))


def _optional(servers: contextlib.ExitStack, start: Callable[[], Any], why_not: str) -> Any:
    """The URL of a server that may be missing (``why_not``) or fail to start: URL, or why."""
    if why_not:
        return None, why_not
    try:
        return servers.enter_context(start()), ""
    except RuntimeError as exc:
        return None, _because(f"skipped: {exc}")


async def bench_throughput(
    base_url: str, litellm: LiteLLM, tmp: Path, quick: bool
) -> list[dict[str, str]]:
    count, rounds = (1000, 1) if quick else (5000, 3)
    urls: dict[str, str | None] = {"raw": f"{base_url}/chat/completions"}
    why_not = {"litellm": "", "workers": ""}
    with contextlib.ExitStack() as servers:
        urls["gateway"] = servers.enter_context(gateway(base_url, IN_FLIGHT, tmp))
        urls["workers"], why_not["workers"] = _optional(
            servers,
            lambda: gateway(base_url, IN_FLIGHT, tmp, workers=2),
            "" if serve_has_workers() else "skipped: vlmroute serve has no --workers yet",
        )
        urls["litellm"], why_not["litellm"] = _optional(
            servers,
            lambda: litellm_proxy(litellm.binary or Path(), base_url, tmp),
            litellm.why_not,
        )
        measures: dict[str, Callable[[], Awaitable[float]]] = {
            name: functools.partial(_raw_rate, url, count // 5 if name == "litellm" else count)
            for name, url in urls.items()
            if url is not None
        }
        measures["router"] = functools.partial(_router_rate, base_url, count)
        samples: dict[str, list[float]] = {name: [] for name in measures}
        for _ in range(rounds):  # in turn, round after round, so that drift hits all alike
            for name, measure in measures.items():
                if why_not.get(name):
                    continue
                try:
                    samples[name].append(await measure())
                except (aiohttp.ClientError, RuntimeError, TimeoutError) as exc:
                    if name not in why_not:
                        raise
                    why_not[name] = _because(f"failed: {type(exc).__name__}: {exc}")
    rate = {
        name: statistics.median(s) for name, s in samples.items() if s and not why_not.get(name)
    }
    return throughput_rows(rate, why_not)


def throughput_rows(rate: dict[str, float], why_not: dict[str, str]) -> list[dict[str, str]]:
    per_s = "{:,.0f} req/s".format
    served, routed, raw = rate["gateway"], rate["router"], rate["raw"]
    rows = [
        row(
            "gateway throughput, 256 in flight, 50-ms server",
            per_s(served),
            f"{per_s(routed)} (router in process)",
            served / routed,
            ">= 0.50",
        )
    ]
    if "litellm" in rate:
        rows.append(
            row(
                "  gateway against LiteLLM proxy",
                per_s(served),
                f"{per_s(rate['litellm'])} (LiteLLM proxy, 1 worker)",
                served / rate["litellm"],
                ">= 5.00",
            )
        )
    else:
        rows.append(
            skipped("  gateway against LiteLLM proxy", per_s(served), why_not["litellm"], ">= 5.00")
        )
    rows.append(
        row(
            "  router in process against raw aiohttp",
            per_s(routed),
            f"{per_s(raw)} (raw aiohttp to the fake)",
            routed / raw,
            "",
        )
    )
    if "workers" in rate:
        rows.append(
            row(
                "  gateway, --workers 2",
                per_s(rate["workers"]),
                f"{per_s(served)} (gateway, 1 worker)",
                rate["workers"] / served,
                "",
            )
        )
    else:
        rows.append(skipped("  gateway, --workers 2", "", why_not["workers"], ""))
    return rows


async def main(quick: bool, as_json: bool, litellm: LiteLLM) -> None:
    from vlmroute.testing import spawn

    with tempfile.TemporaryDirectory(prefix="vlmroute-gateway-bench-") as name:
        tmp = Path(name)
        with spawn("zhipu", latency_s=0.0) as instant:
            rows = await bench_latency(instant.base_url, litellm, tmp, quick)
        with spawn("zhipu", latency_s=0.05) as slow:
            rows += await bench_throughput(slow.base_url, litellm, tmp, quick)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print(tabulate(rows, headers="keys", tablefmt="simple", disable_numparse=True))
    if litellm.binary is not None:
        print(f"\nLiteLLM {litellm.version} from {litellm.binary}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (no LiteLLM)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--with-litellm",
        action="store_true",
        help="measure LiteLLM's proxy, installing it into --litellm-venv if it is not there",
    )
    parser.add_argument(
        "--no-litellm", action="store_true", help="leave LiteLLM out even if it is installed"
    )
    parser.add_argument(
        "--litellm-venv",
        type=Path,
        default=LITELLM_VENV,
        metavar="PATH",
        help=f"LiteLLM's own venv (default: {LITELLM_VENV})",
    )
    args = parser.parse_args()
    wanted = args.with_litellm or not (args.quick or args.no_litellm)
    if args.no_litellm:
        found = LiteLLM(None, "", "skipped: --no-litellm")
    else:
        found = LiteLLM.find(args.litellm_venv, install=args.with_litellm, wanted=wanted)
    asyncio.run(main(args.quick, args.json, found))
    sys.stdout.flush()
    sys.exit(0)
