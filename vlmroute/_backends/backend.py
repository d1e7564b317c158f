"""One offer reachable over HTTP: a dialect, a base URL, a model id and (maybe) a key.

A backend sends one request once. It never retries (the retry policy does, one layer up),
never sleeps, and turns every failure into one typed error from :mod:`vlmroute.errors`.
The key is a :class:`pydantic.SecretStr`: no repr, log line or error shows it, and a
provider's error text that echoes it is scrubbed before it becomes a message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from .._request import ChatRequest
from .._response import ChatResponse, StreamEnd, StreamEvent
from .._scrub import scrub
from ..errors import MalformedResponseError, ServerError, VlmrouteError
from .assemble import StreamAssembler
from .classify import classify_error
from .dialects import Dialect
from .http import HttpAnswer, HttpEdge, edge_of, encode
from .options import BackendOptions
from .sse import DONE, SseDecoder

#: What parsing a body of the wrong shape raises: pydantic's ValidationError is a ValueError;
#: ArithmeticError holds int(1e999)'s OverflowError and Decimal("abc")'s InvalidOperation.
SHAPE_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError, ArithmeticError)
#: What json.loads raises: bad JSON, or JSON nested deeper than Python recurses.
JSON_ERRORS = (ValueError, RecursionError)


if TYPE_CHECKING:
    import httpx


def _why(exc: Exception) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first[:120]}"


__all__ = ["Backend"]


class Backend:
    """Sends chat requests to one offer. Build it with :func:`vlmroute._backends.build`."""

    def __init__(
        self,
        *,
        offer: str,
        provider: str,
        dialect: Dialect,
        base_url: str,
        model: str,
        api_key: SecretStr | None,
        http: HttpEdge | httpx.AsyncClient,
        options: BackendOptions | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.offer = offer
        self.provider = provider
        self.dialect = dialect
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.options = options or BackendOptions()
        self._key = api_key
        self.http = edge_of(http)
        self._clock = clock
        self._url = f"{self.base_url}/chat/completions"
        key = api_key.get_secret_value() if api_key is not None else None
        self._headers = self.dialect.headers(key, self.options)

    def __repr__(self) -> str:
        key = "set" if self._key is not None else "none"
        return (
            f"Backend(offer={self.offer!r}, dialect={self.dialect.name!r}, "
            f"base_url={self.base_url!r}, model={self.model!r}, key={key})"
        )

    @property
    def lacks_key(self) -> bool:
        """True when this offer needs a key and has none (a dry run can still plan it)."""
        return self._key is None and self.dialect.key_required

    def account_scope(self) -> str:
        """Who this offer's concurrency cap belongs to, safe to show and to use as a Redis key
        part: the offer id and the first 16 hex digits of the key's SHA-256 (or the offer id
        alone when it has no key). Two routers with the same key share one cap."""
        if self._key is None:
            return self.offer
        digest = hashlib.sha256(self._key.get_secret_value().encode()).hexdigest()
        return f"{self.offer}:{digest[:16]}"

    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return self.dialect.body(request, self.model, stream=stream, options=self.options)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send ``request`` once; the typed response, or a typed error."""
        started = self._clock()
        try:
            answer = await self._with_total(
                self.http.post(
                    self._url,
                    headers=self._headers,
                    body=encode(self.body(request, stream=False)),
                    timeouts=self.options.timeouts,
                )
            )
        except self.http.failures as exc:
            raise self.http.translate(
                exc, provider=self.offer, timeouts=self.options.timeouts
            ) from exc
        if answer.status != 200:
            raise self._error(answer)
        payload = self._json(answer.body, answer)
        if not isinstance(payload, Mapping) or not isinstance(payload.get("choices"), list):
            error = self.dialect.stream_error(payload) if isinstance(payload, Mapping) else None
            if error is not None:  # some providers answer 200 with an error body
                raise self._error(HttpAnswer(answer.status, answer.headers, answer.body))
            raise self._malformed(answer, "JSON without a choices list")
        try:
            return ChatResponse.from_openai(
                payload,
                provider=self.provider,
                offer=self.offer,
                image_size=request.first_image_size(),
                latency_s=self._clock() - started,
                request_id=self._request_id(answer.headers),
            )
        except SHAPE_ERRORS as exc:
            raise self._malformed(
                answer, f"a body not of OpenAI's shape ({self._scrub(_why(exc))})"
            ) from None

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """Reasoning and answer deltas as they arrive, then a :class:`StreamEnd`.

        An error before the first delta is raised before anything is yielded, so a caller
        may try elsewhere; an error after it (a cut connection, OpenRouter's in-stream
        ``finish_reason: "error"``) is raised where it happens.
        """
        started = self._clock()
        deadline = started + self.options.timeouts.total
        assembler = StreamAssembler(provider=self.provider, image_size=request.first_image_size())
        request_id: str | None = None
        try:
            async with self.http.stream(
                self._url,
                headers=self._headers,
                body=encode(self.body(request, stream=True)),
                timeouts=self.options.timeouts,
            ) as (answer, lines):
                if answer.status != 200:
                    raise self._error(answer)
                request_id = self._request_id(answer.headers)
                decoder = SseDecoder()
                done = False
                async for batch in lines:  # the lines that arrived together
                    if self._clock() > deadline:
                        raise TimeoutError
                    for line in batch:
                        data = decoder.feed(line)
                        if data is None:
                            continue
                        if data.strip() == DONE:
                            done = True
                            break
                        for event in self._chunk_events(assembler, data, answer):
                            yield event
                    if done:
                        break
                for event in self._tail_events(decoder, done, assembler, answer):
                    yield event
        except self.http.failures as exc:
            raise self.http.translate(
                exc, provider=self.offer, timeouts=self.options.timeouts
            ) from exc
        for event in assembler.close():
            yield event
        yield self._end(assembler, self._clock() - started, request_id)

    def _tail_events(
        self, decoder: SseDecoder, done: bool, assembler: StreamAssembler, answer: HttpAnswer
    ) -> Sequence[StreamEvent]:
        """The events of data left in the decoder when the body ended; a ServerError if it
        ended without [DONE] or a finish_reason (cut short)."""
        events: Sequence[StreamEvent] = ()
        tail = None if done else decoder.close()
        if tail is not None and tail.strip() == DONE:
            done = True
        elif tail is not None:
            events = self._chunk_events(assembler, tail, answer)
        if not done and assembler.finish_reason is None:
            raise ServerError(
                f"{self.offer}: the stream ended before [DONE] and without a finish_reason "
                "(cut short)",
                provider=self.offer,
                status_code=200,
                request_id=self._request_id(answer.headers),
            )
        return events

    def _end(
        self, assembler: StreamAssembler, latency_s: float, request_id: str | None
    ) -> StreamEnd:
        try:
            response = assembler.response(latency_s=latency_s, raw_extra={})
        except SHAPE_ERRORS as exc:
            raise MalformedResponseError(
                f"{self.offer}: a stream whose chunks are not of OpenAI's shape "
                f"({self._scrub(_why(exc))})",
                provider=self.offer,
                status_code=200,
                request_id=request_id,
            ) from None
        return StreamEnd(
            response=response.model_copy(
                update={"offer": self.offer, "request_id": response.request_id or request_id}
            )
        )

    async def open_stream(
        self, request: ChatRequest
    ) -> tuple[StreamEvent, AsyncGenerator[StreamEvent, None]]:
        """Start a stream and wait for its first event: an error before it is raised here,
        where a caller may still retry or fail over; the rest follow from the generator."""
        events = self.stream(request)
        try:
            return await anext(events), events
        except BaseException:
            await events.aclose()
            raise

    def _chunk_events(
        self, assembler: StreamAssembler, data: str, answer: HttpAnswer
    ) -> Sequence[StreamEvent]:
        chunk = self._json(data, answer)
        if not isinstance(chunk, Mapping):
            raise self._malformed(answer, "a stream chunk that is not a JSON object")
        error = self.dialect.stream_error(chunk)
        if error is not None:
            raise self._classify(self.dialect.stream_error_status(error), chunk, answer.headers)
        try:
            return assembler.feed(chunk)
        except SHAPE_ERRORS as exc:
            raise self._malformed(
                answer, f"a stream chunk not of OpenAI's shape ({self._scrub(_why(exc))})"
            ) from None

    async def _with_total(self, call: Awaitable[HttpAnswer]) -> HttpAnswer:
        async with asyncio.timeout(self.options.timeouts.total):
            return await call

    def _request_id(self, headers: Mapping[str, str]) -> str | None:
        for name in self.dialect.request_id_headers:
            value = headers.get(name)
            if value:
                return value
        return None

    def _json(self, body: bytes | str, answer: HttpAnswer) -> Any:
        try:
            return json.loads(body)
        except JSON_ERRORS:
            raise self._malformed(answer, "a body that is not JSON") from None

    def _malformed(self, answer: HttpAnswer, what: str) -> MalformedResponseError:
        return MalformedResponseError(
            f"{self.offer}: HTTP {answer.status} with {what}",
            provider=self.offer,
            status_code=answer.status,
            request_id=self._request_id(answer.headers),
        )

    def _error(self, answer: HttpAnswer) -> VlmrouteError:
        text = self._scrub(answer.body.decode("utf-8", "replace"))
        try:
            body: Any = json.loads(text)
        except JSON_ERRORS:
            body = {"message": text[:300] or f"HTTP {answer.status}"}
        return self._classify(answer.status, body, answer.headers)

    def _classify(self, status: int, body: Any, headers: Mapping[str, str]) -> VlmrouteError:
        if isinstance(body, Mapping):
            body = json.loads(self._scrub(json.dumps(body)))
        request_id = self._request_id(headers)
        if request_id is None and isinstance(body, Mapping):
            request_id = body.get("request_id") or body.get("id")
        return classify_error(
            provider=self.offer,
            dialect=self.dialect.error_dialect,
            status_code=status,
            body=body,
            headers=headers,
            request_id=request_id if isinstance(request_id, str) else None,
            now=time.time,
        )

    def _scrub(self, text: str) -> str:
        return scrub(text, None if self._key is None else self._key.get_secret_value())
