"""What ``vlmroute run`` sends: lines of an OpenAI Batch input file, or one request per image
in a folder (no network; files are read lazily, a line at a time).

The Batch API's input line::

    {"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": "glm-4.1v-thinking", "messages": [...]}}

:func:`jsonl_lines` yields them one by one with their line numbers (the file is never held
whole); a line that is not such an object is a :class:`BadLine`, so a scan can list every
bad line before anything is sent. :func:`image_lines` makes the commonest vision job a
source: each image file under a folder, in path order, with ``custom_id`` its path relative
to the folder, and the body built when it is sent (the image is read then, not before).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_core import from_json

from .._tokens.image_size import image_size
from ..errors import WorkloadError

__all__ = [
    "IMAGE_SUFFIXES",
    "BadLine",
    "Line",
    "id_digest",
    "id_hash",
    "image_lines",
    "jsonl_lines",
]

#: The image files ``--images DIR`` sends (GLM-4.1V reads PNG, JPEG, WebP and GIF).
IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".gif": "gif"}
_URL = "/v1/chat/completions"


def id_hash(custom_id: str) -> int:
    """A 64-bit digest of a ``custom_id``, the same in every process and on every host (what
    ``--shard I/N`` splits a workload by)."""
    return int.from_bytes(hashlib.blake2b(custom_id.encode(), digest_size=8).digest(), "big")


#: A 64-bit digest of a ``custom_id`` within this process (str's own hash, salted per
#: process: never written down or sent elsewhere). Sets of these find duplicates and the
#: ids already answered, a million in tens of MB; at 20 times id_hash's speed.
id_digest: Callable[[str], int] = hash


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 1 µs a line
class Line:
    """One request to send: its ``custom_id``, where it came from, and its body (a JSON
    object) or, for ``--images``, the image and prompt its body is built from."""

    custom_id: str
    number: int  # 1-based line number in the input (the image's position for --images)
    body: dict[str, Any] | None = None
    image: Path | None = None
    prompt: str = ""
    model: str = "glm-4.1v-thinking"

    def request_body(self) -> dict[str, Any]:
        """The chat-completions body (an image line reads its file now)."""
        if self.body is not None:
            return self.body
        assert self.image is not None
        data = self.image.read_bytes()
        mime = IMAGE_SUFFIXES[self.image.suffix.lower()]
        url = f"data:image/{mime};base64,{base64.b64encode(data).decode()}"
        content = [
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "text", "text": self.prompt},
        ]
        return {"model": self.model, "messages": [{"role": "user", "content": content}]}

    def image_size(self) -> tuple[int, int] | None:
        """An image line's size, from its file's header (None for a JSONL line)."""
        return None if self.image is None else image_size(self.image)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a Batch request, and why."""

    number: int
    problem: str


def jsonl_lines(path: str | os.PathLike[str]) -> Iterator[Line | BadLine]:
    """Each line of an OpenAI Batch input file, in order; blank lines are skipped."""
    source = Path(path)
    try:
        handle = source.open("rb")
    except OSError as exc:
        raise WorkloadError(f"cannot read {source}: {exc.strerror or exc}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.isspace():  # (strip() would copy the line, image and all)
                yield _line(raw, number)


def _line(raw: bytes, number: int) -> Line | BadLine:
    try:
        data = from_json(raw)  # pydantic-core's parser: about three times json.loads' speed
    except ValueError:
        try:  # what it refuses and json takes: a BOM, UTF-16/32, an escaped lone surrogate
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return BadLine(number, "not JSON")
    if not isinstance(data, dict):
        return BadLine(number, f"a JSON {type(data).__name__}, not an object")
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return BadLine(number, "custom_id must be a non-empty string")
    method, url = data.get("method", "POST"), data.get("url", _URL)
    if method != "POST" or url != _URL:
        return BadLine(number, f"only POST {_URL} is run, not {method} {url}")
    body = data.get("body")
    if not isinstance(body, dict):
        return BadLine(number, "body must be a chat-completions object")
    if body.get("stream"):
        return BadLine(number, 'body has "stream": true; a batch line is answered whole')
    return Line(custom_id, number, body=body)


def image_lines(
    folder: str | os.PathLike[str], prompt: str, *, model: str = "glm-4.1v-thinking"
) -> Iterator[Line]:
    """One line per image file under ``folder`` (recursively, sorted by path)."""
    root = Path(folder)
    if not root.is_dir():
        raise WorkloadError(f"--images {root}: not a folder")
    if not prompt.strip():
        raise WorkloadError("--images needs --prompt: the question to ask of every image")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    for number, path in enumerate(paths, start=1):
        rel = path.relative_to(root).as_posix()
        yield Line(rel, number, image=path, prompt=prompt, model=model)
