"""Calibration from the spend ledger (issue 16, part 3).

A ledger filled by real runs of the router against fake providers with set latencies and
token counts must give those figures back; hand-made records pin the arithmetic; the ledger
keeps the new fields through SQLite, its migration and its journal; and the CLI says what is
measured and flags an offer whose image counts drift.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
import sqlite3
import struct
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import vlmroute
from tests.test_ledger import spend
from vlmroute._cli.main import main
from vlmroute._client import to_request
from vlmroute._estimate.calibrate import ALL, Calibration
from vlmroute._estimate.measure import calibration_of, prompt_drift, quantile
from vlmroute._fake.config import ANSWER, REASONING
from vlmroute._fake.wire import cut
from vlmroute._ledger import MemoryLedger, SpendRecord, SqliteLedger
from vlmroute._ledger.record import COLUMNS, from_row, to_row
from vlmroute.money import Money
from vlmroute.testing import FakeProvider

T0 = datetime(2026, 11, 30, 9, tzinfo=UTC)


# ---------------------------------------------------------------------------- builders


def png(width: int, height: int) -> bytes:
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr
    return head + struct.pack(">I", zlib.crc32(ihdr))


def image_message(text: str) -> list[dict[str, Any]]:
    uri = "data:image/png;base64," + base64.b64encode(png(1280, 720)).decode()
    content = [{"type": "image_url", "image_url": {"url": uri}}, {"type": "text", "text": text}]
    return [{"role": "user", "content": content}]


def rec(
    rid: str,
    *,
    offer: str = "zhipu-flash",
    at: datetime = T0,
    latency: float | None = 2.0,
    ttft: float | None = 0.5,
    completion: int = 300,
    reasoning: int | None = 200,
    prompt: int = 1100,
    expected: int | None = 1000,
    media: int | None = 900,
    images: int | None = 1,
    videos: int | None = 0,
    outcome: str = "ok",
) -> SpendRecord:
    zero = Money(Decimal(0), "USD")
    return SpendRecord(
        request_id=rid,
        at=at,
        provider=offer.partition("-")[0],
        offer=offer,
        model="glm-4.1v-thinking",
        prompt_tokens=prompt,
        completion_tokens=completion,
        reasoning_tokens=reasoning,
        cost=zero,
        display_cost=zero,
        estimated_cost=None,
        latency_s=latency,
        outcome=outcome,
        ttft_s=ttft,
        expected_prompt_tokens=expected,
        media_tokens=media,
        images=images,
        videos=videos,
    )


def within(value: float | None, target: float, rel: float) -> bool:
    return value is not None and abs(value - target) <= rel * target


# ---------------------------------------------------------------------------- real runs

# Fake A (Zhipu's wire): its first delta 2 s after the request arrives, then the other
# events 0.25 s apart; 240 completion tokens; it reports 1.10x vlmroute's prompt count.
# Seconds rather than milliseconds, and the requests started STAGGER_S apart (all still in
# flight together): sending a burst of 12 at once from one event loop takes some tens of
# milliseconds, which a real time to first token includes too, and a busy machine adds as
# much again; at seconds, that is well inside the 6% the figures are held to.
A_TTFT, A_DELAY, A_CHUNKS, A_OUT = 2.0, 0.25, 2, 240
# Fake B (OpenRouter's wire, which reports reasoning tokens): 1.6 s, then 0.2 s apart;
# 300 tokens; images as vlmroute counts them, text 1.25x vlmroute's estimate of it.
B_TTFT, B_DELAY, B_CHUNKS, B_OUT = 1.6, 0.2, 2, 300
STREAMS = CHATS = 6
STAGGER_S = 0.04


def decode_seconds(delay: float, chunks: int) -> float:
    """A stream's time from its first event to its last: reasoning and answer deltas, then
    one closing event, each ``delay`` after the one before (see ``_fake/chat.py``)."""
    events = len(cut(REASONING, chunks)) + len(cut(ANSWER, chunks)) + 1
    return (events - 1) * delay


A_MESSAGES = image_message("Describe the picture.")
B_MESSAGES = image_message("List every object in the picture, then say what it is for. " * 4)
A_COUNT = to_request(A_MESSAGES).prompt_tokens()
B_COUNT = to_request(B_MESSAGES).prompt_tokens()
B_MEDIA = B_COUNT.images + B_COUNT.video
A_REPORTED = round(1.10 * A_COUNT.total)
B_REPORTED = B_MEDIA + round(1.25 * (B_COUNT.total - B_MEDIA))


@pytest.fixture(scope="module")
def real_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite ledger of 12 requests on each fake (6 streamed, 6 not), run at once."""
    path = tmp_path_factory.mktemp("calibrate") / "spend.sqlite3"
    a = FakeProvider(
        "zhipu",
        latency_s=A_TTFT,
        chunk_delay_s=A_DELAY,
        stream_chunks=A_CHUNKS,
        completion_tokens=A_OUT,
        prompt_tokens=A_REPORTED,
    )
    b = FakeProvider(
        "openrouter",
        latency_s=B_TTFT,
        chunk_delay_s=B_DELAY,
        stream_chunks=B_CHUNKS,
        completion_tokens=B_OUT,
        prompt_tokens=B_REPORTED,
    )
    with a, b:
        offers = [
            {"offer": "zhipu-flash", "base_url": a.base_url, "cap": 20},
            {"offer": "openrouter", "base_url": b.base_url, "cap": 20},
        ]
        config = {"offers": offers, "ledger": str(path)}
        keys = {"zhipu": "k", "openrouter": "k"}

        async def one(router: vlmroute.AsyncRouter, i: int, stream: bool) -> None:
            offer, messages = ("zhipu-flash", A_MESSAGES) if i % 2 else ("openrouter", B_MESSAGES)
            await asyncio.sleep(i * STAGGER_S)
            if not stream:
                await router.chat(messages, providers=[offer])
                return
            async for _ in router.stream(messages, providers=[offer]):
                pass

        async def run() -> None:
            async with vlmroute.AsyncRouter.from_config(config, api_keys=keys) as router:
                await asyncio.gather(*(one(router, i, True) for i in range(2 * STREAMS)))
                await asyncio.gather(*(one(router, i, False) for i in range(2 * CHATS)))

        asyncio.run(run())
    return path


