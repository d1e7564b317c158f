"""Each offer's state as the routing decision sees it now: what ``/ready``, the gateway's
status page and the metrics' gauges report (read from the router; no I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from .router import AsyncRouter

__all__ = ["OfferState", "offer_states"]


class OfferState(TypedDict):
    """``state`` is "ready" or why not; ``cap`` the learned or set cap."""

    state: str
    in_flight: int
    cap: int
    configured_cap: int


def offer_states(router: AsyncRouter) -> dict[str, OfferState]:
    """Each offer, in config order, from the router's own views."""
    states: dict[str, OfferState] = {}
    for name, view in zip(router.offers, router._views(), strict=True):
        why = "no API key" if router.backends[name].lacks_key else view.blocked or view.paused
        states[name] = {
            "state": "ready" if why is None else why,
            "in_flight": view.in_flight,
            "cap": view.cap,
            "configured_cap": view.cap if view.configured_cap is None else view.configured_cap,
        }
    return states
