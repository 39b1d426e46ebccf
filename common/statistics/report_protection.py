"""Disclosure control across the tables of one report: linked tables hide the same cells.

`protect_table` makes each table safe on its own. A report publishes several tables that count
the same units: VIC_IDENT_PERSONS by sex and SDG 16.2.2 by sex × age × form both publish
"female persons identified"; the monthly trend publishes the period's total of VIC_IDENT. If one
table hides a cell that another publishes, the second table hands the attacker the value the
first table's suppression pattern was built to hide. So tables are grouped by what they count
(`link_key`: population, date, filters, measure), a cell is identified by its categories
(dimensions at the total code left out), and protection is repeated, each table forced to hide
every cell hidden in any table of its group, until no table hides anything new. Suppressed
sets only grow, so this ends; every table's own secondary suppression then also protects the
cells forced on it.

With rounding, a cell published in two tables shows the value rounded once (random rounding
twice would let an attacker average the roundings away).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import pandas as pd

from tipdata.statistics.disclosure import ProtectedTable, Rounding, protect_table

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
                   base: int | None = None, seed: int | None = None,
                   max_rounds: int = 50) -> dict[str, ProtectedTable]:
    """Protect every table; tables sharing a `link_key` hide every cell any of them hides.

    >>> a = pd.DataFrame({"sex": ["_T", "f", "m"], "value": [30, 5, 25]})
    >>> b = pd.DataFrame({"sex": ["_T", "f", "m"], "age": ["_T"] * 3, "value": [30, 5, 25]})
    >>> a.attrs = {"dimensions": ["sex"]}; b.attrs = {"dimensions": ["sex", "age"]}
    >>> out = protect_linked({"A": TableToProtect(a, "victims"), "B": TableToProtect(b, "victims")}, 11)
    >>> out["A"].suppressed_mask.tolist() == out["B"].suppressed_mask.tolist() == [False, True, True]
    True
    """
    coords = {code: coordinates(item.table) for code, item in tables.items()}
    forced = {code: pd.Series(False, index=item.table.index) for code, item in tables.items()}
    groups: dict[Hashable, list[str]] = {}
    for code, item in tables.items():
        if item.link_key is not None:
            groups.setdefault(item.link_key, []).append(code)
    protected: dict[str, ProtectedTable] = {}
    pending = set(tables)
    for _ in range(max_rounds):
        for code in pending:  # only tables whose forced cells changed are protected again
            protected[code] = protect_table(tables[code].table, k, force=forced[code],
                                            rounding=rounding, base=base, seed=seed)
        pending = set()
        for members in groups.values():
            hidden = {c for code in members
                      for c, s in zip(coords[code], protected[code].suppressed_mask, strict=True) if s}
            for code in members:
                shown = ~protected[code].suppressed_mask.to_numpy(bool)
                wanted = pd.Series([c in hidden for c in coords[code]], index=tables[code].table.index)
                if (wanted.to_numpy(bool) & shown).any():  # hidden elsewhere, published here
                    forced[code] = wanted | ~shown
                    pending.add(code)
        if not pending:
            break
    else:  # pragma: no cover - suppressed sets only grow, so this cannot loop for ever
        raise RuntimeError(f"linked-table protection did not settle in {max_rounds} rounds")
    if rounding:
        _harmonise_rounding(protected, coords, groups)
    return protected


def _harmonise_rounding(protected: dict[str, ProtectedTable], coords: dict[str, list[Coordinate]],
                        groups: Mapping[Hashable, list[str]]) -> None:
    """A cell published by several tables of a group shows the first table's rounded value."""
    for members in groups.values():
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
