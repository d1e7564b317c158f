"""Chat requests: messages, content parts and sampling parameters (validated, no I/O but
reading the image files a caller names)."""

from .parts import UNKNOWN_IMAGE_TOKENS, UNKNOWN_VIDEO_TOKENS, ImagePart, Part, TextPart, VideoPart
from .request import MAX_IMAGES, ChatRequest, Message, PromptTokens, system, user

__all__ = [
    "MAX_IMAGES",
    "UNKNOWN_IMAGE_TOKENS",
    "UNKNOWN_VIDEO_TOKENS",
    "ChatRequest",
    "ImagePart",
    "Message",
    "Part",
    "PromptTokens",
    "TextPart",
    "VideoPart",
    "system",
    "user",
]
