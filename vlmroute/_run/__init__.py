"""``vlmroute run``: a whole workload through the router, priced first, resumable, within a
cost cap (see :mod:`.runner`)."""

from .price import price
from .results import RunFiles
from .runner import BatchRun, OfferActual, Progress, RunResult
from .scan import Scan, line_tokens, scan
from .source import BadLine, Line, image_lines, jsonl_lines

__all__ = [
    "BadLine",
    "BatchRun",
    "Line",
    "OfferActual",
    "Progress",
    "RunFiles",
    "RunResult",
    "Scan",
    "image_lines",
    "jsonl_lines",
    "line_tokens",
    "price",
    "scan",
]
