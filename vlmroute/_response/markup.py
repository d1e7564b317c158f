"""Split GLM-4.1V output into reasoning, answer and grounding boxes (pure, no I/O).

GLM-4.1V-Thinking is trained to emit ``<think>…</think><answer>…</answer>``; grounding
results and final answers are wrapped in ``<|begin_of_box|>…<|end_of_box|>``. Where the
reasoning lands depends on the server: ``reasoning_content`` (Zhipu, SiliconFlow, SGLang,
old vLLM), ``reasoning`` (OpenRouter, new vLLM), ``reasoning_details`` (OpenRouter), or
inline in ``content`` when no reasoning parser runs. Whether Zhipu's ``content`` still
carries ``<answer>`` or box markers is unknown (facts §1.3), so all of them are stripped
wherever they appear.

Box coordinates are normalized to the image: GLM-V's grounding docs say x1000 (0-1000),
its GUI-agent prompts say 0-999. ``norm`` defaults to 1000 and is a parameter, since the
two readings differ by 0.1 %.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigurationError

__all__ = ["BOX_BEGIN", "BOX_END", "Box", "ThinkSplitter", "parse_boxes", "split_message"]

BOX_BEGIN = "<|begin_of_box|>"
BOX_END = "<|end_of_box|>"
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_ANSWER_TAGS = re.compile(r"</?answer>")
_BOX = re.compile(re.escape(BOX_BEGIN) + r"(.*?)" + re.escape(BOX_END), re.S)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_GROUP = re.compile(r"[\[(<]\s*(-?\d+(?:\.\d+)?(?:\s*,\s*-?\d+(?:\.\d+)?){1,3})\s*[\])>]")


@dataclass(frozen=True, slots=True)
class Box:
    """One ``<|begin_of_box|>`` span: its text, and coordinates when it holds any.

    ``normalized`` holds ``(x1, y1, x2, y2)`` boxes or ``(x, y)`` points on the model's
    0-``norm`` scale; ``pixels`` the same in pixels when the image size was known.
    """

    text: str
    normalized: tuple[tuple[float, ...], ...]
    pixels: tuple[tuple[float, ...], ...] | None


def parse_boxes(
    text: str, image_size: tuple[int, int] | None = None, *, norm: float = 1000.0
) -> tuple[Box, ...]:
    """Every box span in ``text``; brackets may be ``[]``, ``[[]]``, ``()`` or ``<>``.

    Raises:
        ConfigurationError: ``norm`` is not a positive number (the scale's top, 1000 or 999).
    """
    if not (isinstance(norm, int | float) and not isinstance(norm, bool) and norm > 0):
        raise ConfigurationError(
            f"parse_boxes: norm must be the coordinate scale's top, a number above 0 "
            f"(1000, or 999 for GUI-agent prompts), got {norm!r:.40}"
        )
    boxes = []
    for match in _BOX.finditer(text):
        inner = match.group(1).strip()
        groups = tuple(
            tuple(float(n) for n in _NUMBER.findall(g.group(1))) for g in _GROUP.finditer(inner)
        )
        pixels = None
        if image_size is not None and groups:
            width, height = image_size
            pixels = tuple(
                tuple(v * (width if i % 2 == 0 else height) / norm for i, v in enumerate(g))
                for g in groups
            )
        boxes.append(Box(text=inner, normalized=groups, pixels=pixels))
    return tuple(boxes)


def clean_answer(text: str) -> str:
    """The answer without ``<answer>`` tags and box markers (box contents are kept)."""
    text = _ANSWER_TAGS.sub("", text)
    return text.replace(BOX_BEGIN, "").replace(BOX_END, "").strip()


def _split_inline(content: str) -> tuple[str, str]:
    """(reasoning, answer) from content that may hold ``<think>…</think>`` inline."""
    if _THINK_CLOSE in content:
        head, _, tail = content.partition(_THINK_CLOSE)
        if _THINK_OPEN in head:  # text before <think> is answer, as the stream reads it
            before, _, thought = head.partition(_THINK_OPEN)
            return thought.strip(), before + tail
        return head.strip(), tail  # the template opened <think> in the prompt
    if _THINK_OPEN in content:  # cut off while thinking (e.g. max_tokens)
        head, _, tail = content.partition(_THINK_OPEN)
        return tail.strip(), head
    return "", content


def _reasoning_field(message: Mapping[str, Any]) -> str | None:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    details = message.get("reasoning_details")
    if isinstance(details, list):
        texts = [
            str(d.get("text") or d.get("summary") or "")
            for d in details
            if isinstance(d, Mapping) and d.get("type") in ("reasoning.text", "reasoning.summary")
        ]
        if any(texts):
            return "".join(texts)
    return None


def split_message(message: Mapping[str, Any]) -> tuple[str, str]:
    """(reasoning, answer) from an OpenAI-style ``message`` of any provider's dialect."""
    content = message.get("content") or ""
    if not isinstance(content, str):
        content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    inline_reasoning, answer = _split_inline(content)
    reasoning = _reasoning_field(message)
    if reasoning is None:
        reasoning = inline_reasoning
    elif inline_reasoning:
        reasoning = f"{reasoning}\n{inline_reasoning}"
    return reasoning.strip(), clean_answer(answer)


Kind = Literal["reasoning", "answer"]
_MARKERS = (_THINK_OPEN, _THINK_CLOSE, "<answer>", "</answer>", BOX_BEGIN, BOX_END)
_LONGEST = max(map(len, _MARKERS))  # every marker starts with "<": ThinkSplitter relies on it


class ThinkSplitter:
    """Splits streamed ``content`` deltas into reasoning and answer text as they arrive.

    Tags may be cut across chunks: a suffix that could start a tag is held back until the
    next chunk (or :meth:`close`). ``starts_in_reasoning`` is for servers whose template
    opens ``<think>`` in the prompt, so the output begins inside it.
    """

    def __init__(self, *, starts_in_reasoning: bool = False) -> None:
        self._kind: Kind = "reasoning" if starts_in_reasoning else "answer"
        self._pending = ""

    def feed(self, text: str) -> list[tuple[Kind, str]]:
        self._pending += text
        if "<" not in self._pending:  # every marker starts with "<": the common chunk
            out_now, self._pending = self._pending, ""
            return [(self._kind, out_now)] if out_now else []
        out: list[tuple[Kind, str]] = []
        while True:
            index, marker = self._next_marker()
            if marker is None:
                break
            self._emit(out, self._pending[:index])
            self._pending = self._pending[index + len(marker) :]
            if marker == _THINK_OPEN:
                self._kind = "reasoning"
            elif marker == _THINK_CLOSE:
                self._kind = "answer"
        keep = self._partial_suffix()
        self._emit(out, self._pending[: len(self._pending) - keep])
        self._pending = self._pending[len(self._pending) - keep :]
        return out

    def close(self) -> list[tuple[Kind, str]]:
        out: list[tuple[Kind, str]] = []
        self._emit(out, self._pending)
        self._pending = ""
        return out

    def _next_marker(self) -> tuple[int, str | None]:
        found = [(self._pending.find(m), m) for m in _MARKERS if m in self._pending]
        if not found:
            return -1, None
        return min(found)

    def _partial_suffix(self) -> int:
        """The length of the longest end of the text that could begin a marker; such an end
        starts with "<" (as every marker does), within a marker's length of the end."""
        text = self._pending
        start = text.find("<", max(0, len(text) - _LONGEST + 1))
        while start != -1:
            tail = text[start:]
            if any(m.startswith(tail) for m in _MARKERS):
                return len(tail)
            start = text.find("<", start + 1)
        return 0

    def _emit(self, out: list[tuple[Kind, str]], text: str) -> None:
        if text:
            out.append((self._kind, text))


def join_deltas(deltas: Iterable[tuple[Kind, str]]) -> tuple[str, str]:
    """Concatenate split deltas into (reasoning, answer)."""
    reasoning = "".join(t for k, t in deltas if k == "reasoning")
    answer = "".join(t for k, t in deltas if k == "answer")
    return reasoning, answer
