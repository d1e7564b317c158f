"""What a call cost, from reported usage and the pricing table (pure)."""

from __future__ import annotations

from decimal import Decimal

from ._pricing import Offer
from ._response import Usage
from .money import Money

__all__ = ["actual_cost"]


def actual_cost(offer: Offer, usage: Usage) -> Money:
    """The provider's own charge when it reports one, else usage times the offer's rates.

    OpenRouter reports ``usage.cost`` in credits, which are US dollars. Reasoning tokens are
    part of ``completion_tokens`` and billed as output everywhere this was documented.
    """
    if usage.cost is not None:
        return Money(Decimal(usage.cost), "USD")
    return offer.cost(usage.prompt_tokens, usage.completion_tokens)
