"""PNG pictures for ``vlmroute estimate --plot`` (here) and ``vlmroute spend --plot``
(:mod:`.spend_plot`), drawn with matplotlib.

matplotlib is optional (``pip install 'vlmroute[plot]'``) and imported only when a picture
is drawn. Figures are built with ``matplotlib.figure.Figure`` on the Agg canvas, never
through pyplot: no global figure state, no GUI backend, nothing left open. The data behind
each picture is a pure value (:class:`~vlmroute._estimate.frontier.Frontier`, or the spend
series of :mod:`.spend_plot`), which the tests check by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._estimate.frontier import Frontier, dropped_offers
from ..errors import ConfigurationError
from . import render
from .estimate_cmd import UsageError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["INSTALL_HINT", "frontier_png", "new_figure", "require_matplotlib", "save_png"]

INSTALL_HINT = "pip install 'vlmroute[plot]'"


def require_matplotlib() -> None:
    """A usage error (exit 2, one line) naming the extra when matplotlib is not installed;
    called before any work, so a missing library fails before a long estimate."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"--plot needs matplotlib: {INSTALL_HINT}") from None


def new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas (inches; 110 dpi)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: Path) -> None:
    try:
        figure.savefig(path, format="png")
    except OSError as exc:
        raise ConfigurationError(f"--plot {path}: cannot write it ({exc.strerror})") from exc


_UNITS = ((7200.0, 60.0, "minutes"), (3 * 86400.0, 3600.0, "hours"), (math.inf, 86400.0, "days"))


def _time_unit(longest_s: float) -> tuple[float, str]:
    """Minutes for a workload of under 2 hours, hours under 3 days, else days."""
    return next((size, name) for bound, size, name in _UNITS if longest_s < bound)


def frontier_png(f: Frontier, path: Path, *, title: str) -> None:
    """Cost against deadline (log x) over the offers' shares of the requests."""
    if not f.points:
        raise ConfigurationError("--plot: nothing can serve this workload: no frontier to draw")
    figure = new_figure(10.0, 7.0)
    cost_ax, share_ax = figure.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    unit, unit_name = _time_unit(max(p.deadline_s for p in f.points))
    xs = [p.deadline_s / unit for p in f.points]
    ys = [math.nan if p.cost is None else float(p.cost.amount) for p in f.points]
    cost_ax.plot(xs, ys, marker="o", color="#1f4e79", label="cheapest plan by this deadline")
    left, right = min(xs) / 1.3, max(xs) * 1.15
    if f.fastest_makespan_s is not None:
        fastest = f.fastest_makespan_s / unit
        for ax in (cost_ax, share_ax):
            ax.axvspan(left, fastest, color="#999999", alpha=0.15, lw=0)
            ax.axvline(fastest, color="#b03030", linestyle="--", lw=1.2)
        cost_ax.plot(
            [],
            [],
            color="#b03030",
            linestyle="--",
            label=f"fastest possible: {render.duration(f.fastest_makespan_s)} "
            "(grey: cannot finish)",
        )
    top = max((y for y in ys if not math.isnan(y)), default=0.0)
    if f.self_host is not None:
        host = f.self_host
        gpu = f" ({host.gpu})" if host.gpu else ""
        top = max(top, float(host.cost.amount))
        cost_ax.axhline(
            float(host.cost.amount),
            color="#2e7d32",
            linestyle=":",
            lw=1.8,
            label=f"self-host on {host.offer_id}{gpu}: {render.money(host.cost)} "
            "of GPU time, any deadline",
        )
    _mark_points(cost_ax, share_ax, f, unit)
    cost_ax.set_ylabel(f"cost of the whole workload ({f.currency})")
    cost_ax.set_ylim(0, top * 1.4 or 1.0)  # headroom: the legend sits above the lines
    cost_ax.grid(True, which="both", alpha=0.3)
    cost_ax.legend(loc="upper right", fontsize=9)
    cost_ax.set_title(title, fontsize=11)
    _share_panel(share_ax, f, xs)
    _log_deadline_axis(share_ax, left, right)
    share_ax.set_xlabel(f"deadline ({unit_name}, log scale)")
    save_png(figure, path)


def _log_deadline_axis(ax: Axes, left: float, right: float) -> None:
    """Log scale labelled 1, 2, 5, 10... rather than powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.set_xlim(left, right)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _mark_points(cost_ax: Axes, share_ax: Axes, f: Frontier, unit: float) -> None:
    """The workload's own deadline (a star and its cost) and each breakpoint (a dotted line
    named with the offers the plan no longer needs from there)."""
    for point in f.points:
        if point.kind == "deadline" and point.cost is not None:
            x, y = point.deadline_s / unit, float(point.cost.amount)
            cost_ax.plot([x], [y], marker="*", markersize=16, color="#e69f00", linestyle="none")
            text = f"your deadline {render.duration(point.deadline_s)}: {render.money(point.cost)}"
            cost_ax.annotate(text, (x, y), xytext=(10, 10), textcoords="offset points", fontsize=9)
    for point, gone in dropped_offers(f):
        x = point.deadline_s / unit
        for ax in (cost_ax, share_ax):
            ax.axvline(x, color="#555555", linestyle=":", lw=1.0)
        y = 0.0 if point.cost is None else float(point.cost.amount)
        cost_ax.annotate(  # upward from the point, right of the line: the curve falls there
            f"without {', '.join(gone)} from {render.duration(point.deadline_s)}",
            (x, y),
            xytext=(3, 10),
            textcoords="offset points",
            rotation=90,
            va="bottom",
            ha="left",
            fontsize=8,
            color="#444444",
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
        )


def _share_panel(ax: Axes, f: Frontier, xs: Sequence[float]) -> None:
    offers: list[str] = []
    for point in f.points:
        offers += [s.offer_id for s in point.shares if s.offer_id not in offers]
    totals = [sum(s.requests for s in p.shares) or 1 for p in f.points]
    rows = [
        [
            100 * sum(s.requests for s in p.shares if s.offer_id == offer) / total
            for p, total in zip(f.points, totals, strict=True)
        ]
        for offer in offers
    ]
    ax.stackplot(xs, rows, labels=offers, alpha=0.85, step="post" if len(xs) == 1 else None)
    ax.set_ylabel("share of requests (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, title="offer")