@pytest.fixture(scope="module")
def real(real_ledger: Path) -> Calibration:
    with SqliteLedger(real_ledger, create=False) as ledger:
        return vlmroute.calibrate(ledger)


def test_the_ledger_keeps_what_calibration_reads(real_ledger: Path) -> None:
    with SqliteLedger(real_ledger, create=False) as ledger:
        rows = ledger.rows()
    assert len(rows) == 2 * (STREAMS + CHATS)
    for row in rows:
        assert row.images == 1
        assert row.videos == 0
        count = A_COUNT if row.offer == "zhipu-flash" else B_COUNT
        assert row.expected_prompt_tokens == count.total
        assert row.media_tokens == count.images + count.video
    assert sum(row.ttft_s is not None for row in rows) == 2 * STREAMS  # streams only


def test_calibration_recovers_the_fakes_figures(real: Calibration) -> None:
    a = real.get("zhipu-flash")
    assert a is not None
    assert a.requests == STREAMS + CHATS
    assert a.ttft_s is not None
    assert a.ttft_s.requests == STREAMS
    assert within(a.ttft_s.p50, A_TTFT, 0.06), a.ttft_s
    rate = A_OUT / decode_seconds(A_DELAY, A_CHUNKS)  # 240 tokens/s
    assert a.decode_tokens_per_s is not None
    assert within(a.decode_tokens_per_s.p50, rate, 0.06), a.decode_tokens_per_s
    assert a.output_tokens is not None
    assert a.output_tokens.mean == A_OUT
    assert a.output_tokens.p95 == A_OUT
    assert a.prompt_ratio is not None
    assert within(a.prompt_ratio.mean, 1.10, 0.002), a.prompt_ratio
    assert a.concurrency == STREAMS  # the six streams were in flight together
    assert real.get("zhipu-flash", "1 image") is not None

    b = real.get("openrouter")
    assert b is not None
    assert b.ttft_s is not None
    assert within(b.ttft_s.p50, B_TTFT, 0.06), b.ttft_s
    assert b.decode_tokens_per_s is not None
    rate = B_OUT / decode_seconds(B_DELAY, B_CHUNKS)  # 375 tokens/s
    assert within(b.decode_tokens_per_s.p50, rate, 0.06), b.decode_tokens_per_s
    assert b.text_ratio is not None
    assert within(b.text_ratio.mean, 1.25, 0.01), b.text_ratio
    assert b.reasoning_tokens is not None
    assert b.reasoning_tokens.mean > 0  # OpenRouter reports them; Zhipu's wire does not
    assert a.reasoning_tokens is None


