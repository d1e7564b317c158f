"""What the gateway says about its offers (``/ready``, the status page), read from the router."""

from __future__ import annotations

from .._router import AsyncRouter

__all__ = ["offer_states"]


def offer_states(router: AsyncRouter) -> dict[str, dict[str, object]]:
    """Each offer as the routing decision sees it now (the router's own views), in config
    order: ``state`` ("ready" or why not), ``in_flight``, ``cap`` (learned or set) and
    ``configured_cap``."""
    states: dict[str, dict[str, object]] = {}
    for name, view in zip(router.offers, router._views(), strict=True):
        why = "no API key" if router.backends[name].lacks_key else view.blocked or view.paused
        states[name] = {
            "state": "ready" if why is None else why,
            "in_flight": view.in_flight,
            "cap": view.cap,
            "configured_cap": view.cap if view.configured_cap is None else view.configured_cap,
        }
    return states
