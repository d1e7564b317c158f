"""``vlmroute run`` and ``vlmroute.run_batch``: a workload priced, run, resumed after kill -9
and Ctrl-C, stopped at its cost cap, against fake providers (what they received, and the
files and ledger left behind)."""

from __future__ import annotations

import base64
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml

import vlmroute
from vlmroute._ledger import SqliteLedger
from vlmroute._request import ChatRequest
from vlmroute._run import Line, line_tokens
from vlmroute._tokens.text import estimate_text_tokens
from vlmroute.testing import FakeProvider, Fault

ROOT = Path(__file__).resolve().parents[1]


def png(width: int, height: int) -> bytes:
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr
    return head + struct.pack(">I", zlib.crc32(ihdr))


def data_uri(width: int, height: int) -> str:
    return "data:image/png;base64," + base64.b64encode(png(width, height)).decode()


def body(i: int, *, image: bool = False, **extra: Any) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": f"describe picture {i}"}]
    if image:
        content.insert(0, {"type": "image_url", "image_url": {"url": data_uri(1280, 720)}})
    return {
        "model": "glm-4.1v-thinking",
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


def write_input(path: Path, count: int, **extra: Any) -> Path:
    with path.open("w") as out:
        for i in range(count):
            line = {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions"}
            out.write(json.dumps({**line, "body": body(i, image=i % 2 == 1, **extra)}) + "\n")
    return path


def router_yaml(tmp: Path, fake: FakeProvider, offer: str = "zhipu-flash", **extra: Any) -> Path:
    config = {
        "offers": [{"offer": offer, "base_url": fake.base_url, **extra}],
        "ledger": str(tmp / "spend.db"),
    }
    path = tmp / "router.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vlmroute._cli.main", "run", *args],
        cwd=ROOT,
        env={**os.environ, "ZHIPUAI_API_KEY": "sk-run-test-key-0123456789", **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["custom_id"] for line in path.read_text().splitlines() if line]


# ------------------------------------------------------------------ pricing


@pytest.mark.parametrize(
    "content",
    [
        "plain text, a little of it",
        [{"type": "text", "text": "two"}, {"type": "text", "text": "parts of text"}],
        [{"type": "image_url", "image_url": {"url": data_uri(1920, 1080)}}],
        [
            {"type": "image_url", "image_url": {"url": data_uri(640, 480)}},
            {"type": "image_url", "image_url": {"url": data_uri(3000, 200)}},
            {"type": "text", "text": "compare them"},
        ],
        [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}],
        [{"type": "image_url", "image_url": {"url": "https://x/a.png", "size": "800x600"}}],
    ],
)
def test_the_scan_counts_what_the_request_model_counts(content: Any) -> None:
    """The scan's fast count is the request model's count, part for part."""
    messages = [
        {"role": "system", "content": "You read screenshots."},
        {"role": "user", "content": content},
    ]
    counted = line_tokens(Line("x", 1, body={"model": "m", "messages": messages}))
    assert counted.prompt == ChatRequest.create(messages).prompt_tokens().total


def test_bad_lines_and_duplicate_ids_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    with source.open("a") as out:
        out.write("not json\n")
        out.write(json.dumps({"custom_id": "r1", "body": body(1)}) + "\n")  # r1 again
        out.write(json.dumps({"custom_id": "r9", "body": {"model": "m", "messages": []}}) + "\n")
        out.write(json.dumps({"custom_id": "r8", "body": body(8, stream=True)}) + "\n")
    with FakeProvider("zhipu") as fake:
        code, _, err = finish(
            cli(
                str(source),
                "-o",
                str(tmp_path / "out.jsonl"),
                "--config",
                str(router_yaml(tmp_path, fake)),
                "--yes",
            )
        )
        assert fake.stats.requests_seen == 0
    assert code == 1
    assert "line 4: not JSON" in err
    assert "line 6: body.messages must be a non-empty list" in err
    assert "line 7" in err
    assert "stream" in err
    assert "'r1' on lines 2, 5" in err
    assert not (tmp_path / "out.jsonl").exists()
    assert "Traceback" not in err


