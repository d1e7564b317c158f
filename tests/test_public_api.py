"""The public surface: sorted __all__, every name resolves, and `import vlmroute` stays light."""

from __future__ import annotations

import subprocess
import sys

import vlmroute
import vlmroute.errors


def test_all_is_sorted_and_resolves() -> None:
    assert vlmroute.__all__ == sorted(vlmroute.__all__)
    for name in vlmroute.__all__:
        assert getattr(vlmroute, name) is not None, name
    assert sorted(dir(vlmroute)) == sorted(vlmroute.__all__)


def test_errors_all_is_sorted_and_complete() -> None:
    names = vlmroute.errors.__all__
    assert names == sorted(names)
    exported = {n for n in dir(vlmroute.errors) if n.endswith("Error")}
    assert exported == set(names)
    for name in names:
        assert issubclass(getattr(vlmroute.errors, name), vlmroute.VlmrouteError)


def test_aspect_ratio_error_is_a_value_error() -> None:
    assert issubclass(vlmroute.AspectRatioError, ValueError)
    assert issubclass(vlmroute.WorkloadError, ValueError)


def _loaded_after(code: str, modules: tuple[str, ...]) -> str:
    """Which of ``modules`` a fresh interpreter has imported after running ``code``."""
    check = f"import sys; {code}; print(','.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_is_light() -> None:
    heavy = ("openai", "httpx", "pydantic", "yaml", "tabulate", "PIL")
    assert _loaded_after("import vlmroute", heavy) == ""


def test_estimate_never_loads_openai_or_httpx() -> None:
    code = "import vlmroute; vlmroute.estimate(vlmroute.Workload(requests=1))"
    assert _loaded_after(code, ("openai", "httpx")) == ""


def test_a_router_on_the_default_edge_never_loads_httpx_or_openai() -> None:
    """httpx is the ``transport: httpx`` edge's, loaded only there (issue 13: start-up and
    memory); the router, its backends and a plan need neither it nor openai."""
    code = (
        "import vlmroute; r = vlmroute.AsyncRouter.from_config("
        "{'offers': [{'offer': 'zhipu-flash'}], 'ledger': False}, api_keys={'zhipu': 'k'}); "
        "r.plan([{'role': 'user', 'content': 'hi'}])"
    )
    assert _loaded_after(code, ("openai", "httpx", "httpx_aiohttp")) == ""


def test_the_error_tree_depends_on_nothing_of_vlmroute_s() -> None:
    """errors.py sits below everything that raises it (issue 12, part 6): it imports no
    vlmroute module, not even for type checking, so no import cycle can run through it."""
    import ast
    from pathlib import Path

    import vlmroute.errors

    tree = ast.parse(Path(vlmroute.errors.__file__).read_text(encoding="utf-8"))
    ours = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.level > 0 or (node.module or "").startswith("vlmroute"))
    ]
    assert ours == []
