"""``vlmroute route``: the dry run needs no key; a real send goes through a fake provider."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from vlmroute._cli.main import main
from vlmroute.testing import FakeProvider

PHOTO = Path(__file__).resolve().parents[1] / "examples" / "photo.png"


def test_explain_without_any_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ZHIPUAI_API_KEY", "ZAI_API_KEY", "OPENROUTER_API_KEY", "VLMROUTE_LOCAL_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["route", "--explain", "--image", "1920x1080", "--prompt", "What?"]) == 0
    out = capsys.readouterr().out
    assert "Request: 2," in out
    lines = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    assert [row[1] for row in lines] == ["zhipu-flash", "openrouter", "zhipu-flashx"]
    # Issue 12: no offer is called ready without a key, and retired offers are listed.
    assert "ready" not in out
    assert "no key: set ZHIPUAI_API_KEY or ZAI_API_KEY to send" in out
    assert "no key: set OPENROUTER_API_KEY to send" in out
    assert "siliconflow      retired  retired on 2026-05-15" in out


def test_explain_names_an_unknown_provider(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "--explain", "--prompt", "hi", "--provider", "nosuch"]) == 1
    err = capsys.readouterr().err
    assert "'nosuch' is not an offer or provider of this router" in err


def test_explain_json_shows_skips_and_exit_1_when_nothing_fits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["route", "--explain", "--json", "--image", "1920x1080", "--max-tokens", "64000"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["candidates"] == []
    reasons = {s["offer"]: s["reason"] for s in data["skipped"]}
    assert reasons["zhipu-flash"] == (
        "prompt + max_tokens (66,703 tokens) exceeds its context window (64,000)"
    )
    assert reasons["openrouter"].endswith("exceeds its context window (65,536)")


def test_an_unconfirmed_output_limit_is_a_caveat_not_a_skip(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Zhipu's 16,384 output tokens is from third parties (confidence unknown): a larger
    max_tokens may work there, so those offers stay, after any whose limit is known."""
    code = main(["route", "--explain", "--json", "--prompt", "hi", "--max-tokens", "20000"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    caveats = {c["offer"]: c["caveat"] for c in data["candidates"]}
    assert caveats["zhipu-flash"] == (
        "max_tokens 20,000 is over its output limit 16,384, which is unconfirmed: "
        "tried after the others"
    )


def test_a_size_is_refused_when_sending(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "--image", "1920x1080", "--config", "examples/router.yaml"]) == 1
    assert "only --explain takes sizes" in capsys.readouterr().err


def test_send_through_a_fake_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZHIPUAI_API_KEY", "k")
    with FakeProvider("zhipu", answer="A sun.", reasoning="Orange.") as fake:
        config = tmp_path / "router.yaml"
        offers = [{"offer": "zhipu-flash", "base_url": fake.base_url}]
        config.write_text(yaml.safe_dump({"offers": offers, "ledger": False}))
        code = main(["route", "--config", str(config), "--image", str(PHOTO), "--prompt", "?"])
    out = capsys.readouterr().out
    assert code == 0
    assert "offer: zhipu-flash" in out
    assert "reasoning:\nOrange." in out
    assert "answer:\nA sun." in out


def test_explain_with_a_redis_store_needs_neither_redis_nor_its_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # as if vlmroute[redis] were not installed
    config = tmp_path / "router.yaml"
    store = {"url": "redis://:pw-never-shown@127.0.0.1:1/0", "workers": 4}
    config.write_text(yaml.safe_dump({"offers": [{"offer": "zhipu-flash"}], "store": store}))
    code = main(["route", "--explain", "--config", str(config), "--image", "640x480"])
    captured = capsys.readouterr()
    assert code == 0
    assert "zhipu-flash" in captured.out
    assert "pw-never-shown" not in captured.out + captured.err
