"""Fake GLM-4.1V providers for tests and benchmarks: real HTTP servers on 127.0.0.1.

Each fake speaks one provider's wire format (``zhipu``, ``openrouter``, ``siliconflow``,
``vllm``, ``sglang``: request paths, JSON shapes, SSE streams, error bodies and codes, as in
``shared/facts/providers.md``), enforces an in-flight cap the way the provider does, plays
injected faults, and counts what it saw::

    import httpx
    from vlmroute.testing import FakeProvider, Fault

    with FakeProvider("zhipu", latency_s=0.05, cap=5, api_key="test-key") as fake:
        fake.inject(Fault.rate_limit(retry_after=1), times=2)  # the next two chat requests
        fake.inject(Fault.server_error(502))
        httpx.post(
            f"{fake.base_url}/chat/completions",              # .../api/paas/v4/chat/completions
            json={"model": "glm-4.1v-thinking-flashx", "messages": [...]},
            headers={"Authorization": "Bearer test-key"},
        )
        ...
        assert fake.stats.peak_in_flight <= 5 and fake.stats.rejected == 0
        assert fake.requests[0].json["model"] == "glm-4.1v-thinking-flashx"

        fake.kill()   # every open connection drops mid-answer
        fake.start()  # serves again on the same port

``async with FakeProvider(...)`` works too (the server keeps its own thread and loop).
``fail_rate=0.1, seed=7`` fails a random tenth of requests (with ``fail_with``, default an
overload). For a server in another process, ``spawn(...)`` (also ``FakeProvider.spawn``)
takes the same arguments and returns a :class:`SpawnedFake` (``stats()``, ``inject()``,
``reset_stats()``, ``kill()``, ``close()``); from a shell::

    python -m vlmroute.testing serve --dialect zhipu --cap 5 --latency 0.05
    {"base_url": "http://127.0.0.1:40537/api/paas/v4", "port": 40537, "pid": 4242}

Every fake also answers ``GET /_fake/stats``, ``GET /_fake/requests``, ``POST /_fake/reset``
and ``POST /_fake/inject`` (``{"fault": "rate_limit", "times": 3, "retry_after": 1}``).

For a router with ``store:``, ``with redis_server() as redis:`` starts a throwaway
``redis-server`` (no persistence) on a free loopback port: ``redis.url``, ``redis.kill()``,
``redis.start()`` (the same port, empty).
"""

from __future__ import annotations

from ._fake.faults import Fault
from ._fake.provider import FakeProvider
from ._fake.redis_server import RedisServer, redis_server
from ._fake.spawn import SpawnedFake
from ._fake.stats import FakeStats, RecordedRequest

__all__ = [
    "FakeProvider",
    "FakeStats",
    "Fault",
    "RecordedRequest",
    "RedisServer",
    "SpawnedFake",
    "redis_server",
    "spawn",
]

#: ``FakeProvider.spawn``: a fake in a child process, started; same arguments as FakeProvider.
spawn = FakeProvider.spawn

if __name__ == "__main__":
    from ._fake.cli import main

    raise SystemExit(main())
