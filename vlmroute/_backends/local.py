"""Health and load of a local vLLM or SGLang server.

``GET /health`` (200 when the engine is up), ``GET /v1/models`` (which model it serves) and,
when exposed, ``GET /metrics`` in Prometheus text: vLLM's ``vllm:num_requests_running``,
``vllm:num_requests_waiting`` and ``vllm:kv_cache_usage_perc`` (``vllm:gpu_cache_usage_perc``
before V1). SGLang exposes ``sglang:num_running_reqs`` / ``sglang:num_queue_reqs`` when
started with ``--enable-metrics``. The parser is pure; :func:`probe` is the I/O.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .http import HttpEdge, edge_of

if TYPE_CHECKING:
    import httpx


__all__ = ["ServerHealth", "ServerLoad", "parse_metrics", "probe"]

_RUNNING = ("vllm:num_requests_running", "sglang:num_running_reqs")
_WAITING = ("vllm:num_requests_waiting", "sglang:num_queue_reqs")
_KV = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage")


@dataclass(frozen=True, slots=True)
class ServerLoad:
    """Requests being decoded, requests queued, and KV-cache use (0-1) when reported."""

    running: int
    waiting: int
    kv_cache_usage: float | None


@dataclass(frozen=True, slots=True)
class ServerHealth:
    ok: bool
    models: tuple[str, ...] = ()
    load: ServerLoad | None = None
    error: str | None = None


def parse_metrics(text: str) -> ServerLoad | None:
    """Load figures summed over every model label; None if the text has none of them."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_part, _, value = line.rpartition(" ")
        name = name_part.split("{", 1)[0].strip()
        try:
            number = float(value)
        except ValueError:
            continue
        if math.isfinite(number):
            totals[name] = totals.get(name, 0.0) + number
    running = next((totals[n] for n in _RUNNING if n in totals), None)
    waiting = next((totals[n] for n in _WAITING if n in totals), None)
    if running is None and waiting is None:
        return None
    kv = next((totals[n] for n in _KV if n in totals), None)
    return ServerLoad(running=int(running or 0), waiting=int(waiting or 0), kv_cache_usage=kv)


def _root(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


async def probe(
    http: HttpEdge | httpx.AsyncClient,
    base_url: str,
    *,
    headers: dict[str, str],
    timeout: float = 5.0,
) -> ServerHealth:
    """Ask a local server whether it is up, what it serves and how loaded it is."""
    edge = edge_of(http)
    root = _root(base_url)
    try:
        health, models, metrics = await asyncio.gather(
            edge.get(f"{root}/health", headers=headers, timeout_s=timeout),
            edge.get(f"{base_url.rstrip('/')}/models", headers=headers, timeout_s=timeout),
            edge.get(f"{root}/metrics", headers=headers, timeout_s=timeout),
        )
    except edge.failures as exc:
        return ServerHealth(ok=False, error=f"{type(exc).__name__}: {exc}")
    if health.status != 200:
        return ServerHealth(ok=False, error=f"/health answered HTTP {health.status}")
    served: tuple[str, ...] = ()
    if models.status == 200:
        try:
            data = json.loads(models.body).get("data") or []
            served = tuple(str(m.get("id")) for m in data if isinstance(m, dict))
        except (ValueError, AttributeError):
            served = ()
    text = metrics.body.decode("utf-8", "replace")
    load = parse_metrics(text) if metrics.status == 200 else None
    return ServerHealth(ok=True, models=served, load=load)
