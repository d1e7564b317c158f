"""Spend records to the figures of a :class:`~.calibrate.Calibration` (pure: records in,
figures out; see :mod:`.calibrate` for what is measured and how it is used)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .calibrate import (
    ALL,
    DRIFT_THRESHOLD,
    MIN_REQUESTS,
    Calibration,
    Drift,
    Figures,
    Measured,
    drifted,
    record_shape,
)

if TYPE_CHECKING:  # types only: the pure core does not import the ledger's I/O
    from .._ledger.record import Ledger, SpendRecord

__all__ = ["calibrate", "calibration_of", "prompt_drift", "quantile"]


def calibrate(
    source: Ledger | Iterable[SpendRecord],
    *,
    since: datetime | None = None,
    min_requests: int = MIN_REQUESTS,
) -> Calibration:
    """What ``source`` (a ledger, or spend records) measured since ``since`` (None: all).

    Pass the result to ``estimate(..., calibration=...)``, or use its ``apply(table)`` and
    ``workload(workload)``. A figure from fewer than ``min_requests`` requests is reported
    but not used.
    """
    records = source if isinstance(source, Iterable) else source.rows(since=since)
    return calibration_of(records, since=since, min_requests=min_requests)


def calibration_of(
    records: Iterable[SpendRecord],
    *,
    since: datetime | None = None,
    min_requests: int = MIN_REQUESTS,
) -> Calibration:
    """Figures per offer and shape, and pooled, from ``records`` that ended at or after
    ``since``; only successful requests on an offer count."""
    if min_requests < 1:
        raise ValueError(f"min_requests must be at least 1, got {min_requests}")
    read = [r for r in records if since is None or r.at >= since]
    used = sorted((r for r in read if r.ok and r.offer is not None), key=lambda r: r.at)
    groups: dict[tuple[str | None, str], list[_Sample]] = defaultdict(list)
    for record in used:
        shape, sample = record_shape(record), _sample(record)
        for offer in (record.offer, None):
            groups[offer, ALL].append(sample)
            if shape is not None:
                groups[offer, shape].append(sample)
    figures = tuple(
        _figures(offer, shape, rows)
        for (offer, shape), rows in sorted(groups.items(), key=lambda kv: _order(kv[0]))
    )
    return Calibration(
        since=since,
        records=len(read),
        measured=len(used),
        min_requests=min_requests,
        figures=figures,
    )


def prompt_drift(
    records: Iterable[SpendRecord],
    *,
    threshold: float = DRIFT_THRESHOLD,
    min_requests: int = MIN_REQUESTS,
) -> tuple[Drift, ...]:
    """Offers whose reported prompt tokens on image and video requests differ from the
    exact count by more than ``threshold`` on average (``vlmroute spend`` reports them).

    The same answer as ``calibration_of(records).drift()``, measuring only that figure:
    ``vlmroute spend`` runs it over every record it reads."""
    by_offer: dict[str, list[SpendRecord]] = defaultdict(list)
    for record in records:
        if record.ok and record.offer is not None and _has_media(record):
            by_offer[record.offer].append(record)
    found = (
        drifted(offer, _ratio_of(rows), threshold, min_requests)
        for offer, rows in sorted(by_offer.items())
    )
    return tuple(d for d in found if d is not None)


def _ratio_of(records: Sequence[SpendRecord]) -> Measured | None:
    ordered = sorted(records, key=lambda r: r.at)
    return _stat([r.at for r in ordered], [_prompt_ratio(r) for r in ordered])


def _order(key: tuple[str | None, str]) -> tuple[bool, str, bool, str]:
    offer, shape = key
    return offer is None, offer or "", shape != ALL, shape


@dataclass(frozen=True, slots=True)
class _Sample:
    """One record's figures, worked out once for the (up to four) groups it is in."""

    at: datetime
    start: float | None  # when it was sent, as a POSIX timestamp (None: no latency)
    end: float
    values: tuple[float | None, ...]  # in the order of the Figures fields below


def _sample(record: SpendRecord) -> _Sample:
    values = (
        record.ttft_s,
        _decode_rate(record),
        record.latency_s,
        record.completion_tokens,
        record.reasoning_tokens,
        _prompt_ratio(record),
        _text_ratio(record),
        _prompt_ratio(record) if _has_media(record) else None,
    )
    end, latency = record.at.timestamp(), record.latency_s
    return _Sample(
        at=record.at,
        start=end - latency if latency is not None and latency >= 0 else None,
        end=end,
        values=tuple(v if v is None or math.isfinite(v) else None for v in values),
    )


def _figures(offer: str | None, shape: str, samples: Sequence[_Sample]) -> Figures:
    """``samples`` in time order: a figure's span is its first and last present value."""
    ats = [s.at for s in samples]
    m = [_stat(ats, column) for column in zip(*(s.values for s in samples), strict=True)]
    return Figures(
        offer=offer,
        shape=shape,
        requests=len(samples),
        ttft_s=m[0],
        decode_tokens_per_s=m[1],
        latency_s=m[2],
        output_tokens=m[3],
        reasoning_tokens=m[4],
        prompt_ratio=m[5],
        text_ratio=m[6],
        media_prompt_ratio=m[7],
        concurrency=_peak_in_flight(samples),
    )


def _decode_rate(record: SpendRecord) -> float | None:
    """Completion tokens over the time after the first delta (a stream's only)."""
    ttft, latency = record.ttft_s, record.latency_s
    if ttft is None or latency is None or record.completion_tokens <= 0:
        return None
    decoding = latency - ttft
    return record.completion_tokens / decoding if decoding > 0 else None


def _prompt_ratio(record: SpendRecord) -> float | None:
    expected = record.expected_prompt_tokens
    if not expected or record.prompt_tokens <= 0:  # no usage reported: nothing to compare
        return None
    return record.prompt_tokens / expected


def _text_ratio(record: SpendRecord) -> float | None:
    expected, media = record.expected_prompt_tokens, record.media_tokens
    if expected is None or media is None or record.prompt_tokens <= 0 or expected <= media:
        return None
    return (record.prompt_tokens - media) / (expected - media)


def _has_media(record: SpendRecord) -> bool:
    return bool(record.images) or bool(record.videos)


def _stat(ats: Sequence[datetime], column: Sequence[float | None]) -> Measured | None:
    """Mean, p50 and p95 of the values that are there, and the span of their records
    (``ats``, in time order, one per value)."""
    values = sorted([v for v in column if v is not None])
    if not values:
        return None
    first = next(i for i, v in enumerate(column) if v is not None)
    last = len(column) - 1 - next(i for i, v in enumerate(reversed(column)) if v is not None)
    return Measured(
        requests=len(values),
        since=ats[first],
        until=ats[last],
        mean=math.fsum(values) / len(values),
        p50=quantile(values, 0.50),
        p95=quantile(values, 0.95),
    )


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values, interpolated between neighbours (numpy's
    default), so a p95 of 5 values is not simply the largest."""
    at = (len(ordered) - 1) * q
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def _peak_in_flight(samples: Sequence[_Sample]) -> int:
    """The most requests in flight at once, each from ``at - latency_s`` to ``at``; one
    that ended as another started did not overlap it."""
    edges: list[tuple[float, int]] = []
    for sample in samples:
        if sample.start is not None:
            edges += [(sample.start, 1), (sample.end, -1)]
    peak = now = 0
    for _, step in sorted(edges):  # at one instant, the -1 of an end sorts first
        now += step
        peak = max(peak, now)
    return peak
