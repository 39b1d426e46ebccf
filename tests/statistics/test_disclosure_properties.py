"""Properties of `protect_table` over random count tables, checked by an independent LP attacker.

For random 1-, 2- and 3-dimensional count tables with every margin, and both secondary
suppression methods: no published cell lies in (0, k), and no suppressed cell can be pinned down -
for each one the attacker's feasible interval (least and greatest value given the published
cells, the margins and non-negativity) is at least the protection level wide. 1-D and 2-D tables
are also checked with the LP audit switched off, so the combinatorial line and cycle rules alone
are shown to be enough there. And the optimal method never loses more information than the
greedy one: the greedy pattern is protected, so it is one the optimal method could have chosen.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipdata.statistics import protect_table
from tipdata.statistics.optimal_suppression import cell_costs, optimal_suppression
from tipdata.statistics.table_structure import table_structure

from .attacker import full_grid, intervals, suppressed_grid, tidy

#: counts around typical thresholds: many small cells, some zeros, some large
counts = st.one_of(st.integers(0, 4), st.integers(1, 12), st.integers(10, 200))


@st.composite
def interiors(draw: st.DrawFn, dims: int, max_side: int) -> np.ndarray:
    shape = tuple(draw(st.integers(1, max_side)) for _ in range(dims))
    values = draw(st.lists(counts, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.array(values, dtype=np.int64).reshape(shape)


def check(interior: np.ndarray, k: int, level: float, audit: bool, method: str = "auto") -> None:
    grid = full_grid(interior)
    table = tidy(grid)
    protected = protect_table(table, k=k, dims=[f"d{a}" for a in range(grid.ndim)],
                              protection_level=level, audit=audit, method=method)  # type: ignore[arg-type]
    mask = protected.suppressed_mask
    shown = protected.published_df["value"][~mask].astype(int)
    assert not ((shown > 0) & (shown < k)).any(), "a published cell is below k"
    assert (shown.to_numpy() == table["value"][~mask].to_numpy()).all(), "a published cell changed"
    hidden = suppressed_grid(table, mask, grid.shape)
    for cell, (low, high) in intervals(grid, hidden).items():
        assert high - low >= level - 1e-6, f"cell {cell} = {grid[cell]} pinned to [{low}, {high}]"
        assert low - 1e-6 <= grid[cell] <= high + 1e-6


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(interiors(1, 8), st.sampled_from([3, 5, 11]))
def test_protect_table__one_dimension_no_small_cell_and_nothing_derivable(interior: np.ndarray, k: int) -> None:
    """should leave no published cell in (0, k) and every suppressed cell of a 1-D table undetermined"""
    check(interior, k, 1.0, audit=False)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(interiors(2, 6), st.sampled_from([3, 5, 11]))
def test_protect_table__two_dimensions_line_and_cycle_rules_suffice(interior: np.ndarray, k: int) -> None:
    """should protect every suppressed cell of a 2-D table with margins without the LP audit"""
    check(interior, k, 1.0, audit=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(interiors(1, 8), st.sampled_from([3, 5, 11]))
def test_protect_table__optimal_one_dimension_no_small_cell_and_nothing_derivable(interior: np.ndarray, k: int) -> None:
    """should leave no published cell in (0, k) and every suppressed cell of a 1-D table undetermined, optimally"""
    check(interior, k, 1.0, audit=True, method="optimal")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(interiors(2, 6), st.sampled_from([3, 5, 11]))
def test_protect_table__optimal_two_dimensions_nothing_derivable(interior: np.ndarray, k: int) -> None:
    """should protect every suppressed cell of a 2-D table with margins with the optimal method"""
    check(interior, k, 1.0, audit=True, method="optimal")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(interiors(2, 4), st.sampled_from([5, 11]), st.sampled_from([2.0, 5.0]), st.sampled_from(["optimal", "greedy"]))
def test_protect_table__audit_reaches_a_wider_protection_level(interior: np.ndarray, k: int, level: float,
                                                                method: str) -> None:
    """should widen every suppressed cell's feasible interval to the requested protection level, with either method"""
    check(interior, k, level, audit=True, method=method)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(interiors(3, 3), st.sampled_from([5, 11]), st.sampled_from(["optimal", "greedy"]))
def test_protect_table__three_dimensions_protected_with_the_audit(interior: np.ndarray, k: int, method: str) -> None:
    """should leave no suppressed cell of a 3-D table with all margins derivable once audited, with either method"""
    check(interior, k, 1.0, audit=True, method=method)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(interiors(2, 5), interiors(3, 3)), st.sampled_from([5, 11]))
def test_optimal_suppression__never_loses_more_than_the_greedy_method(interior: np.ndarray, k: int) -> None:
    """should hide a pattern costing no more than the greedy method's whenever it proves its pattern minimal"""
    grid = full_grid(interior)
    table = tidy(grid)
    dims = [f"d{a}" for a in range(grid.ndim)]
    values = table["value"].to_numpy(float)
    relations = table_structure(table, dims).relations
    primary = (values > 0) & (values < k)
    found = optimal_suppression(values, relations, primary)
    greedy = protect_table(table, k=k, dims=dims, method="greedy").suppressed_mask.to_numpy(bool)
    costs = cell_costs(values, relations)
    assert found.converged
    if found.proven_optimal:
        assert costs[found.suppressed & ~primary].sum() <= costs[greedy & ~primary].sum() * (1 + 1e-4) + 1e-6
