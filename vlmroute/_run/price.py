"""A scanned workload priced by the estimator, on the router's own offers (pure)."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from .._estimate import TEMPLATE_TOKENS, Estimate, Workload, estimate
from ..errors import WorkloadError
from .scan import Scan

if TYPE_CHECKING:
    from .._router import AsyncRouter

__all__ = ["price"]


def price(found: Scan, router: AsyncRouter, *, deadline_s: float | None = None) -> Estimate:
    """The estimate of exactly the scanned requests, on the offers ``router`` is configured
    with (their tiers; a local GPU offer plans one server): per-offer cost and time and the
    cheapest plan for ``deadline_s``.

    Each group of requests of one shape is two profiles, at the floor and the ceiling of its
    mean prompt tokens, in the counts that make their sum exact: the cost is the file's, not
    an average's."""
    if found.requests == 0:
        raise WorkloadError("nothing to run: the input has no request left to send")
    mix: list[dict[str, object]] = []
    for group in found.groups.values():
        # The estimator adds the chat template's tokens to each request; the scan counted them.
        text = max(group.prompt_tokens - TEMPLATE_TOKENS * group.requests, 0)
        low, extra = divmod(text, group.requests)
        for count, tokens in ((group.requests - extra, low), (extra, low + 1)):
            if count:
                profile = {"share": count, "prompt_tokens": tokens}
                mix.append({**profile, "output_tokens": group.output_tokens})
    tiers = {e.offer: e.tier for e in router.config.offers if e.tier is not None}
    workload = Workload.model_validate(
        {"requests": found.requests, "mix": mix, "deadline_s": deadline_s, "tiers": tiers}
    )
    ours = dict(router.offers)
    table = router.pricing.model_copy(update={"offers": MappingProxyType(ours)})
    local = sum(1 for offer in router.offers.values() if offer.is_local)
    return estimate(workload, table, currency=router.config.currency, local_gpus=local)
