"""The ledger's write-behind journal: a row whose ``record()`` returned survives ``kill -9``
of its process, is added once by the next ledger opened on the file, and a live process's
pending rows are never taken from it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import vlmroute
from vlmroute._ledger import SqliteLedger
from vlmroute._ledger.journal import Journal, replay_orphans
from vlmroute.testing import FakeProvider, Fault

ROOT = Path(__file__).resolve().parents[1]

RECORD_THEN_HANG = """
import sys, time
from tests.test_ledger import spend
from vlmroute._ledger import SqliteLedger
ledger = SqliteLedger(sys.argv[1])
for i in range(int(sys.argv[2])):
    ledger.record(spend(f"k{i}", cost="0.5"))
print("recorded", flush=True)
time.sleep(60)
"""

ROUTE_THEN_HANG = """
import sys, time
import vlmroute
config = {"offers": [{"offer": "zhipu-flash", "base_url": sys.argv[2]}], "ledger": sys.argv[1]}
router = vlmroute.Router.from_config(config, api_keys={"zhipu": "k"})
reply = router.chat([{"role": "user", "content": "hi"}])
print("answer", reply.answer, flush=True)
time.sleep(60)
"""


def _run_and_kill(code: str, *args: str, until: str) -> None:
    """Run ``code`` in a fresh interpreter; SIGKILL it the moment it prints ``until``."""
    with subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ) as child:
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line.startswith(until), line
            child.send_signal(signal.SIGKILL)
            assert child.wait(30) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()


def test_rows_recorded_before_a_kill_9_are_in_the_ledger_once(tmp_path: Path) -> None:
    path = tmp_path / "spend.db"
    _run_and_kill(RECORD_THEN_HANG, str(path), "300", until="recorded")
    with SqliteLedger(path) as ledger:
        ids = [r.request_id for r in ledger.rows()]
    assert sorted(ids) == sorted(f"k{i}" for i in range(300))
    assert not list(tmp_path.glob("spend.db.pending-*"))  # replayed, then removed
    with SqliteLedger(path) as again:  # a second opener finds nothing left to add
        assert len(again.rows()) == 300


def test_an_answered_request_s_row_survives_a_kill_9_right_after_the_answer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "routed.db"
    with FakeProvider("zhipu") as fake:
        _run_and_kill(ROUTE_THEN_HANG, str(path), fake.base_url, until="answer")
    with SqliteLedger(path, create=False) as ledger:
        [row] = ledger.rows()
    assert row.outcome == "ok"
    assert row.offer == "zhipu-flash"
    assert row.prompt_tokens > 0


def test_a_live_process_s_pending_rows_are_left_to_it(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    committed: list[tuple[object, ...]] = []
    with SqliteLedger(path):  # makes the file and its schema
        pass
    journal = Journal(path, committed.extend, interval_s=3600)  # never flushes by itself
    try:
        journal.append(("r1",))
        assert replay_orphans(path, committed.extend) == 0  # its owner holds the lock
        assert list(tmp_path.glob("live.db.pending-*"))
    finally:
        journal.close()
    assert committed == [("r1",)]
    assert not list(tmp_path.glob("live.db.pending-*"))


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "torn.db"
    orphan = tmp_path / "torn.db.pending-999999-0"
    orphan.write_text(json.dumps(["a", 1]) + "\n" + '["b", 2')  # cut by a power loss
    rows: list[tuple[object, ...]] = []
    assert replay_orphans(path, rows.extend) == 1
    assert rows == [("a", 1)]
    assert not orphan.exists()


def test_a_read_sees_every_write_made_before_it(tmp_path: Path) -> None:
    from tests.test_ledger import spend

    with SqliteLedger(tmp_path / "now.db") as ledger:
        for i in range(5):
            ledger.record(spend(f"n{i}"))
            assert len(ledger.rows()) == i + 1


def test_a_router_with_the_default_ledger_records_every_request(tmp_path: Path) -> None:
    path = tmp_path / "many.db"
    with FakeProvider("zhipu") as fake:
        config = {
            "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url}],
            "ledger": str(path),
        }
        with vlmroute.Router.from_config(config, api_keys={"zhipu": "k"}) as router:
            for _ in range(40):
                router.chat([{"role": "user", "content": "hi"}])
    with SqliteLedger(path) as ledger:
        assert len(ledger.rows()) == 40


def test_a_stream_left_early_and_a_cancelled_chat_each_leave_one_row(tmp_path: Path) -> None:
    """One row per request, whatever happened: a reader that stops after the first delta,
    and a caller that cancels its chat, are recorded as ``abandoned``."""
    import asyncio

    path = tmp_path / "left.db"
    with FakeProvider("zhipu", stream_chunks=10, chunk_delay_s=0.05, latency_s=0.0) as fake:
        config = {
            "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url}],
            "ledger": str(path),
        }

        async def main() -> None:
            async with vlmroute.AsyncRouter.from_config(config, api_keys={"zhipu": "k"}) as r:
                events = r.stream([{"role": "user", "content": "hi"}])
                async for _ in events:
                    break
                await events.aclose()  # type: ignore[attr-defined]  # an async generator
                fake.inject(Fault.hang(5.0))
                task = asyncio.ensure_future(r.chat([{"role": "user", "content": "hi"}]))
                await asyncio.sleep(0.3)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                assert r.slots.in_flight("zhipu-flash") == 0

        asyncio.run(main())
    with SqliteLedger(path) as ledger:
        rows = ledger.rows()
    assert [r.outcome for r in rows] == ["abandoned", "abandoned"]
    assert all(r.offer == "zhipu-flash" for r in rows)


def test_a_stream_cut_short_is_priced_from_what_was_streamed_and_counted(
    tmp_path: Path,
) -> None:
    """A provider reports no usage for a stream its reader left, yet charges for it: the row
    prices the prompt and the text streamed so far, and the budget counts that."""
    import asyncio

    with FakeProvider("zhipu", stream_chunks=10, chunk_delay_s=0.01) as fake:
        config = {
            "offers": [{"offer": "zhipu-flashx", "base_url": fake.base_url}],
            "ledger": str(tmp_path / "cut.db"),
            "budgets": [{"amount": 1, "currency": "CNY", "period": "day"}],
        }
        streamed: list[str] = []

        async def main() -> tuple[vlmroute.Money, vlmroute.Money]:
            async with vlmroute.AsyncRouter.from_config(config, api_keys={"zhipu": "k"}) as r:
                before = r.budgets.remaining()[0][1]
                events = r.stream([{"role": "user", "content": "describe it at length"}])
                async for event in events:
                    streamed.append(event.text)  # type: ignore[union-attr]  # deltas only
                    if len(streamed) == 3:
                        break
                await events.aclose()  # type: ignore[attr-defined]  # an async generator
                return before, r.budgets.remaining()[0][1]

        before, after = asyncio.run(main())
    with SqliteLedger(tmp_path / "cut.db") as ledger:
        (row,) = ledger.rows()
    offer = vlmroute.load_pricing().offer("zhipu-flashx")
    assert row.outcome == "abandoned"
    assert row.prompt_tokens > 0
    assert row.completion_tokens == vlmroute.text_tokens("".join(streamed)) > 0
    assert row.cost == offer.cost(row.prompt_tokens, row.completion_tokens)
    assert row.cost.amount > 0
    assert before.amount - after.amount == row.cost.amount
