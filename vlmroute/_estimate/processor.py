"""A workload's prompt tokens as one offer counts them (pure).

An offer whose server runs its own image pixel budget (``processor:`` in the table or the
router config, e.g. a vLLM server started with a smaller ``max_pixels``) sees fewer or more
image tokens than GLM-4.1V's published processor; its cost, time and context checks are
made with its own count. Video keeps the published budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._pricing.models import Offer
from .results import ProfileTokens
from .workload import RequestProfile

__all__ = ["on_offer"]


def on_offer(
    offer: Offer, mix: Sequence[RequestProfile], profiles: Sequence[ProfileTokens]
) -> tuple[ProfileTokens, ...]:
    """``profiles`` (one per profile of ``mix``) with their image tokens counted on ``offer``."""
    processor = offer.processor
    if processor is None:
        return tuple(profiles)
    recounted = []
    for profile, tokens in zip(mix, profiles, strict=True):
        images = sum(processor.image_prompt_tokens(i.width, i.height) for i in profile.images)
        recounted.append(
            tokens.model_copy(
                update={
                    "image_tokens": images,
                    "input_tokens": tokens.input_tokens - tokens.image_tokens + images,
                }
            )
        )
    return tuple(recounted)
