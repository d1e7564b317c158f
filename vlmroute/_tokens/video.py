"""How many prompt tokens one video costs GLM-4.1V-9B-Thinking (pure math, no I/O).

A port of transformers' ``Glm4vVideoProcessor.sample_frames`` and
``Glm4vProcessor.replace_video_token``:

1. Frames are sampled at 2 per second (at most 300 s worth; a longer clip gets 600 frames
   spread evenly over its whole length), duplicates are dropped, and an odd count is padded
   by repeating the last frame, so the number of frames ``T`` is even.
2. All ``T`` frames are resized with one :func:`~vlmroute._tokens.image.smart_resize` whose
   budget (47,040,000) covers ``T*H'*W'``: the visual part stays within 30,000 tokens, except
   for very narrow frames (see :data:`MAX_VIDEO_TOKENS`).
3. Each pair of frames (a *group*) becomes
   ``<|begin_of_image|>`` + N x ``<|image|>`` + ``<|end_of_image|>`` + ``str(int(t))``, where
   ``t`` is the source time of the first frame of the pair; ``<|begin_of_video|>`` and
   ``<|end_of_video|>`` surround the whole clip.

The processor sees frame indices, not seconds. This module models a clip of ``duration_s``
seconds at ``src_fps`` as ``total_frames = max(1, round(duration_s * src_fps))`` frames whose
duration is ``total_frames / src_fps``: that is how transformers' video loaders fill
``VideoMetadata`` (``duration = total_num_frames / fps``), so the estimate matches what the
processor computes for a real file with that frame count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmroute._tokens.image import _resize
from vlmroute.errors import VideoError

__all__ = [
    "MAX_VIDEO_TOKENS",
    "VIDEO_MAX_PIXELS",
    "VIDEO_MIN_PIXELS",
    "VIDEO_WRAPPER_TOKENS",
    "VideoTokens",
    "video_tokens",
]

VIDEO_MIN_PIXELS = 12544
"""``size.shortest_edge`` of the published video preprocessor config."""

VIDEO_MAX_PIXELS = 47_040_000
"""``size.longest_edge`` of the published video config: a budget on T*H'*W' for the clip."""

MAX_VIDEO_TOKENS = 30_000
"""The ``<|image|>`` budget of one video (47,040,000 / (2*28*28)).

Only a frame so narrow that its short side stays at the 28 px minimum when the budget scales
the frame down can exceed it (``smart_resize`` clamps that side to 28 after the floor): up to
42,300 tokens for a 600-frame clip at aspect ratio 200, e.g. 28x5600.
"""

VIDEO_WRAPPER_TOKENS = 2
"""``<|begin_of_video|>`` and ``<|end_of_video|>`` around the whole clip."""

_SAMPLE_FPS = 2  # Glm4vVideoProcessor.fps
_MAX_DURATION_S = 300  # Glm4vVideoProcessor.max_duration
_GROUP_WRAPPER_TOKENS = 2  # <|begin_of_image|> and <|end_of_image|> around each group
_FACTOR = 28
_PATCH = 14
_TEMPORAL = 2


@dataclass(frozen=True, slots=True)
class VideoTokens:
    """The token plan of one video, as GLM-4.1V's processor would build it.

    ``grid_thw`` is ``video_grid_thw``: (groups, H'/14, W'/14). ``tokens_per_group`` is the
    number of ``<|image|>`` tokens in each group, ``visual_tokens`` their total, and
    ``prompt_tokens`` everything the video adds to the prompt: visual tokens, two wrapper
    tokens per group, the timestamp strings and the two video wrapper tokens.
    """

    frames_sampled: int
    grid_thw: tuple[int, int, int]
    tokens_per_group: int
    visual_tokens: int
    timestamp_tokens: int
    prompt_tokens: int
    timestamps: tuple[int, ...]

    @property
    def groups(self) -> int:
        """Number of frame pairs, each with its own wrapper and timestamp."""
        return self.grid_thw[0]


def _linspace(stop: float, num: int) -> list[float]:
    """``numpy.linspace(0, stop, num)`` with numpy's float operations, for ``num >= 2``."""
    step = stop / (num - 1)
    values = [i * step for i in range(num)]
    values[-1] = stop
    return values


