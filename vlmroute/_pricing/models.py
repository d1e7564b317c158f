"""Typed, frozen pricing table: offers, concurrency tiers, limits, batch APIs, sources, FX.

An *offer* is one provider serving one model id. Rates are per million tokens in the
provider's own currency. Every figure names its source and date in ``sources``; figures
that are assumptions say so (``confidence: assumption``) so estimates built on them can too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WrapSerializer,
    field_validator,
    model_validator,
)

from .._problems import problems
from .._tokens.image import IMAGE_MAX_PIXELS, IMAGE_MIN_PIXELS, image_prompt_tokens
from ..errors import ConfigurationError, PricingError
from ..money import FxTable, Money, normalize_currency

__all__ = [
    "Batch",
    "Concurrency",
    "FxSpec",
    "Latency",
    "LatencySpread",
    "Lifecycle",
    "LocalGpu",
    "Offer",
    "PriceTable",
    "RateLimits",
    "Region",
    "Source",
]

_V = TypeVar("_V")


def _read_only(value: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(value)


def _as_dict(value: Mapping[str, Any], handler: Any) -> Any:
    return handler(dict(value))


#: A mapping field of a frozen model: read-only after validation, a dict when dumped.
ReadOnlyMap = Annotated[Mapping[str, _V], AfterValidator(_read_only), WrapSerializer(_as_dict)]
NonNegDecimal = Annotated[Decimal, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
PosInt = Annotated[int, Field(gt=0)]
_MILLION = Decimal(1_000_000)
_HOURS_PER_MONTH = Decimal(730)  # 365 * 24 / 12

# The figures of an offer that must each name a source (checked at load).
FIGURES = (
    "input_per_mtok",
    "output_per_mtok",
    "context_window",
    "max_output_tokens",
    "concurrency",
    "latency",
    "lifecycle",
)


class _AtKeyPath(ValueError):
    """A model-level validation failure that knows which key it is about."""

    def __init__(self, key_path: str, message: str) -> None:
        self.key_path = key_path
        super().__init__(message)


def validate_table(data: object, file: str) -> PriceTable:
    """Validate table data; any problem becomes a PricingError naming file and key path."""
    try:
        return PriceTable.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        key_path = ".".join(str(part) for part in first["loc"])
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, _AtKeyPath):
            key_path = ".".join(filter(None, (key_path, cause.key_path)))
        listed = problems(exc)  # every problem, in plain words
        expected = listed[0].partition(": ")[2]
        if len(listed) > 1:
            expected += "; also " + "; ".join(listed[1:])
        raise PricingError(file, key_path, expected) from exc
    except ConfigurationError as exc:  # e.g. a malformed currency code
        raise PricingError(file, "", str(exc)) from exc


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class Source(_Frozen):
    """Where a figure came from, when, and how sure we are."""

    source: str = Field(min_length=1)
    as_of: date
    confidence: Literal["confirmed", "likely", "assumption", "unknown"]
    note: str | None = None


class Concurrency(_Frozen):
    """In-flight request caps per account tier (Zhipu counts requests in flight)."""

    tiers: ReadOnlyMap[PosInt] = Field(min_length=1)
    default_tier: str

    @model_validator(mode="after")
    def _default_is_a_tier(self) -> Self:
        if self.default_tier not in self.tiers:
            raise ValueError(
                f"default_tier {self.default_tier!r} is not one of the tiers {sorted(self.tiers)}"
            )
        return self

    def cap(self, tier: str | None = None) -> int:
        """The in-flight cap of ``tier`` (None: the default); ConfigurationError names the
        tiers there are."""
        name = self.default_tier if tier is None else tier
        try:
            return self.tiers[name]
        except KeyError:
            raise ConfigurationError(f"no tier {name!r} (tiers: {', '.join(self.tiers)})") from None


class RateLimits(_Frozen):
    """Requests and tokens per minute, where the provider publishes them (None = none known)."""

    rpm: PosInt | None = None
    tpm: PosInt | None = None


#: ``true``, ``false`` or ``unknown``: a fact the sources may not settle.
Tristate = Literal[True, False, "unknown"]


class Batch(_Frozen):
    """Whether the provider has a batch (offline, asynchronous) API, whether it takes this
    offer's model, and its published discount.

    ``api`` is about the provider, ``available`` about this offer's model: a provider can
    have a batch API whose model list does not (or is not shown to) include the model.
    ``discount`` is the fraction *off* the standard rates that the provider publishes for its
    batch API (0.5 = half price; batch rate = rate * (1 - discount)); it is recorded even
    while ``available`` is not true, so that settling ``available`` is the only change
    needed. Use :meth:`Offer.batch_discount`, which applies it only when both are recorded.
    ``models_seen`` lists the model ids the provider's batch documentation was seen to name.

    The default (everything unknown) records nothing and needs no source; anything else
    needs a ``sources.batch`` entry.
    """

    api: Tristate = "unknown"
    available: Tristate = "unknown"
    discount: Annotated[Decimal, Field(ge=0, lt=1)] | None = None
    models_seen: tuple[Annotated[str, Field(min_length=1)], ...] = ()

    @field_validator("api", "available", mode="before")
    @classmethod
    def _tristate(cls, value: object) -> object:
        # Literal[True, ...] would also take 1 and 0; a table says true, false or unknown.
        if value is True or value is False or value == "unknown":
            return value
        raise ValueError("must be true, false or unknown")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.api is False and (
            self.available is not False or self.discount is not None or self.models_seen
        ):
            raise ValueError(
                "api: false (no batch API) needs available: false, no discount and no models_seen"
            )
        if self.available is True and self.api is not True:
            raise ValueError("available: true needs api: true (the provider has a batch API)")
        return self

    @property
    def recorded(self) -> bool:
        """Whether this records any fact (and so must name a source)."""
        return self != Batch()


class Lifecycle(_Frozen):
    state: Literal["live", "retired"]
    retired_on: date | None = None

    @model_validator(mode="after")
    def _retired_has_date(self) -> Self:
        if self.state == "retired" and self.retired_on is None:
            raise ValueError("a retired offer needs retired_on: YYYY-MM-DD")
        return self


class LatencySpread(_Frozen):
    """How far assumed latency figures may be off, as factors of them: ``ttft_s: [0.5, 3]``
    is half to three times the time to first token, ``output_tokens_per_s: [0.5, 2]`` half
    to twice the decode speed. Factors rather than seconds, so that a table layered over
    this one that changes a figure keeps a range around its own figure."""

    ttft_s: tuple[PosFloat, PosFloat] = (1.0, 1.0)
    output_tokens_per_s: tuple[PosFloat, PosFloat] = (1.0, 1.0)

    @model_validator(mode="after")
    def _around_one(self) -> Self:
        for name in ("ttft_s", "output_tokens_per_s"):
            low, high = getattr(self, name)
            if not low <= 1 <= high:
                raise ValueError(f"{name}: [low, high] must have low <= 1 <= high (factors)")
        return self


class Latency(_Frozen):
    """Figures for estimating time, not measurements: time to first token and decode speed.

    ``spread`` is the range of those figures where they are assumptions: estimates time the
    low end with the fast ends and the high end with the slow ends (see :meth:`bounds`).
    """

    ttft_s: Annotated[float, Field(ge=0)]
    output_tokens_per_s: PosFloat
    prefill_tokens_per_s: PosFloat | None = None
    spread: LatencySpread | None = None

    def bounds(self) -> tuple[Latency, Latency]:
        """The fast and the slow ends of ``spread`` (both this one's figures without it)."""
        if self.spread is None:
            return self, self
        ttft_low, ttft_high = self.spread.ttft_s
        slowest, fastest = self.spread.output_tokens_per_s
        rate = self.output_tokens_per_s
        fast = {"ttft_s": self.ttft_s * ttft_low, "output_tokens_per_s": rate * fastest}
        slow = {"ttft_s": self.ttft_s * ttft_high, "output_tokens_per_s": rate * slowest}
        return self.model_copy(update=fast), self.model_copy(update=slow)

    def request_seconds(self, input_tokens: float, output_tokens: float) -> float:
        """Wall time of one request: first token (plus prefill if known), then decoding."""
        prefill = input_tokens / self.prefill_tokens_per_s if self.prefill_tokens_per_s else 0.0
        return self.ttft_s + prefill + output_tokens / self.output_tokens_per_s


class LocalGpu(_Frozen):
    """A self-hosted GPU: its per-token cost derives from an hourly price and throughput.

    GPU time per request = input / prefill_tokens_per_s + output / (streams * per-stream
    decode speed): prefill and batched decode share the GPU, so the times add.
    """

    gpu: str
    hour_price: NonNegDecimal
    currency: str
    decode_tokens_per_s_per_stream: PosFloat
    streams: PosInt
    prefill_tokens_per_s: PosFloat

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return normalize_currency(value)

    def input_per_mtok(self) -> Decimal:
        seconds = _MILLION / Decimal(str(self.prefill_tokens_per_s))
        return (self.hour_price * seconds / 3600).quantize(Decimal("0.000001"))

    def output_per_mtok(self) -> Decimal:
        aggregate = Decimal(str(self.decode_tokens_per_s_per_stream)) * self.streams
        return (self.hour_price * (_MILLION / aggregate) / 3600).quantize(Decimal("0.000001"))

    def monthly_cost(self) -> Money:
        """One GPU reserved for a month (730 h)."""
        return Money(self.hour_price * _HOURS_PER_MONTH, self.currency)


class Processor(_Frozen):
    """The image processor's pixel budget on the server behind an offer, when it is not
    GLM-4.1V's published one (a vLLM or SGLang server started with its own ``max_pixels``):
    ``min_pixels``/``max_pixels`` as the processor's ``size.shortest_edge``/``longest_edge``,
    a budget over the two temporal frames of a still image. With it, image tokens on this
    offer are counted as that server counts them. (Video keeps the published budget.)"""

    min_pixels: Annotated[int, Field(ge=1)] = IMAGE_MIN_PIXELS
    max_pixels: Annotated[int, Field(ge=1)] = IMAGE_MAX_PIXELS

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_pixels > self.max_pixels:
            raise ValueError(
                f"min_pixels ({self.min_pixels:,}) cannot exceed max_pixels ({self.max_pixels:,})"
            )
        return self

    @property
    def unknown_image_tokens(self) -> int:
        """What an image of unknown size is charged here: the most this budget allows
        (``max_pixels`` over 2 frames of 28x28 tokens), plus its 2 wrapper tokens."""
        return max(self.max_pixels // (2 * 28 * 28), 1) + 2

    def image_prompt_tokens(self, width: int, height: int) -> int:
        """Prompt tokens of one image of that size on this processor (with its wrapper)."""
        return image_prompt_tokens(
            width, height, min_pixels=self.min_pixels, max_pixels=self.max_pixels
        )


class Region(_Frozen):
    """Another endpoint of the same offer (Zhipu's z.ai, SiliconFlow's international site):
    its base URL, and the environment variables that hold keys for it (keys of one site do
    not work on the other)."""

    base_url: str = Field(pattern=r"^https?://")
    key_env: tuple[str, ...] = ()


class Offer(_Frozen):
    """One provider serving one model id, with its prices and limits. ``base_url`` is the
    default endpoint; ``regions`` names the others (``region: intl``)."""

    id: str
    provider: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    model: str = Field(min_length=1)
    base_url: str = Field(pattern=r"^https?://")
    currency: str
    input_per_mtok: NonNegDecimal
    output_per_mtok: NonNegDecimal
    context_window: PosInt
    max_output_tokens: PosInt
    concurrency: Concurrency
    rate_limits: RateLimits = RateLimits()
    batch: Batch = Batch()
    lifecycle: Lifecycle
    latency: Latency
    modalities: frozenset[Literal["text", "image", "video"]] = frozenset({"text", "image"})
    local_gpu: LocalGpu | None = None
    #: None: GLM-4.1V's published processor (see :class:`Processor`).
    processor: Processor | None = None
    regions: ReadOnlyMap[Region] = Field(default_factory=dict)
    sources: ReadOnlyMap[Source]

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return normalize_currency(value)

    @model_validator(mode="before")
    @classmethod
    def _derive_local_rates(cls, data: object) -> object:
        """A local offer's rates come from its GPU block unless given explicitly."""
        if isinstance(data, dict) and isinstance(data.get("local_gpu"), dict | LocalGpu):
            try:
                gpu = LocalGpu.model_validate(data["local_gpu"])
            except ValidationError:
                # Leave the rates to field validation, which reports local_gpu's own error
                # at its full key path (offers.<id>.local_gpu.<field>).
                return {"currency": "USD", "input_per_mtok": 0, "output_per_mtok": 0, **data}
            data = {
                "currency": gpu.currency,
                "input_per_mtok": gpu.input_per_mtok(),
                "output_per_mtok": gpu.output_per_mtok(),
                **data,
            }
        return data

    @model_validator(mode="after")
    def _every_figure_has_a_source(self) -> Self:
        missing = [name for name in FIGURES if name not in self.sources]
        has_limits = self.rate_limits.rpm is not None or self.rate_limits.tpm is not None
        if has_limits and "rate_limits" not in self.sources:
            missing.append("rate_limits")
        if self.local_gpu is not None and "local_gpu" not in self.sources:
            missing.append("local_gpu")
        if self.regions and "regions" not in self.sources:
            missing.append("regions")
        if self.batch.recorded and "batch" not in self.sources:
            missing.append("batch")
        if missing:
            raise ValueError(f"sources is missing an entry for: {', '.join(missing)}")
        if self.max_output_tokens > self.context_window:
            raise ValueError("max_output_tokens cannot exceed context_window")
        return self

    @property
    def is_live(self) -> bool:
        return self.lifecycle.state == "live"

    @property
    def is_free(self) -> bool:
        return self.input_per_mtok == 0 and self.output_per_mtok == 0

    @property
    def is_local(self) -> bool:
        return self.local_gpu is not None

    @property
    def output_limit_unconfirmed(self) -> bool:
        """Whether the table's output limit is a guess (Zhipu's 16K is from third parties:
        the real one may be higher, and then a larger max_tokens works there)."""
        source = self.sources.get("max_output_tokens")
        return source is not None and source.confidence in {"unknown", "assumption"}

    def batch_discount(self) -> Decimal | None:
        """The fraction off the standard rates for a batch request to this offer, or None
        unless the table shows both that the model is available in batch (``available:
        true``) and the discount. Nothing in vlmroute prices a batch discount otherwise."""
        if self.batch.available is True and self.batch.discount is not None:
            return self.batch.discount
        return None

    def cost(self, input_tokens: int | Decimal, output_tokens: int | Decimal) -> Money:
        """Charge for the given token counts, in the offer's own currency."""
        amount = (
            Decimal(input_tokens) * self.input_per_mtok
            + Decimal(output_tokens) * self.output_per_mtok
        ) / _MILLION
        return Money(amount, self.currency)

    def cap(self, tier: str | None = None) -> int:
        """The in-flight cap at ``tier``; ConfigurationError names this offer's tiers."""
        try:
            return self.concurrency.cap(tier)
        except ConfigurationError as exc:
            raise ConfigurationError(f"offer {self.id}: {exc}") from None


class FxSpec(_Frozen):
    base: str = "USD"
    as_of: date
    source: str = Field(min_length=1)
    confidence: Literal["confirmed", "likely", "assumption", "unknown"] = "assumption"
    rates: ReadOnlyMap[Annotated[Decimal, Field(gt=0)]]

    @field_validator("base")
    @classmethod
    def _base(cls, value: str) -> str:
        return normalize_currency(value)

    @field_validator("rates")
    @classmethod
    def _rate_codes(cls, value: Mapping[str, Decimal]) -> dict[str, Decimal]:
        return {normalize_currency(code): rate for code, rate in value.items()}

    def table(self) -> FxTable:
        return FxTable(base=self.base, as_of=self.as_of, rates=self.rates, source=self.source)


class PriceTable(_Frozen):
    """The whole table: offers by id and the FX rates to compare them."""

    schema_version: Literal[1] = 1
    as_of: date
    fx: FxSpec
    offers: ReadOnlyMap[Offer]

    @model_validator(mode="before")
    @classmethod
    def _ids_from_keys(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("offers"), dict):
            offers = {}
            for key, offer in data["offers"].items():
                offers[key] = {**offer, "id": key} if isinstance(offer, dict) else offer
            data = {**data, "offers": offers}
        return data

    @model_validator(mode="after")
    def _currencies_known(self) -> Self:
        fx = self.fx.table()
        for key, offer in self.offers.items():
            if not fx.knows(offer.currency):
                raise _AtKeyPath(
                    f"offers.{key}.currency",
                    f"{offer.currency} has no rate in fx.rates "
                    f"(known: {', '.join(sorted(fx.currencies))})",
                )
        return self

    def fx_table(self) -> FxTable:
        return self.fx.table()

    def offer(self, offer_id: str) -> Offer:
        try:
            return self.offers[offer_id]
        except KeyError:
            known = ", ".join(sorted(self.offers))
            raise ConfigurationError(
                f"no offer {offer_id!r} in the pricing table (known: {known})"
            ) from None

    def with_local_gpu(
        self,
        *,
        hour_price: Decimal | None = None,
        decode_tokens_per_s_per_stream: float | None = None,
        streams: int | None = None,
        prefill_tokens_per_s: float | None = None,
    ) -> PriceTable:
        """A copy whose local offers use these GPU figures; their rates are derived again.

        ``streams`` also sets the local offers' in-flight cap (every tier), and the speeds
        also set their latency figures, so a faster GPU is both cheaper and quicker.
        """
        changes = {
            "hour_price": hour_price,
            "decode_tokens_per_s_per_stream": decode_tokens_per_s_per_stream,
            "streams": streams,
            "prefill_tokens_per_s": prefill_tokens_per_s,
        }
        changes = {k: v for k, v in changes.items() if v is not None}
        offers: dict[str, object] = {}
        for key, offer in self.offers.items():
            if offer.local_gpu is None or not changes:
                offers[key] = offer
                continue
            data = offer.model_dump(exclude={"input_per_mtok", "output_per_mtok", "currency"})
            data["local_gpu"] = {**data["local_gpu"], **changes}
            if streams is not None and streams > 0:  # else local_gpu.streams reports it
                tiers = dict.fromkeys(data["concurrency"]["tiers"], streams)
                data["concurrency"] = {**data["concurrency"], "tiers": tiers}
            speeds = {
                "output_tokens_per_s": decode_tokens_per_s_per_stream,
                "prefill_tokens_per_s": prefill_tokens_per_s,
            }
            data["latency"] = {**data["latency"], **{k: v for k, v in speeds.items() if v}}
            offers[key] = data
        data = {**self.model_dump(exclude={"offers"}), "offers": offers}
        return validate_table(data, "<with_local_gpu>")

    def live_offers(self) -> list[Offer]:
        return [o for o in self.offers.values() if o.is_live]

    def providers(self) -> frozenset[str]:
        return frozenset(o.provider for o in self.offers.values())
