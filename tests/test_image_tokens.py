"""Image token counts against every row of the GLM-4.1V facts file (§1 table, §5 edge cases)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmroute._tokens import (
    IMAGE_WRAPPER_TOKENS,
    MAX_ASPECT_RATIO,
    MAX_IMAGE_TOKENS,
    MIN_IMAGE_TOKENS,
    image_prompt_tokens,
    image_tokens,
    smart_resize,
)
from vlmroute._tokens.image import MAX_IMAGE_PIXELS
from vlmroute.errors import AspectRatioError, ImageError

# (W, H) -> (W', H', image tokens, prompt tokens), from the facts file's summary table.
SUMMARY_TABLE = [
    ((224, 224), (224, 224, 64, 66)),
    ((640, 480), (644, 476, 391, 393)),
    ((1024, 768), (1036, 756, 999, 1001)),
    ((1280, 720), (1288, 728, 1196, 1198)),
    ((1920, 1080), (1932, 1092, 2691, 2693)),
    ((2560, 1440), (2548, 1428, 4641, 4643)),
    ((3840, 2160), (2912, 1624, 6032, 6034)),
    ((4096, 4096), (2184, 2184, 6084, 6086)),
    ((7680, 4320), (2912, 1624, 6032, 6034)),
    ((1170, 2532), (1176, 2520, 3780, 3782)),
    ((1080, 2400), (1092, 2408, 3354, 3356)),
    ((300, 6000), (308, 5992, 2354, 2356)),
    ((10, 500), (28, 1400, 50, 52)),
]


@pytest.mark.parametrize(("size", "expected"), SUMMARY_TABLE)
def test_summary_table(size: tuple[int, int], expected: tuple[int, int, int, int]) -> None:
    width, height = size
    resized_w, resized_h, tokens, prompt = expected
    assert smart_resize(height, width) == (resized_h, resized_w)
    assert image_tokens(width, height) == tokens
    assert image_prompt_tokens(width, height) == prompt
    # grid_thw = [1, H'/14, W'/14] and tokens = t*h*w // 4
    assert (resized_h // 14) * (resized_w // 14) // 4 == tokens


@pytest.mark.parametrize(
    ("width", "height"),
    [(1, 201), (201, 1), (28, 5601), (30, 7000), (8000, 39), (5601, 28)],
)
def test_ratio_over_200_is_an_error(width: int, height: int) -> None:
    with pytest.raises(AspectRatioError) as info:
        image_tokens(width, height)
    assert isinstance(info.value, ValueError)
    assert (info.value.width, info.value.height) == (width, height)
    assert info.value.ratio > MAX_ASPECT_RATIO


def test_aspect_ratio_error_reports_the_checked_ratio() -> None:
    with pytest.raises(AspectRatioError) as info:
        image_tokens(7000, 30)
    assert info.value.ratio == pytest.approx(7000 / 30)
    assert "7000x30" in str(info.value)


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [(1, 200, 200), (200, 1, 200), (20, 4000, 200), (6910, 36, 247)],
)
def test_ratio_up_to_200_is_allowed(width: int, height: int, tokens: int) -> None:
    assert image_tokens(width, height) == tokens


def test_ratio_checked_after_upscale() -> None:
    assert smart_resize(200, 1) == (5600, 28)
    assert smart_resize(4000, 20) == (5600, 28)
    assert smart_resize(36, 6910) == (28, 6916)


@pytest.mark.parametrize(("side", "rounded"), [(1022, 1008), (994, 1008), (742, 728), (770, 784)])
def test_round_half_to_even(side: int, rounded: int) -> None:
    assert smart_resize(side, 1000)[0] == rounded
    assert smart_resize(1000, side)[1] == rounded


def test_round_half_to_even_350_and_combined() -> None:
    assert smart_resize(350, 1000)[0] == 12 * 28
    assert image_tokens(1022, 742) == 936  # half-up would give 999


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [(1, 1, 9), (28, 28, 9), (56, 56, 9), (1, 2, 8), (2, 1, 8), (27, 27, 9)],
)
def test_small_images_hit_the_floor(width: int, height: int, tokens: int) -> None:
    assert image_tokens(width, height) == tokens


def test_floor_rounds_both_sides_up() -> None:
    # 5x17 -> 28x95 -> ceil on both sides of the min_pixels branch: 2x6 = 12 tokens, not 8-9
    # (checked against transformers' smart_resize, not a row of the facts file).
    assert smart_resize(17, 5) == (168, 56)
    assert image_tokens(5, 17) == 12


def test_small_image_resized_sizes() -> None:
    assert smart_resize(1, 1) == (84, 84)
    assert smart_resize(56, 56) == (84, 84)
    assert smart_resize(2, 1) == (112, 56)


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [(3840, 2160, 6032), (4096, 4096, 6084), (2480, 3508, 6045), (3024, 4032, 6030)],
)
def test_large_image_plateau(width: int, height: int, tokens: int) -> None:
    assert image_tokens(width, height) == tokens
    assert image_tokens(height, width) == tokens


def test_maximum_is_reached_only_for_some_shapes() -> None:
    assert image_tokens(682, 7171) == MAX_IMAGE_TOKENS


def test_constants() -> None:
    assert (IMAGE_WRAPPER_TOKENS, MAX_IMAGE_TOKENS, MIN_IMAGE_TOKENS) == (2, 6144, 8)
    assert MAX_ASPECT_RATIO == 200
    assert issubclass(AspectRatioError, ValueError)
    assert issubclass(AspectRatioError, ImageError)


@pytest.mark.parametrize("bad", [0, -1, 1.5, 1920.0, "1920", None, True, False])
def test_bad_sides_are_image_errors(bad: object) -> None:
    with pytest.raises(ImageError, match=repr(bad).replace(".", r"\.")):
        image_tokens(bad, 100)  # type: ignore[arg-type]
    with pytest.raises(ImageError, match="height"):
        image_tokens(100, bad)  # type: ignore[arg-type]
    with pytest.raises(ImageError):
        smart_resize(bad, 100)  # type: ignore[arg-type]


def test_bad_side_message_is_short() -> None:
    with pytest.raises(ImageError) as info:
        image_tokens("x" * 10_000, 100)  # type: ignore[arg-type]
    assert len(str(info.value)) < 200


# --- properties -------------------------------------------------------------------------

sides = st.integers(min_value=1, max_value=20_000)


def _tokens_or_none(width: int, height: int) -> int | None:
    try:
        return image_tokens(width, height)
    except AspectRatioError:
        return None
    except ImageError:  # over MAX_IMAGE_PIXELS, in either orientation
        assert width * height > MAX_IMAGE_PIXELS
        return None


def _resized_tokens(width: int, height: int) -> int:
    """The processor's count for any size (image_tokens refuses decompression bombs)."""
    resized_h, resized_w = smart_resize(height, width)
    return (resized_h // 28) * (resized_w // 28)


@settings(max_examples=300, deadline=None)
@given(width=sides, height=sides)
def test_resized_sides_are_multiples_of_28_and_count_in_range(width: int, height: int) -> None:
    try:
        resized_h, resized_w = smart_resize(height, width)
    except AspectRatioError:
        return
    assert resized_h % 28 == 0
    assert resized_w % 28 == 0
    tokens = _resized_tokens(width, height)
    assert tokens == (resized_h // 28) * (resized_w // 28)
    assert MIN_IMAGE_TOKENS <= tokens <= MAX_IMAGE_TOKENS
    if width * height <= MAX_IMAGE_PIXELS:
        assert image_tokens(width, height) == tokens


@settings(max_examples=300, deadline=None)
@given(width=sides, height=sides)
def test_symmetric(width: int, height: int) -> None:
    assert _tokens_or_none(width, height) == _tokens_or_none(height, width)


@settings(max_examples=300, deadline=None)
@given(width=st.integers(28, 3000), height=st.integers(28, 3000))
def test_unscaled_regime_is_the_rounded_grid(width: int, height: int) -> None:
    grid = round(height / 28) * round(width / 28)
    if MIN_IMAGE_TOKENS <= grid <= MAX_IMAGE_TOKENS and max(width, height) <= 200 * min(
        width, height
    ):
        assert image_tokens(width, height) == grid


@settings(max_examples=200, deadline=None)
@given(width=st.integers(28, 1500), height=st.integers(28, 1500), grow=st.integers(1, 500))
def test_monotone_in_the_unscaled_regime(width: int, height: int, grow: int) -> None:
    bigger = round(height / 28) * round((width + grow) / 28)
    if bigger <= MAX_IMAGE_TOKENS and round(height / 28) * round(width / 28) >= MIN_IMAGE_TOKENS:
        assert image_tokens(width, height) <= image_tokens(width + grow, height)


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(2_000, 10**9),
    ratio=st.floats(min_value=1.0, max_value=150.0),
)
def test_huge_images_never_exceed_the_cap(width: int, ratio: float) -> None:
    height = max(1, int(width / ratio))
    assert _resized_tokens(width, height) <= MAX_IMAGE_TOKENS
    assert _resized_tokens(height, width) <= MAX_IMAGE_TOKENS


def test_an_image_over_pillows_bomb_limit_is_refused_with_the_sizes() -> None:
    """Pillow, which GLM-4.1V's processor opens images with, refuses over 2 x 89,478,485."""
    assert MAX_IMAGE_PIXELS == 178_956_970
    assert image_tokens(13_377, 13_377) > 0  # 178,944,129 pixels: just under
    with pytest.raises(ImageError, match="178,956,970"):
        image_tokens(13_377, 13_378)  # 178,957,506: just over
