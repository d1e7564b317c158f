"""Builders for small, synthetic pricing tables (tests only)."""

from __future__ import annotations

from typing import Any

from vlmroute._pricing import PriceTable, pricing_from_mapping
from vlmroute._pricing.models import FIGURES

_SOURCE = {"source": "test", "as_of": "2026-01-01", "confidence": "assumption"}


def offer(
    *,
    provider: str = "p",
    currency: str = "USD",
    input_per_mtok: str | int = 0,
    output_per_mtok: str | int = 0,
    cap: int = 1,
    ttft_s: float = 1.0,
    output_tokens_per_s: float = 100.0,
    prefill_tokens_per_s: float | None = None,
    context_window: int = 65536,
    max_output_tokens: int = 16384,
    state: str = "live",
    rpm: int | None = None,
    local_gpu: dict[str, Any] | None = None,
    modalities: tuple[str, ...] = ("text", "image", "video"),
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "provider": provider,
        "kind": "openai-compatible",
        "model": f"{provider}/glm-4.1v",
        "base_url": "http://127.0.0.1:9/v1",
        "context_window": context_window,
        "max_output_tokens": max_output_tokens,
        "concurrency": {"tiers": {"T0": cap, "T1": cap * 2}, "default_tier": "T0"},
        "lifecycle": {
            "state": state,
            **({"retired_on": "2026-01-01"} if state == "retired" else {}),
        },
        "latency": {
            "ttft_s": ttft_s,
            "output_tokens_per_s": output_tokens_per_s,
            **({"prefill_tokens_per_s": prefill_tokens_per_s} if prefill_tokens_per_s else {}),
        },
        "modalities": list(modalities),
        "sources": dict.fromkeys(FIGURES, _SOURCE),
    }
    if rpm:
        data["rate_limits"] = {"rpm": rpm}
    if local_gpu is None:
        data.update(
            currency=currency,
            input_per_mtok=str(input_per_mtok),
            output_per_mtok=str(output_per_mtok),
        )
    else:
        data["local_gpu"] = local_gpu
        data["sources"]["local_gpu"] = _SOURCE
    return data


def table(offers: dict[str, dict[str, Any]], cny_per_usd: str = "0.125") -> PriceTable:
    return pricing_from_mapping(
        {
            "schema_version": 1,
            "as_of": "2026-01-01",
            "fx": {
                "base": "USD",
                "as_of": "2026-01-01",
                "source": "test",
                "rates": {"USD": "1", "CNY": cny_per_usd},
            },
            "offers": offers,
        },
        extends=False,
    )
