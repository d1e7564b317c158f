"""Video token plans against every row of the GLM-4.1V facts file (§6)."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmroute._tokens import MAX_VIDEO_TOKENS, VideoTokens, image_tokens, video_tokens
from vlmroute.errors import AspectRatioError, VideoError

# (duration s, W, H, src fps) -> (T, video_grid_thw, <|image|> tokens, groups)
FACTS_TABLE = [
    ((10, 1280, 720, 30), (20, (10, 52, 92), 11_960, 10)),
    ((2.5, 1920, 1080, 30), (6, (3, 78, 138), 8_073, 3)),
    ((3, 3840, 2160, 24), (6, (3, 148, 266), 29_526, 3)),
    ((60, 640, 360, 25), (120, (60, 26, 46), 17_940, 60)),
    ((0.4, 320, 240, 30), (2, (1, 18, 22), 99, 1)),
    ((40, 1920, 1080, 30), (80, (40, 40, 72), 28_800, 40)),
    ((400, 160, 120, 2), (600, (300, 8, 12), 7_200, 300)),
]


@pytest.mark.parametrize(("clip", "expected"), FACTS_TABLE)
def test_facts_table(
    clip: tuple[float, int, int, float], expected: tuple[int, tuple[int, int, int], int, int]
) -> None:
    duration, width, height, fps = clip
    frames, grid, visual, groups = expected
    plan = video_tokens(duration, width, height, src_fps=fps)
    assert plan.frames_sampled == frames
    assert plan.grid_thw == grid
    assert plan.visual_tokens == visual
    assert plan.groups == groups
    assert len(plan.timestamps) == groups
    assert plan.tokens_per_group * groups == visual
    assert grid[0] * grid[1] * grid[2] // 4 == visual


@pytest.mark.parametrize(
    ("clip", "stamps"),
    [
        ((10, 1280, 720, 30), tuple(range(10))),
        ((2.5, 1920, 1080, 30), (0, 1, 2)),
        ((3, 3840, 2160, 24), (0, 1, 2)),
        ((60, 640, 360, 25), tuple(range(60))),
        ((0.4, 320, 240, 30), (0,)),
        ((40, 1920, 1080, 30), tuple(range(40))),
    ],
)
def test_facts_table_timestamps(clip: tuple[float, int, int, float], stamps: tuple[int]) -> None:
    duration, width, height, fps = clip
    assert video_tokens(duration, width, height, src_fps=fps).timestamps == stamps


def test_long_clip_spreads_600_frames_over_the_whole_clip() -> None:
    plan = video_tokens(400, 160, 120, src_fps=2)
    assert plan.timestamps[:7] == (0, 1, 3, 4, 5, 7, 8)
    assert plan.timestamps[-1] == 399
    assert len(set(plan.timestamps)) == 300


@pytest.mark.parametrize(
    ("seconds", "prompt_tokens"), [(5, 13_472), (10, 26_942), (20, 29_642), (60, 28_022)]
)
def test_1080p30_lengths(seconds: int, prompt_tokens: int) -> None:
    assert video_tokens(seconds, 1920, 1080, src_fps=30).prompt_tokens == prompt_tokens


@pytest.mark.parametrize("seconds", [300, 301, 600, 3600])
def test_1080p30_beyond_300_s_is_about_28k(seconds: int) -> None:
    plan = video_tokens(seconds, 1920, 1080)
    assert plan.frames_sampled == 600
    assert 28_000 <= plan.prompt_tokens <= 28_500  # timestamps >= 1000 s cost 2 tokens


def test_prompt_tokens_add_up() -> None:
    plan = video_tokens(10, 1920, 1080)
    assert plan.timestamp_tokens == 10  # "0".."9": one token each
    assert plan.prompt_tokens == plan.visual_tokens + 2 * plan.groups + 10 + 2


def test_timestamps_of_1000_s_and_more_cost_two_tokens() -> None:
    plan = video_tokens(2000, 320, 240)
    assert plan.timestamp_tokens == sum(1 if t < 1000 else 2 for t in plan.timestamps)
    assert any(t >= 1000 for t in plan.timestamps)


def test_short_4k_clip_costs_more_than_the_image() -> None:
    assert video_tokens(1, 3840, 2160).visual_tokens == 10_549
    assert image_tokens(3840, 2160) == 6032


def test_result_is_frozen() -> None:
    plan = video_tokens(1, 640, 480)
    assert isinstance(plan, VideoTokens)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.visual_tokens = 0  # type: ignore[misc]


@settings(max_examples=150, deadline=None)
@given(
    duration=st.floats(min_value=0.05, max_value=4000, allow_nan=False),
    width=st.integers(28, 8000),
    height=st.integers(28, 8000),
    fps=st.sampled_from([1.0, 2.0, 12.5, 23.976, 24.0, 25.0, 29.97, 30.0, 60.0]),
)
def test_visual_tokens_never_exceed_30000(
    duration: float, width: int, height: int, fps: float
) -> None:
    if max(width, height) > 200 * min(width, height):
        return
    plan = video_tokens(duration, width, height, src_fps=fps)
    if min(plan.grid_thw[1:]) > 2:  # no side clamped at the 28 px minimum
        assert plan.visual_tokens <= MAX_VIDEO_TOKENS
    assert plan.frames_sampled % 2 == 0
    assert plan.frames_sampled <= 600
    assert plan.grid_thw[0] * 2 == plan.frames_sampled
    assert list(plan.timestamps) == sorted(plan.timestamps)


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, "10", None, True])
def test_bad_duration(bad: object) -> None:
    with pytest.raises(VideoError, match="duration_s"):
        video_tokens(bad, 640, 480)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -30.0, math.nan, math.inf, "30"])
def test_bad_fps(bad: object) -> None:
    with pytest.raises(VideoError, match="src_fps"):
        video_tokens(10, 640, 480, src_fps=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -5, 640.0, "640", None, False])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(VideoError, match="width"):
        video_tokens(10, bad, 480)  # type: ignore[arg-type]
    with pytest.raises(VideoError, match="height"):
        video_tokens(10, 640, bad)  # type: ignore[arg-type]


def test_narrow_frames_can_exceed_the_budget() -> None:
    # smart_resize clamps the short side back up to 28 px after scaling down for the budget,
    # so very narrow clips go over 30,000 (checked against transformers' smart_resize).
    plan = video_tokens(300, 28, 5600)
    assert plan.grid_thw == (300, 282, 2)
    assert plan.visual_tokens == 42_300
    assert video_tokens(595, 28, 2838, src_fps=1).visual_tokens == 30_098


def test_extreme_aspect_ratio() -> None:
    with pytest.raises(AspectRatioError):
        video_tokens(10, 10_000, 20)


def test_overflowing_frame_count() -> None:
    with pytest.raises(VideoError):
        video_tokens(1e300, 640, 480, src_fps=1e300)