def test_a_non_streamed_request_s_latency_is_the_fake_s(real_ledger: Path) -> None:
    with SqliteLedger(real_ledger, create=False) as ledger:
        answered = [r for r in ledger.rows() if r.ttft_s is None]
    figures = calibration_of(answered).get("zhipu-flash")
    assert figures is not None
    assert figures.latency_s is not None
    assert within(figures.latency_s.p50, A_TTFT, 0.06), figures.latency_s
    assert figures.decode_tokens_per_s is None  # no first delta: no decode speed


def test_apply_uses_the_measured_latency_and_output_tokens(real: Calibration) -> None:
    table = vlmroute.load_pricing()
    calibrated = real.apply(table)
    latency = calibrated.offers["zhipu-flash"].latency
    assert within(latency.ttft_s, A_TTFT, 0.06)
    assert within(latency.output_tokens_per_s, A_OUT / decode_seconds(A_DELAY, A_CHUNKS), 0.06)
    assert latency.prefill_tokens_per_s is None  # in the measured first token
    source = calibrated.offers["zhipu-flash"].sources["latency"]
    assert source.confidence == "likely"
    assert "measured: 6 streamed requests" in source.source
    assert calibrated.offers["siliconflow"] == table.offers["siliconflow"]  # nothing measured

    workload = vlmroute.Workload(requests=100, mix=({"images": ["1280x720"]},))
    result = vlmroute.estimate(workload, table, calibration=real)
    [profile] = result.profiles
    assert profile.output_tokens == (A_OUT + B_OUT) // 2  # every offer's 1-image requests
    rows = {o.offer_id: o for o in result.offers}
    assert "latency" not in rows["zhipu-flash"].assumptions
    assert "latency" in rows["siliconflow"].assumptions
    stated = vlmroute.Workload(requests=100, output_tokens=50)
    assert vlmroute.estimate(stated, table, calibration=real).profiles[0].output_tokens == 50


def test_drift_flags_the_offer_that_counts_images_differently(real: Calibration) -> None:
    [drift] = real.drift()
    assert drift.offer == "zhipu-flash"
    assert within(drift.ratio, 1.10, 0.002)
    assert drift.requests == STREAMS + CHATS
    assert "max_pixels" in drift.message


# ---------------------------------------------------------------------------- pure


def test_quantiles_interpolate() -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.95) == pytest.approx(4.8)
    assert quantile([7.0], 0.95) == 7.0


