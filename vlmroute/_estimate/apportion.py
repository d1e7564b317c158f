"""Whole numbers that split a total by shares (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

__all__ = ["apportion"]


def apportion(total: int, shares: Sequence[Decimal]) -> list[int]:
    """Split ``total`` by ``shares`` into integers that sum to it (largest remainder)."""
    weight = sum(shares)
    exact = [Decimal(total) * s / weight for s in shares]
    counts = [int(x) for x in exact]
    by_remainder = sorted(
        range(len(shares)), key=lambda i: (exact[i] - counts[i], -i), reverse=True
    )
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts
