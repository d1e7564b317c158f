"""What a fake provider answers and how fast: one frozen value, checked when built (pure).

Text token counts are rough on purpose: a fake needs plausible, deterministic numbers, not
GLM's tokenizer; text is about 4 characters a token. An image sent inline (a data URI, or
Zhipu's raw base64) counts what GLM-4.1V's processor makes of its size, as the real
providers do, so an example comparing the estimate with the bill shows the estimator's real
error (text only); an image by URL counts :data:`IMAGE_TOKENS`, and a video
:data:`VIDEO_TOKENS`, whatever their size.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .faults import Fault

__all__ = [
    "ANSWER",
    "DIALECT_NAMES",
    "REASONING",
    "DialectName",
    "FakeConfig",
    "ReasoningField",
    "estimate_prompt_tokens",
    "text_tokens",
]

DialectName = Literal["zhipu", "openrouter", "siliconflow", "vllm", "sglang"]
DIALECT_NAMES: tuple[DialectName, ...] = get_args(DialectName)
#: Where reasoning goes: a message/delta field, or ``inline`` <think> tags in ``content``.
ReasoningField = Literal["reasoning_content", "reasoning", "inline"]
_REASONING_FIELDS: tuple[str, ...] = get_args(ReasoningField)

ANSWER = "The cat is on the mat."
REASONING = "Let me look at the image."
IMAGE_TOKENS = 1_000
VIDEO_TOKENS = 4_000
MESSAGE_TOKENS = 4  # role and template tokens around each message


@dataclass(frozen=True, slots=True)
class FakeConfig:
    """The behaviour of one fake provider (see :class:`vlmroute.testing.FakeProvider`)."""

    dialect: DialectName = "zhipu"
    latency_s: float = 0.0
    cap: int | None = None
    answer: str = ANSWER
    reasoning: str = REASONING
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    stream_chunks: int = 8
    chunk_delay_s: float = 0.0
    reasoning_field: ReasoningField | None = None
    cost_usd: float | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    #: The share of requests (0-1) that get ``fail_with`` at random, drawn from ``seed``.
    fail_rate: float = 0.0
    fail_with: Fault | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.dialect not in DIALECT_NAMES:
            known = ", ".join(DIALECT_NAMES)
            raise ValueError(f"unknown dialect {self.dialect!r} (known: {known})")
        if self.reasoning_field is not None and self.reasoning_field not in _REASONING_FIELDS:
            known = ", ".join(_REASONING_FIELDS)
            raise ValueError(f"unknown reasoning_field {self.reasoning_field!r} ({known})")
        if self.latency_s < 0 or self.chunk_delay_s < 0:
            raise ValueError("latency_s and chunk_delay_s must not be negative")
        if self.cap is not None and self.cap < 0:
            raise ValueError(f"cap must be None or at least 0, not {self.cap}")
        if self.stream_chunks < 1:
            raise ValueError(f"stream_chunks must be at least 1, not {self.stream_chunks}")
        for name in ("prompt_tokens", "completion_tokens"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")
        if self.cost_usd is not None and self.cost_usd < 0:
            raise ValueError("cost_usd must not be negative")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be between 0 and 1, not {self.fail_rate}")

    @property
    def random_fault(self) -> Fault:
        """What a random failure (``fail_rate``) plays: ``fail_with``, else an overload."""
        return self.fail_with or Fault.overloaded()


def text_tokens(text: str) -> int:
    """About 4 characters a token, rounded up; 0 for no text."""
    return math.ceil(len(text) / 4)


def estimate_prompt_tokens(body: Mapping[str, Any]) -> int:
    """A rough prompt size of a chat request: text, a flat count per image and video."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    total = 0
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        total += MESSAGE_TOKENS
        content = message.get("content")
        parts = [content] if isinstance(content, str) else content
        for part in parts if isinstance(parts, list) else []:
            total += _part_tokens(part)
    return total


def _image_tokens(image: Any) -> int:
    """GLM-4.1V's count for an inline image; :data:`IMAGE_TOKENS` for a URL or bad data."""
    from .._tokens import image_prompt_tokens, image_size
    from ..errors import ImageError

    url = image.get("url") if isinstance(image, Mapping) else image
    if not isinstance(url, str) or url[:8].lower().startswith(("http://", "https://")):
        return IMAGE_TOKENS
    try:
        data = url if url[:5].lower() == "data:" else base64.b64decode(url[:4096] + "==")
        return image_prompt_tokens(*image_size(data))
    except (ImageError, ValueError):
        return IMAGE_TOKENS


def _part_tokens(part: Any) -> int:
    if isinstance(part, str):
        return text_tokens(part)
    if not isinstance(part, Mapping):
        return 0
    kind = part.get("type")
    if kind == "image_url":
        return _image_tokens(part.get("image_url"))
    if kind == "video_url":
        return VIDEO_TOKENS
    text = part.get("text")
    return text_tokens(text) if isinstance(text, str) else 0
