"""Run the async engine from synchronous code: one event loop on a background thread.

The sync twins (:class:`vlmroute.Client`, :class:`vlmroute.Router`) hand every call to
the loop of their portal and wait for it. So concurrency caps, rate-limit buckets and the
HTTP pool live in one place, on one loop, whichever API and however many threads call them:
the caps hold under any interleaving because only the loop ever touches them.

Create sync clients after a fork (gunicorn ``preload_app``), not before: a thread does not
survive ``fork()``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

__all__ = ["Portal"]

_T = TypeVar("_T")


class Portal:
    """An event loop on a daemon thread; :meth:`call` runs a coroutine there and waits."""

    def __init__(self, name: str = "vlmroute") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"{name}-loop", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def call(self, factory: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``factory()`` on the loop and return its result (or raise its error)."""
        if self._closed:
            raise RuntimeError("this client is closed")
        if threading.current_thread() is self._thread:
            raise RuntimeError("a sync vlmroute call cannot be made from its own event loop")

        async def run() -> _T:
            return await factory()

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def iterate(self, factory: Callable[[], AsyncIterator[_T]]) -> Iterator[_T]:
        """Iterate an async iterator made on the loop; closing early closes it there."""
        iterator = self.call(_make(factory))
        try:
            while True:
                try:
                    item = self.call(_next(iterator))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None and not self._closed:
                self.call(close)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()


def _make(factory: Callable[[], AsyncIterator[_T]]) -> Callable[[], Awaitable[AsyncIterator[_T]]]:
    async def make() -> AsyncIterator[_T]:
        return factory()

    return make


def _next(iterator: AsyncIterator[_T]) -> Callable[[], Awaitable[_T]]:
    def step() -> Awaitable[_T]:
        return iterator.__anext__()

    return step
