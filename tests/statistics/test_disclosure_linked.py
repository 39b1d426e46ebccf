"""Linked tables protected as one, checked by the independent attacker reading every table at once.

Two breakdowns of one population (sex × age and sex × form) share their sex totals and grand
total; an attacker combines the margins of both. `protect_linked` must hide a shared cell in both
tables or in neither, and leave no hidden cell that the two tables together pin down.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tipdata.statistics.report_protection import TableToProtect, coordinates, protect_linked

from .attacker import full_grid, joint_intervals, suppressed_grid, tidy

K = 11
#: counts around typical thresholds: many small cells, some zeros, some large
counts = st.one_of(st.integers(0, 4), st.integers(1, 12), st.integers(10, 120))


@st.composite
def sex_age_form(draw: st.DrawFn) -> np.ndarray:
    shape = (draw(st.integers(2, 3)), draw(st.integers(2, 3)), draw(st.integers(2, 3)))
    values = draw(st.lists(counts, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.array(values, dtype=np.int64).reshape(shape)


def breakdown(interior: np.ndarray, names: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    grid = full_grid(interior)
    table = tidy(grid, names)
    table.attrs = {"dimensions": names, "total_code": "_T", "count_column": "value"}
    return grid, table


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sex_age_form())
@example(np.array([[[6, 6], [4, 4]], [[4, 4], [1, 2]], [[1, 2], [2, 3]]]))  # protected alone, the three disagree
def test_protect_linked__no_cell_pinned_down_by_the_tables_together(interior: np.ndarray) -> None:
    """should hide shared cells in every table or none, nothing below k published, and no hidden
    cell pinned down by the margins of all tables read together"""
    by_age = breakdown(interior.sum(axis=2), ["sex", "age"])
    by_form = breakdown(interior.sum(axis=1), ["sex", "form"])
    by_sex = breakdown(interior.sum(axis=(1, 2)), ["sex"])
    parts = {"AGE": by_age, "FORM": by_form, "SEX": by_sex}
    protected = protect_linked({code: TableToProtect(table, "victims") for code, (_grid, table) in parts.items()}, K)
    attack = []
    for code, (grid, table) in parts.items():
        mask = protected[code].suppressed_mask
        shown = protected[code].published_df["value"][~mask].astype(int)
        assert not ((shown > 0) & (shown < K)).any(), code
        attack.append((grid, list(table.attrs["dimensions"]), suppressed_grid(table, mask, grid.shape)))
    for cell, (low, high) in joint_intervals(attack).items():
        assert high - low >= 1 - 1e-6, f"{sorted(cell)} pinned to [{low}, {high}]"


def test_protect_linked__protects_a_group_in_one_suppression() -> None:
    """should choose one pattern for the whole group, saying so, and hide a shared cell everywhere"""
    interior = np.array([[[6, 50], [3, 4]], [[0, 11], [18, 8]], [[40, 2], [8, 63]]])
    by_age = breakdown(interior.sum(axis=2), ["sex", "age"])[1]
    by_form = breakdown(interior.sum(axis=1), ["sex", "form"])[1]
    protected = protect_linked({"AGE": TableToProtect(by_age, "victims"), "FORM": TableToProtect(by_form, "victims")}, K)
    hidden = {code: {c for c, s in zip(coordinates(table), protected[code].suppressed_mask, strict=True) if s}
              for code, table in (("AGE", by_age), ("FORM", by_form))}
    shared = set(coordinates(by_age)) & set(coordinates(by_form))
    assert hidden["AGE"] & shared == hidden["FORM"] & shared
    assert "chosen jointly with FORM" in protected["AGE"].rules_applied[1].detail


def test_protect_linked__tables_disagreeing_on_a_cell_are_protected_by_forcing() -> None:
    """should fall back to forcing hidden cells across tables when two tables of a group give one
    cell different counts, still hiding every shared cell in both or neither"""
    one = pd.DataFrame({"sex": ["_T", "f", "m", "x"], "value": [60, 5, 25, 30]})
    two = pd.DataFrame({"sex": ["_T", "f", "m"], "age": ["_T", "_T", "_T"], "value": [59, 5, 54]})
    one.attrs = {"dimensions": ["sex"], "total_code": "_T"}
    two.attrs = {"dimensions": ["sex", "age"], "total_code": "_T"}
    protected = protect_linked({"A": TableToProtect(one, "v"), "B": TableToProtect(two, "v")}, K)
    hidden_one = {c for c, s in zip(coordinates(one), protected["A"].suppressed_mask, strict=True) if s}
    hidden_two = {c for c, s in zip(coordinates(two), protected["B"].suppressed_mask, strict=True) if s}
    shared = set(coordinates(one)) & set(coordinates(two))
    assert hidden_one & shared == hidden_two & shared
    assert frozenset({("sex", "f")}) in hidden_one
    assert "chosen jointly" not in protected["A"].rules_applied[1].detail
