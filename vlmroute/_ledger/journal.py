"""Rows appended to a per-process file at once, and committed to SQLite in batches.

A SQLite commit costs about 40 us of CPU even in WAL mode (the b-tree pages of the table and
its three indexes, written to the WAL and checksummed); one ``os.write`` of a JSON line
costs about 5 us, and a batch of rows committed in one transaction about 10 us a row. So
:meth:`Journal.append` writes the row to this process's journal segment (``<ledger>.pending-
<pid>-<n>``) and returns; a background thread commits what is pending every
``interval_s`` (or at ``batch`` rows) in one transaction, then deletes the segment.

What survives what:

- ``kill -9`` of the process right after ``append`` returned: the line is in the kernel's
  page cache, so it is on disk when the process is gone. The next ledger opened on the file
  (by any process: a router, ``vlmroute spend``) replays segments whose owner is dead (it
  holds an exclusive ``flock`` on its segment while it lives) with ``INSERT OR IGNORE``, so a
  row committed and replayed is still one row.
- A power cut: what the OS had not yet written back (the journal lines and, as with
  ``synchronous=NORMAL``, the last WAL commits) may be lost: seconds of rows, never a
  corrupt ledger (a torn last line is skipped).

Reads through the ledger commit what is pending first, so within a process a read sees
every write made before it; other processes see a row within ``interval_s``.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Journal", "replay_orphans"]

log = logging.getLogger("vlmroute")

Row = tuple[Any, ...]
_COUNTER = itertools.count()


class _Segment:
    """One journal file, locked by this process for as long as it is open."""

    def __init__(self, path: Path) -> None:
        # Made and locked under a name replay_orphans does not look at, then renamed: no
        # replayer can take an unlocked segment for an orphan.
        draft = path.with_name(f".{path.name}.draft")
        self.fd = os.open(draft, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(draft, path)
        self.path = path

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)  # the lock goes with it

    def release(self) -> None:
        """Keep the file for a later replay (its rows did not reach SQLite)."""
        os.close(self.fd)


def _prefix(db: Path) -> str:
    return f"{db.name}.pending-"


class Journal:
    """Append rows here; ``commit(rows)`` writes a batch to SQLite in one transaction."""

    def __init__(
        self,
        db: Path,
        commit: Callable[[Sequence[Row]], None],
        *,
        interval_s: float = 0.05,
        batch: int = 512,
    ) -> None:
        self._db = db
        self._commit = commit
        self._interval_s = interval_s
        self._batch = batch
        self._lock = threading.Lock()  # the pending rows and the open segment
        self._flushing = threading.Lock()  # one batch at a time, in append order
        self._rows: list[Row] = []
        self._segment: _Segment | None = None
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="vlmroute-ledger", daemon=True)
        self._thread.start()

    def _new_segment(self) -> _Segment:
        name = f"{_prefix(self._db)}{os.getpid()}-{next(_COUNTER)}"
        return _Segment(self._db.with_name(name))

    def append(self, row: Row) -> None:
        """Durable against a kill of this process when this returns."""
        line = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self._closed:
                raise RuntimeError("the ledger is closed")
            if self._segment is None:
                self._segment = self._new_segment()
            os.write(self._segment.fd, line)
            self._rows.append(row)
            if len(self._rows) >= self._batch:
                self._wake.set()

    def flush(self) -> None:
        """Commit what is pending now; the caller's reads then see it."""
        with self._flushing:
            with self._lock:
                rows, self._rows = self._rows, []
                segment, self._segment = self._segment, None
            if segment is None:
                return
            try:
                if rows:
                    self._commit(rows)
            except BaseException:
                segment.release()  # replayed by the next ledger opened on this file
                log.warning(
                    "spend ledger %s: %d rows could not be committed; they are kept in %s "
                    "and will be added when a ledger is next opened on the file",
                    self._db,
                    len(rows),
                    segment.path,
                )
                raise
            segment.remove()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            with contextlib.suppress(Exception):  # logged by flush; the rows stay on disk
                self.flush()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()


def replay_orphans(db: Path, commit: Callable[[Sequence[Row]], None]) -> int:
    """Commit the rows of every segment of ``db`` whose process is gone, then delete them;
    the number of rows read. A segment whose owner lives (it holds the lock) is left."""
    count = 0
    for path in sorted(db.parent.glob(_prefix(db) + "*")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process's segment
            with open(fd, "rb", closefd=False) as stream:
                rows = [_row(line) for line in stream.read().splitlines()]
            whole = [r for r in rows if r is not None]
            if whole:
                commit(whole)
            count += len(whole)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        finally:
            os.close(fd)
    return count


def _row(line: bytes) -> Row | None:
    try:
        cells = json.loads(line)
    except ValueError:
        return None  # a line torn by a power cut
    return tuple(cells) if isinstance(cells, list) else None
