"""The workload cost estimator (pure: values in, values out; no I/O but the default table).

Prompt tokens per request are exact for images and video (GLM-4.1V's processor), plus the
chat template's fixed tokens and the stated text tokens. Cost uses each offer's own rates
and currency, converted with the table's dated FX rates. Time uses the offer's concurrency
cap and its latency figures, which are assumptions and are flagged as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from .._pricing.models import Offer, PriceTable
from .._tokens import IMAGE_WRAPPER_TOKENS, image_tokens, video_tokens
from ..errors import WorkloadError
from ..money import FxTable, Money, normalize_currency
from .apportion import apportion
from .breakeven import break_even
from .calibrate import Calibration
from .fits import why_not
from .plan import Lane
from .planner import make_plan
from .processor import on_offer
from .ranges import with_ranges
from .results import Estimate, OfferEstimate, Plan, ProfileTokens
from .spread import token_fields
from .workload import RequestProfile, Workload

__all__ = ["TEMPLATE_TOKENS", "estimate", "profile_tokens"]

#: ``[gMASK]<sop>`` + ``<|user|>\n`` + ``<|assistant|>\n`` (facts §4): 6 tokens a request.
TEMPLATE_TOKENS = 6


def profile_tokens(profile: RequestProfile, requests: int = 1) -> ProfileTokens:
    """Exact prompt tokens of one request of ``profile`` (text tokens as stated)."""
    images = sum(image_tokens(i.width, i.height) + IMAGE_WRAPPER_TOKENS for i in profile.images)
    video = 0
    if profile.video is not None:
        clip = profile.video
        video = video_tokens(
            clip.duration_s, clip.width, clip.height, src_fps=clip.fps
        ).prompt_tokens
    text = profile.prompt_tokens or 0
    return ProfileTokens(
        requests=requests,
        image_tokens=images,
        video_tokens=video,
        text_tokens=text,
        template_tokens=TEMPLATE_TOKENS,
        input_tokens=images + video + text + TEMPLATE_TOKENS,
        **token_fields(profile),  # the expected output, and its low and high ends
    )


def estimate(
    workload: Workload,
    pricing: PriceTable | None = None,
    *,
    currency: str = "USD",
    include_retired: bool = False,
    local_gpus: int = 0,
    calibration: Calibration | None = None,
) -> Estimate:
    """Cost and time of ``workload`` on every offer, the cheapest plan, and the break-even.

    ``local_gpus`` is how many local GPU servers the plan may use (0: the local offer is
    priced but not planned). Retired offers are shown but skipped unless ``include_retired``.
    ``calibration`` (:func:`vlmroute.calibrate`) replaces the table's latency assumptions
    with the ledger's measurements, and fills output tokens the workload does not state.
    """
    if pricing is None:
        from .._pricing.load import load_pricing

        pricing = load_pricing()
    if calibration is not None:
        pricing, workload = calibration.apply(pricing), calibration.workload(workload)
    display = normalize_currency(currency)
    fx = pricing.fx_table()
    fx.rate(display, display)  # a currency the table cannot convert to fails here, early
    if local_gpus < 0:
        raise WorkloadError(f"local_gpus must be 0 or more, got {local_gpus}")
    _check_tiers(workload, pricing)

    mix = workload.resolved_mix()
    counts = apportion(workload.requests, [p.share for p in mix])
    profiles = tuple(profile_tokens(p, n) for p, n in zip(mix, counts, strict=True))
    total_in = sum(p.input_tokens * p.requests for p in profiles)
    total_out = sum(p.output_tokens * p.requests for p in profiles)

    # Each offer's own count of the profiles (its image budget, if it declares a processor).
    counted = {key: on_offer(offer, mix, profiles) for key, offer in pricing.offers.items()}
    rows = [
        _offer_row(
            offer,
            workload,
            counted[key],
            mix=mix,
            fx=fx,
            display=display,
            include_retired=include_retired,
        )
        for key, offer in pricing.offers.items()
    ]
    plan = make_plan(
        pricing,
        rows,
        workload,
        profiles,
        counted,
        fx=fx,
        display=display,
        local_gpus=local_gpus,
        include_retired=include_retired,
    )
    plan = plan.model_copy(update={"left_out": _idle_local(pricing, rows, plan, local_gpus)})
    api_lanes = _plan_lanes(pricing, rows, profiles, local_gpus=0)
    gpu_seconds = _gpu_seconds_per_request(pricing, profiles)
    result = Estimate(
        requests=workload.requests,
        currency=display,
        fx_as_of=fx.as_of,
        profiles=profiles,
        input_tokens=total_in,
        output_tokens=total_out,
        offers=tuple(rows),
        plan=plan,
        break_even=None
        if gpu_seconds is None
        else break_even(
            pricing,
            rows,
            api_lanes,
            fx=fx,
            display=display,
            gpu_seconds_per_request=gpu_seconds,
            utilisation=workload.utilisation,
            gpus=max(local_gpus, 1),
            volume=workload.requests,
        ),
    )
    return with_ranges(result, pricing, fx=fx, local_gpus=local_gpus)


def _gpu_seconds_per_request(
    pricing: PriceTable, profiles: Sequence[ProfileTokens]
) -> float | None:
    """GPU time one request of the mix takes on the table's local GPU (prefill + decode share)."""
    gpu = next((o.local_gpu for o in pricing.offers.values() if o.local_gpu), None)
    if gpu is None:
        return None
    requests = sum(p.requests for p in profiles)
    decode = gpu.decode_tokens_per_s_per_stream * gpu.streams
    work = sum(
        (p.input_tokens / gpu.prefill_tokens_per_s + p.output_tokens / decode) * p.requests
        for p in profiles
    )
    return work / requests


