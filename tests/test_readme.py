"""The README's Python snippet runs and prints what its comments say."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

README = Path(__file__).resolve().parents[1] / "README.md"


def printed_by(start: str) -> list[str]:
    """The lines printed by the README's python block that begins with ``start``."""
    text = README.read_text(encoding="utf-8")
    block = re.search(rf"```python\n({re.escape(start)}\n.*?)```", text, re.S)
    assert block is not None, start
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block.group(1), "README.md", "exec"), {})
    return out.getvalue().splitlines()


def test_readme_library_snippet() -> None:
    assert printed_by("import vlmroute") == [
        "2691",
        "26942",
        "USD 2.74",
        "[('zhipu-flash', 1110), ('openrouter', 8890)]",
    ]


def test_readme_mixed_snippet() -> None:
    """Issue 16: the videos only where video is taken, the images still on OpenRouter."""
    assert printed_by("# mixed: each kind of request on the offers that can serve it") == [
        "USD 2.74 0",
        "[('zhipu-flash', (1005, 100)), ('openrouter', (8895, 0))]",
    ]


def test_readme_ranges_snippet() -> None:
    """Issue 16: OpenRouter at {p50: 500, p95: 2000} capped at 4000 (an offer's own row, so
    the planner does not move it): 28.99 M input x 0.035 = 1.01465 USD; output per request
    125 / 703 / 2000 -> x 10,000 x 0.138 / 1e6 = 0.1725 / 0.97014 / 2.76."""
    text = README.read_text(encoding="utf-8")
    first = re.search(r"```python\n(# ranges:[^\n]*)", text)
    assert first is not None
    assert printed_by(first.group(1)) == ["USD 1.19 USD 1.98 USD 3.77"]


def _recipes() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    found = re.findall(r"```python\n# recipe: (\S+)\n(.*?)```", text, re.S)
    return dict(found)


RECIPES = _recipes()
RECIPE_OUTPUT = {
    "langchain-openai": "A cat on a mat.",
    "pydantic-ai": "A cat on a mat.",
    "instructor": "cat 1",
    "openai-agents": "A cat on a mat.",
}


def test_every_framework_has_a_recipe() -> None:
    assert sorted(RECIPES) == sorted(RECIPE_OUTPUT)


def test_the_field_table_is_the_code_s() -> None:
    from vlmroute._wire.fields import fields_table

    assert fields_table() in README.read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RECIPE_OUTPUT))
def test_framework_recipe_runs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each recipe, as written, against a fake Zhipu (busy: 1302) and a fake OpenRouter."""
    from vlmroute.testing import FakeProvider, Fault

    answer = '{"animal": "cat", "count": 1}' if name == "instructor" else "A cat on a mat."
    with (
        FakeProvider("zhipu", answer=answer) as flash,
        FakeProvider("openrouter", answer=answer) as backup,
    ):
        flash.inject(Fault.rate_limit(), times=1)  # the free tier is busy once
        config = {
            "offers": [
                {"offer": "zhipu-flash", "base_url": flash.base_url},
                {"offer": "openrouter", "base_url": backup.base_url},
            ],
            "ledger": False,
        }
        (tmp_path / "router.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("ZHIPUAI_API_KEY", "test-key")
        monkeypatch.setenv("OPENROUTER_API_KEY", "test-key")
        out = io.StringIO()
        namespace: dict[str, Any] = {}
        with contextlib.redirect_stdout(out):
            exec(compile(RECIPES[name], f"README.md recipe {name}", "exec"), namespace)
        _close_clients(namespace)
        served = flash.stats.requests_seen + backup.stats.requests_seen
    assert out.getvalue().strip().splitlines()[-1] == RECIPE_OUTPUT[name]
    assert backup.stats.requests_seen >= 1  # the 1302 was failed over
    assert served >= 2


def _close_clients(namespace: dict[str, Any]) -> None:
    """Close the recipe's clients, and the event loop pydantic-ai's run_sync leaves set and
    open, as the end of a script would."""
    import vlmroute

    left_open: asyncio.AbstractEventLoop | None = None
    with warnings.catch_warnings(), contextlib.suppress(RuntimeError):  # RuntimeError: none set
        warnings.simplefilter("ignore", DeprecationWarning)
        left_open = asyncio.get_event_loop_policy().get_event_loop()
    seen: list[Any] = []
    for value in namespace.values():
        candidates = [value, getattr(value, "client", None), getattr(value, "_client", None)]
        seen += [c for c in candidates if isinstance(c, vlmroute.OpenAI | vlmroute.AsyncOpenAI)]
    for client in seen:
        if isinstance(client, vlmroute.OpenAI):
            client.close()
        else:
            asyncio.run(client.close())
    if left_open is not None and not left_open.is_running():
        left_open.close()
    asyncio.set_event_loop(None)


def test_readme_estimate_output_is_what_the_cli_prints() -> None:
    """The sample under "## The CLI": every line shown (not the elisions) is a line the
    command prints, at a terminal wide enough for the tables as shown."""
    import os
    import subprocess
    import sys

    command = (
        "vlmroute estimate --requests 10000 --image 1920x1080 --prompt-tokens 200 "
        "--output-tokens 1500 --deadline 2h"
    )
    text = README.read_text(encoding="utf-8")
    block = re.search(rf"```text\n\$ {re.escape(command)}\n(.*?)```", text, re.S)
    assert block is not None
    shown = [
        line
        for line in block.group(1).splitlines()
        if "..." not in line and not line.startswith(("Figures are", "slow end"))
    ]
    env = {**os.environ, "COLUMNS": "220"}
    args = [sys.executable, "-m", "vlmroute", *command.split()[1:]]
    printed = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    lines = printed.stdout.splitlines()
    assert len(shown) > 10
    assert [line for line in shown if line not in lines] == []
