"""The README's Python snippet runs and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_library_snippet() -> None:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```python\n(import vlmroute\n.*?)```", text, re.S)
    assert block is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block.group(1), "README.md", "exec"), {})
    assert out.getvalue().splitlines() == [
        "2691",
        "26942",
        "USD 2.74",
        "[('zhipu-flash', 1110), ('openrouter', 8890)]",
    ]
