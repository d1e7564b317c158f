"""Sessions: tests, lint, typecheck, bench. No Python-version matrix (see README)."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (pytest's exit code, 5 included, fails the session)."""
    session.install("-e", ".[test,images,frameworks,ray]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    # ray: vlmroute/ray.py and its test import it (Ray ships its types); nox types the noxfile
    session.install("-e", ".[typecheck,test,images,frameworks,ray]", "nox")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, printed as ratios against a baseline run in the same process."""
    session.install("-e", ".[test]")
    scripts = (
        "run.py",
        "transport.py",
        "router.py",
        "limits.py",
        "gateway.py",
        "batch.py",
        "dropin.py",
        "redis_store.py",
    )
    for script in scripts:
        if Path("benchmarks", script).exists():
            session.run("python", f"benchmarks/{script}", *session.posargs)
