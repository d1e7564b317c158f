"""Prometheus metrics of a router (``prometheus_client``), for the gateway or your own server.

::

    from vlmroute import AsyncRouter
    from vlmroute.metrics import RouterMetrics

    router = AsyncRouter.from_config("router.yaml")
    metrics = RouterMetrics(router)        # counts every request from now on
    body, content_type = metrics.expose()  # serve these at /metrics

``vlmroute serve`` serves them at ``/metrics``. Names follow Prometheus' conventions
(``_total`` counters, base units: seconds, tokens; money in the offer's own currency, as a
``currency`` label):

- ``vlmroute_requests_total{offer,outcome,caller}``: requests ended, by how ("ok",
  "abandoned", or the error class); ``caller`` is the gateway key ("" in-process).
- ``vlmroute_attempts_total{offer,outcome}``, ``vlmroute_rate_limited_total{offer}`` (429s
  received), ``vlmroute_spills_total{offer}`` (served here because the best offer was
  full), ``vlmroute_failovers_total{offer}`` (left after a failure).
- ``vlmroute_prompt_tokens_total{offer,kind}`` (kind text, image, video: images and video
  counted by vlmroute exactly, text the rest of what the provider reported) and
  ``vlmroute_completion_tokens_total{offer,kind}`` (reasoning, answer; "completion" where
  the provider does not split them).
- ``vlmroute_cost_total{offer,currency}``: what requests cost, reported or priced.
- ``vlmroute_request_duration_seconds{offer}`` and ``vlmroute_time_to_first_token_seconds
  {offer}``: histograms.
- Gauges read from the router when scraped: ``vlmroute_in_flight{offer}``, ``vlmroute_cap
  {offer}`` (the learned cap where a 429 taught one), ``vlmroute_configured_cap{offer}``,
  ``vlmroute_offer_ready{offer}`` (1 or 0), ``vlmroute_queue_depth`` (requests waiting for
  a slot) and ``vlmroute_budget_remaining{budget,currency}``.

Several worker processes (``vlmroute serve --workers N``) share one view through
``prometheus_client``'s multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` names the folder,
counters add up across workers, and gauges are each worker's last values, summed where
each worker has its own slots and the largest where they share Redis (the same number).
No label or value ever holds a key.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ._router.events import RequestDone
from ._router.states import offer_states

if TYPE_CHECKING:
    from ._router import AsyncRouter

__all__ = ["RouterMetrics", "multiprocess_dir"]

#: Seconds: GLM-4.1V thinks for seconds to minutes.
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)
_TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)

GaugeMode = Literal["livesum", "livemax", "livemin"]


def multiprocess_dir() -> str | None:
    """The folder ``prometheus_client`` shares metrics through, if it is in that mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class RouterMetrics:
    """Counters fed by ``router``'s request listener; gauges read from it by :meth:`refresh`.

    ``registry`` defaults to a fresh one (never the global one, so two routers in one process
    do not collide). ``gauges`` is how several worker processes' gauges combine in
    multiprocess mode: "livesum" when each has its own slots, "livemax" when they share an
    account's slots through Redis (each reads the same count).
    """

    def __init__(
        self,
        router: AsyncRouter,
        *,
        registry: CollectorRegistry | None = None,
        gauges: GaugeMode | None = None,
    ) -> None:
        self.router = router
        self.registry = CollectorRegistry() if registry is None else registry
        mode: GaugeMode = gauges or ("livemax" if router.config.store else "livesum")
        reg = self.registry

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(f"vlmroute_{name}", doc, labels, registry=reg)

        def gauge(
            name: str, doc: str, labels: tuple[str, ...] = (), how: GaugeMode = mode
        ) -> Gauge:
            return Gauge(f"vlmroute_{name}", doc, labels, registry=reg, multiprocess_mode=how)

        self.requests = counter(
            "requests", "Routed requests, by how they ended", ("offer", "outcome", "caller")
        )
        self.attempts = counter("attempts", "Tries of an offer, by outcome", ("offer", "outcome"))
        self.rate_limited = counter("rate_limited", "429 answers received", ("offer",))
        self.spills = counter(
            "spills", "Requests served here because the best offer was full", ("offer",)
        )
        self.failovers = counter("failovers", "Offers left after a failure", ("offer",))
        self.prompt_tokens = counter("prompt_tokens", "Prompt tokens, by kind", ("offer", "kind"))
        self.completion_tokens = counter(
            "completion_tokens", "Completion tokens, by kind", ("offer", "kind")
        )
        self.cost = counter(
            "cost", "What requests cost, in the offer's currency", ("offer", "currency")
        )
        self.duration = Histogram(
            "vlmroute_request_duration_seconds",
            "Time from routing to the last byte",
            ("offer",),
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.ttft = Histogram(
            "vlmroute_time_to_first_token_seconds",
            "Time from routing to a stream's first delta",
            ("offer",),
            buckets=_TTFT_BUCKETS,
            registry=reg,
        )
        self.in_flight = gauge("in_flight", "Requests in flight on the offer", ("offer",))
        self.cap = gauge("cap", "The offer's in-flight cap now (learned or set)", ("offer",))
        self.configured_cap = gauge("configured_cap", "The cap the config sets", ("offer",))
        self.ready = gauge("offer_ready", "1 if the offer can take a request now", ("offer",))
        self.queue_depth = gauge("queue_depth", "Requests waiting for a slot", how="livesum")
        self.budget_remaining = gauge(
            "budget_remaining", "What is left of a budget", ("budget", "currency"), how="livemin"
        )
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        router.add_listener(self.observe)

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, kept: prometheus_client checks and locks on every
        ``labels()`` call, which was most of this listener's cost per request."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, done: RequestDone) -> None:
        """Count one ended request (the router calls this)."""
        child = self._child
        offer = done.offer or "none"
        child(self.requests, offer, done.outcome, done.caller or "").inc()
        attempts = done.attempts
        for attempt in attempts:
            child(self.attempts, attempt.offer, attempt.outcome).inc()
            if attempt.status_code == 429:
                child(self.rate_limited, attempt.offer).inc()
        if len(attempts) > 1:
            for left in done.failed_over_from():
                child(self.failovers, left).inc()
        if done.spilled:
            child(self.spills, offer).inc()
        child(self.duration, offer).observe(done.latency_s)
        if done.ttft_s is not None:
            child(self.ttft, offer).observe(done.ttft_s)
        record = done.record
        if record is None or not done.ok:
            return
        prompt = done.prompt
        if prompt.images:
            child(self.prompt_tokens, offer, "image").inc(prompt.images)
        if prompt.video:
            child(self.prompt_tokens, offer, "video").inc(prompt.video)
        text = record.prompt_tokens - prompt.images - prompt.video
        child(self.prompt_tokens, offer, "text").inc(max(text, 0))
        reasoning = record.reasoning_tokens
        if reasoning is None:
            child(self.completion_tokens, offer, "completion").inc(record.completion_tokens)
        else:
            child(self.completion_tokens, offer, "reasoning").inc(reasoning)
            answer = max(record.completion_tokens - reasoning, 0)
            child(self.completion_tokens, offer, "answer").inc(answer)
        cost = record.cost
        child(self.cost, offer, cost.currency).inc(float(cost.amount))

    def refresh(self) -> None:
        """Set the gauges from the router's state now."""
        router = self.router
        for name, state in offer_states(router).items():  # what /ready says, as numbers
            self.in_flight.labels(name).set(state["in_flight"])
            self.cap.labels(name).set(state["cap"])
            self.configured_cap.labels(name).set(state["configured_cap"])
            self.ready.labels(name).set(1 if state["state"] == "ready" else 0)
        self.queue_depth.set(router.waiting)
        for budget, left in router.budgets.remaining():
            self.budget_remaining.labels(budget.describe(), left.currency).set(float(left.amount))

    def expose(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type. In multiprocess
        mode, every worker's (this one's gauges are refreshed first)."""
        self.refresh()
        folder = multiprocess_dir()
        if folder is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=folder)  # type: ignore[no-untyped-call]
        return generate_latest(merged), CONTENT_TYPE_LATEST
