"""The linear structure of a tidy table with margins: which cells add up to which total.

A tidy table has dimension columns holding a category or the total code (`_T`). For every
additive dimension d and every row r with r[d] ≠ total, the rows equal to r except on d form a
*line*: their cells add up to the row with d = total, when that row is published. These
relations are all an attacker can use besides non-negativity, so suppression works on them.
Multi-response dimensions (a unit under several categories) give no relation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Relation:
    """`sum(cells[members]) == cells[total]` along one dimension."""

    dimension: str
    total: int
    members: tuple[int, ...]

    @property
    def cells(self) -> tuple[int, ...]:
        return (*self.members, self.total)


@dataclass(frozen=True)
class Slice2D:
    """A complete two-dimensional sub-table (with both margins) of the table.

    `cells[(i, j)]` is the row of category i of `rows_dim` and j of `columns_dim` (the total code
    included), the other dimensions fixed.
    """

    rows_dim: str
    columns_dim: str
    cells: dict[tuple[str, str], int]


@dataclass(frozen=True)
class TableStructure:
    dims: tuple[str, ...]
    total: str
    relations: tuple[Relation, ...]
    slices: tuple[Slice2D, ...]
    #: per cell, the relations it belongs to (positions in `relations`)
    relations_of: tuple[tuple[int, ...], ...]
    #: per cell, whether it is a total of some relation (a margin)
    is_margin: np.ndarray


def table_structure(table: pd.DataFrame, dims: Sequence[str], total: str = "_T",
                    additive: Sequence[str] | None = None) -> TableStructure:
    """The relations and complete 2-D slices of a tidy table.

    >>> t = pd.DataFrame({"sex": ["_T", "f", "m"], "value": [5, 2, 3]})
    >>> table_structure(t, ["sex"]).relations
    (Relation(dimension='sex', total=0, members=(1, 2)),)
    """
    dims = tuple(dims)
    additive = tuple(dims if additive is None else [d for d in dims if d in additive])
    keys = [tuple(row) for row in table[list(dims)].astype(object).itertuples(index=False, name=None)]
    position = {key: i for i, key in enumerate(keys)}
    if len(position) != len(keys):
        raise ValueError("the table repeats a combination of categories; each row must be one cell "
                         f"(dimensions {list(dims)})")
    relations: list[Relation] = []
    for axis, dim in enumerate(dims):
        if dim not in additive:
            continue
        lines: dict[tuple, list[int]] = {}
        for i, key in enumerate(keys):
            if key[axis] != total:
                lines.setdefault(key[:axis] + (total,) + key[axis + 1:], []).append(i)
        for total_key, members in lines.items():
            if total_key in position:
                relations.append(Relation(dim, position[total_key], tuple(members)))
    relations_of: list[list[int]] = [[] for _ in keys]
    is_margin = np.zeros(len(keys), dtype=bool)
    for r, relation in enumerate(relations):
        is_margin[relation.total] = True
        for cell in relation.cells:
            relations_of[cell].append(r)
    return TableStructure(dims, total, tuple(relations), tuple(_slices(keys, position, dims, additive)),
                          tuple(tuple(r) for r in relations_of), is_margin)


def _slices(keys: list[tuple], position: dict[tuple, int], dims: tuple[str, ...],
            additive: tuple[str, ...]) -> list[Slice2D]:
    """Every complete 2-D sub-table: all category pairs of two additive dimensions, margins
    included, with the other dimensions fixed at one value."""
    found = []
    for a, b in combinations([dims.index(d) for d in additive], 2):
        groups: dict[tuple, dict[tuple[str, str], int]] = {}
        values_a: dict[tuple, set] = {}
        values_b: dict[tuple, set] = {}
        for key in keys:
            rest = tuple(v for i, v in enumerate(key) if i not in (a, b))
            groups.setdefault(rest, {})[(key[a], key[b])] = position[key]
            values_a.setdefault(rest, set()).add(key[a])
            values_b.setdefault(rest, set()).add(key[b])
        for rest, cells in groups.items():
            size = len(values_a[rest]) * len(values_b[rest])
            if len(values_a[rest]) > 1 and len(values_b[rest]) > 1 and len(cells) == size:
                found.append(Slice2D(dims[a], dims[b], cells))
    return found


def combined_structure(parts: Sequence[tuple[TableStructure, Sequence[int]]], size: int) -> TableStructure:
    """The structure of several tables over one set of `size` cells: `parts` holds each table's
    structure and, per row of that table, its position among the cells. A relation two tables
    share (e.g. female + male = total in a sex table and a sex × age table) is kept once.

    Why: an attacker reads every published table at once; cells with the same categories in two
    tables counting the same units are one unknown, and every table's margins constrain it.

    >>> a = table_structure(pd.DataFrame({"sex": ["_T", "f", "m"]}), ["sex"])
    >>> b = table_structure(pd.DataFrame({"age": ["_T", "young", "old"]}), ["age"])
    >>> [(r.total, r.members) for r in combined_structure([(a, [0, 1, 2]), (b, [0, 3, 4])], 5).relations]
    [(0, (1, 2)), (0, (3, 4))]
    """
    relations: list[Relation] = []
    seen: set[tuple[int, tuple[int, ...]]] = set()
    slices: list[Slice2D] = []
    seen_slices: set[tuple] = set()
    dims: list[str] = []
    for structure, positions in parts:
        dims += [d for d in structure.dims if d not in dims]
        for relation in structure.relations:
            mapped = Relation(relation.dimension, positions[relation.total],
                              tuple(positions[m] for m in relation.members))
            key = (mapped.total, tuple(sorted(mapped.members)))
            if key not in seen:
                seen.add(key)
                relations.append(mapped)
        for piece in structure.slices:
            mapped_slice = Slice2D(piece.rows_dim, piece.columns_dim, {ij: positions[c] for ij, c in piece.cells.items()})
            key = (piece.rows_dim, piece.columns_dim, tuple(sorted(mapped_slice.cells.items())))
            if key not in seen_slices:
                seen_slices.add(key)
                slices.append(mapped_slice)
    relations_of: list[list[int]] = [[] for _ in range(size)]
    is_margin = np.zeros(size, dtype=bool)
    for r, relation in enumerate(relations):
        is_margin[relation.total] = True
        for cell in relation.cells:
            relations_of[cell].append(r)
    total = parts[0][0].total if parts else "_T"
    return TableStructure(tuple(dims), total, tuple(relations), tuple(slices),
                          tuple(tuple(r) for r in relations_of), is_margin)
