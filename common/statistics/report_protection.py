"""Disclosure control across the tables of one report: linked tables are protected as one.

`protect_table` makes each table safe on its own. A report publishes several tables that count
the same units: VIC_IDENT_PERSONS by sex and SDG 16.2.2 by sex × age × form both publish
"female persons identified"; the monthly trend publishes the period's total of VIC_IDENT. If one
table hides a cell that another publishes, the second table hands the attacker the value the
first table's suppression pattern was built to hide; and even when both hide it, the attacker
combines the margins of both. So tables are grouped by what they count (`link_key`:
population, date, filters, measure), a cell is identified by its categories (dimensions at the
total code left out), and each group is protected in one go: one set of cells (a cell shared by
two tables is one cell), every table's relations at once, one secondary suppression over them
(`disclosure.secondary_suppression`; the optimal method for groups of up to
`OPTIMAL_MAX_CELLS` cells). Each table then hides exactly the group's hidden cells it holds.

Should two tables of a group disagree on a shared cell's count (they do not count the same
units after all), the group falls back to protecting table by table, each table forced to hide
every cell hidden in any table of its group, repeated until no table hides anything new.

With rounding, a cell published in two tables shows the value rounded once (random rounding
twice would let an attacker average the roundings away).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tipdata.statistics.disclosure import (
    PRIMARY,
    SECONDARY,
    AppliedRule,
    Method,
    ProtectedTable,
    Rounding,
    count_values,
    protect_table,
    published_table,
    secondary_suppression,
)
from tipdata.statistics.table_structure import TableStructure, combined_structure, table_structure

Coordinate = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class TableToProtect:
    """An unprotected table (attrs as `compute_indicators` sets them) and what it counts."""

    table: pd.DataFrame
    link_key: Hashable | None = None


def coordinates(table: pd.DataFrame) -> list[Coordinate]:
    """Each row's categories on the dimensions where it is not a total.

    >>> t = pd.DataFrame({"sex": ["_T", "female"], "age": ["_T", "_T"], "value": [3, 2]})
    >>> t.attrs = {"dimensions": ["sex", "age"], "total_code": "_T"}
    >>> coordinates(t)
    [frozenset(), frozenset({('sex', 'female')})]
    """
    total = table.attrs.get("total_code", "_T")
    dims = list(table.attrs.get("dimensions") or [])
    return [frozenset((d, str(v)) for d, v in zip(dims, row, strict=True) if v != total)
            for row in table[dims].astype(object).itertuples(index=False, name=None)]


def protect_linked(tables: Mapping[str, TableToProtect], k: int, *, rounding: Rounding | None = None,
                   base: int | None = None, seed: int | None = None, max_rounds: int = 50,
                   method: Method = "auto") -> dict[str, ProtectedTable]:
    """Protect every table; tables sharing a `link_key` are protected as one and hide every
    cell any of them hides.

    >>> a = pd.DataFrame({"sex": ["_T", "f", "m"], "value": [30, 5, 25]})
    >>> b = pd.DataFrame({"sex": ["_T", "f", "m"], "age": ["_T"] * 3, "value": [30, 5, 25]})
    >>> a.attrs = {"dimensions": ["sex"]}; b.attrs = {"dimensions": ["sex", "age"]}
    >>> out = protect_linked({"A": TableToProtect(a, "victims"), "B": TableToProtect(b, "victims")}, 11)
    >>> out["A"].suppressed_mask.tolist() == out["B"].suppressed_mask.tolist() == [False, True, True]
    True
    """
    coords = {code: coordinates(item.table) for code, item in tables.items()}
    groups: dict[Hashable, list[str]] = {}
    for code, item in tables.items():
        groups.setdefault(("linked", item.link_key) if item.link_key is not None else ("alone", code), []).append(code)
    protected: dict[str, ProtectedTable] = {}
    for members in groups.values():
        if len(members) == 1:
            code = members[0]
            protected[code] = protect_table(tables[code].table, k, rounding=rounding, base=base, seed=seed,
                                            method=method)
            continue
        joint = _protect_jointly({code: tables[code].table for code in members}, coords, k, rounding=rounding,
                                 base=base, seed=seed, method=method)
        protected.update(joint if joint is not None else
                         _protect_by_forcing({code: tables[code].table for code in members}, coords, k,
                                             rounding=rounding, base=base, seed=seed, max_rounds=max_rounds,
                                             method=method))
    protected = {code: protected[code] for code in tables}
    if rounding:
        _harmonise_rounding(protected, coords, [m for m in groups.values() if len(m) > 1])
    return protected


def _protect_jointly(tables: Mapping[str, pd.DataFrame], coords: Mapping[str, list[Coordinate]], k: int, *,
                     rounding: Rounding | None, base: int | None, seed: int | None,
                     method: Method) -> dict[str, ProtectedTable] | None:
    """One suppression over the union of the tables' cells, or None when two tables give one
    cell different counts."""
    position: dict[Coordinate, int] = {}
    values: list[float] = []
    parts: list[tuple[TableStructure, list[int]]] = []
    for code, table in tables.items():
        counts = count_values(table, _count_column(table))
        positions = []
        for coordinate, value in zip(coords[code], counts, strict=True):
            if coordinate not in position:
                position[coordinate] = len(values)
                values.append(float(value))
            elif values[position[coordinate]] != value:
                return None
            positions.append(position[coordinate])
        parts.append((_structure(table), positions))
    cells = np.array(values)
    primary = (cells > 0) & (cells < k)
    hidden, rules = secondary_suppression(cells, combined_structure(parts, len(cells)), primary, method=method)
    protected = {}
    for (code, table), (_structure_of, positions) in zip(tables.items(), parts, strict=True):
        own = np.array(positions, dtype=int)
        others = ", ".join(c for c in tables if c != code)
        own_rules = [AppliedRule(PRIMARY, int(primary[own].sum()), f"cells below k={k}")]
        for rule in rules:
            if rule.rule == SECONDARY:
                rule = AppliedRule(SECONDARY, int((hidden[own] & ~primary[own]).sum()),
                                   f"{rule.detail}; chosen jointly with {others} ({len(cells)} distinct cells)")
            own_rules.append(rule)
        protected[code] = published_table(table, _count_column(table), primary[own], hidden[own], own_rules,
                                          k=k, rounding=rounding, base=base, seed=seed)
    return protected


def _protect_by_forcing(tables: Mapping[str, pd.DataFrame], coords: Mapping[str, list[Coordinate]], k: int, *,
                        rounding: Rounding | None, base: int | None, seed: int | None, max_rounds: int,
                        method: Method) -> dict[str, ProtectedTable]:
    """Table by table, each forced to hide what any other hides, until nothing changes."""
    forced = {code: pd.Series(False, index=table.index) for code, table in tables.items()}
    protected: dict[str, ProtectedTable] = {}
    pending = set(tables)
    for _ in range(max_rounds):
        for code in sorted(pending):  # only tables whose forced cells changed are protected again
            protected[code] = protect_table(tables[code], k, force=forced[code], rounding=rounding, base=base,
                                            seed=seed, method=method)
        hidden = {c for code in tables for c, s in zip(coords[code], protected[code].suppressed_mask, strict=True) if s}
        pending = set()
        for code, table in tables.items():
            shown = ~protected[code].suppressed_mask.to_numpy(bool)
            wanted = pd.Series([c in hidden for c in coords[code]], index=table.index)
            if (wanted.to_numpy(bool) & shown).any():  # hidden elsewhere, published here
                forced[code] = wanted | ~shown
                pending.add(code)
        if not pending:
            return protected
    raise RuntimeError(f"linked-table protection did not settle in {max_rounds} rounds")  # pragma: no cover


def _count_column(table: pd.DataFrame) -> str:
    return table.attrs.get("count_column", "value")


def _structure(table: pd.DataFrame) -> TableStructure:
    dims = list(table.attrs.get("dimensions") or [])
    non_additive = set(table.attrs.get("non_additive") or [])
    return table_structure(table, dims, table.attrs.get("total_code", "_T"), [d for d in dims if d not in non_additive])


def _harmonise_rounding(protected: dict[str, ProtectedTable], coords: Mapping[str, list[Coordinate]],
                        groups: Sequence[list[str]]) -> None:
    """A cell published by several tables of a group shows the first table's rounded value."""
    for members in groups:
        first: dict[Coordinate, object] = {}
        for code in members:
            published = protected[code].published_df
            count = published.attrs.get("count_column", "value")
            for position, coordinate in enumerate(coords[code]):
                if protected[code].suppressed_mask.iloc[position]:
                    continue
                if coordinate in first:
                    published.iloc[position, published.columns.get_loc(count)] = first[coordinate]
                else:
                    first[coordinate] = published.iloc[position][count]
