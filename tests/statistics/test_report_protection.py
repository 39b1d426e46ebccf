"""Linked-table protection: tables counting the same units hide the same cells, so one table
cannot hand an attacker what another hides."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tipdata.statistics import protect_table
from tipdata.statistics.interval_audit import feasible_intervals
from tipdata.statistics.report_protection import TableToProtect, coordinates, protect_linked
from tipdata.statistics.table_structure import Relation, table_structure

K = 11
#: found by a search over small tables: protected one by one, the sex × age table hides the
#: female total (to protect its small cells) while the sex table publishes it
CELLS = {("female", "child"): 12, ("female", "adult"): 8, ("male", "child"): 8, ("male", "adult"): 3,
         ("other", "child"): 3, ("other", "adult"): 5}


def sex_by_age() -> pd.DataFrame:
    rows = []
    for sex in ("_T", "female", "male", "other"):
        for age in ("_T", "child", "adult"):
            rows.append((sex, age, sum(v for (s, a), v in CELLS.items() if sex in ("_T", s) and age in ("_T", a))))
    table = pd.DataFrame(rows, columns=["sex", "age", "value"])
    table.attrs = {"dimensions": ["sex", "age"], "total_code": "_T"}
    return table


def sex_only() -> pd.DataFrame:
    full = sex_by_age()
    table = full[full["age"] == "_T"][["sex", "value"]].reset_index(drop=True)
    table.attrs = {"dimensions": ["sex"], "total_code": "_T"}
    return table


def joint_intervals(tables: Sequence[tuple[pd.DataFrame, Sequence[bool]]]) -> dict[int, tuple[float, float]]:
    """The attacker's feasible interval of every hidden cell given every published cell of all
    `tables` at once (a cell with the same categories in two tables is one unknown). Raises
    AssertionError when a cell is hidden in one table and published in another."""
    index: dict = {}
    values: list[float] = []
    hidden: list[bool] = []
    relations: list[Relation] = []
    for table, suppressed in tables:
        dims = list(table.attrs["dimensions"])
        total = table.attrs.get("total_code", "_T")
        count = table.attrs.get("count_column", "value")
        positions = []
        for coordinate, value, is_hidden in zip(coordinates(table), table[count], suppressed, strict=True):
            if coordinate not in index:
                index[coordinate] = len(values)
                values.append(0.0 if is_hidden else float(value))
                hidden.append(bool(is_hidden))
            elif hidden[index[coordinate]] != bool(is_hidden):
                raise AssertionError(f"cell {sorted(coordinate)} is hidden in one table and published in another")
            positions.append(index[coordinate])
        additive = [d for d in dims if d not in (table.attrs.get("non_additive") or [])]
        for relation in table_structure(table, dims, total, additive).relations:
            relations.append(Relation(relation.dimension, positions[relation.total],
                                      tuple(positions[m] for m in relation.members)))
    return feasible_intervals(np.array(values), np.array(hidden), relations)


def test_protect_linked__tables_protected_alone_can_disagree() -> None:
    """should show the problem it solves: protected one by one, the sex table publishes totals the
    sex × age table hides."""
    one, two = sex_only(), sex_by_age()
    alone = [(one, protect_table(one, K).suppressed_mask), (two, protect_table(two, K).suppressed_mask)]
    try:
        joint_intervals(alone)
    except AssertionError as exc:
        assert "hidden in one table and published in another" in str(exc)
    else:  # pragma: no cover - the fixture was chosen so that this does not happen
        raise AssertionError("the fixture no longer shows disagreeing tables")


def test_protect_linked__hides_the_same_cells_in_linked_tables() -> None:
    """should hide in the sex table the totals the sex × age table hides, leaving no hidden cell
    that both tables together pin down."""
    one, two = sex_only(), sex_by_age()
    protected = protect_linked({"A": TableToProtect(one, "victims"), "B": TableToProtect(two, "victims")}, K)
    intervals = joint_intervals([(one, protected["A"].suppressed_mask), (two, protected["B"].suppressed_mask)])
    assert intervals
    assert all(high - low >= 1 for low, high in intervals.values())
    hidden_b = {c for c, s in zip(coordinates(two), protected["B"].suppressed_mask, strict=True) if s}
    assert protected["A"].suppressed_mask.tolist() == [c in hidden_b for c in coordinates(one)]


def test_protect_linked__leaves_unlinked_tables_alone() -> None:
    """should protect tables without a shared key exactly as protect_table does."""
    one, two = sex_only(), sex_by_age()
    protected = protect_linked({"A": TableToProtect(one, None), "B": TableToProtect(two, "other")}, K)
    assert protected["A"].suppressed_mask.tolist() == protect_table(one, K).suppressed_mask.tolist()


def test_protect_linked__rounds_a_shared_cell_once() -> None:
    """should show a cell published by two linked tables with one rounded value, so roundings cannot be averaged."""
    big = {("female", "child"): 23, ("female", "adult"): 31, ("male", "child"): 17, ("male", "adult"): 44}
    rows = [(s, a, sum(v for (ss, aa), v in big.items() if s in ("_T", ss) and a in ("_T", aa)))
            for s in ("_T", "female", "male") for a in ("_T", "child", "adult")]
    two = pd.DataFrame(rows, columns=["sex", "age", "value"])
    two.attrs = {"dimensions": ["sex", "age"], "total_code": "_T"}
    one = two[two["age"] == "_T"][["sex", "value"]].reset_index(drop=True)
    one.attrs = {"dimensions": ["sex"], "total_code": "_T"}
    for seed in range(5):
        protected = protect_linked({"A": TableToProtect(one, "v"), "B": TableToProtect(two, "v")}, K,
                                   rounding="random", seed=seed)
        shared = protected["B"].published_df[protected["B"].published_df["age"] == "_T"]["value"].tolist()
        assert protected["A"].published_df["value"].tolist() == shared