def _sample_indices(total_frames: int, src_fps: float) -> list[int]:
    """Frame indices ``Glm4vVideoProcessor.sample_frames`` picks, deduplicated, even count."""
    last = total_frames - 1
    duration = total_frames / src_fps
    if duration <= _MAX_DURATION_S:
        count = max(math.floor(duration * _SAMPLE_FPS), 1)
        indices = [min(last, math.ceil(i * src_fps / _SAMPLE_FPS)) for i in range(count)]
    else:
        num_samples = _MAX_DURATION_S * _SAMPLE_FPS
        if num_samples >= total_frames:
            indices = list(range(total_frames))
        else:
            seconds = _linspace(duration, num_samples)
            indices = [min(last, math.ceil(t * src_fps)) for t in seconds]
    unique = list(dict.fromkeys(indices))
    if len(unique) % 2:
        unique.append(unique[-1])
    return unique


def _timestamp_tokens(seconds: int) -> int:
    """Estimated tokens of ``str(seconds)``: one per chunk of 1-3 digits.

    GLM-4's pre-tokenizer splits numbers into 1-3 digit pieces; that each piece is a single
    vocabulary entry is an assumption that was NOT verified against the real tokenizer.
    """
    return -(-len(str(seconds)) // 3)


def _check_positive(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number above 0, else :class:`VideoError`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise VideoError(f"video {name} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise VideoError(f"video {name} must be a finite number above 0, got {value!r}")
    return number


def _check_size(name: str, value: object) -> int:
    """``value`` if it is an int (not bool) of at least 1 pixel, else :class:`VideoError`."""
    if type(value) is not int or value < 1:
        text = repr(value)[:60]
        raise VideoError(f"video {name} must be a whole number of pixels, at least 1; got {text}")
    return value


def video_tokens(
    duration_s: float, width: int, height: int, *, src_fps: float = 30.0
) -> VideoTokens:
    """The token plan of a ``duration_s``-second ``width`` x ``height`` clip at ``src_fps``.

    ``video_tokens(10, 1920, 1080).prompt_tokens == 26942``. Timestamp tokens are an
    estimate (one token per 1-3 digit chunk, unverified against GLM-4's vocabulary); every
    other count is exactly what transformers' processor produces.

    Raises:
        VideoError: duration or fps is not a finite number above 0, or a size is not an int
            of at least 1.
        AspectRatioError: the frame is more than 200 times longer than wide (or the reverse).
    """
    duration = _check_positive("duration_s", duration_s)
    fps = _check_positive("src_fps", src_fps)
    width = _check_size("width", width)
    height = _check_size("height", height)
    frames_exact = duration * fps
    if not math.isfinite(frames_exact):
        raise VideoError(f"video of {duration_s!r} s at {src_fps!r} fps has too many frames")
    total_frames = max(1, round(frames_exact))
    indices = _sample_indices(total_frames, fps)
    frames = len(indices)
    h_bar, w_bar = _resize(
        height,
        width,
        num_frames=frames,
        temporal_factor=_TEMPORAL,
        factor=_FACTOR,
        min_pixels=VIDEO_MIN_PIXELS,
        max_pixels=VIDEO_MAX_PIXELS,
    )
    groups = frames // _TEMPORAL
    per_group = (h_bar // _FACTOR) * (w_bar // _FACTOR)
    timestamps = tuple(int(index / fps) for index in indices[::_TEMPORAL])
    stamp_tokens = sum(_timestamp_tokens(t) for t in timestamps)
    visual = groups * per_group
    return VideoTokens(
        frames_sampled=frames,
        grid_thw=(groups, h_bar // _PATCH, w_bar // _PATCH),
        tokens_per_group=per_group,
        visual_tokens=visual,
        timestamp_tokens=stamp_tokens,
        prompt_tokens=visual + groups * _GROUP_WRAPPER_TOKENS + stamp_tokens + VIDEO_WRAPPER_TOKENS,
        timestamps=timestamps,
    )