def test_figures_from_hand_made_records() -> None:
    records = [
        rec("s1", ttft=0.5, latency=2.5, completion=400),  # 200 tokens/s
        rec("s2", ttft=1.0, latency=3.0, completion=400, at=T0 + timedelta(minutes=1)),
        rec("c1", ttft=None, latency=4.0, prompt=900, at=T0 + timedelta(minutes=2)),
        rec("t1", images=0, media=0, expected=100, prompt=110, at=T0 + timedelta(minutes=3)),
        rec("failed", outcome="ServerError"),
        rec("old", images=None, videos=None, expected=None, media=None),
    ]
    cal = calibration_of(records)
    assert cal.records == 6
    assert cal.measured == 5
    whole = cal.get("zhipu-flash")
    assert whole is not None
    assert whole.requests == 5
    assert whole.ttft_s is not None
    assert whole.ttft_s.requests == 4
    assert whole.decode_tokens_per_s is not None
    assert whole.decode_tokens_per_s.p50 == pytest.approx(200.0)
    assert whole.prompt_ratio is not None
    assert whole.prompt_ratio.requests == 4  # not the old record: it has no count
    assert whole.prompt_ratio.since == T0
    assert whole.prompt_ratio.until == T0 + timedelta(minutes=3)
    text = cal.get("zhipu-flash", "text")
    assert text is not None
    assert text.requests == 1
    assert text.text_ratio is not None
    assert text.text_ratio.mean == pytest.approx(1.1)
    image = cal.get("zhipu-flash", "1 image")
    assert image is not None
    assert image.requests == 3
    assert image.text_ratio is not None
    assert image.text_ratio.p50 == pytest.approx((1100 - 900) / (1000 - 900))
    assert image.media_prompt_ratio is not None
    assert image.media_prompt_ratio.mean == pytest.approx((1.1 + 1.1 + 0.9) / 3)
    assert text.media_prompt_ratio is None
    assert cal.get(None) is not None  # every offer pooled
    assert calibration_of(records, since=T0 + timedelta(minutes=2)).measured == 2


def test_concurrency_counts_overlapping_requests() -> None:
    ends = [(1.0, 1.0), (1.5, 1.0), (1.8, 1.0), (3.0, 1.0), (4.0, 1.0)]  # (end, latency)
    records = [
        rec(f"r{i}", at=T0 + timedelta(seconds=end), latency=latency)
        for i, (end, latency) in enumerate(ends)
    ]
    whole = calibration_of(records).get("zhipu-flash")
    assert whole is not None
    assert whole.concurrency == 3  # 0.5-1.5, 0.8-1.8 and 0-1 overlap; 3-4 touches 2-3 only


def test_shapes_name_images_and_video() -> None:
    records = [rec("a", images=3), rec("b", images=0, videos=1), rec("c", images=0, media=0)]
    shapes = {f.shape for f in calibration_of(records).figures if f.offer == "zhipu-flash"}
    assert shapes == {ALL, "3 images", "video", "text"}


def test_too_few_requests_leave_the_assumptions() -> None:
    table = vlmroute.load_pricing()
    few = calibration_of([rec(f"r{i}") for i in range(4)])
    assert few.latency("zhipu-flash") is None
    assert few.apply(table).offers["zhipu-flash"] == table.offers["zhipu-flash"]
    assert few.output_tokens("1 image") is None
    workload = vlmroute.Workload(requests=10)
    assert few.workload(workload) == workload
    enough = calibration_of([rec(f"r{i}") for i in range(4)], min_requests=4)
    assert enough.latency("zhipu-flash") is not None
    with pytest.raises(ValueError, match="min_requests"):
        calibration_of([], min_requests=0)


def test_output_tokens_by_shape_then_pooled() -> None:
    texts = [rec(f"t{i}", images=0, media=0, completion=100, reasoning=40) for i in range(5)]
    images = [rec(f"i{i}", completion=700, reasoning=None) for i in range(5)]
    videos = [rec(f"v{i}", images=0, videos=1, completion=1000) for i in range(2)]
    cal = calibration_of(texts + images + videos)
    assert cal.output_tokens("text") == (100, 40)
    assert cal.output_tokens("1 image") == (700, None)
    pooled_mean = (5 * 100 + 5 * 700 + 2 * 1000) / 12
    pooled_reasoning = (5 * 40 + 2 * 200) / 7  # the records that report reasoning
    assert cal.output_tokens("video") == (round(pooled_mean), round(pooled_reasoning))
    workload = vlmroute.Workload(
        requests=10,
        mix=(
            {"images": ["640x480"]},
            {"prompt_tokens": 20},
            {"images": ["640x480"], "output_tokens": 9},
        ),
    )
    mix = cal.workload(workload).resolved_mix()
    assert [p.output_tokens for p in mix] == [700, 100, 9]
    assert [p.reasoning_tokens for p in mix] == [None, 40, None]
    stated = vlmroute.Workload(requests=10, mix=({"reasoning_tokens": 50, "output_tokens": 60},))
    assert cal.workload(stated) == stated


