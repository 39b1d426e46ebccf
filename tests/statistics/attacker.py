"""An attacker of suppressed count tables, written apart from the library on purpose.

It knows only what a reader of the published table knows: the published cells, that every line
adds up to its margin, and that counts are non-negative. For each suppressed cell it solves two
linear programmes (scipy linprog) - minimise and maximise the cell - over every cell of the full
grid. Sharing no code with `tipdata.statistics` means a bug in the library's own audit cannot hide
a disclosure from this test.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.optimize import linprog

TOTAL = "_T"


def full_grid(interior: np.ndarray) -> np.ndarray:
    """An n-dimensional count array with a margin appended on every axis (last index = total)."""
    grid = interior.astype(float)
    for axis in range(grid.ndim):
        grid = np.concatenate([grid, grid.sum(axis=axis, keepdims=True)], axis=axis)
    return grid


def margin_equations(shape: tuple[int, ...]) -> list[tuple[list[int], int]]:
    """(inner flat indices, margin flat index) for every line along every axis of a grid with margins."""
    equations = []
    for axis, size in enumerate(shape):
        others = [range(s) for i, s in enumerate(shape) if i != axis]
        for rest in itertools.product(*others):
            def flat(position: int, rest: tuple = rest, axis: int = axis) -> int:
                index = list(rest)
                index.insert(axis, position)
                return int(np.ravel_multi_index(index, shape))
            equations.append(([flat(p) for p in range(size - 1)], flat(size - 1)))
    return equations


def intervals(grid: np.ndarray, suppressed: np.ndarray) -> dict[tuple[int, ...], tuple[float, float]]:
    """Suppressed cell (grid index) → (least, greatest) value consistent with what is published."""
    shape = grid.shape
    size = grid.size
    a_eq = []
    for inner, margin in margin_equations(shape):
        row = np.zeros(size)
        row[inner] = 1.0
        row[margin] = -1.0
        a_eq.append(row)
    a_eq_array, b_eq = np.array(a_eq), np.zeros(len(a_eq))
    flat_values = grid.reshape(-1)
    flat_hidden = suppressed.reshape(-1)
    bounds = [(0, None) if flat_hidden[i] else (flat_values[i], flat_values[i]) for i in range(size)]
    found = {}
    for i in np.flatnonzero(flat_hidden):
        objective = np.zeros(size)
        objective[i] = 1.0
        low = linprog(objective, A_eq=a_eq_array, b_eq=b_eq, bounds=bounds, method="highs")
        high = linprog(-objective, A_eq=a_eq_array, b_eq=b_eq, bounds=bounds, method="highs")
        assert low.status == 0, low.message
        upper = np.inf if high.status == 3 else -high.fun
        found[tuple(int(x) for x in np.unravel_index(i, shape))] = (low.fun, upper)
    return found


def tidy(grid: np.ndarray, names: list[str] | None = None) -> pd.DataFrame:
    """The grid (last index of each axis = margin) as a tidy table with `_T` for margins."""
    names = names or [f"d{axis}" for axis in range(grid.ndim)]
    rows = []
    for index in itertools.product(*(range(s) for s in grid.shape)):
        labels = {names[a]: (TOTAL if i == grid.shape[a] - 1 else f"c{i}") for a, i in enumerate(index)}
        rows.append({**labels, "value": int(grid[index])})
    return pd.DataFrame(rows)


def suppressed_grid(table: pd.DataFrame, mask: pd.Series, shape: tuple[int, ...]) -> np.ndarray:
    grid = np.zeros(shape, dtype=bool)
    for position, row in enumerate(table.itertuples(index=False)):
        labels = row[:len(shape)]
        index = tuple(shape[a] - 1 if label == TOTAL else int(label[1:]) for a, label in enumerate(labels))
        grid[index] = bool(mask.iloc[position])
    return grid


def joint_intervals(parts: list[tuple[np.ndarray, list[str], np.ndarray]]) -> dict[frozenset, tuple[float, float]]:
    """Like `intervals`, for several published grids read at once: each part is (grid with margins,
    its dimension names, its suppressed grid). A cell is named by its (dimension, index) pairs off
    the margins, so the female total of a sex × age grid and of a sex × form grid is one unknown,
    bound by the margin equations of both grids. Asserts that the grids agree on shared cells and
    that no cell is hidden in one grid and published in another."""
    keys: dict[frozenset, int] = {}
    value: list[float] = []
    hidden: list[bool] = []
    rows = []
    for grid, names, suppressed in parts:
        shape = grid.shape
        flat_key = []
        for flat in range(grid.size):
            index = np.unravel_index(flat, shape)
            key = frozenset((names[a], int(i)) for a, i in enumerate(index) if i != shape[a] - 1)
            if key not in keys:
                keys[key] = len(value)
                value.append(float(grid[index]))
                hidden.append(bool(suppressed[index]))
            assert value[keys[key]] == grid[index], f"grids disagree on {sorted(key)}"
            assert hidden[keys[key]] == bool(suppressed[index]), f"{sorted(key)} hidden in one grid only"
            flat_key.append(keys[key])
        for inner, margin in margin_equations(shape):
            rows.append(([flat_key[i] for i in inner], flat_key[margin]))
    a_eq = np.zeros((len(rows), len(value)))
    for r, (inner, margin) in enumerate(rows):
        a_eq[r, inner] += 1.0
        a_eq[r, margin] -= 1.0
    bounds = [(0, None) if h else (v, v) for v, h in zip(value, hidden, strict=True)]
    found = {}
    for key, i in keys.items():
        if not hidden[i]:
            continue
        objective = np.zeros(len(value))
        objective[i] = 1.0
        low = linprog(objective, A_eq=a_eq, b_eq=np.zeros(len(rows)), bounds=bounds, method="highs")
        high = linprog(-objective, A_eq=a_eq, b_eq=np.zeros(len(rows)), bounds=bounds, method="highs")
        assert low.status == 0, low.message
        found[key] = (low.fun, np.inf if high.status == 3 else -high.fun)
    return found
