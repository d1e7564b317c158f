"""Fixtures shared by the HTTP-level tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

#: Every environment variable a provider key may come from.
KEY_ENV = (
    "ZHIPUAI_API_KEY",
    "ZAI_API_KEY",
    "OPENROUTER_API_KEY",
    "SILICONFLOW_API_KEY",
    "VLMROUTE_LOCAL_API_KEY",
)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    """respx over httpx, the transport the backends use when given ``transport="httpx"``."""
    with respx.mock(using="httpx", assert_all_called=False) as m:
        yield m


@pytest.fixture
def no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key from this machine's environment reaches the test."""
    for name in KEY_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _whole_table_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables print whole unless a test sets COLUMNS (a developer's shell may export it)."""
    monkeypatch.delenv("COLUMNS", raising=False)
