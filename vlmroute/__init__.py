"""vlmroute: route GLM-4.1V-9B-Thinking requests, and know what a workload costs first.

This module only re-exports. Names load on first use (PEP 562), so ``import vlmroute`` stays
light: pydantic, yaml and the token math load when you touch them, never openai or httpx.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    AspectRatioError,
    AuthenticationError,
    ConfigurationError,
    ContentFilteredError,
    ContextTooLongError,
    ImageError,
    InsufficientBalanceError,
    OverloadedError,
    PricingError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    RequestError,
    ServerError,
    UnreadableImageError,
    VideoError,
    VlmrouteError,
    WorkloadError,
)

if TYPE_CHECKING:
    from ._estimate import (
        BreakEven,
        Estimate,
        ImageSize,
        OfferEstimate,
        Plan,
        PlanStep,
        ProfileTokens,
        RequestProfile,
        VideoClip,
        Workload,
        estimate,
    )
    from ._pricing import Offer, PriceTable, default_pricing_path, load_pricing
    from ._tokens import (
        TextTokenCounter,
        VideoTokens,
        image_size,
        image_tokens,
        set_text_token_counter,
        text_tokens,
        video_tokens,
    )
    from .money import FxTable, Money

__version__ = "0.1.0"

_LAZY = {
    "BreakEven": "._estimate",
    "Estimate": "._estimate",
    "FxTable": ".money",
    "ImageSize": "._estimate",
    "Money": ".money",
    "Offer": "._pricing",
    "OfferEstimate": "._estimate",
    "Plan": "._estimate",
    "PlanStep": "._estimate",
    "PriceTable": "._pricing",
    "ProfileTokens": "._estimate",
    "RequestProfile": "._estimate",
    "TextTokenCounter": "._tokens",
    "VideoClip": "._estimate",
    "VideoTokens": "._tokens",
    "Workload": "._estimate",
    "default_pricing_path": "._pricing",
    "estimate": "._estimate",
    "image_size": "._tokens",
    "image_tokens": "._tokens",
    "load_pricing": "._pricing",
    "set_text_token_counter": "._tokens",
    "text_tokens": "._tokens",
    "video_tokens": "._tokens",
}

__all__ = [
    "AspectRatioError",
    "AuthenticationError",
    "BreakEven",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextTooLongError",
    "Estimate",
    "FxTable",
    "ImageError",
    "ImageSize",
    "InsufficientBalanceError",
    "Money",
    "Offer",
    "OfferEstimate",
    "OverloadedError",
    "Plan",
    "PlanStep",
    "PriceTable",
    "PricingError",
    "ProfileTokens",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitedError",
    "RequestError",
    "RequestProfile",
    "ServerError",
    "TextTokenCounter",
    "UnreadableImageError",
    "VideoClip",
    "VideoError",
    "VideoTokens",
    "VlmrouteError",
    "Workload",
    "WorkloadError",
    "__version__",
    "default_pricing_path",
    "estimate",
    "image_size",
    "image_tokens",
    "load_pricing",
    "set_text_token_counter",
    "text_tokens",
    "video_tokens",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vlmroute' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
