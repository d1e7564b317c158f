"""The spend ledger in one SQLite file (stdlib ``sqlite3``), shared by threads and processes.

- WAL journal and ``synchronous=NORMAL``: readers never block the writer.
- ``record()`` appends the row to this process's journal segment and returns (about 5 us,
  durable against ``kill -9`` at once); a thread commits the pending rows in one transaction
  every 50 ms, and every read commits them first, so a read sees every write made before
  it (:mod:`.journal` says what a power cut can lose). ``write_behind=False`` commits each
  row in its own transaction instead (about 40 us of CPU each).
- One connection per ``SqliteLedger``, used under a lock: safe from many threads. Several
  ledgers, in one process or several, may share a file; ``busy_timeout`` waits out the
  others' writes.
- ``request_id`` is UNIQUE and inserts are ``INSERT OR IGNORE``: a retried write is a no-op.
- Amounts are TEXT decimals beside their currency, never floats; instants are UTC text.
- ``meta.schema_version`` says which layout a file has; :data:`_MIGRATIONS` upgrades it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType

from ..errors import ConfigurationError
from ..money import FxTable, Money
from .journal import Journal, Row, replay_orphans
from .record import COLUMNS, Cell, SpendRecord, format_at, from_row, sum_costs, to_row

__all__ = ["SCHEMA_VERSION", "SqliteLedger"]

log = logging.getLogger("vlmroute")
_SEEN = 4096  # request ids remembered to answer record()'s "written now?" for retries

SCHEMA_VERSION = 5

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE spend (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,
            provider TEXT NOT NULL,
            offer TEXT NOT NULL,
            model TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            reasoning_tokens INTEGER,
            cost_amount TEXT NOT NULL,
            cost_currency TEXT NOT NULL,
            display_cost_amount TEXT NOT NULL,
            display_cost_currency TEXT NOT NULL,
            estimated_cost_amount TEXT,
            estimated_cost_currency TEXT,
            latency_s REAL,
            outcome TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            provider_request_id TEXT
        )""",
        "CREATE INDEX spend_at ON spend (at)",
        "CREATE INDEX spend_provider_at ON spend (provider, at)",
    ),
    # 2: provider, offer and model may be NULL: a request refused before any offer was
    # tried is recorded too. SQLite cannot drop NOT NULL in place: the table is rebuilt.
    2: (
        """CREATE TABLE spend_v2 (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,
            provider TEXT,
            offer TEXT,
            model TEXT,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            reasoning_tokens INTEGER,
            cost_amount TEXT NOT NULL,
            cost_currency TEXT NOT NULL,
            display_cost_amount TEXT NOT NULL,
            display_cost_currency TEXT NOT NULL,
            estimated_cost_amount TEXT,
            estimated_cost_currency TEXT,
            latency_s REAL,
            outcome TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            provider_request_id TEXT
        )""",
        "INSERT INTO spend_v2 SELECT * FROM spend",
        "DROP TABLE spend",
        "ALTER TABLE spend_v2 RENAME TO spend",
        "CREATE INDEX spend_at ON spend (at)",
        "CREATE INDEX spend_provider_at ON spend (provider, at)",
    ),
    # 3: the gateway key a request came in with (NULL in-process), for per-key budgets.
    3: (
        "ALTER TABLE spend ADD COLUMN caller TEXT",
        "CREATE INDEX spend_caller_at ON spend (caller, at)",
    ),
    # 4: the caller's own name for a request (a batch line's custom_id, vlmroute run).
    4: ("ALTER TABLE spend ADD COLUMN label TEXT",),
    # 5: what calibration reads: a stream's time to first delta, and vlmroute's own count of
    # the prompt (all of it, and its images and video) with the request's media.
    5: (
        "ALTER TABLE spend ADD COLUMN ttft_s REAL",
        "ALTER TABLE spend ADD COLUMN expected_prompt_tokens INTEGER",
        "ALTER TABLE spend ADD COLUMN media_tokens INTEGER",
        "ALTER TABLE spend ADD COLUMN images INTEGER",
        "ALTER TABLE spend ADD COLUMN videos INTEGER",
    ),
}

