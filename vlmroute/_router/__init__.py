"""The router: configuration, the pure decision, slots, health, and the async/sync engines."""

from .config import BreakerPolicy, OfferConfig, RateLimitPolicy, RouterConfig, load_router_config
from .decide import Candidate, RoutePlan, Skip
from .router import AsyncRouter
from .sync import Router

__all__ = [
    "AsyncRouter",
    "BreakerPolicy",
    "Candidate",
    "OfferConfig",
    "RateLimitPolicy",
    "RoutePlan",
    "Router",
    "RouterConfig",
    "Skip",
    "load_router_config",
]
