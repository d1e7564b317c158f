"""Whether an offer can take a request of a workload's profile, as the router decides it
(pure): its media, its output within the offer's limit, its prompt and output within the
context window.

With ``max_tokens`` on the profile the checks are the router's own: a ``max_tokens`` over
the offer's output limit rules it out (unless the table marks that limit unconfirmed, when
the router still tries it), and the context must hold the prompt plus ``max_tokens``.
Without it, the expected output stands in for both.
"""

from __future__ import annotations

from .._pricing.models import Offer
from .results import ProfileTokens
from .workload import RequestProfile

__all__ = ["why_not"]


def why_not(offer: Offer, profile: RequestProfile, tokens: ProfileTokens) -> str | None:
    """Why ``offer`` cannot take a request of ``profile`` (counted as ``tokens``), or None."""
    if profile.video is not None and "video" not in offer.modalities:
        return "does not take video"
    if profile.images and "image" not in offer.modalities:
        return "does not take images"
    cap = tokens.max_tokens
    if cap is not None:
        if cap > offer.max_output_tokens and not offer.output_limit_unconfirmed:
            return f"max_tokens {cap} is over its output limit {offer.max_output_tokens}"
        need = tokens.input_tokens + cap
        if need > offer.context_window:
            return (
                f"a request needs {need} tokens with its max_tokens; its context is "
                f"{offer.context_window}"
            )
        return None
    if tokens.output_tokens > offer.max_output_tokens:
        return (
            f"output of {tokens.output_tokens} tokens exceeds its max output "
            f"{offer.max_output_tokens}"
        )
    need = tokens.input_tokens + tokens.output_tokens
    if need > offer.context_window:
        return f"a request needs {need} tokens; its context is {offer.context_window}"
    return None