def test_drift_needs_enough_image_requests_past_the_threshold() -> None:
    def records(ratio: float, n: int, **extra: Any) -> list[SpendRecord]:
        return [rec(f"r{i}", prompt=round(1000 * ratio), **extra) for i in range(n)]

    assert prompt_drift(records(1.05, 5))[0].ratio == pytest.approx(1.05)
    assert prompt_drift(records(0.90, 5))[0].ratio == pytest.approx(0.90)
    assert prompt_drift(records(1.02, 5)) == ()
    assert prompt_drift(records(1.05, 4)) == ()
    assert prompt_drift(records(1.20, 5, images=0, media=0)) == ()  # text only: not media
    mixed = records(1.05, 5) + records(1.20, 5, offer="openrouter", images=0, media=0)
    mixed = [dataclasses.replace(r, request_id=f"m{i}") for i, r in enumerate(mixed)]
    assert prompt_drift(mixed) == calibration_of(mixed).drift()


def test_calibrate_takes_a_ledger_or_records() -> None:
    ledger = MemoryLedger()
    for i in range(3):
        ledger.record(rec(f"r{i}", at=T0 + timedelta(days=i)))
    assert vlmroute.calibrate(ledger).measured == 3
    assert vlmroute.calibrate(ledger, since=T0 + timedelta(days=1)).measured == 2
    assert vlmroute.calibrate(ledger.rows()).measured == 3
    assert vlmroute.calibrate([]).empty


# ---------------------------------------------------------------------------- ledger


def test_the_new_fields_survive_sqlite_and_the_flat_form(tmp_path: Path) -> None:
    record = rec("r1", ttft=0.25, images=2, videos=0, media=2400, expected=2500)
    assert from_row(to_row(record)) == record
    with SqliteLedger(tmp_path / "l.db") as ledger:
        assert ledger.record(record)
        assert ledger.rows() == [record]


def test_schema_5_migrates_a_version_4_file_in_place(tmp_path: Path) -> None:
    """Rows already there, and journal lines an older vlmroute left, read back as None."""
    from vlmroute._ledger.sqlite import _MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "v4.sqlite3"
    conn = sqlite3.connect(path)
    old = COLUMNS[: COLUMNS.index("ttft_s")]  # schema 4's columns
    with conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for step in (1, 2, 3, 4):
            for statement in _MIGRATIONS[step]:
                conn.execute(statement)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '4')")
        columns, marks = ", ".join(old), ", ".join("?" * len(old))
        conn.execute(
            f"INSERT INTO spend ({columns}) VALUES ({marks})", to_row(spend("v4"))[: len(old)]
        )
    conn.close()
    orphan = path.with_name(path.name + ".pending-999999-0")
    orphan.write_text(json.dumps(list(to_row(spend("journal"))[: len(old)])) + "\n")
    new = rec("new")
    with SqliteLedger(path) as ledger:
        assert ledger.record(new)
        rows = {r.request_id: r for r in ledger.rows()}
    assert rows["v4"] == spend("v4")
    assert rows["journal"] == spend("journal")
    assert rows["journal"].expected_prompt_tokens is None
    assert rows["v4"].ttft_s is None
    assert rows["new"] == new
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)
    assert SCHEMA_VERSION == 5


def test_a_record_refuses_negative_counts() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        rec("bad", media=-1)


