"""Typed chat responses and the parsing of GLM-4.1V's reasoning/answer/box markup."""

from .markup import BOX_BEGIN, BOX_END, Box, ThinkSplitter, parse_boxes, split_message
from .types import AnswerDelta, Attempt, ChatResponse, ReasoningDelta, StreamEnd, StreamEvent, Usage

__all__ = [
    "BOX_BEGIN",
    "BOX_END",
    "AnswerDelta",
    "Attempt",
    "Box",
    "ChatResponse",
    "ReasoningDelta",
    "StreamEnd",
    "StreamEvent",
    "ThinkSplitter",
    "Usage",
    "parse_boxes",
    "split_message",
]
