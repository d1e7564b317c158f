"""Faults a fake provider can play, as small frozen values, and the queue they wait in.

Error faults (rate limit, no balance, content filter, overload, server error) are answered in
the fake's own dialect (see :mod:`vlmroute._fake.wire`); ``status`` sends exactly what it is
given; the transport faults (hang, malformed JSON, cut stream, in-stream error, drop) behave
alike in every dialect. Each injected fault is used by one chat request, in arrival order.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Fault", "FaultKind", "FaultQueue"]

FaultKind = Literal[
    "content_filter",
    "cut_stream",
    "drop",
    "hang",
    "malformed_json",
    "no_balance",
    "overloaded",
    "rate_limit",
    "server_error",
    "status",
    "stream_error",
]


@dataclass(frozen=True, slots=True)
class Fault:
    """One misbehaviour for one request; build it with the class methods, not directly."""

    kind: FaultKind
    http_status: int | None = None
    #: The JSON body of a ``status`` fault, as text (so that a fault stays hashable).
    body_text: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    after_chunks: int = 0
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if self.http_status is not None and not 100 <= self.http_status <= 599:
            raise ValueError(f"HTTP status must be 100-599, not {self.http_status}")
        if self.seconds < 0 or self.after_chunks < 0:
            raise ValueError("seconds and after_chunks must not be negative")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must not be negative")

    @classmethod
    def rate_limit(cls, retry_after: float | None = None) -> Fault:
        """The dialect's rate-limit answer (Zhipu 429 + 1302), with ``Retry-After`` if given."""
        return cls("rate_limit", retry_after=retry_after)

    @classmethod
    def no_balance(cls) -> Fault:
        """Out of money: Zhipu 429 + 1113, OpenRouter 402, SiliconFlow 403, vLLM/SGLang 402."""
        return cls("no_balance")

    @classmethod
    def content_filter(cls) -> Fault:
        """Flagged content: Zhipu 400 + 1301, OpenRouter 403 (moderation), others 400."""
        return cls("content_filter")

    @classmethod
    def overloaded(cls, retry_after: float | None = None) -> Fault:
        """The provider is overloaded: Zhipu 429 + 1305, others 503."""
        return cls("overloaded", retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """A 5xx (or any status) with the dialect's error body."""
        return cls("server_error", http_status=status)

    @classmethod
    def status(cls, status: int, body_json: Any, headers: Mapping[str, str] | None = None) -> Fault:
        """Exactly this status, JSON body and headers."""
        text = json.dumps(body_json, ensure_ascii=False)
        return cls("status", http_status=status, body_text=text, headers=_pairs(headers))

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Say nothing for ``seconds`` (for client timeouts), then answer normally."""
        return cls("hang", seconds=seconds)

    @classmethod
    def malformed_json(cls) -> Fault:
        """HTTP 200 whose body (or whose one SSE event) is not JSON."""
        return cls("malformed_json")

    @classmethod
    def cut_stream(cls, after_chunks: int = 2) -> Fault:
        """Streams: ``after_chunks`` events, then the connection drops with no ``[DONE]``.

        Non-stream requests: the connection drops right after the response headers.
        """
        return cls("cut_stream", after_chunks=after_chunks)

    @classmethod
    def stream_error(cls, after_chunks: int = 1) -> Fault:
        """Streams: ``after_chunks`` events, then the dialect's in-stream error under HTTP 200.

        Non-stream requests get the dialect's :meth:`overloaded` answer instead.
        """
        return cls("stream_error", after_chunks=after_chunks)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection at once, without any response."""
        return cls("drop")

    @property
    def body_json(self) -> Any:
        """The JSON body of a ``status`` fault, decoded."""
        return None if self.body_text is None else json.loads(self.body_text)

    def to_spec(self) -> dict[str, Any]:
        """This fault as the JSON that ``POST /_fake/inject`` takes (see :meth:`from_spec`)."""
        spec: dict[str, Any] = {"fault": self.kind}
        if self.kind in ("server_error", "status"):
            spec["status"] = self.http_status
        if self.kind == "status":
            spec["body"] = self.body_json
            spec["headers"] = dict(self.headers)
        if self.kind in ("rate_limit", "overloaded") and self.retry_after is not None:
            spec["retry_after"] = self.retry_after
        if self.kind == "hang":
            spec["seconds"] = self.seconds
        if self.kind in ("cut_stream", "stream_error"):
            spec["after_chunks"] = self.after_chunks
        return spec

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Fault:
        """A fault from ``{"fault": "rate_limit", "retry_after": 2, ...}``; ValueError if bad."""
        name = spec.get("fault")
        build = _FROM_SPEC.get(str(name))
        if build is None:
            known = ", ".join(sorted(_FROM_SPEC))
            raise ValueError(f"unknown fault {name!r} (known: {known})")
        try:
            return build(spec)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad arguments for fault {name!r}: {exc}") from exc


def _pairs(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in (headers or {}).items())


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


_FROM_SPEC: Mapping[str, Callable[[Mapping[str, Any]], Fault]] = {
    "content_filter": lambda s: Fault.content_filter(),
    "cut_stream": lambda s: Fault.cut_stream(int(s.get("after_chunks", 2))),
    "drop": lambda s: Fault.drop(),
    "hang": lambda s: Fault.hang(float(s["seconds"])),
    "malformed_json": lambda s: Fault.malformed_json(),
    "no_balance": lambda s: Fault.no_balance(),
    "overloaded": lambda s: Fault.overloaded(_number(s.get("retry_after"))),
    "rate_limit": lambda s: Fault.rate_limit(_number(s.get("retry_after"))),
    "server_error": lambda s: Fault.server_error(int(s.get("status", 500))),
    "status": lambda s: Fault.status(int(s["status"]), s.get("body"), s.get("headers")),
    "stream_error": lambda s: Fault.stream_error(int(s.get("after_chunks", 1))),
}


class FaultQueue:
    """Injected faults waiting for requests; thread-safe (injected anywhere, taken on the loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()

    def push(self, fault: Fault, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        with self._lock:
            self._faults.extend([fault] * times)

    def pop(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)
