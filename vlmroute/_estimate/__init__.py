"""The workload cost estimator: workloads in, costs, times, plans and break-even out."""

from .calibrate import Calibration, Drift, Figures, Measured
from .estimator import TEMPLATE_TOKENS, estimate, profile_tokens
from .measure import calibrate
from .results import BreakEven, Estimate, OfferEstimate, Plan, PlanStep, ProfileTokens
from .workload import ImageSize, RequestProfile, VideoClip, Workload, parse_duration

__all__ = [
    "TEMPLATE_TOKENS",
    "BreakEven",
    "Calibration",
    "Drift",
    "Estimate",
    "Figures",
    "ImageSize",
    "Measured",
    "OfferEstimate",
    "Plan",
    "PlanStep",
    "ProfileTokens",
    "RequestProfile",
    "VideoClip",
    "Workload",
    "calibrate",
    "estimate",
    "parse_duration",
    "profile_tokens",
]
