"""The cost-vs-deadline frontier as ``vlmroute estimate`` prints it: a short table and JSON."""

from __future__ import annotations

from typing import Any

from .._estimate.frontier import Frontier, FrontierPoint, dropped_offers
from . import render

__all__ = ["frontier_json", "frontier_text"]


def frontier_text(f: Frontier) -> str:
    """Deadline, the cheapest cost by then, and the offers' shares of the requests."""
    if not f.points:
        return ""
    lines = [
        "Cost against deadline (the cheapest plan for each deadline)",
        _table(f, ", "),
        f"Fastest possible: {render.duration(f.fastest_makespan_s)}; with no deadline "
        + (
            "-"
            if f.no_deadline_cost is None
            else f"{render.money(f.no_deadline_cost)} in "
            f"{render.duration(f.no_deadline_makespan_s)}"
        )
        + ".",
    ]
    width = render.terminal_width()
    if width is not None and max(len(ln) for ln in lines[1].splitlines()) > width:
        # One offer a line rather than the table's wrapping, which splits "zhipu-flashx"
        lines[1] = _table(f, "\n")
    if f.self_host is not None:
        lines.append(_self_host(f))
    return "\n".join(lines)


def _table(f: Frontier, between: str) -> str:
    dropped = {id(point): gone for point, gone in dropped_offers(f)}
    rows = []
    for point in f.points:
        note = "your deadline" if point.kind == "deadline" else ""
        if id(point) in dropped:
            note = f"without {', '.join(dropped[id(point)])}"
        cost = "cannot finish" if point.cost is None else render.money(point.cost)
        rows.append((render.duration(point.deadline_s), cost, _shares(point, between), note))
    return render.table(rows, ["deadline", "cost", "offers (share of requests)", "note"])


def _shares(point: FrontierPoint, between: str) -> str:
    total = sum(s.requests for s in point.shares) or 1
    return between.join(
        f"{s.offer_id} {100 * s.requests / total:.0f}%" for s in point.shares if s.requests
    )


def _self_host(f: Frontier) -> str:
    host = f.self_host
    assert host is not None
    gpu = f" ({host.gpu})" if host.gpu else ""
    monthly = (
        f"; one reserved costs {render.money(host.monthly_cost)} a month"
        if host.monthly_cost is not None
        else ""
    )
    return (
        f"Self-host on {host.offer_id}{gpu}: {render.money(host.cost)} of GPU time at any "
        f"deadline the GPUs can meet ({render.duration(host.makespan_s)} on one GPU, "
        f"N times sooner on N){monthly}."
    )


def frontier_json(f: Frontier) -> dict[str, Any]:
    """``frontier`` (the points, JSON-ready) and ``self_host`` for ``estimate --json``."""
    data = f.model_dump(mode="json")
    return {"frontier": data["points"], "self_host": data["self_host"]}
