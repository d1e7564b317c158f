"""One pass over a workload before anything is sent (no network): bad lines, duplicate ids,
and the exact prompt tokens of every request, grouped for the estimator.

Counting is the request model's own arithmetic (images and video from their sizes, text by
:func:`vlmroute.text_tokens`, the chat template's tokens per turn), done on the JSON as it
is, so that pricing a million lines costs about what ``json.loads`` of them does; a test
checks it against :meth:`ChatRequest.prompt_tokens` for the same bodies. A line's body is
checked here as far as its shape (messages, parts, URLs, ``max_tokens``); every other field
is checked when it is sent, and a refusal then is that line's error result.

Memory is flat in the input's length: ids are kept as 64-bit digests (a million in tens of
MB), and a second pass names the duplicates only where two digests met.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NoReturn

from .._request.parts import UNKNOWN_IMAGE_TOKENS, VideoPart
from .._request.request import _CONVERSATION_TOKENS, _TURN_TOKENS
from .._tokens import (
    get_text_token_counter,
    image_prompt_tokens,
    image_size,
    parse_size,
    text_tokens,
)
from ..errors import VlmrouteError
from .source import BadLine, Line, id_digest

__all__ = ["Group", "LineTokens", "Scan", "line_tokens", "scan"]

_ROLES = frozenset({"system", "user", "assistant", "developer"})
_MEDIA = frozenset({"image_url", "video_url"})
#: How many bad lines and duplicates a scan names (it counts them all).
SHOWN = 20

Lines = Callable[[], Iterable[Line | BadLine]]


class LineTokens(NamedTuple):
    """One request's prompt tokens (``unknown_images`` of them priced at the maximum, or at
    the assumed size), its image and video counts and its ``max_tokens``."""

    prompt: int
    images: int
    video: bool
    unknown_images: int
    max_tokens: int | None


@dataclass(slots=True)
class Group:
    """Requests of one shape for the estimator: how many, and their prompt tokens summed."""

    images: int
    video: bool
    output_tokens: int
    requests: int = 0
    prompt_tokens: int = 0


@dataclass(slots=True)
class Scan:
    """What a pass over the input found."""

    requests: int = 0  # to send (priced)
    already: int = 0  # with a result from an earlier run (not priced)
    lines: int = 0
    bad: list[BadLine] = field(default_factory=list)
    bad_count: int = 0
    duplicates: list[tuple[str, list[int]]] = field(default_factory=list)
    duplicate_count: int = 0
    unknown_images: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    groups: dict[tuple[int, bool, int], Group] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.bad_count and not self.duplicate_count

    def problems(self) -> str:
        """Every refusal, in words, naming line numbers (the first :data:`SHOWN` of each)."""
        said: list[str] = []
        if self.bad_count:
            shown = "; ".join(f"line {b.number}: {b.problem}" for b in self.bad)
            more = f" (and {self.bad_count - len(self.bad)} more)" if self.bad_count > SHOWN else ""
            said.append(f"{self.bad_count} bad lines: {shown}{more}")
        if self.duplicate_count:
            shown = "; ".join(
                f"{cid!r} on lines {', '.join(map(str, numbers))}"
                for cid, numbers in self.duplicates
            )
            more = (
                f" (and {self.duplicate_count - len(self.duplicates)} more)"
                if self.duplicate_count > SHOWN
                else ""
            )
            said.append(f"{self.duplicate_count} custom_ids used twice: {shown}{more}")
        return ". ".join(said)


def scan(
    lines: Lines,
    *,
    expected_output_tokens: int,
    assume_image: tuple[int, int] | None = None,
    keep: Callable[[str], bool] | None = None,
    done: set[int] | None = None,
) -> Scan:
    """Read every line of ``lines()`` once (twice if two ids' digests meet). ``keep`` picks
    the lines of this shard (None: all); lines whose id digest is in ``done`` (answered by
    an earlier run) are checked for duplicates but not priced."""
    found = Scan()
    seen: set[int] = set()
    clashes: set[int] = set()
    assumed = None if assume_image is None else image_prompt_tokens(*assume_image)
    for line in lines():
        found.lines += 1
        if isinstance(line, BadLine):
            _bad(found, line)
            continue
        if keep is not None and not keep(line.custom_id):
            continue
        digest = id_digest(line.custom_id)
        if digest in seen:
            clashes.add(digest)
        seen.add(digest)
        if done and digest in done:
            found.already += 1
            continue
        try:
            tokens = line_tokens(line)
        except _Refused as refused:
            _bad(found, BadLine(line.number, str(refused)))
            continue
        except VlmrouteError as exc:  # an image that cannot be read, a size out of range
            _bad(found, BadLine(line.number, str(exc)))
            continue
        prompt = tokens.prompt
        if tokens.unknown_images:
            found.unknown_images += tokens.unknown_images
            if assumed is not None:
                prompt += tokens.unknown_images * (assumed - UNKNOWN_IMAGE_TOKENS)
        output = expected_output_tokens
        if tokens.max_tokens is not None:
            output = min(output, tokens.max_tokens)
        found.requests += 1
        found.prompt_tokens += prompt
        found.output_tokens += output
        key = (tokens.images, tokens.video, output)
        group = found.groups.get(key)
        if group is None:
            group = found.groups[key] = Group(tokens.images, tokens.video, output)
        group.requests += 1
        group.prompt_tokens += prompt
    if clashes:
        _name_duplicates(found, lines, clashes, keep)
    return found


def _bad(found: Scan, line: BadLine) -> None:
    found.bad_count += 1
    if len(found.bad) < SHOWN:
        found.bad.append(line)


def _name_duplicates(
    found: Scan, lines: Lines, clashes: set[int], keep: Callable[[str], bool] | None
) -> None:
    """The second pass: the ids behind the digests that met, with their line numbers."""
    numbers: dict[str, list[int]] = {}
    for line in lines():
        if (
            isinstance(line, Line)
            and id_digest(line.custom_id) in clashes
            and (keep is None or keep(line.custom_id))
        ):
            numbers.setdefault(line.custom_id, []).append(line.number)
    twice = [(cid, at) for cid, at in numbers.items() if len(at) > 1]
    found.duplicate_count = len(twice)
    found.duplicates = twice[:SHOWN]


class _Refused(Exception):
    """A body whose shape is wrong; the message says where."""


def line_tokens(line: Line) -> LineTokens:
    """The prompt tokens of one line, as :class:`ChatRequest` counts them. A body is JSON,
    so its objects are dicts and its arrays lists (exact type checks: these run a million
    times)."""
    if line.image is not None:
        return _folder_tokens(line)
    body = line.body or {}
    model = body.get("model")
    if type(model) is not str or not model:
        raise _Refused("body.model must be a model name")
    messages = body.get("messages")
    if type(messages) is not list or not messages:
        raise _Refused("body.messages must be a non-empty list")
    prompt = _CONVERSATION_TOKENS + _TURN_TOKENS * len(messages)
    images = unknown = 0
    video = False
    for index, message in enumerate(messages):
        if type(message) is not dict or message.get("role") not in _ROLES:
            raise _Refused(f"body.messages.{index} must be an object with a role")
        content = message.get("content")
        if type(content) is str:
            prompt += _text_tokens(content)
            continue
        if type(content) is not list:
            raise _Refused(f"body.messages.{index}.content must be a string or a list")
        for position, part in enumerate(content):
            kind = part.get("type") if type(part) is dict else None
            if kind == "text":
                text = part.get("text")
                prompt += _text_tokens(text if type(text) is str else _no_text(index, position))
            elif kind == "image_url":
                images += 1
                tokens = _image_tokens(part, index, position)
                unknown += tokens is None
                prompt += UNKNOWN_IMAGE_TOKENS if tokens is None else tokens
            elif kind == "video_url":
                video = True
                prompt += _video_tokens(part, f"body.messages.{index}.content.{position}")
            else:
                where = f"body.messages.{index}.content.{position}"
                raise _Refused(f"{where} must be a text, image_url or video_url part")
    return LineTokens(prompt, images, video, unknown, _max_tokens(body))


def _url(part: Mapping[str, Any], key: str, where: str) -> tuple[str, Mapping[str, Any]]:
    value = part.get(key)
    url, options = (value, {}) if isinstance(value, str) else (None, value)
    if isinstance(options, Mapping) and url is None:
        url = options.get("url")
    if not isinstance(url, str) or not url[:8].lower().startswith(("http://", "https://", "data:")):
        raise _Refused(f"{where}.{key}.url must be an http(s) URL or a data: URI")
    return url, options if isinstance(options, Mapping) else {}


def _no_text(index: int, position: int) -> NoReturn:
    raise _Refused(f"body.messages.{index}.content.{position}.text must be text")


def _folder_tokens(line: Line) -> LineTokens:
    """An ``--images`` line: its image (from the file's header) and its prompt."""
    size = line.image_size()
    assert size is not None
    prompt = image_prompt_tokens(*size) + text_tokens(line.prompt)
    return LineTokens(prompt + _CONVERSATION_TOKENS + _TURN_TOKENS, 1, False, 0, None)


def _image_tokens(part: dict[str, Any], index: int, position: int) -> int | None:
    """An image's exact tokens, or None when its size is unknown (a URL without size)."""
    value = part.get("image_url")
    if type(value) is dict and len(value) == 1:  # {"url": ...} alone, the commonest shape
        url = value.get("url")
        if type(url) is str and url[:5].lower() == "data:":
            return _size_tokens(*image_size(url))
    url, options = _url(part, "image_url", f"body.messages.{index}.content.{position}")
    size = options.get("size")
    if size:
        width, height = parse_size(size) if isinstance(size, str) else (int(size[0]), int(size[1]))
        return _size_tokens(width, height)
    if url[:5].lower() == "data:":
        return _size_tokens(*image_size(url))
    return None


@functools.lru_cache(maxsize=4096)
def _size_tokens(width: int, height: int) -> int:
    """Image tokens by size (a workload's images come in a few sizes)."""
    return image_prompt_tokens(width, height)


#: Tokens of texts seen in this process: a system prompt or an instruction repeats on
#: every line of a workload (the same count: a cache, capped in entries and in the length
#: of a text kept, so that it holds a few MB at most).
_TEXTS: dict[str, int] = {}
_TEXTS_KEPT = 5_000
_TEXT_LONGEST = 4_096


_COUNTER: list[object] = [None]  # the text counter the cache's figures came from


def _text_tokens(text: str) -> int:
    counter = get_text_token_counter()
    if counter is not _COUNTER[0]:  # set_text_token_counter() changes every count
        _TEXTS.clear()
        _COUNTER[0] = counter
    found = _TEXTS.get(text)
    if found is None:
        found = text_tokens(text)
        if 32 <= len(text) <= _TEXT_LONGEST:  # short texts cost little to count again
            if len(_TEXTS) > _TEXTS_KEPT:
                _TEXTS.clear()
            _TEXTS[text] = found
    return found


def _video_tokens(part: Mapping[str, Any], where: str) -> int:
    url, options = _url(part, "video_url", where)
    clip = VideoPart.from_source(
        url,
        duration_s=options.get("duration_s"),
        fps=options.get("fps", 30.0),
        width=options.get("width"),
        height=options.get("height"),
    )
    return clip.prompt_tokens()


def _max_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return None
    if type(value) is not int or value < 1:
        raise _Refused("body.max_tokens must be a whole number of at least 1")
    return value