def _check_tiers(workload: Workload, pricing: PriceTable) -> None:
    for provider, tier in workload.tiers.items():
        offers = [o for o in pricing.offers.values() if o.provider == provider]
        if not offers:
            known = ", ".join(sorted(pricing.providers()))
            raise WorkloadError(
                f"tiers: no provider {provider!r} in the pricing table (known: {known})"
            )
        for offer in offers:
            if tier not in offer.concurrency.tiers:
                names = ", ".join(offer.concurrency.tiers)
                raise WorkloadError(
                    f"tiers: {provider} has no tier {tier!r} for offer {offer.id} (tiers: {names})"
                )


def _skip_reason(
    offer: Offer,
    mix: Sequence[RequestProfile],
    profiles: Sequence[ProfileTokens],
    include_retired: bool,
) -> str | None:
    """Why ``offer`` cannot take the whole workload: retired, or some kind of its requests
    it cannot serve (the first such reason; the plan may still send it the others)."""
    if not offer.is_live and not include_retired:
        return f"retired on {offer.lifecycle.retired_on}"
    for profile, tokens in zip(mix, profiles, strict=True):
        if tokens.requests:
            reason = why_not(offer, profile, tokens)
            if reason is not None:
                return reason
    return None


def _offer_row(
    offer: Offer,
    workload: Workload,
    profiles: Sequence[ProfileTokens],
    *,
    mix: Sequence[RequestProfile],
    fx: FxTable,
    display: str,
    include_retired: bool,
) -> OfferEstimate:
    reason = _skip_reason(offer, mix, profiles, include_retired)
    total_in = sum(p.input_tokens * p.requests for p in profiles)
    total_out = sum(p.output_tokens * p.requests for p in profiles)
    native = offer.cost(total_in, total_out)
    cost = native.to(display, fx)
    tier = workload.tiers.get(offer.provider, offer.concurrency.default_tier)
    seconds = (
        sum(
            offer.latency.request_seconds(p.input_tokens, p.output_tokens) * p.requests
            for p in profiles
        )
        / workload.requests
    )
    lane = Lane(
        offer.id,
        Decimal(0),
        offer.cap(tier),
        seconds,
        offer.rate_limits.rpm,
        offer.rate_limits.tpm,
        (total_in + total_out) / workload.requests,
    )
    return OfferEstimate(
        offer_id=offer.id,
        provider=offer.provider,
        model=offer.model,
        live=offer.is_live,
        eligible=reason is None,
        skip_reason=reason,
        tier=tier,
        concurrency=offer.cap(tier),
        input_tokens=total_in,
        output_tokens=total_out,
        cost_native=native,
        cost=cost,
        cost_per_request=Money(cost.amount / workload.requests, display),
        request_seconds=seconds,
        makespan_s=lane.finish_seconds(workload.requests),
        assumptions=tuple(
            sorted(k for k, s in offer.sources.items() if s.confidence in ("assumption", "unknown"))
        ),
    )


def _plan_lanes(
    pricing: PriceTable,
    rows: Sequence[OfferEstimate],
    profiles: Sequence[ProfileTokens],
    local_gpus: int,
) -> list[Lane]:
    lanes = []
    tokens = sum((p.input_tokens + p.output_tokens) * p.requests for p in profiles)
    per_request_tokens = tokens / sum(p.requests for p in profiles)
    for row in rows:
        offer = pricing.offers[row.offer_id]
        if not row.eligible or (offer.is_local and local_gpus == 0):
            continue
        width = row.concurrency * (local_gpus if offer.is_local else 1)
        lanes.append(
            Lane(
                row.offer_id,
                row.cost_per_request.amount,
                width,
                row.request_seconds,
                offer.rate_limits.rpm,
                offer.rate_limits.tpm,
                per_request_tokens,
            )
        )
    return lanes


def _idle_local(
    pricing: PriceTable, rows: list[OfferEstimate], plan: Plan, local_gpus: int
) -> tuple[str, ...]:
    """Eligible local offers the plan did not use because it was given no GPUs, when they
    would have cost less per request than an offer the plan did use."""
    if local_gpus:
        return ()
    used = {s.offer_id for s in plan.steps}
    dearest = max((r.cost_per_request.amount for r in rows if r.offer_id in used), default=None)
    return tuple(
        f"{r.offer_id} ({r.cost_per_request} a request) is not in the plan: it needs local "
        "GPUs to run on; give local_gpus (--local-gpus N) to let the plan use it"
        for r in rows
        if r.eligible
        and pricing.offers[r.offer_id].is_local
        and (dearest is None or r.cost_per_request.amount < dearest or plan.unassigned)
    )
