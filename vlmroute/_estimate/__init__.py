"""The workload cost estimator: workloads in, costs, times, plans and break-even out."""

from .estimator import TEMPLATE_TOKENS, estimate, profile_tokens
from .results import BreakEven, Estimate, OfferEstimate, Plan, PlanStep, ProfileTokens
from .workload import ImageSize, RequestProfile, VideoClip, Workload, parse_duration

__all__ = [
    "TEMPLATE_TOKENS",
    "BreakEven",
    "Estimate",
    "ImageSize",
    "OfferEstimate",
    "Plan",
    "PlanStep",
    "ProfileTokens",
    "RequestProfile",
    "VideoClip",
    "Workload",
    "estimate",
    "parse_duration",
    "profile_tokens",
]