_INSERT = (
    f"INSERT OR IGNORE INTO spend ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)


class SqliteLedger:
    """Spend records in the SQLite file at ``path`` (its directory is made if missing).

    ``create=False`` refuses a missing file instead of starting an empty ledger (the CLI's
    reports use it). ``timeout_s`` is how long a write waits for another connection's lock.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        timeout_s: float = 10.0,
        write_behind: bool = True,
    ) -> None:
        self.path = Path(path).expanduser()
        if not create and not self.path.is_file():
            raise ConfigurationError(
                f"no spend ledger at {self.path}: route some requests with a ledger configured "
                "(ledger: PATH in the router config, or VLMROUTE_LEDGER) to create one"
            )
        self._lock = threading.Lock()
        with _translated(self.path, "open"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
        try:
            with _translated(self.path, "open"):
                self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
                _migrate(self._conn, self.path)
        except BaseException:
            self._conn.close()
            raise
        self._replay()
        self._seen: dict[str, None] = {}
        self._seen_lock = threading.Lock()
        self._journal = Journal(self.path, self._insert_many) if write_behind else None

    def _replay(self) -> None:
        """Add the rows a killed process left in its journal (see :mod:`.journal`)."""
        try:
            added = replay_orphans(self.path, self._insert_old)
        except (OSError, ConfigurationError) as exc:  # a read-only ledger can still be read
            log.warning("spend ledger %s: pending rows not added: %s", self.path, exc)
            return
        if added:
            log.info("spend ledger %s: added %d rows a stopped process left", self.path, added)

    def _insert_old(self, rows: Sequence[Row]) -> None:
        """Rows a stopped process left; one an older vlmroute wrote lacks the columns added
        since (they are NULL)."""
        width = len(COLUMNS)
        self._insert_many(
            [(*r, *(None,) * (width - len(r))) if len(r) < width else r for r in rows]
        )

    def _insert_many(self, rows: Sequence[Row]) -> None:
        with self._lock, _translated(self.path, "write to"):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(_INSERT, rows)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def record(self, rec: SpendRecord) -> bool:
        row = to_row(rec)
        if self._journal is None:
            with self._lock, _translated(self.path, "write to"):
                cursor = self._conn.execute(_INSERT, row)
            return cursor.rowcount == 1
        # Not under self._lock, which the journal's thread holds while it commits.
        with self._seen_lock:
            if rec.request_id in self._seen:
                return False
            self._seen[rec.request_id] = None
            if len(self._seen) > _SEEN:
                del self._seen[next(iter(self._seen))]
        try:
            with _translated(self.path, "write to"):
                self._journal.append(row)
        except BaseException:
            with self._seen_lock:
                self._seen.pop(rec.request_id, None)  # not written: a retry may write it
            raise
        return True

    def flush(self) -> None:
        """Commit the rows still pending (reads and ``close`` do it themselves)."""
        if self._journal is not None:
            self._journal.flush()

    def spent(
        self,
        *,
        provider: str | None = None,
        since: datetime,
        until: datetime | None = None,
        currency: str,
        fx: FxTable,
        caller: str | None = None,
    ) -> Money:
        where, params = _range(since, until)
        for column, value in (("provider", provider), ("caller", caller)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT cost_amount, cost_currency FROM spend WHERE {' AND '.join(where)}"
        rows = self._select(sql, params)
        return sum_costs((Money(Decimal(str(a)), str(c)) for a, c in rows), currency, fx)

    def rows(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[SpendRecord]:
        where, params = _range(since, until)
        sql = f"SELECT {', '.join(COLUMNS)} FROM spend"
        if where:
            sql += f" WHERE {' AND '.join(where)}"
        return [from_row(row) for row in self._select(sql + " ORDER BY at, id", params)]

    def close(self) -> None:
        if self._journal is not None:
            journal, self._journal = self._journal, None
            journal.close()
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SqliteLedger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteLedger({str(self.path)!r})"

    def _select(self, sql: str, params: list[Cell]) -> list[tuple[Cell, ...]]:
        self.flush()
        with self._lock, _translated(self.path, "read"):
            return self._conn.execute(sql, params).fetchall()


def _range(since: datetime | None, until: datetime | None) -> tuple[list[str], list[Cell]]:
    where: list[str] = []
    params: list[Cell] = []
    if since is not None:
        where.append("at >= ?")
        params.append(format_at(since))
    if until is not None:
        where.append("at < ?")
        params.append(format_at(until))
    return where, params


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file to :data:`SCHEMA_VERSION` in one transaction (racing openers wait)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise ConfigurationError(
                f"spend ledger {path} has schema version {version}, newer than this vlmroute "
                f"reads ({SCHEMA_VERSION}): upgrade vlmroute or use another ledger file"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[step]:
                conn.execute(statement)
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(max(version, SCHEMA_VERSION)),),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def _translated(path: Path, verb: str) -> Iterator[None]:
    """sqlite3 and OS errors become a ConfigurationError that names the file."""
    try:
        yield
    except sqlite3.Error as exc:
        raise ConfigurationError(
            f"spend ledger {path}: cannot {verb} it ({exc}); check that it is a vlmroute "
            "ledger on a local disk, or point the ledger setting (VLMROUTE_LEDGER) elsewhere"
        ) from exc
    except OSError as exc:
        raise ConfigurationError(
            f"spend ledger {path}: cannot {verb} it ({exc.strerror or exc})"
        ) from exc