def test_lines_json_takes_are_read_as_json_reads_them(tmp_path: Path) -> None:
    """The scan parses with pydantic-core for speed; what it refuses and json accepts (an
    escaped lone surrogate, a UTF-8 BOM) is read by json, so no line turns bad."""
    from vlmroute._run.source import BadLine, jsonl_lines

    lone = '{"custom_id": "a", "body": {"model": "m", "messages": [{"role": "user", '
    lone += '"content": "odd \\ud800 text"}]}}\n'
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        lone.encode()
        + b"\xef\xbb\xbf"
        + json.dumps({"custom_id": "b", "body": body(2)}).encode()
        + b"\n"
        + json.dumps({"custom_id": "c", "body": body(3)}).encode()
        + b"\n\nnot json\n"
    )
    lines = list(jsonl_lines(path))
    assert [getattr(line, "custom_id", None) for line in lines] == ["a", "b", "c", None]
    first = lines[0]
    assert isinstance(first, Line)
    assert first.body is not None
    assert first.body["messages"][0]["content"] == "odd \ud800 text"
    assert isinstance(lines[3], BadLine)
    assert lines[3].number == 5  # blank lines are skipped, not renumbered


def test_without_a_terminal_it_needs_yes_and_dry_run_sends_nothing(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 4)
    with FakeProvider("zhipu") as fake:
        config = str(router_yaml(tmp_path, fake))
        out = str(tmp_path / "out.jsonl")
        code, _, err = finish(cli(str(source), "-o", out, "--config", config))
        assert code == 2
        assert "--yes" in err
        code, stdout, _ = finish(
            cli(str(source), "-o", out, "--config", config, "--dry-run", "--json")
        )
        assert code == 0
        plan = json.loads(stdout)
        assert plan["requests"] == 4
        assert plan["estimate"]["plan"]["steps"][0]["offer_id"] == "zhipu-flash"
        assert fake.stats.requests_seen == 0


# ------------------------------------------------------------------ running


def test_a_run_writes_one_batch_output_line_per_request_and_labels_the_ledger(
    tmp_path: Path,
) -> None:
    source = write_input(tmp_path / "in.jsonl", 12, max_tokens=300)
    report = tmp_path / "report.json"
    with FakeProvider("zhipu") as fake:
        config = str(router_yaml(tmp_path, fake))
        code, _, err = finish(
            cli(
                str(source),
                "-o",
                str(tmp_path / "out.jsonl"),
                "--config",
                config,
                "--yes",
                "--report",
                str(report),
            )
        )
        sent = fake.requests
    assert code == 0, err
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(x["custom_id"] for x in lines) == sorted(f"r{i}" for i in range(12))
    first = lines[0]
    assert first["id"].startswith("batch_req_")
    assert first["error"] is None
    assert first["response"]["status_code"] == 200
    completion = first["response"]["body"]
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["reasoning_content"]
    assert completion["vlmroute"]["offer"] == "zhipu-flash"
    assert completion["vlmroute"]["cost"]["currency"] == "CNY"
    assert len(sent) == 12
    assert all(r.json["max_tokens"] == 300 for r in sent)
    assert sum(1 for r in sent if "image" in json.dumps(r.json)) == 6
    with SqliteLedger(tmp_path / "spend.db", create=False) as ledger:
        rows = ledger.rows()
    assert sorted(r.label or "" for r in rows) == sorted(f"r{i}" for i in range(12))
    assert {r.caller for r in rows} == {"vlmroute-run"}
    data = json.loads(report.read_text())
    assert data["answered"] == 12
    assert data["offers"][0]["predicted"]["requests"] == 12
    assert data["offers"][0]["actual"]["requests"] == 12
    assert not (tmp_path / "out.jsonl.sending").exists()


