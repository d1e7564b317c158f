"""Pricing: the typed table (pure) and its YAML loader (the file edge)."""

from .load import default_pricing_path, load_pricing, pricing_from_mapping
from .models import (
    Batch,
    Concurrency,
    FxSpec,
    Latency,
    Lifecycle,
    LocalGpu,
    Offer,
    PriceTable,
    Processor,
    RateLimits,
    Region,
    Source,
)

__all__ = [
    "Batch",
    "Concurrency",
    "FxSpec",
    "Latency",
    "Lifecycle",
    "LocalGpu",
    "Offer",
    "PriceTable",
    "Processor",
    "RateLimits",
    "Region",
    "Source",
    "default_pricing_path",
    "load_pricing",
    "pricing_from_mapping",
]
