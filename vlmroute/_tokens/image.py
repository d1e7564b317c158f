"""How many prompt tokens one image costs GLM-4.1V-9B-Thinking (pure math, no I/O).

The count is decided by the model's image processor, not by the model: the image is resized
so both sides are multiples of 28 px inside a pixel budget, cut into 14x14 patches, and every
2x2 block of patches becomes one ``<|image|>`` token. The chat template wraps the run of
``<|image|>`` tokens in ``<|begin_of_image|>`` ... ``<|end_of_image|>``.

:func:`smart_resize` is a line-for-line port of transformers' ``smart_resize`` (5.1 and
later, where sides under 28 px are scaled up instead of rejected). It repeats the same
IEEE-double operations in the same order (``int()`` truncation, Python's half-even
``round``, ``math.floor``/``math.ceil`` of float quotients), because a port that rounds
differently is off by a row or column of 28 px for some sizes.
"""

from __future__ import annotations

import math

from vlmroute.errors import AspectRatioError, ImageError, VideoError

__all__ = [
    "IMAGE_MAX_PIXELS",
    "IMAGE_MIN_PIXELS",
    "IMAGE_WRAPPER_TOKENS",
    "MAX_ASPECT_RATIO",
    "MAX_IMAGE_TOKENS",
    "MIN_IMAGE_TOKENS",
    "image_prompt_tokens",
    "image_tokens",
    "smart_resize",
]

IMAGE_WRAPPER_TOKENS = 2
"""``<|begin_of_image|>`` and ``<|end_of_image|>`` around every image."""

MAX_IMAGE_TOKENS = 6144
"""No image costs more ``<|image|>`` tokens than this (the published pixel budget)."""

MIN_IMAGE_TOKENS = 8
"""No image costs fewer ``<|image|>`` tokens than this (small images are scaled up)."""

MAX_ASPECT_RATIO = 200
"""Long side / short side above this (after the small-side upscale) is rejected."""

IMAGE_MIN_PIXELS = 12544
"""``size.shortest_edge`` of the published preprocessor config: a budget on 2*H'*W'."""

IMAGE_MAX_PIXELS = 9633792
"""``size.longest_edge`` of the published preprocessor config (14*14*2*2*2*6144)."""

_FACTOR = 28  # patch_size 14 * merge_size 2: resized sides are multiples of this
_TEMPORAL = 2  # temporal_patch_size: a still image is two identical frames


def _describe(value: object) -> str:
    """``repr(value)``, cut short so a bad argument never floods an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_side(name: str, value: object) -> None:
    """Raise :class:`ImageError` unless ``value`` is an ``int`` (not ``bool``) of at least 1."""
    if type(value) is not int or value < 1:
        raise ImageError(
            f"image {name} must be a whole number of pixels, at least 1; got {_describe(value)}"
        )


def _resize(
    height: int,
    width: int,
    *,
    num_frames: int,
    temporal_factor: int,
    factor: int,
    min_pixels: int,
    max_pixels: int,
) -> tuple[int, int]:
    """transformers' ``smart_resize`` without argument checks: returns ``(h', w')``."""
    if num_frames < temporal_factor:
        raise VideoError(
            f"{num_frames} frame(s) is fewer than the temporal patch size {temporal_factor}"
        )
    orig_height, orig_width = height, width
    if height < factor or width < factor:
        scale = max(factor / height, factor / width)
        height = int(height * scale)
        width = int(width * scale)
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT_RATIO:
        raise AspectRatioError(orig_width, orig_height, ratio)
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    t_bar = round(num_frames / temporal_factor) * temporal_factor
    if t_bar * h_bar * w_bar > max_pixels:
        beta = math.sqrt((num_frames * height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif t_bar * h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (num_frames * height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def smart_resize(
    height: int,
    width: int,
    *,
    num_frames: int = 2,
    temporal_factor: int = 2,
    factor: int = 28,
    min_pixels: int = IMAGE_MIN_PIXELS,
    max_pixels: int = IMAGE_MAX_PIXELS,
) -> tuple[int, int]:
    """The size ``(h', w')`` GLM-4.1V's processor resizes an image (or video frames) to.

    Both results are multiples of ``factor``. ``min_pixels``/``max_pixels`` bound
    ``num_frames * h' * w'`` (so for an image, with two frames, half of it bounds the area).
    Sides under ``factor`` are first scaled up so the short side reaches it.

    Raises:
        ImageError: a side is not an int of at least 1.
        AspectRatioError: long side / short side (after that upscale) is over 200; the
            error carries the ``width`` and ``height`` given here and the ratio checked.
        VideoError: ``num_frames`` is below ``temporal_factor``.
    """
    _check_side("height", height)
    _check_side("width", width)
    return _resize(
        height,
        width,
        num_frames=num_frames,
        temporal_factor=temporal_factor,
        factor=factor,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
    )


#: The most pixels an image may have. GLM-4.1V's processor opens images with Pillow, which
#: refuses ("DecompressionBombError") any image over twice its MAX_IMAGE_PIXELS default of
#: 89,478,485 pixels, so a larger image would be paid for and fail at the provider.
MAX_IMAGE_PIXELS = 2 * 89_478_485


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"image {width}x{height} has {width * height:,} pixels, over the "
            f"{MAX_IMAGE_PIXELS:,} that GLM-4.1V's image loader (Pillow) accepts before it "
            "refuses a decompression bomb: scale it down (the model sees at most about 4.8 "
            "megapixels of it anyway)"
        )


def image_tokens(
    width: int,
    height: int,
    *,
    min_pixels: int = IMAGE_MIN_PIXELS,
    max_pixels: int = IMAGE_MAX_PIXELS,
) -> int:
    """Number of ``<|image|>`` tokens a ``width`` x ``height`` image costs (8 to 6144).

    Arguments are in the order people say sizes: ``image_tokens(1920, 1080) == 2691``. The
    chat-template wrapper is not included: see :func:`image_prompt_tokens`.
    ``min_pixels``/``max_pixels`` are the processor's pixel budget (its ``size.shortest_edge``
    and ``size.longest_edge``, over the two temporal frames): GLM-4.1V's published ones by
    default; a server started with its own (vLLM's ``--mm-processor-kwargs``) counts with
    those.

    Raises:
        ImageError: a side is not an int of at least 1.
        AspectRatioError: the image is more than 200 times longer than wide (or the reverse).
        ImageError: over :data:`MAX_IMAGE_PIXELS`.
    """
    _check_side("width", width)
    _check_side("height", height)
    _check_pixels(width, height)
    h_bar, w_bar = _resize(
        height,
        width,
        num_frames=_TEMPORAL,
        temporal_factor=_TEMPORAL,
        factor=_FACTOR,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
    )
    return (h_bar // _FACTOR) * (w_bar // _FACTOR)


def image_prompt_tokens(
    width: int,
    height: int,
    *,
    min_pixels: int = IMAGE_MIN_PIXELS,
    max_pixels: int = IMAGE_MAX_PIXELS,
) -> int:
    """Prompt tokens one image adds: :func:`image_tokens` plus the 2 wrapper tokens."""
    tokens = image_tokens(width, height, min_pixels=min_pixels, max_pixels=max_pixels)
    return tokens + IMAGE_WRAPPER_TOKENS
