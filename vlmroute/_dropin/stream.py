"""``stream=True`` results: openai's ``Stream`` / ``AsyncStream`` over the router's events.

They subclass openai's classes, so ``isinstance`` checks and type hints in an app still
hold, and offer the same surface: iteration, ``close()``, the context manager, and a
``response`` (a synthetic ``200 text/event-stream``; there is no one HTTP answer behind a
routed stream). openai's ``__init__`` is not called (it wires an SSE decoder to an HTTP
body): every method that would use what it sets up is replaced here.

The router's first event is read before the stream is returned (:meth:`Stream.open`), so
an error before the first delta (a rate limit on every offer, a bad request) is raised by
``create()``, as the openai SDK raises an HTTP error status there. An error after it is
raised by the iteration, as openai raises an error event inside a stream.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator

import httpx
import openai
from openai.types.chat import ChatCompletionChunk

from .._response import ChatResponse, StreamEnd, StreamEvent
from ..errors import ServerError, VlmrouteError
from .convert import ChunkMaker
from .errors import endpoint_request, openai_error

__all__ = ["AsyncStream", "Stream"]


def _event_stream_response() -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, request=endpoint_request()
    )


def _no_events() -> ServerError:
    return ServerError("the router's stream ended without any event", provider="vlmroute")


class Stream(openai.Stream[ChatCompletionChunk]):
    """Chunks of one routed, streamed request. ``vlmroute`` is the router's full response
    (answer, reasoning, cost, attempts) once the last chunk has been read."""

    def __init__(
        self, events: Iterator[StreamEvent], first: StreamEvent, maker: ChunkMaker
    ) -> None:
        self.response = _event_stream_response()
        self.vlmroute: ChatResponse | None = None
        self._events = events
        self._maker = maker
        self._chunk_iter = self._chunks(first)
        self._closed = False

    @classmethod
    def open(cls, events: Iterator[StreamEvent], maker: ChunkMaker) -> Stream:
        """Read the first event, then stream; errors before it are raised here."""
        try:
            first = next(events)
        except VlmrouteError as exc:
            raise openai_error(exc) from exc
        except StopIteration:
            empty = _no_events()
            raise openai_error(empty) from empty
        return cls(events, first, maker)

    def _chunks(self, first: StreamEvent) -> Generator[ChatCompletionChunk, None, None]:
        event = first
        try:
            while True:
                if isinstance(event, StreamEnd):
                    self.vlmroute = event.response
                yield from self._maker.chunks(event)
                try:
                    event = next(self._events)
                except StopIteration:
                    return
                except VlmrouteError as exc:
                    raise openai_error(exc) from exc
        finally:
            self._close_events()

    def __next__(self) -> ChatCompletionChunk:
        return next(self._chunk_iter)

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        return self._chunk_iter

    def close(self) -> None:
        """Stop the stream and free its slot at the provider (idempotent)."""
        self._chunk_iter.close()
        self._close_events()

    def _close_events(self) -> None:
        if not self._closed:
            self._closed = True
            close = getattr(self._events, "close", None)
            if close is not None:
                close()


class AsyncStream(openai.AsyncStream[ChatCompletionChunk]):
    """The async twin of :class:`Stream`."""

    def __init__(
        self, events: AsyncIterator[StreamEvent], first: StreamEvent, maker: ChunkMaker
    ) -> None:
        self.response = _event_stream_response()
        self.vlmroute: ChatResponse | None = None
        self._events = events
        self._maker = maker
        self._chunk_iter = self._chunks(first)
        self._closed = False

    @classmethod
    async def open(cls, events: AsyncIterator[StreamEvent], maker: ChunkMaker) -> AsyncStream:
        """Read the first event, then stream; errors before it are raised here."""
        try:
            first = await anext(events)
        except VlmrouteError as exc:
            await _aclose(events)
            raise openai_error(exc) from exc
        except StopAsyncIteration:
            empty = _no_events()
            raise openai_error(empty) from empty
        except BaseException:
            await _aclose(events)
            raise
        return cls(events, first, maker)

    async def _chunks(self, first: StreamEvent) -> AsyncGenerator[ChatCompletionChunk, None]:
        event = first
        try:
            while True:
                if isinstance(event, StreamEnd):
                    self.vlmroute = event.response
                for chunk in self._maker.chunks(event):
                    yield chunk
                try:
                    event = await anext(self._events)
                except StopAsyncIteration:
                    return
                except VlmrouteError as exc:
                    raise openai_error(exc) from exc
        finally:
            await self._close_events()

    async def __anext__(self) -> ChatCompletionChunk:
        return await anext(self._chunk_iter)

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._chunk_iter

    async def close(self) -> None:
        """Stop the stream and free its slot at the provider (idempotent)."""
        await self._chunk_iter.aclose()
        await self._close_events()

    async def _close_events(self) -> None:
        if not self._closed:
            self._closed = True
            await _aclose(self._events)


async def _aclose(events: AsyncIterator[StreamEvent]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()
