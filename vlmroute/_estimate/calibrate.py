"""Figures learned from the spend ledger: what the pricing table and the workload assume,
measured on the requests the router really sent (pure: records in, a :class:`Calibration` out).

The table's latency figures (time to first token, decode speed) are assumptions, marked so
in each offer's ``sources``, and a workload's output tokens are the caller's guess. Every
routed request leaves one :class:`~vlmroute.SpendRecord` with the provider's token counts,
its latency, a stream's time to first delta, and vlmroute's own exact count of the prompt
it sent. From those records this module measures, per offer and per request shape (text
only, n images, video), and over every offer pooled:

- time to first token (streams), decode speed ``completion / (latency - ttft)`` (streams),
  latency, output and reasoning tokens per request: mean, p50 and p95;
- the concurrency actually reached: the most requests whose ``[at - latency_s, at]``
  overlap (``at`` is written when a request ends);
- the prompt-token ratio, reported / ``expected_prompt_tokens``, and the text-token ratio,
  ``(reported - media) / (expected - media)``: images and video are counted exactly, so
  what is left of a gap is vlmroute's estimate of the text.

Each figure says from how many requests and over what span it was measured; a figure from
fewer than ``min_requests`` requests is shown but not used. :meth:`Calibration.apply` makes
a table copy whose offers' latency figures are the measured ones, and
:meth:`Calibration.workload` fills the output tokens a workload did not state;
:func:`prompt_drift` flags an offer that counts images differently (a different pixel
budget: a vLLM server started with its own ``max_pixels``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from .._pricing.models import Latency, Offer, PriceTable, Source
from .._tokens.text import estimate_text_tokens
from .workload import RequestProfile, Workload

if TYPE_CHECKING:  # types only: the pure core does not import the ledger's I/O
    from .._ledger.record import Ledger, SpendRecord

__all__ = [
    "ALL",
    "DRIFT_THRESHOLD",
    "MIN_REQUESTS",
    "Calibration",
    "Drift",
    "Figures",
    "Measured",
    "TextTokens",
    "calibrate",
    "calibration_of",
    "days",
    "profile_shape",
    "prompt_drift",
    "record_shape",
]

#: The shape of a group over every request shape.
ALL = "all"
#: Requests a figure needs before it replaces an assumption.
MIN_REQUESTS = 5
#: How far (as a fraction) an offer's reported prompt tokens may stray from the exact count
#: on image and video requests, on average, before ``vlmroute spend`` says so.
DRIFT_THRESHOLD = 0.03


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Measured(_Frozen):
    """One figure over ``requests`` ledger records that ended from ``since`` to ``until``."""

    requests: int
    since: datetime
    until: datetime
    mean: float
    p50: float
    p95: float


class Figures(_Frozen):
    """What the ledger says of one offer (``offer``; None: every offer pooled), over one
    request shape (``"text"``, ``"1 image"``, ``"3 images"``, ``"video"``) or all of them
    (:data:`ALL`). A figure is None where no request could measure it: ``ttft_s`` and
    ``decode_tokens_per_s`` need streamed requests, the ratios records written since
    vlmroute counted prompts (ledger schema 5)."""

    offer: str | None
    shape: str
    requests: int
    ttft_s: Measured | None
    decode_tokens_per_s: Measured | None
    latency_s: Measured | None
    output_tokens: Measured | None
    reasoning_tokens: Measured | None
    prompt_ratio: Measured | None
    text_ratio: Measured | None
    #: The prompt ratio over the image and video requests alone (what drift is read from).
    media_prompt_ratio: Measured | None
    #: The most of these requests that were in flight at once.
    concurrency: int


@dataclass(frozen=True, slots=True)
class TextTokens:
    """A text token counter: vlmroute's approximation (what :func:`vlmroute.text_tokens`
    gives with no counter set) times ``ratio``."""

    ratio: float

    def __call__(self, text: str, /) -> int:
        return round(estimate_text_tokens(text) * self.ratio)


class Drift(_Frozen):
    """An offer whose reported prompt tokens for image and video requests stray from the
    exact count by more than the threshold, on average."""

    offer: str
    ratio: float
    requests: int
    since: datetime
    until: datetime

    @property
    def message(self) -> str:
        return (
            f"{self.offer}: reported prompt tokens of its image and video requests are "
            f"{self.ratio:.3f}x vlmroute's exact count ({self.requests:,} requests since "
            f"{self.since:%Y-%m-%d %H:%M} UTC); the likely cause is a different "
            "pixel budget (a vLLM or SGLang server started with a custom max_pixels, or a "
            "provider resizing images): check the server's processor settings, as estimates "
            "of image requests on this offer will be off by as much"
        )


class Calibration(_Frozen):
    """Figures measured from ledger records (see the module docstring).

    ``since`` is the start asked for (None: every record); ``records`` how many were read,
    ``measured`` how many of them succeeded on an offer and were used.
    """

    since: datetime | None
    records: int
    measured: int
    min_requests: int = MIN_REQUESTS
    figures: tuple[Figures, ...] = ()

    @property
    def empty(self) -> bool:
        return self.measured == 0

    def get(self, offer: str | None, shape: str = ALL) -> Figures | None:
        """The figures of ``offer`` (None: every offer pooled) over ``shape``."""
        return next((f for f in self.figures if f.offer == offer and f.shape == shape), None)

    def enough(self, figure: Measured | None) -> bool:
        """Whether ``figure`` rests on at least ``min_requests`` requests."""
        return figure is not None and figure.requests >= self.min_requests

    def apply(self, table: PriceTable) -> PriceTable:
        """A copy of ``table`` whose offers' latency figures are the measured medians, where
        ``min_requests`` streamed requests measured them; else, where as many non-streamed
        requests measured the latency, a decode speed fitted to it
        (:meth:`fitted_latency`); the rest stay as they are.

        A measured time to first token includes the prompt's prefill, so a calibrated
        offer's ``prefill_tokens_per_s`` is dropped rather than counted twice; and its
        ``spread`` (the range of an assumed figure) with it: the figures are measured."""
        offers: dict[str, Offer] = {}
        for key, offer in table.offers.items():
            measured = self.latency(key)
            if measured is not None:
                ttft, decode = measured
                latency = Latency(ttft_s=ttft.p50, output_tokens_per_s=decode.p50)
                source = _measured_source(ttft, decode)
            else:
                fitted = self.fitted_latency(key, offer.latency)
                if fitted is None:
                    offers[key] = offer
                    continue
                latency, source = fitted
            sources = {**offer.sources, "latency": source}
            update = {"latency": latency, "sources": MappingProxyType(sources)}
            offers[key] = offer.model_copy(update=update)
        return table.model_copy(update={"offers": MappingProxyType(offers)})

    def fitted_latency(self, offer: str, table: Latency) -> tuple[Latency, Source] | None:
        """Where no streamed request measured the time to first token (a ledger of
        ``vlmroute run``'s answers, none streamed), the decode speed that makes the table's
        time to first token plus the median output match the median latency measured on
        ``min_requests`` requests; None where they did not, or the latency is not above the
        table's time to first token (nothing to fit)."""
        found = self.get(offer)
        if found is None or found.latency_s is None or found.output_tokens is None:
            return None
        latency, output = found.latency_s, found.output_tokens
        if not (self.enough(latency) and self.enough(output)):
            return None
        decoding = latency.p50 - table.ttft_s
        if decoding <= 0 or output.p50 <= 0:
            return None
        rate = output.p50 / decoding
        source = Source(
            source=(
                f"fitted: {latency.requests:,} requests in the spend ledger, "
                f"{days(latency.since, latency.until)}"
            ),
            as_of=latency.until.date(),
            confidence="assumption",  # half measured: the time to first token is the table's
            note=(
                f"median latency {latency.p50:.3g} s over a median {output.p50:.0f} output "
                f"tokens, less the table's assumed {table.ttft_s:.3g} s to first token: "
                f"{rate:.3g} tokens/s; stream some requests to measure both"
            ),
        )
        return Latency(ttft_s=table.ttft_s, output_tokens_per_s=rate), source

    def latency(self, offer: str) -> tuple[Measured, Measured] | None:
        """The measured time to first token and decode speed of ``offer``, where both rest
        on ``min_requests`` requests, else None (the table's figures stay)."""
        found = self.get(offer)
        if found is None or found.ttft_s is None or found.decode_tokens_per_s is None:
            return None
        if not (self.enough(found.ttft_s) and self.enough(found.decode_tokens_per_s)):
            return None
        return found.ttft_s, found.decode_tokens_per_s

    def output_tokens(self, shape: str) -> tuple[int, int | None] | None:
        """Mean output and reasoning tokens of a request of ``shape`` over every offer (the
        pooled figure of all shapes where this one has too few requests), or None."""
        for group in (self.get(None, shape), self.get(None, ALL)):
            if group is None or group.output_tokens is None:
                continue
            if self.enough(group.output_tokens):
                output = round(group.output_tokens.mean)
                reasoning = group.reasoning_tokens
                if reasoning is None or not self.enough(reasoning):
                    return output, None
                return output, min(round(reasoning.mean), output)
        return None

    def workload(self, workload: Workload) -> Workload:
        """``workload`` with the measured output tokens in each profile that states none
        (neither it nor the workload), for that profile's shape."""
        if "output_tokens" in workload.model_fields_set:
            return workload
        mix = []
        for profile in workload.mix:
            measured = None if profile.output_tokens is not None else self._for(profile)
            if measured is None:
                mix.append(profile)
                continue
            output, reasoning = measured
            if profile.reasoning_tokens is not None or workload.reasoning_tokens is not None:
                reasoning = None  # stated: kept
            update: dict[str, Any] = {"output_tokens": output}
            if reasoning is not None:
                update["reasoning_tokens"] = reasoning
            mix.append(profile.model_copy(update=update))
        data = {**workload.model_dump(exclude_unset=True), "mix": mix}
        return Workload.from_mapping(data, source="the workload with measured output tokens")

    def _for(self, profile: RequestProfile) -> tuple[int, int | None] | None:
        return self.output_tokens(profile_shape(profile))

    def text_token_counter(self) -> TextTokens | None:
        """vlmroute's text approximation scaled by the text ratio the ledger measured (the
        median over every offer: what providers reported for a prompt's text, over
        vlmroute's estimate of it), where ``min_requests`` requests measured it; else None.
        ``vlmroute.set_text_token_counter(calibration.text_token_counter())`` then makes
        the router's quotes, its budget reservations and ``vlmroute run``'s pricing count
        text as the providers did."""
        pooled = self.get(None)
        ratio = None if pooled is None else pooled.text_ratio
        if ratio is None or not self.enough(ratio):
            return None
        return TextTokens(ratio.p50)

    def drift(self, threshold: float = DRIFT_THRESHOLD) -> tuple[Drift, ...]:
        """Offers whose image and video requests' prompt ratio strays past ``threshold``."""
        found = (
            _drifted(g.offer, g.media_prompt_ratio, threshold, self.min_requests)
            for g in self.figures
            if g.offer is not None and g.shape == ALL
        )
        return tuple(d for d in found if d is not None)


def _measured_source(ttft: Measured, decode: Measured) -> Source:
    return Source(
        source=(
            f"measured: {decode.requests:,} streamed requests in the spend ledger, "
            f"{days(decode.since, decode.until)}"
        ),
        as_of=decode.until.date(),
        confidence="likely",
        note=(
            f"median time to first token {ttft.p50:.3g} s (p95 {ttft.p95:.3g} s) and decode "
            f"speed {decode.p50:.3g} tokens/s (p95 {decode.p95:.3g}); the time to first "
            "token includes prefill"
        ),
    )


def days(since: datetime, until: datetime) -> str:
    """``on 2026-11-30``, or ``2026-11-30 to 2026-12-01``: the UTC days a figure spans."""
    first, last = f"{since:%Y-%m-%d}", f"{until:%Y-%m-%d}"
    return f"on {first}" if first == last else f"{first} to {last}"


# ---------------------------------------------------------------------------- shapes


def _shape(images: int, video: bool) -> str:
    if video:
        return "video"
    if images == 0:
        return "text"
    return f"{images} image" + ("s" if images > 1 else "")


def record_shape(record: SpendRecord) -> str | None:
    """``"text"``, ``"n images"`` or ``"video"``; None for a record written before the
    ledger kept a request's media (schema 5)."""
    if record.images is None and record.videos is None:
        return None
    return _shape(record.images or 0, bool(record.videos))


def profile_shape(profile: RequestProfile) -> str:
    """The shape of a workload profile's requests, named as :func:`record_shape` names it."""
    return _shape(len(profile.images), profile.video is not None)


# ---------------------------------------------------------------------------- measuring


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
        _drifted(offer, _ratio_of(rows), threshold, min_requests)
        for offer, rows in sorted(by_offer.items())
    )
    return tuple(d for d in found if d is not None)


def _ratio_of(records: Sequence[SpendRecord]) -> Measured | None:
    ordered = sorted(records, key=lambda r: r.at)
    return _stat([r.at for r in ordered], [_prompt_ratio(r) for r in ordered])


def _drifted(
    offer: str, ratio: Measured | None, threshold: float, min_requests: int
) -> Drift | None:
    if ratio is None or ratio.requests < min_requests or abs(ratio.mean - 1) <= threshold:
        return None
    return Drift(
        offer=offer, ratio=ratio.mean, requests=ratio.requests, since=ratio.since, until=ratio.until
    )


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
