"""Token costs of GLM-4.1V-9B-Thinking inputs: images, videos and text.

Re-exports only; each submodule says where its numbers come from.
"""

from __future__ import annotations

from vlmroute._tokens.image import (
    IMAGE_MAX_PIXELS,
    IMAGE_MIN_PIXELS,
    IMAGE_WRAPPER_TOKENS,
    MAX_ASPECT_RATIO,
    MAX_IMAGE_TOKENS,
    MIN_IMAGE_TOKENS,
    image_prompt_tokens,
    image_tokens,
    smart_resize,
)
from vlmroute._tokens.image_size import ImageSource, image_size, parse_size
from vlmroute._tokens.text import (
    TextTokenCounter,
    estimate_text_tokens,
    get_text_token_counter,
    set_text_token_counter,
    text_tokens,
)
from vlmroute._tokens.video import (
    MAX_VIDEO_TOKENS,
    VIDEO_MAX_PIXELS,
    VIDEO_MIN_PIXELS,
    VIDEO_WRAPPER_TOKENS,
    VideoTokens,
    video_tokens,
)

__all__ = [  # noqa: RUF022 - plain sorted(), the order tests/test_public_api.py checks
    "IMAGE_MAX_PIXELS",
    "IMAGE_MIN_PIXELS",
    "IMAGE_WRAPPER_TOKENS",
    "ImageSource",
    "MAX_ASPECT_RATIO",
    "MAX_IMAGE_TOKENS",
    "MAX_VIDEO_TOKENS",
    "MIN_IMAGE_TOKENS",
    "TextTokenCounter",
    "VIDEO_MAX_PIXELS",
    "VIDEO_MIN_PIXELS",
    "VIDEO_WRAPPER_TOKENS",
    "VideoTokens",
    "estimate_text_tokens",
    "get_text_token_counter",
    "image_prompt_tokens",
    "image_size",
    "image_tokens",
    "parse_size",
    "set_text_token_counter",
    "smart_resize",
    "text_tokens",
    "video_tokens",
]
