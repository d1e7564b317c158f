"""Shared state for several processes or hosts on one account: slots in Redis.

``RedisSlots`` needs the optional ``redis`` package (``pip install 'vlmroute[redis]'``), so it
is imported on first use; :func:`redact_url` needs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .url import redact_url

if TYPE_CHECKING:
    from .redis_slots import RedisSlots

__all__ = ["RedisSlots", "redact_url"]


def __getattr__(name: str) -> Any:
    if name == "RedisSlots":
        from .redis_slots import RedisSlots

        return RedisSlots
    raise AttributeError(name)
