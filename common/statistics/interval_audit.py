"""The attacker's view of a suppressed table: how far each hidden cell can be pinned down.

Given the published cells, every additive relation (cells of a line add up to its total) and
non-negativity, the least and greatest value a suppressed cell can take are two linear
programmes (scipy's HiGHS). An interval of width 0 means the cell is disclosed exactly.
`protect_table`'s greedy method uses this to audit and repair its suppression (the optimal
method, `optimal_suppression`, runs the same attacker with duals); it needs scipy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tipdata.statistics.table_structure import Relation


def feasible_intervals(values: np.ndarray, suppressed: np.ndarray,
                       relations: Sequence[Relation]) -> dict[int, tuple[float, float]]:
    """cell → (least, greatest) feasible value, for every suppressed cell (greatest may be inf).

    >>> from tipdata.statistics.table_structure import Relation
    >>> feasible_intervals(np.array([10., 3., 7.]), np.array([False, True, False]),
    ...                    [Relation("sex", 0, (1, 2))])
    {1: (3.0, 3.0)}
    """
    from scipy.optimize import linprog

    hidden = np.flatnonzero(suppressed)
    if not len(hidden):
        return {}
    column = {cell: i for i, cell in enumerate(hidden)}
    rows, rhs = [], []
    for relation in relations:
        coefficients = np.zeros(len(hidden))
        constant = 0.0
        for cell, sign in [(m, 1.0) for m in relation.members] + [(relation.total, -1.0)]:
            if suppressed[cell]:
                coefficients[column[cell]] += sign
            else:
                constant += sign * values[cell]
        if coefficients.any():
            rows.append(coefficients)
            rhs.append(-constant)
    a_eq = np.array(rows) if rows else None
    b_eq = np.array(rhs) if rows else None
    bounds = [(0, None)] * len(hidden)
    intervals: dict[int, tuple[float, float]] = {}
    for cell, i in column.items():
        objective = np.zeros(len(hidden))
        objective[i] = 1.0
        low = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        high = linprog(-objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if low.status != 0:
            raise RuntimeError(f"interval audit: the relations have no solution ({low.message}); "
                               "the table's margins do not add up - check it is an unrounded count table")
        upper = np.inf if high.status == 3 else -high.fun
        intervals[int(cell)] = (float(low.fun), float(upper))
    return intervals
