"""Primary and secondary suppression and rounding, table by table, checked against an attacker."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from tipdata.statistics import compute_indicators, disclosure, protect_table
from tipdata.statistics.optimal_suppression import cell_costs
from tipdata.statistics.table_structure import table_structure

from .attacker import full_grid, intervals, suppressed_grid, tidy
from .conftest import case

TOTAL = "_T"


def one_dimension(values: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"sex": [TOTAL, *[f"c{i}" for i in range(len(values))]],
                         "value": [sum(values), *values]})


def test_protect_table__primary_suppresses_cells_below_k_but_not_zeros() -> None:
    """should hide every cell in (0, k), margins included, and publish zeros"""
    table = pd.DataFrame({"d0": ["c0", "c0", "c1", "c1", TOTAL, TOTAL],
                          "d1": ["c0", TOTAL, "c0", TOTAL, "c0", TOTAL],
                          "value": [0, 0, 7, 7, 7, 7]})
    protected = protect_table(table, k=11, dims=["d0", "d1"], audit=False)
    assert protected.reasons.tolist() == ["", "", "primary", "primary", "primary", "primary"]
    assert protected.published_df["value"].iloc[0] == 0


def test_protect_table__sensitive_zeros_are_suppressed_when_asked() -> None:
    """should hide zero cells declared sensitive, and only those"""
    table = one_dimension([0, 30, 0, 40])
    sensitive = pd.Series([False, True, False, False, False], index=table.index)
    protected = protect_table(table, k=11, dims=["sex"], sensitive_zeros=sensitive, audit=False)
    assert protected.reasons.iloc[1] == "primary"
    assert protected.reasons.iloc[3] == ""


def test_protect_table__secondary_closes_the_leak_through_the_total() -> None:
    """should hide a second cell so the small one is not total minus the published rest"""
    table = one_dimension([5, 20, 30])  # total 55
    naive = np.array([False, True, False, False])
    grid = full_grid(np.array([5, 20, 30]))
    leak = intervals(grid, suppressed_grid(table.assign(d0=table["sex"])[["d0", "value"]],
                                           pd.Series(naive), grid.shape))
    assert leak == {(0,): (5.0, 5.0)}  # primary alone: 55 - 20 - 30 = 5 exactly
    protected = protect_table(table, k=11, dims=["sex"], audit=False)
    assert protected.suppressed_mask.tolist() == [False, True, True, False]  # the 20, smallest other
    assert protected.reasons.tolist() == ["", "primary", "secondary", ""]
    hidden = suppressed_grid(table.assign(d0=table["sex"])[["d0", "value"]], protected.suppressed_mask, grid.shape)
    assert all(high - low >= 1 for low, high in intervals(grid, hidden).values())


def test_protect_table__two_per_line_is_not_enough_when_a_cell_is_a_bridge() -> None:
    """should suppress across a bridge, which two-per-line suppression leaves exactly derivable"""
    interior = np.array([[3, 4, 5, 50], [4, 3, 60, 70], [80, 90, 3, 4], [90, 80, 4, 3]])
    grid = full_grid(interior)
    table = tidy(grid)
    small = (table["value"] > 0) & (table["value"] < 6)  # every line with one has two or more
    leak = intervals(grid, suppressed_grid(table, small, grid.shape))
    assert leak[(0, 2)] == (5.0, 5.0)  # the cell joining the two blocks is disclosed
    protected = protect_table(table, k=6, dims=["d0", "d1"], audit=False)
    hidden = suppressed_grid(table, protected.suppressed_mask, grid.shape)
    assert hidden[0, 3]  # 50: the smallest cell joining the two sides of the bridge
    assert "cycle rule 1" in str(protected.rules_applied[1])
    assert all(high - low >= 2 for low, high in intervals(grid, hidden).values())


def test_protect_table__margin_below_k_is_suppressed_with_a_partner() -> None:
    """should treat a small row total like any small cell and protect it through its column"""
    interior = np.array([[2, 3], [40, 50], [30, 60]])
    grid = full_grid(interior)
    table = tidy(grid)
    protected = protect_table(table, k=11, dims=["d0", "d1"], audit=False)
    hidden = suppressed_grid(table, protected.suppressed_mask, grid.shape)
    assert hidden[0, 2]  # row total 5
    assert all(high - low >= 1 for low, high in intervals(grid, hidden).values())


#: a 3 × 3 × 4 count table with many small cells, like SDG 16.2.2 for a small area
SMALL_AREA = np.array([[[6, 50, 3, 4], [0, 11, 18, 8], [4, 2, 8, 63]],
                       [[13, 1, 18, 8], [0, 24, 5, 10], [16, 24, 29, 19]],
                       [[1, 32, 5, 0], [17, 5, 15, 6], [5, 0, 34, 30]]])


def test_protect_table__optimal_method_hides_fewer_cells_than_the_greedy_one() -> None:
    """should hide strictly fewer cells of a 3-D table than the greedy method, both patterns
    leaving every suppressed cell undetermined for the independent attacker"""
    grid = full_grid(SMALL_AREA)
    table = tidy(grid)
    dims = ["d0", "d1", "d2"]
    hidden = {}
    for method in ("optimal", "greedy"):
        protected = protect_table(table, k=11, dims=dims, method=method)  # type: ignore[arg-type]
        hidden[method] = protected.suppressed_mask
        attack = intervals(grid, suppressed_grid(table, protected.suppressed_mask, grid.shape))
        assert all(high - low >= 1 for low, high in attack.values()), method
        shown = protected.published_df["value"][~protected.suppressed_mask].astype(int)
        assert not ((shown > 0) & (shown < 11)).any(), method
    primary = (table["value"] > 0) & (table["value"] < 11)
    assert (hidden["optimal"] & primary).equals(primary) and (hidden["greedy"] & primary).equals(primary)
    assert hidden["optimal"].sum() < hidden["greedy"].sum()
    costs = cell_costs(table["value"].to_numpy(float), table_structure(table, dims).relations)
    assert costs[hidden["optimal"].to_numpy()].sum() < costs[hidden["greedy"].to_numpy()].sum()


def test_protect_table__optimal_method_is_deterministic() -> None:
    """should hide the same cells every time it protects the same table"""
    table = tidy(full_grid(SMALL_AREA))
    masks = [protect_table(table, k=11, dims=["d0", "d1", "d2"]).suppressed_mask.tolist() for _ in range(3)]
    assert masks[0] == masks[1] == masks[2]


def test_protect_table__says_which_method_chose_the_secondary_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    """should use the optimal method up to OPTIMAL_MAX_CELLS cells and the greedy one past it, and say so"""
    table = tidy(full_grid(SMALL_AREA))
    dims = ["d0", "d1", "d2"]
    assert str(protect_table(table, k=11, dims=dims).rules_applied[1]).startswith("secondary: ")
    assert "optimal (MILP + attacker LP)" in protect_table(table, k=11, dims=dims).rules_applied[1].detail
    monkeypatch.setattr(disclosure, "OPTIMAL_MAX_CELLS", len(table) - 1)
    assert protect_table(table, k=11, dims=dims).rules_applied[1].detail.startswith("greedy: line rule")


def test_protect_table__optimal_method_needs_the_audit() -> None:
    """should refuse the optimal method without the linear-programming audit, and an unknown method"""
    with pytest.raises(ValueError, match="optimal method needs"):
        protect_table(one_dimension([5, 20, 30]), k=11, dims=["sex"], audit=False, method="optimal")
    with pytest.raises(ValueError, match="method must be"):
        protect_table(one_dimension([5, 20, 30]), k=11, dims=["sex"], method="best")  # type: ignore[arg-type]


def test_cell_costs__margins_cost_more_than_their_cells_and_zeros_most() -> None:
    """should make every margin dearer than each cell it sums, cost grow with the count at equal
    depth, and a zero dearer than all other cells together"""
    table = tidy(full_grid(SMALL_AREA))
    values = table["value"].to_numpy(float)
    relations = table_structure(table, ["d0", "d1", "d2"]).relations
    costs = cell_costs(values, relations)
    zero = values == 0
    assert zero.any()
    for relation in relations:
        assert all(costs[relation.total] > costs[m] for m in relation.members if not zero[m])
    totals = (table[["d0", "d1", "d2"]] == TOTAL).sum(axis=1).to_numpy()
    for depth in range(4):
        same = ~zero & (totals == depth)
        assert (np.argsort(costs[same], kind="stable") == np.argsort(values[same], kind="stable")).all()
    assert costs[zero].min() > costs[~zero].sum()


def test_protect_table__floor_rounding_publishes_multiples_of_k() -> None:
    """should round published counts down to multiples of k and leave suppressed cells empty"""
    table = one_dimension([5, 20, 34, 100])
    protected = protect_table(table, k=11, dims=["sex"], rounding="floor", audit=False)
    published = protected.published_df["value"]
    assert published[~protected.suppressed_mask].tolist() == [154, 33, 99]
    assert published[protected.suppressed_mask].isna().all()
    assert str(protected.rules_applied[-1]).startswith("rounding: 3 cell(s)")


def test_protect_table__random_rounding_stays_within_one_base() -> None:
    """should publish multiples of 5 within 4 of the true count, reproducibly with a seed"""
    values = list(range(11, 61))
    table = one_dimension(values)
    first = protect_table(table, k=11, dims=["sex"], rounding="random", seed=7, audit=False)
    again = protect_table(table, k=11, dims=["sex"], rounding="random", seed=7, audit=False)
    published = first.published_df["value"].astype(int).to_numpy()
    assert (published % 5 == 0).all()
    assert (np.abs(published - table["value"].to_numpy()) <= 4).all()
    assert first.published_df["value"].equals(again.published_df["value"])


def test_protect_table__statistics_follow_their_count() -> None:
    """should hide the median, quartiles and n of a row whose n is suppressed"""
    table = pd.DataFrame({"age_group": [TOTAL, "child", "adult"], "value": [9.0, 4.0, 10.0],
                          "q1": [3.0, 2.0, 5.0], "q3": [20.0, 6.0, 21.0], "n": [40, 3, 37]})
    protected = protect_table(table, k=11, dims=["age_group"], count="n", audit=False)
    row = protected.published_df.iloc[1]
    assert pd.isna(row["value"]) and pd.isna(row["q1"]) and pd.isna(row["q3"]) and pd.isna(row["n"])
    assert protected.suppressed_mask.tolist() == [False, True, True]


def test_protect_table__multi_response_dimension_has_no_margin_relation() -> None:
    """should not add secondary suppression along a multi-response dimension"""
    table = pd.DataFrame({"service_type": [TOTAL, "medical", "legal", "shelter"], "value": [50, 4, 30, 40]})
    protected = protect_table(table, k=11, dims=["service_type"], non_additive=["service_type"], audit=False)
    assert protected.reasons.tolist() == ["", "primary", "", ""]


def test_protect_table__reads_indicator_tables_and_recomputes_rates_after_rounding() -> None:
    """should take dimensions from compute_indicators attrs and keep rates consistent when rounding"""
    records = [case(f"C{i}", "2025-03-01", sex="female" if i < 30 else "male", age=30,
                    purpose=("forced_labour",)) for i in range(36)]
    tables = compute_indicators(records, "2025", "NG", population=pd.DataFrame({"population": [1_000_000]}),
                                codes=["SDG_16_2_2"])
    protected = protect_table(tables["SDG_16_2_2"], k=11, rounding="floor")
    published = protected.published_df
    grand = published[(published[["sex", "age_group", "exploitation_form"]] == TOTAL).all(axis=1)].iloc[0]
    assert grand["value"] == 33  # 36 rounded down to a multiple of 11
    assert grand["rate"] == pytest.approx(3.3)
    male = published[(published["sex"] == "male") & (published["age_group"] == TOTAL)
                     & (published["exploitation_form"] == TOTAL)].iloc[0]
    assert pd.isna(male["value"])  # 6 men


@pytest.mark.parametrize("k", [0, 2.5, -1])
def test_protect_table__rejects_a_meaningless_k(k: float) -> None:
    """should refuse a k that is not a whole number of at least 1"""
    with pytest.raises(ValueError, match="k must be a whole number"):
        protect_table(one_dimension([1, 2]), k=k, dims=["sex"])  # type: ignore[arg-type]


def test_protect_table__rejects_a_table_with_repeated_cells() -> None:
    """should refuse a table where one combination of categories appears twice"""
    table = pd.DataFrame({"sex": [TOTAL, "f", "f"], "value": [10, 5, 5]})
    with pytest.raises(ValueError, match="repeats a combination"):
        protect_table(table, dims=["sex"])


def test_protect_table__every_indicator_table_publishes_no_small_count() -> None:
    """should protect every table compute_indicators produces, leaving no published count in (0, k)"""
    rng = random.Random(5)
    records = []
    for i in range(400):
        records.append(case(
            f"C{i}", f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            status=rng.choice(["potential", "presumed", "confirmed", None]),
            sex=rng.choice(["female", "male", "intersex", None]), age=rng.choice([None, 7, 15, 19, 25, 33, 50]),
            citizenship=rng.choice([("NG",), ("GH",), None]), org=rng.choice(["ngo", "law_enforcement", None]),
            purpose=rng.choice([("sexual_exploitation",), ("forced_labour",), ("organ_removal",), None])))
    tables = compute_indicators(records, "2025", "NG")
    for code, table in tables.items():
        protected = protect_table(table, k=11)
        count = table.attrs["count_column"]
        shown = protected.published_df[count][~protected.suppressed_mask].astype(int)
        assert not ((shown > 0) & (shown < 11)).any(), code
        assert protected.suppressed_mask.index.equals(table.index)
