"""A small linear-program solver for the mixed-workload planner (pure; no dependency).

The planner's programs are tiny (a few request kinds times a few offers: tens of variables
and rows), so a dense two-phase simplex over floats with Bland's rule is quick and cannot
cycle. ``scipy.optimize.linprog`` or HiGHS would do the same but would make numpy and a
compiled solver a dependency of the offline estimator; the planner checks every integer
answer it builds from these solutions exactly, in Decimal, so floats only steer the search.

Solve ``min c.x`` subject to rows ``a.x <= b``, ``a.x >= b`` or ``a.x == b`` and ``x >= 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Row", "solve_lp"]

_EPS = 1e-9
_MAX_PIVOTS = 5_000
Sense = Literal["<=", ">=", "=="]


@dataclass(frozen=True, slots=True)
class Row:
    """One constraint: ``sum(coef * x[j] for j, coef in terms) <sense> rhs``."""

    terms: tuple[tuple[int, float], ...]
    sense: Sense
    rhs: float


def solve_lp(costs: Sequence[float], rows: Sequence[Row]) -> tuple[float, list[float]] | None:
    """The optimum ``(objective, x)``, or None if no ``x >= 0`` meets every row (or, which
    the planner treats alike, the pivots did not settle). The objective must be bounded
    below (the planner's costs are all >= 0)."""
    try:
        return _solve(costs, rows)
    except ArithmeticError:
        return None


def _solve(costs: Sequence[float], rows: Sequence[Row]) -> tuple[float, list[float]] | None:
    n = len(costs)
    table: list[list[float]] = []
    basis: list[int] = []
    slack_count = sum(1 for r in rows if r.sense != "==")
    artificial: list[int] = []
    width = n + slack_count  # artificial columns are appended as they are needed
    slack = n
    pending: list[tuple[list[float], float, int | None]] = []
    for row in rows:
        line = [0.0] * width
        for j, coef in row.terms:
            line[j] += coef
        rhs = row.rhs
        own: int | None = None
        if row.sense != "==":
            line[slack] = 1.0 if row.sense == "<=" else -1.0
            own = slack
            slack += 1
        if rhs < 0:
            line = [-v for v in line]
            rhs = -rhs
        if own is not None and line[own] < 0:
            own = None  # its slack would start negative: the row needs an artificial
        pending.append((line, rhs, own))
    columns = width + sum(1 for _, _, own in pending if own is None)
    for line, rhs, own in pending:
        line.extend([0.0] * (columns - width))
        start = own
        if start is None:
            start = width + len(artificial)
            artificial.append(start)
            line[start] = 1.0
        table.append([*line, rhs])
        basis.append(start)
    if artificial:
        phase_one = [0.0] * columns
        for j in artificial:
            phase_one[j] = 1.0
        if _simplex(table, basis, phase_one, columns) > _EPS * max(1.0, _scale(rows)):
            return None
        _drive_out(table, basis, set(artificial), columns)
    full = [*costs, *([0.0] * (columns - n))]
    blocked = set(artificial)
    objective = _simplex(table, basis, full, columns, blocked)
    x = [0.0] * n
    for i, j in enumerate(basis):
        if j < n:
            x[j] = table[i][-1]
    return objective, x


def _scale(rows: Sequence[Row]) -> float:
    return max((abs(r.rhs) for r in rows), default=1.0)


def _simplex(
    table: list[list[float]],
    basis: list[int],
    costs: Sequence[float],
    columns: int,
    blocked: set[int] | None = None,
) -> float:
    """Pivot to the optimum of ``costs`` from the feasible ``basis`` (Bland's rule, which
    cannot cycle in exact arithmetic; a cap on pivots guards against float drift)."""
    blocked = blocked or set()
    for _ in range(_MAX_PIVOTS):
        # Reduced costs: c_j - c_B . column_j.
        entering = -1
        for j in range(columns):
            if j in blocked or j in basis:
                continue
            reduced = costs[j] - sum(costs[basis[i]] * table[i][j] for i in range(len(table)))
            if reduced < -_EPS:
                entering = j
                break
        if entering < 0:
            return sum(costs[basis[i]] * table[i][-1] for i in range(len(table)))
        leaving = -1
        best = 0.0
        for i, line in enumerate(table):
            if line[entering] > _EPS:
                ratio = line[-1] / line[entering]
                if (
                    leaving < 0
                    or ratio < best - _EPS
                    or (abs(ratio - best) <= _EPS and basis[i] < basis[leaving])
                ):
                    leaving, best = i, ratio
        if leaving < 0:
            raise ArithmeticError("the program is unbounded below")
        _pivot(table, basis, leaving, entering)
    raise ArithmeticError(f"no optimum after {_MAX_PIVOTS} pivots")


def _pivot(table: list[list[float]], basis: list[int], row: int, column: int) -> None:
    line = table[row]
    factor = line[column]
    table[row] = line = [v / factor for v in line]
    for i, other in enumerate(table):
        if i != row:
            scale = other[column]
            if scale:
                table[i] = [a - scale * b for a, b in zip(other, line, strict=True)]
    basis[row] = column


def _drive_out(
    table: list[list[float]], basis: list[int], artificial: set[int], columns: int
) -> None:
    """After phase one, pivot artificials still basic (at zero) out where a real column can
    take their place; a row with none is redundant and stays, pinned at zero."""
    for i, j in enumerate(basis):
        if j not in artificial:
            continue
        for k in range(columns):
            if k not in artificial and k not in basis and abs(table[i][k]) > _EPS:
                _pivot(table, basis, i, k)
                break
