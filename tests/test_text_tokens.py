"""The text token heuristic and the exact-counter hook."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmroute._tokens import (
    TextTokenCounter,
    estimate_text_tokens,
    get_text_token_counter,
    set_text_token_counter,
    text_tokens,
)
from vlmroute.errors import ConfigurationError, RequestError

ENGLISH = (
    "The city council met on Tuesday evening to discuss the proposed changes to the public "
    "transit network. Several residents spoke in favor of extending the evening bus service."
)
CHINESE = "市议会周二晚上召开会议，讨论公共交通网络的调整方案。多位居民发言支持延长夜间公交服务。"  # noqa: RUF001


@pytest.fixture
def restore_default_counter() -> Iterator[None]:
    previous = get_text_token_counter()
    yield
    set_text_token_counter(previous)


def test_empty_is_zero() -> None:
    assert text_tokens("") == 0
    assert estimate_text_tokens("") == 0


@pytest.mark.parametrize("text", ["a", " ", "\n", "1", "中", "😀", "é", "!"])
def test_any_character_costs_at_least_one(text: str) -> None:
    assert text_tokens(text) >= 1


def test_english_is_about_four_characters_per_token() -> None:
    ratio = len(ENGLISH) / text_tokens(ENGLISH)
    assert 3.5 <= ratio <= 6.0


def test_chinese_is_about_one_and_a_half_characters_per_token() -> None:
    ratio = len(CHINESE) / text_tokens(CHINESE)
    assert 1.1 <= ratio <= 2.0
    assert text_tokens(CHINESE) > len(CHINESE) / 4  # far denser than English per character


def test_numbers_split_into_three_digit_chunks() -> None:
    assert text_tokens("7") == 1
    assert text_tokens("123") == 1
    assert text_tokens("1234") == 2
    assert text_tokens("1234567") == 3


def test_code_indentation_and_symbols() -> None:
    code = "def f(x):\n    return x + 1\n"
    assert 8 <= text_tokens(code) <= 14


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200), more=st.text(min_size=1, max_size=200))
def test_roughly_monotone_in_length(text: str, more: str) -> None:
    # Appending text never lowers the estimate by more than the rounding of one piece.
    assert text_tokens(text + more) >= text_tokens(text) - 2


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300))
def test_bounded_by_length(text: str) -> None:
    count = text_tokens(text)
    assert 0 <= count <= 2 * len(text)
    assert (count == 0) == (text == "")


def test_repetition_scales_linearly() -> None:
    one = text_tokens(ENGLISH + "\n")
    ten = text_tokens((ENGLISH + "\n") * 10)
    assert 9 * one <= ten <= 11 * one


def test_explicit_counter() -> None:
    assert text_tokens("hello world", counter=len) == 11
    assert text_tokens("", counter=lambda s: 0) == 0


def test_process_wide_counter(restore_default_counter: None) -> None:
    def word_count(text: str, /) -> int:
        return len(text.split())

    counter: TextTokenCounter = word_count
    previous = set_text_token_counter(counter)
    assert get_text_token_counter() is counter
    assert text_tokens("one two three") == 3
    assert text_tokens("one two three", counter=len) == 13  # explicit beats the default
    assert set_text_token_counter(previous) is counter
    assert text_tokens("one two three") == estimate_text_tokens("one two three")


def test_none_restores_the_heuristic(restore_default_counter: None) -> None:
    set_text_token_counter(len)
    set_text_token_counter(None)
    assert get_text_token_counter() is None
    assert text_tokens(ENGLISH) == estimate_text_tokens(ENGLISH)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True])
def test_counter_must_return_a_count(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="counter"):
        text_tokens("x", counter=lambda s: bad)  # type: ignore[arg-type]


def test_text_must_be_a_string() -> None:
    with pytest.raises(RequestError, match="str"):
        text_tokens(b"bytes")  # type: ignore[arg-type]


@given(st.text(max_size=300))
def test_the_fast_split_costs_exactly_what_the_pieces_cost(text: str) -> None:
    """estimate_text_tokens splits with findall (or word by word) and caches each piece's
    cost; the figure is the one the named-group regex gives piece by piece, in whole
    1/340ths of a token."""
    from vlmroute._tokens.text import _PIECES, _piece_cost, estimate_text_tokens

    units = sum(round(_piece_cost(m.lastgroup, m.group()) * 340) for m in _PIECES.finditer(text))
    expected = 0 if not text else max(1, round(units / 340))
    assert estimate_text_tokens(text) == expected
    assert estimate_text_tokens(text) == expected  # a second time, from the cache


#: Texts for the word-by-word path: every kind of piece, spaces single, no line break.
_ONE_LINE = st.text(
    alphabet=st.sampled_from(list("ab Zé_.,:-(){}12 909 \u00a0中文かナ한\U0001f600\u0301")),
    max_size=120,
) | st.text(max_size=120).map(lambda s: " ".join(s.split()))


@given(_ONE_LINE)
def test_word_by_word_costs_what_the_whole_split_costs(text: str) -> None:
    """The path for one-line texts (a word's cost looked up) gives the whole-text split's
    units, to the unit: only a leading space ever sits in a piece, so words split alone."""
    from vlmroute._tokens.text import _split_units, _word_units

    while "  " in text:
        text = text.replace("  ", " ")
    assert _word_units(text) == _split_units(text)
    assert _word_units(text) == _split_units(text)  # from the caches


def test_piece_costs_are_whole_units() -> None:
    """Summing ints is exact only if every cost is a whole number of 1/340ths."""
    from vlmroute._tokens.text import _PIECES, _piece_cost

    text = "Ab (self.x) 12345 中文字 é ---- !! \U0001f600 ünïcödé\n    x  y"
    for match in _PIECES.finditer(text):
        scaled = _piece_cost(match.lastgroup, match.group()) * 340
        assert abs(scaled - round(scaled)) < 1e-6, match.group()
