"""The run's files: results, failures and the in-flight journal, append-only and resumable.

- ``results.jsonl``: one OpenAI Batch output line per request answered (``{"id",
  "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}``).
- ``results.failed.jsonl`` (beside it): one line per request that ended in an error, with
  the OpenAI error body and the vlmroute error class (``error: {"code", "message", "type"}``).
- ``results.jsonl.sending``: each ``custom_id`` as it is sent. A rerun finds the ones with
  no result: they were in flight when the last run stopped, and the provider may have run
  (and charged for) them although the answer was lost. They are sent again, said so, and
  recorded in the ledger as ``resent`` (see :mod:`.runner`).

Every line is written with one ``write()`` to a file opened with ``O_APPEND``, so a process
killed at any instant leaves whole lines, but for a last one cut short, which a rerun cuts
off before appending (that request has no result, and is sent again). Ids are kept as 64-bit
digests (:data:`~.source.id_digest`), so memory is flat in the number of lines.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import WorkloadError
from .source import id_digest

__all__ = ["RunFiles"]


class RunFiles:
    """The files of one run whose results go to ``output``."""

    def __init__(self, output: str | os.PathLike[str]) -> None:
        self.results = Path(output)
        stem = self.results.name.removesuffix(".jsonl")
        self.failures = self.results.with_name(f"{stem}.failed.jsonl")
        self.sending = self.results.with_name(f"{self.results.name}.sending")
        self._fds: dict[Path, int] = {}

    # ------------------------------------------------------------------ reading (resume)

    def answered(self) -> set[int]:
        """Digests of the ids with a result line."""
        return {id_digest(cid) for cid in self._ids(self.results)}

    def failed(self) -> set[int]:
        return {id_digest(cid) for cid in self._ids(self.failures)}

    def in_flight_before(self, done: set[int]) -> list[str]:
        """The ids a stopped run sent that have no result or failure line (each once)."""
        lost: dict[str, None] = {}
        for cid in self._ids(self.sending):
            if id_digest(cid) not in done:
                lost[cid] = None
        return list(lost)

    def _ids(self, path: Path) -> Iterator[str]:
        if not path.exists():
            return
        _cut_torn_tail(path)
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.isspace():
                    continue
                try:
                    cid = json.loads(raw)["custom_id"]
                except (ValueError, KeyError, TypeError):
                    raise WorkloadError(
                        f"{path}, line {number}: not a line vlmroute run wrote; move the file "
                        "away or pick another -o"
                    ) from None
                yield str(cid)

    def drop_failures(self, retried: set[int]) -> None:
        """Rewrite the failures file without the ids about to be retried (atomically), so
        that each id ends with one line: its new result or its new failure."""
        if not self.failures.exists():
            return
        kept = self.failures.with_name(self.failures.name + ".tmp")
        with self.failures.open("rb") as old, kept.open("wb") as new:
            for raw in old:
                if not raw.isspace() and id_digest(json.loads(raw)["custom_id"]) not in retried:
                    new.write(raw)
            new.flush()
            os.fsync(new.fileno())
        kept.replace(self.failures)

    # ------------------------------------------------------------------ appending

    def mark_sending(self, custom_id: str) -> None:
        self._append(self.sending, {"custom_id": custom_id})

    def add_result(self, line: dict[str, Any]) -> None:
        self._append(self.results, line)

    def add_raw_result(self, text: str) -> None:
        """A result line already in JSON (the answer's bytes are not parsed again)."""
        self._write(self.results, (text + "\n").encode())

    def add_failure(self, line: dict[str, Any]) -> None:
        self._append(self.failures, line)

    def _append(self, path: Path, line: dict[str, Any]) -> None:
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        self._write(path, data)

    def _write(self, path: Path, data: bytes) -> None:
        fd = self._fds.get(path)
        if fd is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = self._fds[path] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        written = os.write(fd, data)
        while written < len(data):  # a short write (a signal, a full pipe): the rest follows
            written += os.write(fd, data[written:])

    def finish(self) -> None:
        """Close the files; the journal of ids sent goes once every one has its line."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def forget_sending(self) -> None:
        self.sending.unlink(missing_ok=True)


def _cut_torn_tail(path: Path) -> None:
    """Cut off a last line without its newline (a process killed mid-write)."""
    size = path.stat().st_size
    if size == 0:
        return
    with path.open("rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        back = max(size - 65536, 0)
        while True:
            handle.seek(back)
            chunk = handle.read(size - back)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                handle.truncate(back + newline + 1)
                return
            if back == 0:
                handle.truncate(0)
                return
            back = max(back - 65536, 0)
