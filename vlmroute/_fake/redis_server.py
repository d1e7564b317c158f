"""A real ``redis-server`` on a free loopback port, for tests of the Redis store.

No persistence (``--save '' --appendonly no``), its files in a temporary directory, and
killed at the end. :meth:`RedisServer.kill` (SIGKILL) and :meth:`RedisServer.start` again
(same port) play a Redis that dies and comes back.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["MISSING", "RedisServer", "redis_server"]

MISSING = "redis-server not installed (apt-get install redis-server)"
START_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process; ``password`` sets ``requirepass``."""

    def __init__(self, directory: Path, *, password: str | None = None) -> None:
        self.port = free_port()
        self.password = password
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(MISSING)
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self._directory), "--daemonize", "no"]
        if self.password:
            argv += ["--requirepass", self.password]
        self._process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: every connection drops, every key is lost (nothing is saved)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None


@contextmanager
def redis_server(*, password: str | None = None) -> Iterator[RedisServer]:
    """A started server (``.url``); killed and its directory removed on exit.

    Raises:
        RuntimeError: no ``redis-server`` on the PATH (the message says how to install it).
    """
    with tempfile.TemporaryDirectory(prefix="vlmroute-redis-") as directory:
        server = RedisServer(Path(directory), password=password)
        server.start()
        try:
            yield server
        finally:
            server.kill()
