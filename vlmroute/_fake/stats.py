"""What a fake provider saw and did: frozen snapshots, and the counters behind them.

The counters change on the server's event loop and are read from any thread; one lock makes
every read a consistent snapshot. In flight means admitted: a chat request counts from the
moment it is admitted (on arrival) until the last bytes of its response are handed to the
socket, or its connection drops.
A request the cap turns away is never in flight; it counts in ``rejected`` instead. So a
client that respects a cap of N leaves ``peak_in_flight <= N`` and ``rejected == 0``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["REDACTED", "FakeStats", "RecordedRequest", "Slot", "StatsRecorder"]

REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key"})


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One chat request as the fake received it; secret header values are ``<redacted>``."""

    path: str
    #: Header names in lower case; ``authorization`` and other key headers redacted.
    headers: Mapping[str, str]
    #: The decoded JSON body, or None when the body was not JSON.
    json: Any
    #: ``time.monotonic()`` when the request arrived.
    at: float
    #: Whether the key was right (always True for a fake built without ``api_key``).
    authorized: bool
    #: The scheme of the Authorization header (``"Bearer"``), or None when there was none.
    auth_scheme: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordedRequest:
        """The inverse of :meth:`to_json`."""
        return cls(
            path=str(data["path"]),
            headers=dict(data["headers"]),
            json=data["json"],
            at=float(data["at"]),
            authorized=bool(data["authorized"]),
            auth_scheme=data["auth_scheme"],
        )

    def to_json(self) -> dict[str, Any]:
        """This request as plain JSON (for ``GET /_fake/requests``)."""
        return {**asdict(self), "headers": dict(self.headers)}


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with lower-case names and key-bearing values replaced."""
    return {
        name.lower(): REDACTED if name.lower() in _SECRET_HEADERS else value
        for name, value in headers.items()
    }


@dataclass(frozen=True, slots=True)
class FakeStats:
    """A consistent snapshot of a fake's counters.

    ``in_flight`` and ``peak_in_flight`` count admitted chat requests, faulted ones included,
    from arrival until their last bytes are sent; requests the cap turns away never count.
    """

    #: Chat requests received (every one, whatever became of it).
    requests_seen: int = 0
    #: Complete 200 answers: a whole JSON body, or a stream through ``[DONE]``.
    served: int = 0
    #: Requests turned away by the in-flight cap (the dialect's rate-limit answer).
    rejected: int = 0
    #: Requests that took an injected fault.
    faulted: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    #: HTTP statuses sent, counted when the status line goes out.
    status_counts: Counter[int] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        """This snapshot as plain JSON (for ``GET /_fake/stats``)."""
        data: dict[str, Any] = {name: getattr(self, name) for name in _COUNTERS}
        data["status_counts"] = {str(k): v for k, v in sorted(self.status_counts.items())}
        return data

    def __getitem__(self, name: str) -> Any:
        """A field in its JSON form, as ``GET /_fake/stats`` gives it (``["status_counts"]``)."""
        return self.to_json()[name]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FakeStats:
        """The inverse of :meth:`to_json`."""
        counts = Counter({int(k): int(v) for k, v in data.get("status_counts", {}).items()})
        return cls(**{n: int(data.get(n, 0)) for n in _COUNTERS}, status_counts=counts)


_COUNTERS = ("requests_seen", "served", "rejected", "faulted", "in_flight", "peak_in_flight")


class Slot:
    """An admitted request's place in flight, given back once.

    The handler gives it back just before the last bytes of the response go out, so that a
    client that waits for its answer before sending the next request never overlaps itself.
    """

    def __init__(self, recorder: StatsRecorder) -> None:
        self._recorder: StatsRecorder | None = recorder

    def release(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder._leave()


class StatsRecorder:
    """The live counters and recorded requests of one fake; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._counts: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._in_flight = 0
        self._peak = 0

    def arrived(self, request: RecordedRequest) -> None:
        with self._lock:
            self._counts["requests_seen"] += 1
            self._requests.append(request)

    def admit(self, cap: int | None, *, exempt: bool) -> Slot | None:
        """Count a request in flight, or (None) count it rejected if that would exceed cap."""
        with self._lock:
            if not exempt and cap is not None and self._in_flight + 1 > cap:
                self._counts["rejected"] += 1
                return None
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            return Slot(self)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def count(self, name: str) -> None:
        """Add one to ``served`` or ``faulted``."""
        with self._lock:
            self._counts[name] += 1

    def status(self, code: int) -> None:
        with self._lock:
            self._statuses[code] += 1

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def snapshot(self) -> FakeStats:
        with self._lock:
            return FakeStats(
                requests_seen=self._counts["requests_seen"],
                served=self._counts["served"],
                rejected=self._counts["rejected"],
                faulted=self._counts["faulted"],
                in_flight=self._in_flight,
                peak_in_flight=self._peak,
                status_counts=Counter(self._statuses),
            )

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Zero the counters and forget recorded requests; the peak restarts from now."""
        with self._lock:
            self._counts.clear()
            self._statuses.clear()
            self._requests.clear()
            self._peak = self._in_flight
