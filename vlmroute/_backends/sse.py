"""Server-sent events: lines in, ``data`` payloads out (pure; no I/O).

Every provider streams ``data: {json}`` events ended by ``data: [DONE]``. Lines starting
with ``:`` are comments: OpenRouter sends ``: OPENROUTER PROCESSING`` as a keep-alive while
its upstream thinks, and they must be skipped. A ``data`` field may span several lines;
an empty line ends the event.
"""

from __future__ import annotations

__all__ = ["DONE", "LineSplitter", "SseDecoder"]

DONE = "[DONE]"


class SseDecoder:
    """Feed it lines (without their line ending); it returns each event's data when complete."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """The data of the event this line completes, or None."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
            # Providers put one JSON object per data line and rarely send the blank line
            # right away; a complete [DONE] or JSON object is dispatched at once.
            if len(self._data) == 1 and _complete(self._data[0]):
                return self._dispatch()
        return None  # event:, id:, retry: carry nothing vlmroute uses

    def close(self) -> str | None:
        """Whatever data was pending when the stream ended."""
        return self._dispatch()

    def _dispatch(self) -> str | None:
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data = []
        return data


def _complete(data: str) -> bool:
    text = data.strip()
    return text == DONE or (text.startswith("{") and text.endswith("}"))


class LineSplitter:
    """Bytes in, whole lines out (pure). SSE ends a line with CRLF, LF or a lone CR; a CR at
    the end of one chunk may be the first half of a CRLF, so it waits for the next."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[str]:
        data = self._tail + chunk
        if data.endswith(b"\r"):  # maybe half of a CRLF: keep it for the next chunk
            data, self._tail = data[:-1], b"\r"
        else:
            self._tail = b""
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, rest = data.split(b"\n")
        self._tail = rest + self._tail
        return [line.decode("utf-8", "replace") for line in lines]

    def close(self) -> list[str]:
        """The last line, if the stream ended without a line ending."""
        rest, self._tail = self._tail, b""
        if rest.endswith(b"\r"):  # a lone CR at the very end ended a line, empty or not
            return [rest[:-1].decode("utf-8", "replace")]
        return [rest.decode("utf-8", "replace")] if rest else []
