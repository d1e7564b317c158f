"""The connection to Redis: scripts, wake-ups, and what happens when Redis goes away.

:class:`RedisLink` is the one place that meets redis-py. It runs the scripts of :mod:`.lua`
(counting each call as one round trip), listens on the wake channels (one pub/sub connection
per process, whatever the number of waiters), and translates every connection failure into
:class:`RedisUnreachable`. It has three states: ``new`` (not connected yet), ``up``
(subscribed; scripts run) and ``down``. Going down logs one warning and starts a background
retry every ``retry_s``; coming back logs one info line. The URL's password never reaches a
log line or a message: :func:`redact_url` is applied to the URL and to redis-py's error text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._scrub import scrub
from . import lua
from .tasks import Background
from .url import redact_url

__all__ = ["RedisLink", "RedisUnreachable"]

log = logging.getLogger("vlmroute")

#: What "Redis is unreachable" looks like from redis-py (refused, reset, auth, loading, timeout).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
SOCKET_TIMEOUT_S = 2.0
POOL_SIZE = 16  # connections per process, the wake-up subscriber's included
POOL_WAIT_S = 5.0  # longer without a free connection means Redis is not answering

State = Literal["new", "up", "down"]
_T = TypeVar("_T")


class RedisUnreachable(Exception):
    """A Redis call failed for want of a connection; the link is down (message redacted)."""


class RedisLink:
    """One process's connection to Redis. ``on_message(channel, words)`` gets each message
    on the channels; ``on_down()`` runs when the link goes down (stop waiting on Redis),
    ``on_up()`` each time it comes up (catch up on what was missed)."""

    def __init__(
        self,
        url: str,
        *,
        channels: Sequence[str],
        on_message: Callable[[str, list[str]], None],
        on_down: Callable[[], None],
        on_up: Callable[[], None] = lambda: None,
        down_note: str,
        retry_s: float = 2.0,
    ) -> None:
        self.safe_url = redact_url(url)
        parts = urlsplit(url)
        secrets = (parts.password, *parse_qs(parts.query).get("password", []))
        self._secrets = [secret for secret in secrets if secret]
        self.round_trips = 0
        self.state: State = "new"
        self._attempts = 0  # connection attempts finished
        self._channels = sorted(set(channels))
        self._on_message = on_message
        self._on_down = on_down
        self._on_up = on_up
        self._down_note = down_note
        self._retry_s = retry_s
        # A burst of requests waits for one of POOL_SIZE connections (the default pool
        # fails instead). One retry, at once: a pooled connection that Redis closed (a
        # restart) is replaced.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=POOL_WAIT_S,
            decode_responses=True,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            retry=Retry(NoBackoff(), 1),
        )
        self._client = aioredis.Redis.from_pool(pool)
        self._scripts = {
            name: self._client.register_script(text)
            for name, text in (
                ("acquire", lua.ACQUIRE),
                ("leave", lua.LEAVE),
                ("renew", lua.RENEW),
                ("spend", lua.SPEND),
                ("remember", lua.REMEMBER),
            )
        }
        self._listener: asyncio.Task[None] | None = None
        self._background = Background()
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"RedisLink({self.safe_url!r}, state={self.state!r})"

    def redact(self, text: str) -> str:
        """``text`` with the URL's password (should redis-py ever echo it) replaced."""
        for secret in self._secrets:
            text = scrub(text, secret)
        return text

    async def call(self, script: str, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        """Run one of the scripts of :mod:`.lua` (``acquire``, ``leave``, ``renew``,
        ``spend``, ``remember``): one round trip.

        Raises:
            RedisUnreachable: no connection (the link is now down).
        """
        return await self._round_trip(self._scripts[script](keys=keys, args=args))

    async def values(self, keys: Sequence[str]) -> list[str | None]:
        """MGET ``keys``: one round trip. Raises :class:`RedisUnreachable` as :meth:`call`."""
        values = await self._round_trip(self._client.mget(list(keys)))
        return [None if v is None else str(v) for v in values]

    async def publish(self, channel: str, message: str) -> None:
        """PUBLISH ``message`` on ``channel``: one round trip. Raises as :meth:`call`."""
        await self._round_trip(self._client.publish(channel, message))

    async def _round_trip(self, command: Awaitable[_T]) -> _T:
        """Await one Redis command, counted; a connection failure takes the link down."""
        self.round_trips += 1
        try:
            return await command
        except UNREACHABLE as exc:
            raise self._went_down(exc) from None

    async def connect(self) -> bool:
        """Subscribe to the wake channels (one round trip); False if Redis did not answer.

        Callers that queued behind another's attempt take its answer rather than try again
        (a burst of requests as Redis goes away makes one attempt, not one each)."""
        seen = self._attempts
        async with self._lock:
            if self.state == "up" or self._attempts != seen:
                return self.state == "up"
            pubsub = self._client.pubsub(ignore_subscribe_messages=False)
            self.round_trips += 1
            try:
                await self._subscribe(pubsub)
            except UNREACHABLE as exc:
                await _quietly(pubsub.aclose())  # type: ignore[no-untyped-call]
                self._went_down(exc)
                return False
            finally:
                self._attempts += 1  # finished: those queued meanwhile take this answer
            if self.state == "down":
                log.info("Redis at %s answers again: caps are shared again", self.safe_url)
            self.state = "up"
            self._listener = self._background.spawn(self._listen(pubsub))
            self._on_up()
            return True

    async def _subscribe(self, pubsub: PubSub) -> None:
        """SUBSCRIBE, and wait for every confirmation: a ticket registered after this returns
        is sure to have its wake-ups delivered."""
        await pubsub.subscribe(*self._channels)
        confirmed = 0
        async with asyncio.timeout(SOCKET_TIMEOUT_S):
            while confirmed < len(self._channels):
                message = await pubsub.get_message(timeout=SOCKET_TIMEOUT_S)
                if message is not None and message["type"] == "subscribe":
                    confirmed += 1

    async def _listen(self, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if message is not None and message["type"] == "message":
                    self._on_message(str(message["channel"]), str(message["data"]).split())
        except UNREACHABLE as exc:
            self._went_down(exc)
        finally:
            await _quietly(pubsub.aclose())  # type: ignore[no-untyped-call]

    def _went_down(self, exc: BaseException) -> RedisUnreachable:
        """Mark the link down (warn once per outage, retry in the background)."""
        reason = self.redact(f"{type(exc).__name__}: {exc}")
        if self.state != "down":
            was_up, self.state = self.state == "up", "down"
            log.warning(
                "Redis at %s is unreachable (%s)%s; %s until it answers again (retried every %g s)",
                self.safe_url,
                reason,
                "" if was_up else " at start",
                self._down_note,
                self._retry_s,
            )
            if self._listener is not None and self._listener is not asyncio.current_task():
                self._listener.cancel()
            self._listener = None
            self._on_down()
            self._background.spawn(self._reconnect())
        return RedisUnreachable(f"Redis at {self.safe_url} is unreachable ({reason})")

    async def _reconnect(self) -> None:
        while self.state == "down":
            await asyncio.sleep(self._retry_s)
            await self.connect()

    async def aclose(self) -> None:
        """Stop listening and retrying; close the connections."""
        await self._background.stop()
        await _quietly(self._client.aclose())


async def _quietly(closing: Any) -> None:
    with contextlib.suppress(*UNREACHABLE, RuntimeError):
        await closing
