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
    BudgetExceededError,
    ConfigurationError,
    ContentFilteredError,
    ContextTooLongError,
    ImageError,
    InsufficientBalanceError,
    MalformedResponseError,
    NoRouteError,
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
    from ._backends import BackendOptions, ServerHealth, ServerLoad, Timeouts
    from ._client import AsyncClient, Client
    from ._dropin import AsyncOpenAI, OpenAI
    from ._estimate import (
        BreakEven,
        Calibration,
        Estimate,
        ImageSize,
        OfferEstimate,
        Plan,
        PlanStep,
        ProfileTokens,
        RequestProfile,
        VideoClip,
        Workload,
        calibrate,
        estimate,
    )
    from ._ledger import (
        Budget,
        Ledger,
        MemoryLedger,
        SpendRecord,
        SqliteLedger,
        default_ledger_path,
    )
    from ._pricing import Offer, PriceTable, default_pricing_path, load_pricing
    from ._request import ChatRequest, ImagePart, Message, TextPart, VideoPart, system, user
    from ._response import (
        AnswerDelta,
        Attempt,
        Box,
        ChatResponse,
        ReasoningDelta,
        StreamEnd,
        StreamEvent,
        Usage,
    )
    from ._retry import RetryPolicy
    from ._router import AsyncRouter, RoutePlan, Router, RouterConfig
    from ._run.api import BatchPlan, arun_batch, plan_batch, run_batch
    from ._run.runner import RunResult
    from ._tokens import (
        TextTokenCounter,
        VideoTokens,
        image_size,
        image_tokens,
        set_text_token_counter,
        text_tokens,
        video_tokens,
    )
    from ._wire.reply import Routing, routing
    from .money import FxTable, Money

__version__ = "0.1.0"

_LAZY = {
    "AnswerDelta": "._response",
    "AsyncClient": "._client",
    "AsyncOpenAI": "._dropin",
    "AsyncRouter": "._router",
    "Attempt": "._response",
    "BackendOptions": "._backends",
    "BatchPlan": "._run.api",
    "Box": "._response",
    "BreakEven": "._estimate",
    "Budget": "._ledger",
    "Calibration": "._estimate",
    "ChatRequest": "._request",
    "ChatResponse": "._response",
    "Client": "._client",
    "Estimate": "._estimate",
    "FxTable": ".money",
    "ImagePart": "._request",
    "ImageSize": "._estimate",
    "Ledger": "._ledger",
    "MemoryLedger": "._ledger",
    "Message": "._request",
    "Money": ".money",
    "Offer": "._pricing",
    "OfferEstimate": "._estimate",
    "OpenAI": "._dropin",
    "Plan": "._estimate",
    "PlanStep": "._estimate",
    "PriceTable": "._pricing",
    "ProfileTokens": "._estimate",
    "ReasoningDelta": "._response",
    "RequestProfile": "._estimate",
    "RetryPolicy": "._retry",
    "RoutePlan": "._router",
    "Router": "._router",
    "RouterConfig": "._router",
    "Routing": "._wire.reply",
    "RunResult": "._run.runner",
    "ServerHealth": "._backends",
    "ServerLoad": "._backends",
    "SpendRecord": "._ledger",
    "SqliteLedger": "._ledger",
    "StreamEnd": "._response",
    "StreamEvent": "._response",
    "TextPart": "._request",
    "TextTokenCounter": "._tokens",
    "Timeouts": "._backends",
    "Usage": "._response",
    "VideoClip": "._estimate",
    "VideoPart": "._request",
    "VideoTokens": "._tokens",
    "Workload": "._estimate",
    "arun_batch": "._run.api",
    "calibrate": "._estimate",
    "default_ledger_path": "._ledger",
    "default_pricing_path": "._pricing",
    "estimate": "._estimate",
    "image_size": "._tokens",
    "image_tokens": "._tokens",
    "load_pricing": "._pricing",
    "plan_batch": "._run.api",
    "routing": "._wire.reply",
    "run_batch": "._run.api",
    "set_text_token_counter": "._tokens",
    "system": "._request",
    "text_tokens": "._tokens",
    "user": "._request",
    "video_tokens": "._tokens",
}

__all__ = [
    "AnswerDelta",
    "AspectRatioError",
    "AsyncClient",
    "AsyncOpenAI",
    "AsyncRouter",
    "Attempt",
    "AuthenticationError",
    "BackendOptions",
    "BatchPlan",
    "Box",
    "BreakEven",
    "Budget",
    "BudgetExceededError",
    "Calibration",
    "ChatRequest",
    "ChatResponse",
    "Client",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextTooLongError",
    "Estimate",
    "FxTable",
    "ImageError",
    "ImagePart",
    "ImageSize",
    "InsufficientBalanceError",
    "Ledger",
    "MalformedResponseError",
    "MemoryLedger",
    "Message",
    "Money",
    "NoRouteError",
    "Offer",
    "OfferEstimate",
    "OpenAI",
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
    "ReasoningDelta",
    "RequestError",
    "RequestProfile",
    "RetryPolicy",
    "RoutePlan",
    "Router",
    "RouterConfig",
    "Routing",
    "RunResult",
    "ServerError",
    "ServerHealth",
    "ServerLoad",
    "SpendRecord",
    "SqliteLedger",
    "StreamEnd",
    "StreamEvent",
    "TextPart",
    "TextTokenCounter",
    "Timeouts",
    "UnreadableImageError",
    "Usage",
    "VideoClip",
    "VideoError",
    "VideoPart",
    "VideoTokens",
    "VlmrouteError",
    "Workload",
    "WorkloadError",
    "__version__",
    "arun_batch",
    "calibrate",
    "default_ledger_path",
    "default_pricing_path",
    "estimate",
    "image_size",
    "image_tokens",
    "load_pricing",
    "plan_batch",
    "routing",
    "run_batch",
    "set_text_token_counter",
    "system",
    "text_tokens",
    "user",
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