def test_a_refused_request_carries_its_count_but_no_time_to_first_token() -> None:
    ledger = MemoryLedger()
    config = {"offers": [{"offer": "zhipu-flash", "base_url": "http://127.0.0.1:9/v4"}]}
    router = vlmroute.Router.from_config(config, api_keys={"zhipu": "k"}, ledger=ledger)
    hello = [{"role": "user", "content": "hi"}]
    with router, pytest.raises(vlmroute.NoRouteError):
        router.chat(hello, max_tokens=10_000_000)
    [row] = ledger.rows()
    assert row.offer is None
    assert row.ttft_s is None
    assert row.expected_prompt_tokens == to_request(hello).prompt_tokens().total
    assert row.images == 0


# ---------------------------------------------------------------------------- CLI


def ledger_of(path: Path, records: list[SpendRecord]) -> Path:
    with SqliteLedger(path) as ledger:
        for record in records:
            ledger.record(record)
    return path


def estimate_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["estimate", "--requests", "100", "--image", "1280x720", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def streamed(n: int) -> list[SpendRecord]:
    """``n`` image requests on zhipu-flash: 0.5 s to the first token, then 300 tokens in
    1.5 s (200 tokens/s)."""
    return [rec(f"s{i}", at=T0 + timedelta(minutes=i)) for i in range(n)]


def test_estimate_calibrate_says_what_is_measured(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    answered = [rec(f"c{i}", offer="openrouter", ttft=None) for i in range(2)]  # not streamed
    path = ledger_of(tmp_path / "spend.db", streamed(6) + answered)
    code, out, err = estimate_cli(capsys, "--calibrate", "--ledger", str(path))
    assert code == 0, err
    assert "Calibrated from 8 requests" in out
    assert "zhipu-flash: measured time to first token 0.5 s and decode 200 tokens/s" in out
    assert "(6 requests, on 2026-11-30)" in out
    assert "openrouter: latency is the table's assumption (no streamed request" in out
    assert "siliconflow: no requests; latency is the table's assumption" in out
    assert "Output tokens: measured 300 a request" in out
    assert "assuming 1,500" not in err  # the measured output tokens are used instead


def test_estimate_calibrate_json_includes_the_calibration(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = ledger_of(tmp_path / "spend.db", streamed(6))
    code, out, err = estimate_cli(capsys, "--calibrate", "--ledger", str(path), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["calibration"]["measured"] == 6
    [flash] = [
        f
        for f in data["calibration"]["figures"]
        if f["offer"] == "zhipu-flash" and f["shape"] == ALL
    ]
    assert flash["ttft_s"]["p50"] == 0.5
    assert flash["ttft_s"]["requests"] == 6
    assert data["profiles"][0]["output_tokens"] == 300
    rows = {o["offer_id"]: o for o in data["offers"]}
    assert "latency" not in rows["zhipu-flash"]["assumptions"]


def test_estimate_calibrate_with_stated_reasoning_keeps_the_default_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Stated reasoning tokens need stated output tokens to be part of: the measured output
    could be fewer, so the usual default stands (and says so)."""
    path = ledger_of(tmp_path / "spend.db", streamed(6))
    argv = ("--calibrate", "--ledger", str(path), "--reasoning-tokens", "400", "--json")
    code, out, err = estimate_cli(capsys, *argv)
    assert code == 0, err
    assert "assuming 1,500" in err
    assert json.loads(out)["profiles"][0]["output_tokens"] == 1500


def test_estimate_calibrate_with_too_few_requests_keeps_the_assumptions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = ledger_of(tmp_path / "spend.db", streamed(3))
    code, out, err = estimate_cli(capsys, "--calibrate", "--ledger", str(path))
    assert code == 0, err
    assert "latency is the table's assumption (3 streamed requests, 5 needed)" in out
    assert "assuming 1,500" in err


def test_estimate_calibrate_without_a_ledger_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = estimate_cli(capsys, "--calibrate", "--ledger", str(tmp_path / "none.db"))
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "no spend ledger at" in err
    assert "Traceback" not in err


def test_estimate_calibrate_on_an_empty_ledger_says_nothing_is_measured(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = ledger_of(tmp_path / "empty.db", [])
    code, out, err = estimate_cli(capsys, "--calibrate", "--ledger", str(path))
    assert code == 0, err
    assert "nothing measured yet" in err
    assert "Calibration: nothing measured yet" in out


def test_spend_flags_prompt_token_drift(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    drifting = [rec(f"d{i}", prompt=1100, at=T0 + timedelta(minutes=i)) for i in range(6)]
    exact = [rec(f"e{i}", offer="openrouter", prompt=1000) for i in range(6)]
    path = ledger_of(tmp_path / "spend.db", drifting + exact)
    assert main(["spend", "--ledger", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Prompt-token drift: zhipu-flash: reported prompt tokens" in out
    assert "1.100x vlmroute's exact count (6 requests since 2026-11-30 09:00 UTC)" in out
    assert "max_pixels" in out
    assert "openrouter: reported" not in out
    assert main(["spend", "--ledger", str(path), "--json"]) == 0
    [drift] = json.loads(capsys.readouterr().out)["prompt_drift"]
    assert drift["offer"] == "zhipu-flash"
    assert drift["requests"] == 6


def test_the_readme_calibrate_snippet_runs(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(# calibrate:.*?)```", readme, re.S)
    assert block is not None
    exec(compile(block.group(1), "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["True", "True"]


def test_the_text_ratio_becomes_a_text_counter() -> None:
    """Providers counted (1150 - 900) = 250 text tokens where vlmroute estimated
    (1000 - 900) = 100, on 5 requests: the counter scales the estimate by 2.5."""
    from vlmroute import set_text_token_counter, text_tokens
    from vlmroute._tokens import estimate_text_tokens

    records = [rec(f"r{i}", prompt=1150) for i in range(5)]
    counter = calibration_of(records).text_token_counter()
    assert counter is not None
    text = "Describe this photo in one sentence, please."
    assert counter(text) == round(estimate_text_tokens(text) * 2.5)
    previous = set_text_token_counter(counter)
    try:
        assert text_tokens(text) == counter(text)  # what the router and vlmroute run use
    finally:
        set_text_token_counter(previous)
    # Four requests are too few to replace the approximation.
    assert calibration_of(records[:4]).text_token_counter() is None


def test_non_streamed_requests_fit_a_decode_speed_to_their_latency() -> None:
    """6 answers not streamed (no time to first token), each 12 s for 500 output tokens:
    with the table's assumed 2 s to first token, the decode speed that fits is
    500 / (12 - 2) = 50 tokens/s, and the calibrated estimate times such a request at the
    12 s measured. The source says the figure is fitted, half an assumption."""
    records = [
        rec(f"r{i}", latency=12.0, ttft=None, completion=500, reasoning=None) for i in range(6)
    ]
    calibration = calibration_of(records)
    table = vlmroute.load_pricing()
    fitted = calibration.apply(table).offers["zhipu-flash"]
    assert fitted.latency.ttft_s == table.offers["zhipu-flash"].latency.ttft_s == 2.0
    assert fitted.latency.output_tokens_per_s == pytest.approx(50.0)
    assert fitted.latency.request_seconds(1000, 500) == pytest.approx(12.0)
    source = fitted.sources["latency"]
    assert source.source.startswith("fitted: 6 requests")
    assert source.confidence == "assumption"
    # Too few requests, or a latency under the assumed time to first token: nothing fitted.
    assert (
        calibration_of(records[:4]).apply(table).offers["zhipu-flash"]
        == table.offers["zhipu-flash"]
    )
    quick = [rec(f"q{i}", latency=1.5, ttft=None) for i in range(6)]
    assert calibration_of(quick).apply(table).offers["zhipu-flash"] == table.offers["zhipu-flash"]