def test_failures_get_their_own_line_and_retry_failed_sends_them_again(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    failed = tmp_path / "out.failed.jsonl"
    with FakeProvider("zhipu") as fake:
        config = str(router_yaml(tmp_path, fake))
        fake.inject(Fault.status(400, {"error": {"code": "1210", "message": "bad param"}}), times=3)
        code, _, err = finish(
            cli(str(source), "-o", str(out), "--config", config, "--yes", "--concurrency", "1")
        )
        assert code == 0, err
        assert len(ids(out)) == 7
        assert len(ids(failed)) == 3
        error = json.loads(failed.read_text().splitlines()[0])["error"]
        assert error["type"] == "RequestError"
        assert error["code"]
        # a plain rerun sends nothing; --retry-failed sends the three again
        code, _, _ = finish(cli(str(source), "-o", str(out), "--config", config, "--yes"))
        assert fake.stats.requests_seen == 10
        code, _, _ = finish(
            cli(str(source), "-o", str(out), "--config", config, "--yes", "--retry-failed")
        )
        assert code == 0
        assert fake.stats.requests_seen == 13
    assert sorted(ids(out)) == sorted(f"r{i}" for i in range(10))
    assert ids(failed) == []


@pytest.mark.slow
@pytest.mark.parametrize("after", [3, 25, 60])
def test_kill_9_at_any_moment_then_a_rerun_leaves_one_line_per_id(
    tmp_path: Path, after: int
) -> None:
    """Killed while requests are in flight; the rerun sends only what has no result, and
    each line in flight at the kill is in the ledger as resent."""
    total = 80
    source = write_input(tmp_path / "in.jsonl", total)
    out = tmp_path / "out.jsonl"
    with FakeProvider("zhipu", latency_s=0.1) as fake:
        config = str(router_yaml(tmp_path, fake, cap=8))
        process = cli(str(source), "-o", str(out), "--config", config, "--yes")
        deadline = time.monotonic() + 60
        while len(ids(out)) < after and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        answered_before = set(ids(out))
        sent_before = fake.stats.requests_seen
        code, _, err = finish(cli(str(source), "-o", str(out), "--config", config, "--yes"))
        resent_again = fake.stats.requests_seen - sent_before
    assert code == 0, err
    final = ids(out)
    assert sorted(final) == sorted(f"r{i}" for i in range(total))  # each id exactly once
    assert resent_again == total - len(answered_before)  # nothing answered is sent again
    in_flight_at_kill = sent_before - len(answered_before)
    with SqliteLedger(tmp_path / "spend.db", create=False) as ledger:
        resent = [r for r in ledger.rows() if r.outcome == "resent"]
    # every line the provider saw and answered no one is among those resent (the journal of
    # ids sent is written just before each is sent, so it may hold a few more), 8 at most
    assert in_flight_at_kill <= len(resent) <= 8
    assert all(r.label not in answered_before for r in resent)
    if resent:
        assert "sent again" in err


@pytest.mark.slow
def test_ctrl_c_stops_taking_work_waits_for_what_is_in_flight_and_resumes(
    tmp_path: Path,
) -> None:
    source = write_input(tmp_path / "in.jsonl", 60)
    out = tmp_path / "out.jsonl"
    with FakeProvider("zhipu", latency_s=0.2) as fake:
        config = str(router_yaml(tmp_path, fake, cap=4))
        process = cli(str(source), "-o", str(out), "--config", config, "--yes")
        deadline = time.monotonic() + 60
        while len(ids(out)) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        code, _, err = finish(process)
        assert code == 130
        assert "stopped by Ctrl-C" in err
        assert "Traceback" not in err
        partial = ids(out)
        assert fake.stats.requests_seen == len(partial)  # every one in flight finished
        code, _, err = finish(cli(str(source), "-o", str(out), "--config", config, "--yes"))
    assert code == 0, err
    assert sorted(ids(out)) == sorted(f"r{i}" for i in range(60))


def test_max_cost_stops_the_run_counting_what_is_in_flight(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 40, max_tokens=2000)
    out = tmp_path / "out.jsonl"
    with FakeProvider("zhipu", completion_tokens=2000, latency_s=0.02) as fake:
        config = str(router_yaml(tmp_path, fake, offer="zhipu-flashx", cap=2))
        # a flashx request of 2,000 output tokens is priced at about CNY 0.0127
        code, _, err = finish(
            cli(str(source), "-o", str(out), "--config", config, "--yes", "--max-cost", "0.1CNY")
        )
        sent = fake.stats.requests_seen
    assert code == 1
    assert "stopped at --max-cost 0.1CNY" in err
    assert "rerun" in err
    assert 0 < len(ids(out)) < 40
    assert sent == len(ids(out))
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    spent = sum(float(r["response"]["body"]["vlmroute"]["cost"]["amount"]) for r in rows)
    assert spent <= 0.1


def test_images_dir_sends_one_request_per_image_named_by_its_path(tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    (shots / "app").mkdir(parents=True)
    (shots / "a.png").write_bytes(png(640, 480))
    (shots / "app" / "b.png").write_bytes(png(1920, 1080))
    (shots / "notes.txt").write_text("not an image")
    out = tmp_path / "out.jsonl"
    with FakeProvider("zhipu") as fake:
        config = str(router_yaml(tmp_path, fake))
        code, _, err = finish(
            cli(
                "--images",
                str(shots),
                "--prompt",
                "What app is this?",
                "-o",
                str(out),
                "--config",
                config,
                "--yes",
            )
        )
        sent = fake.requests
    assert code == 0, err
    assert sorted(ids(out)) == ["a.png", "app/b.png"]
    assert len(sent) == 2
    texts = [json.dumps(r.json) for r in sent]
    assert all("What app is this?" in t for t in texts)


def test_run_batch_as_a_library_call_with_a_progress_callback(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 6)
    seen: list[int] = []
    with FakeProvider("zhipu") as fake:
        config = {"offers": [{"offer": "zhipu-flash", "base_url": fake.base_url}], "ledger": False}
        with vlmroute.Router.from_config(config, api_keys={"zhipu": "k" * 20}) as router:
            plan = vlmroute.plan_batch(source, router=router)
            assert plan.scan.requests == 6
            result = vlmroute.run_batch(
                source,
                tmp_path / "out.jsonl",
                router=router,
                progress=lambda p: seen.append(p.done),
            )
    assert result.answered == 6
    assert result.complete
    assert seen[-1] == 6


@pytest.mark.slow
def test_two_shards_on_one_redis_store_share_the_account_s_cap(tmp_path: Path) -> None:
    """--shard 0/2 and 1/2, as two hosts would run them: disjoint halves whose union is the
    whole input, with the account's cap held across both."""
    from vlmroute.testing import redis_server

    source = write_input(tmp_path / "in.jsonl", 100)
    with redis_server() as store, FakeProvider("zhipu", cap=4, latency_s=0.05) as fake:
        config = {
            "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url, "cap": 4}],
            "ledger": str(tmp_path / "spend.db"),
            "store": {"url": store.url},
        }
        path = tmp_path / "router.yaml"
        path.write_text(yaml.safe_dump(config))
        runs = [
            cli(
                str(source),
                "-o",
                str(tmp_path / f"out{i}.jsonl"),
                "--config",
                str(path),
                "--yes",
                "--shard",
                f"{i}/2",
            )
            for i in range(2)
        ]
        codes = [finish(p)[0] for p in runs]
        stats = fake.stats
    assert codes == [0, 0]
    halves = [set(ids(tmp_path / f"out{i}.jsonl")) for i in range(2)]
    assert halves[0].isdisjoint(halves[1])
    assert halves[0] | halves[1] == {f"r{i}" for i in range(100)}
    assert all(halves)
    assert stats.peak_in_flight <= 4
    assert stats.rejected == 0


@pytest.mark.slow
def test_the_readme_s_run_commands_and_library_call_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "Run a workload" section, as written, in a folder with its files."""
    import re
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.search(r"```sh\n# run a workload\n(.*?)```", readme, re.S)
    library = re.search(r"```python\n# library: run_batch\n(.*?)```", readme, re.S)
    assert commands is not None
    assert library is not None
    write_input(tmp_path / "requests.jsonl", 5)
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "home.png").write_bytes(png(1080, 2400))
    with FakeProvider("zhipu") as fake:
        router_yaml(tmp_path, fake)
        env = {**os.environ, "ZHIPUAI_API_KEY": "sk-readme-run-key-0123456789"}
        for line in commands.group(1).splitlines():
            argv = shlex.split(line)
            assert argv[0] == "vlmroute"
            done = subprocess.run(
                [sys.executable, "-m", "vlmroute._cli.main", *argv[1:]],
                cwd=tmp_path,
                env={**env, "PYTHONPATH": str(ROOT)},
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, (line, done.stderr)
        assert len(ids(tmp_path / "results.jsonl")) == 5
        assert json.loads((tmp_path / "report.json").read_text())["answered"] == 5
        assert ids(tmp_path / "shots.jsonl") == ["home.png"]
        (tmp_path / "results.jsonl").unlink()
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("ZHIPUAI_API_KEY", env["ZHIPUAI_API_KEY"])
        exec(compile(library.group(1), "README.md", "exec"), {})
    assert len(ids(tmp_path / "results.jsonl")) == 5


def test_a_router_budget_that_runs_out_stops_the_run_and_keeps_the_line(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 30, max_tokens=2000)
    out = tmp_path / "out.jsonl"
    with FakeProvider("zhipu", completion_tokens=2000) as fake:
        config = {
            "offers": [{"offer": "zhipu-flashx", "base_url": fake.base_url, "cap": 1}],
            "ledger": str(tmp_path / "spend.db"),
            "budgets": [{"amount": "0.05", "currency": "CNY", "period": "day"}],
        }
        path = tmp_path / "router.yaml"
        path.write_text(yaml.safe_dump(config))
        code, _, err = finish(cli(str(source), "-o", str(out), "--config", str(path), "--yes"))
    assert code == 1
    assert "a budget in the router config refused a request" in err
    answered = ids(out)
    assert 0 < len(answered) < 30
    assert ids(tmp_path / "out.failed.jsonl") == []  # the refused line is sent next time


def test_random_faults_during_a_run_leave_every_line_one_result_or_one_error(
    tmp_path: Path,
) -> None:
    source = write_input(tmp_path / "in.jsonl", 60)
    out = tmp_path / "out.jsonl"
    fault = Fault.server_error(500)
    with FakeProvider("zhipu", fail_rate=0.4, fail_with=fault, seed=7) as fake:
        config = str(router_yaml(tmp_path, fake, cap=6))
        code, _, err = finish(cli(str(source), "-o", str(out), "--config", config, "--yes"))
    assert code == 0, err
    answered, failed = set(ids(out)), ids(tmp_path / "out.failed.jsonl")
    assert len(failed) == len(set(failed))
    assert answered.isdisjoint(failed)
    assert answered | set(failed) == {f"r{i}" for i in range(60)}
    assert failed  # 40% of tries fail and the router tries twice: some lines fail
    errors = [
        json.loads(x)["error"] for x in (tmp_path / "out.failed.jsonl").read_text().splitlines()
    ]
    assert {e["type"] for e in errors} == {"ServerError"}


@pytest.mark.slow
def test_on_a_terminal_it_asks_before_sending_and_shows_a_progress_bar(tmp_path: Path) -> None:
    import fcntl
    import pty
    import termios

    source = write_input(tmp_path / "in.jsonl", 8)
    out = tmp_path / "out.jsonl"
    with FakeProvider("zhipu") as fake:
        config = str(router_yaml(tmp_path, fake))
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 wide
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vlmroute._cli.main",
                "run",
                str(source),
                "-o",
                str(out),
                "--config",
                config,
            ],
            cwd=ROOT,
            env={**os.environ, "ZHIPUAI_API_KEY": "sk-run-test-key-0123456789", "COLUMNS": "100"},
            stdin=slave,
            stdout=slave,
            stderr=slave,
        )
        os.close(slave)
        seen = b""
        try:
            while b"[y/N]" not in seen:
                seen += os.read(master, 4096)
            assert fake.stats.requests_seen == 0  # asked before anything was sent
            os.write(master, b"y\n")
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
        finally:
            process.wait(60)
            os.close(master)
    assert process.returncode == 0
    assert len(ids(out)) == 8
    text = seen.decode(errors="replace")
    assert "Send 8 requests" in text
    assert "8/8" in text  # tqdm's bar


def test_the_scan_counts_text_with_the_counter_set_now() -> None:
    """A text the scan has counted is counted again after set_text_token_counter()."""
    text = "a system prompt that every line of a workload repeats, word for word"
    line = Line("x", 1, body={"model": "m", "messages": [{"role": "user", "content": text}]})
    before = line_tokens(line).prompt
    previous = vlmroute.set_text_token_counter(lambda s: 1000)
    try:
        assert line_tokens(line).prompt - before == 1000 - estimate_text_tokens(text)
    finally:
        vlmroute.set_text_token_counter(previous)
    assert line_tokens(line).prompt == before


@pytest.mark.slow
def test_a_second_ctrl_c_cancels_what_is_in_flight_and_a_rerun_sends_it(
    tmp_path: Path,
) -> None:
    source = write_input(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out.jsonl"
    with FakeProvider("zhipu", latency_s=60) as fake:  # nothing answers before the Ctrl-Cs
        config = str(router_yaml(tmp_path, fake, cap=3))
        process = cli(str(source), "-o", str(out), "--config", config, "--yes")
        deadline = time.monotonic() + 60
        while fake.stats.requests_seen < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        code, _, err = finish(process, timeout=60)  # not the 60 s the provider would take
        assert code == 130
        assert "cancelled by a second Ctrl-C" in err
        assert "Traceback" not in err
        assert ids(out) == []
    with FakeProvider("zhipu") as quick:
        config = str(router_yaml(tmp_path, quick))
        code, _, err = finish(cli(str(source), "-o", str(out), "--config", config, "--yes"))
    assert code == 0, err
    assert sorted(ids(out)) == sorted(f"r{i}" for i in range(6))
    assert "sent again" in err  # the three in flight at the cancel
    with SqliteLedger(tmp_path / "spend.db", create=False) as ledger:
        rows = ledger.rows()
    assert sorted(r.label or "" for r in rows if r.outcome == "resent") == ["r0", "r1", "r2"]
    assert sum(1 for r in rows if r.outcome == "abandoned") == 3  # the cancelled calls
