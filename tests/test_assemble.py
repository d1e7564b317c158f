"""Stream chunks become deltas and a final response equal to the non-streamed one."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from vlmroute import AnswerDelta, ChatResponse, ReasoningDelta
from vlmroute._backends.assemble import StreamAssembler

CONTENT = (
    "<think>\nlook closely\n</think>\n<answer>A <|begin_of_box|>[1,2,3,4]<|end_of_box|></answer>"
)


def chunk(**delta: Any) -> dict[str, Any]:
    return {"id": "c", "model": "m", "choices": [{"index": 0, "delta": delta}]}


def stream(pieces: list[str]) -> tuple[str, str, ChatResponse]:
    assembler = StreamAssembler(provider="p", image_size=(1000, 1000))
    events = [e for piece in pieces for e in assembler.feed(chunk(content=piece))]
    events += assembler.close()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    return reasoning, answer, assembler.response(latency_s=None, raw_extra={})


@given(cuts=st.lists(st.integers(0, len(CONTENT)), max_size=10))
def test_streamed_answer_equals_the_non_streamed_one(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(CONTENT)]
    pieces = [CONTENT[a:b] for a, b in itertools.pairwise(bounds)]
    reasoning, answer, response = stream(pieces)
    whole = ChatResponse.from_openai(
        {"choices": [{"message": {"content": CONTENT}}]}, provider="p", image_size=(1000, 1000)
    )
    assert answer == whole.answer == response.answer == "A [1,2,3,4]"
    assert reasoning.strip() == whole.reasoning == "look closely"
    assert response.boxes == whole.boxes


def test_reasoning_fields_and_usage_chunk() -> None:
    assembler = StreamAssembler(provider="p")
    events = assembler.feed(chunk(reasoning_content="a"))
    events += assembler.feed(chunk(reasoning="b"))
    events += assembler.feed(chunk(reasoning_details=[{"type": "reasoning.text", "text": "c"}]))
    events += assembler.feed(chunk(content="ok"))
    assembler.feed({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
    assert [e.text for e in events] == ["a", "b", "c", "ok"]
    assert assembler.usage.completion_tokens == 4
