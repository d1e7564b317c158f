"""Fake GLM-4.1V providers for tests: real HTTP servers on 127.0.0.1, each speaking one
provider's wire format, with latency, an in-flight cap, fault injection and counters.

::

    from vlmroute.testing import FakeProvider, Fault

    with FakeProvider(dialect="zhipu", latency_s=0.05, cap=5) as fake:
        fake.inject(Fault.rate_limit(retry_after=1), times=2)   # the next two requests
        router = vlmroute.Router.from_config(
            {"offers": [{"offer": "zhipu-flash", "base_url": fake.base_url}], "ledger": False},
            api_keys={"zhipu": "test"},
        )
        ...
        assert fake.stats.peak_in_flight <= 5 and fake.stats.rejected == 0

Dialects: ``zhipu``, ``openrouter``, ``siliconflow``, ``vllm``, ``sglang``. Faults: rate
limit (Zhipu 1302), no balance (Zhipu 1113 under HTTP 429, OpenRouter 402), content filter,
overload, any status and body, a hang, malformed JSON, a stream cut short, an in-stream
error, a dropped connection; or a random ``fail_rate``. :meth:`FakeProvider.kill` drops every
open connection; :meth:`FakeProvider.start` serves again on the same port.

In another process: ``python -m vlmroute.testing serve --dialect zhipu --cap 5`` prints
``{"base_url": ..., "port": ...}``; :func:`spawn` does that for you and returns a handle
(``stats()``, ``inject()``, ``kill()``, ``close()``).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

from ._fake.server import FakeProvider, FakeStats, Fault, RecordedRequest
from ._fake.wire import DIALECTS, Dialect

__all__ = [
    "DIALECTS",
    "FakeProvider",
    "FakeStats",
    "Fault",
    "RecordedRequest",
    "SpawnedFake",
    "spawn",
]


class SpawnedFake:
    """A fake provider in a child process (see :func:`spawn`)."""

    def __init__(self, process: subprocess.Popen[str], base_url: str, port: int) -> None:
        self.process = process
        self.base_url = base_url
        self.port = port

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        """``peak_in_flight``, ``served``, ``rejected``, ``status_counts``..."""
        result: dict[str, Any] = self._control("GET", "/_fake/stats")
        return result

    def reset(self) -> None:
        self._control("POST", "/_fake/reset", {})

    def inject(self, fault: str, times: int = 1, **args: Any) -> None:
        """``inject("rate_limit", times=3, retry_after=1)``: a Fault class method by name."""
        self._control("POST", "/_fake/inject", {"fault": fault, "times": times, **args})

    def kill(self) -> None:
        """SIGKILL the process: every connection drops at once."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> SpawnedFake:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def spawn(
    dialect: Dialect = "zhipu",
    *,
    latency_s: float = 0.0,
    cap: int | None = None,
    port: int = 0,
    stream_chunks: int = 8,
) -> SpawnedFake:
    """Start a fake provider in a child process and wait until it serves."""
    args = [sys.executable, "-m", "vlmroute.testing", "serve", "--dialect", dialect]
    args += ["--latency", str(latency_s), "--port", str(port), "--chunks", str(stream_chunks)]
    if cap is not None:
        args += ["--cap", str(cap)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise RuntimeError(f"the fake provider did not start (exit code {process.wait()})")
    info = json.loads(line)
    handle = SpawnedFake(process, info["base_url"], int(info["port"]))
    atexit.register(handle.close)
    return handle


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)  # the parent died: do not outlive it


def _serve(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m vlmroute.testing")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a fake provider in the foreground")
    serve.add_argument("--dialect", choices=DIALECTS, default="zhipu")
    serve.add_argument("--latency", type=float, default=0.0)
    serve.add_argument("--cap", type=int)
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--chunks", type=int, default=8)
    args = parser.parse_args(argv)
    fake = FakeProvider(
        args.dialect,
        latency_s=args.latency,
        cap=args.cap,
        port=args.port,
        stream_chunks=args.chunks,
    ).start()
    print(json.dumps({"base_url": fake.base_url, "port": fake.port}), flush=True)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    signal.signal(signal.SIGINT, lambda *_a: stop.set())
    stop.wait()
    fake.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(_serve(sys.argv[1:]))
