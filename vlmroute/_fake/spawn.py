"""A fake provider in a child process, driven over HTTP: :class:`SpawnedFake`.

For tests and benchmarks that need the server out of the client's process (no shared event
loop, no shared GIL) or several client processes against one fake. The child is
``python -m vlmroute.testing serve --watch-parent``: it exits when its stdin closes or its
parent dies, and the handle terminates it on :meth:`SpawnedFake.close`, when it is garbage
collected, and at interpreter exit, so no process is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .cli import API_KEY_ENV, config_argv
from .config import DialectName, FakeConfig
from .faults import Fault
from .server import HOST
from .stats import FakeStats, RecordedRequest

__all__ = ["SpawnedFake", "spawn_fake"]

STARTUP_TIMEOUT_S = 20.0
TERMINATE_WAIT_S = 5.0
CONTROL_TIMEOUT_S = 10.0
# The control calls go straight to 127.0.0.1, whatever HTTP(S)_PROXY says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _reap(process: subprocess.Popen[bytes]) -> None:
    """Terminate the child (SIGKILL if it lingers), wait for it, close its pipes."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(TERMINATE_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


class SpawnedFake:
    """A handle on a fake provider in a child process; close it, or use it with ``with``."""

    def __init__(
        self, process: subprocess.Popen[bytes], *, base_url: str, port: int, dialect: DialectName
    ) -> None:
        self.base_url = base_url
        self.port = port
        #: ``http://127.0.0.1:PORT``, where ``/health``, ``/metrics`` and ``/_fake/*`` live.
        self.root_url = f"http://{HOST}:{port}"
        self.dialect = dialect
        self._process = process
        self._reap = weakref.finalize(self, _reap, process)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def stats(self) -> FakeStats:
        """A snapshot of the child's counters (``GET /_fake/stats``)."""
        return FakeStats.from_json(self._call("GET", "/_fake/stats"))

    def requests(self) -> list[RecordedRequest]:
        """The chat requests the child received (``GET /_fake/requests``)."""
        return [RecordedRequest.from_json(r) for r in self._call("GET", "/_fake/requests")]

    def inject(self, fault: Fault, times: int = 1) -> None:
        """The child's next ``times`` chat requests get ``fault`` (``POST /_fake/inject``)."""
        self._call("POST", "/_fake/inject", {**fault.to_spec(), "times": times})

    def reset_stats(self) -> None:
        """Zero the child's counters (``POST /_fake/reset``)."""
        self._call("POST", "/_fake/reset", {})

    #: The same as :meth:`reset_stats` (the name ``benchmarks/router.py`` uses).
    reset = reset_stats

    def kill(self) -> None:
        """SIGKILL the child: every connection drops at once, nothing is cleaned up."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def close(self) -> None:
        """Terminate the child and wait for it; safe to call twice."""
        self._reap()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.root_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with _OPENER.open(request, timeout=CONTROL_TIMEOUT_S) as response:
            return json.loads(response.read())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SpawnedFake({self.dialect!r}, {self.base_url}, pid={self.pid})"


def _child_env(config: FakeConfig) -> dict[str, str]:
    env = dict(os.environ)
    # The child imports this very copy of vlmroute, installed or not.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.pop(API_KEY_ENV, None)
    if config.api_key is not None:
        env[API_KEY_ENV] = config.api_key
    return env


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    stdout = process.stdout
    assert stdout is not None
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else b""


def spawn_fake(config: FakeConfig, *, port: int = 0) -> SpawnedFake:
    """Start ``python -m vlmroute.testing serve`` for ``config`` and wait until it serves."""
    command = [sys.executable, "-m", "vlmroute.testing", *config_argv(config, port)]
    process = subprocess.Popen(
        [*command, "--watch-parent"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=_child_env(config),
    )
    line = _first_line(process, STARTUP_TIMEOUT_S)
    try:
        info = json.loads(line)
        return SpawnedFake(
            process, base_url=str(info["base_url"]), port=int(info["port"]), dialect=config.dialect
        )
    except (ValueError, KeyError, TypeError):
        _reap(process)
        raise RuntimeError(
            f"the fake provider did not start (exit code {process.returncode}); "
            f"its first line was {line[:200]!r}"
        ) from None
