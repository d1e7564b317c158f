"""Reasoning, answer and boxes from every provider dialect, whole and streamed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmroute._response import ChatResponse, ThinkSplitter, parse_boxes, split_message
from vlmroute._response.markup import join_deltas
from vlmroute.errors import ConfigurationError

INLINE = (
    "<think>\nLook at the chart.</think>\n"
    "<answer>Sony, <|begin_of_box|>games<|end_of_box|>.</answer>"
)


def test_inline_think_and_answer_tags() -> None:
    assert split_message({"content": INLINE}) == ("Look at the chart.", "Sony, games.")


def test_reasoning_content_field() -> None:  # Zhipu, SiliconFlow, SGLang, old vLLM
    msg = {"content": "<answer>42</answer>", "reasoning_content": "think hard"}
    assert split_message(msg) == ("think hard", "42")


def test_reasoning_field_and_details() -> None:  # new vLLM / OpenRouter
    assert split_message({"content": "42", "reasoning": "r"}) == ("r", "42")
    details = [
        {"type": "reasoning.text", "text": "a"},
        {"type": "reasoning.encrypted"},
        {"type": "reasoning.text", "text": "b"},
    ]
    assert split_message({"content": "42", "reasoning_details": details}) == ("ab", "42")


def test_truncated_while_thinking() -> None:
    assert split_message({"content": "<think>still going"}) == ("still going", "")


def test_close_tag_without_open_tag() -> None:  # the template opened <think> in the prompt
    assert split_message({"content": "why</think><answer>because</answer>"}) == ("why", "because")


def test_no_markup_at_all() -> None:
    assert split_message({"content": "plain", "reasoning_content": None}) == ("", "plain")


def test_boxes_with_pixels() -> None:
    text = (
        "Click <|begin_of_box|>[[27,840,122,885]]<|end_of_box|> "
        "then <|begin_of_box|>(500, 500)<|end_of_box|>"
    )
    boxes = parse_boxes(text, (1080, 2400))
    assert boxes[0].normalized == ((27.0, 840.0, 122.0, 885.0),)
    # pixel = value / 1000 * side
    assert boxes[0].pixels == ((29.16, 2016.0, 131.76, 2124.0),)
    assert boxes[1].normalized == ((500.0, 500.0),)
    assert boxes[1].pixels == ((540.0, 1200.0),)


def test_box_with_text_answer_and_several_boxes() -> None:
    assert parse_boxes("<|begin_of_box|>B<|end_of_box|>")[0].normalized == ()
    many = parse_boxes("<|begin_of_box|>[[1,2,3,4],[5,6,7,8]]<|end_of_box|>", None)
    assert many[0].normalized == ((1, 2, 3, 4), (5, 6, 7, 8))
    assert many[0].pixels is None
    angle = parse_boxes("<|begin_of_box|><10, 20, 30, 40><|end_of_box|>", (999, 999), norm=999)
    assert angle[0].pixels == ((10.0, 20.0, 30.0, 40.0),)


def test_chat_response_from_openrouter_payload() -> None:
    payload = {
        "id": "gen-1",
        "model": "thudm/glm-4.1v-9b-thinking",
        "choices": [
            {
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "A cat.", "reasoning": "fur, whiskers"},
            }
        ],
        "usage": {
            "prompt_tokens": 2700,
            "completion_tokens": 90,
            "cost": 0.0001,
            "completion_tokens_details": {"reasoning_tokens": 80},
        },
    }
    response = ChatResponse.from_openai(payload, provider="openrouter")
    assert (response.answer, response.reasoning) == ("A cat.", "fur, whiskers")
    assert response.usage.reasoning_tokens == 80
    assert response.usage.cost == Decimal("0.0001")
    assert response.request_id == "gen-1"
    assert response.finish_reason == "stop"


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(0, len(INLINE)), max_size=8))
def test_streamed_split_equals_whole_split(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [INLINE[a:b] for a, b in zip([0, *points], [*points, len(INLINE)], strict=True)]
    splitter = ThinkSplitter()
    deltas = [d for chunk in chunks for d in splitter.feed(chunk)] + splitter.close()
    reasoning, answer = join_deltas(deltas)
    assert (reasoning.strip(), answer.strip()) == ("Look at the chart.", "Sony, games.")


def test_stream_that_starts_inside_reasoning() -> None:
    splitter = ThinkSplitter(starts_in_reasoning=True)
    deltas = splitter.feed("hmm </thi") + splitter.feed("nk>ok") + splitter.close()
    assert deltas == [("reasoning", "hmm "), ("answer", "ok")]


@pytest.mark.parametrize("norm", [0, -1000, float("nan"), True, "1000"])
def test_a_bad_norm_is_a_typed_error_not_a_division_by_zero(norm: object) -> None:
    with pytest.raises(ConfigurationError, match="norm must be"):
        parse_boxes("<|begin_of_box|>[1,2,3,4]<|end_of_box|>", (100, 100), norm=norm)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    before=st.text("ab \n", max_size=5),
    thought=st.text("cd \n", max_size=8),
    after=st.text("ef \n", max_size=8),
    cuts=st.lists(st.integers(0, 40), max_size=6),
)
def test_the_stream_and_the_final_answer_split_alike(
    before: str, thought: str, after: str, cuts: list[int]
) -> None:
    """What a stream emits as it goes, joined, is what the whole message splits into:
    text before <think> is answer in both (it used to be reasoning in the final split)."""
    content = f"{before}<think>{thought}</think>{after}"
    points = sorted({c % (len(content) + 1) for c in cuts})
    splitter = ThinkSplitter()
    deltas = []
    for a, b in zip([0, *points], [*points, len(content)], strict=True):
        deltas += splitter.feed(content[a:b])
    reasoning, answer = join_deltas(deltas + splitter.close())
    assert split_message({"content": content}) == (reasoning.strip(), answer.strip())
