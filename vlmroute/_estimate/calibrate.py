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
``prompt_drift`` flags an offer that counts images differently (a different pixel
budget: a vLLM server started with its own ``max_pixels``). The measuring itself, records
to figures, is :mod:`.measure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from .._pricing.models import Latency, Offer, PriceTable, Source
from .._tokens.text import estimate_text_tokens
from .workload import RequestProfile, Workload

if TYPE_CHECKING:  # types only: the pure core does not import the ledger's I/O
    from .._ledger.record import SpendRecord

__all__ = [
    "ALL",
    "DRIFT_THRESHOLD",
    "MIN_REQUESTS",
    "Calibration",
    "Drift",
    "Figures",
    "Measured",
    "TextTokens",
    "days",
    "drifted",
    "profile_shape",
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
            drifted(g.offer, g.media_prompt_ratio, threshold, self.min_requests)
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


def drifted(
    offer: str, ratio: Measured | None, threshold: float, min_requests: int
) -> Drift | None:
    if ratio is None or ratio.requests < min_requests or abs(ratio.mean - 1) <= threshold:
        return None
    return Drift(
        offer=offer, ratio=ratio.mean, requests=ratio.requests, since=ratio.since, until=ratio.until
    )
