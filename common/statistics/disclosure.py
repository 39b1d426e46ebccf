"""Disclosure control for published tables: primary and secondary suppression, then rounding.

Why: a published table must not let anyone learn about a small group of people - not from a
small cell, and not by subtracting published cells from a published total. The global data hub
publishes only k-anonymised data with k = 11; tipdata applies the same threshold to every table.

What `protect_table` does, in order:

1. **Primary suppression**: every cell (margins and grand total included) with 0 < count < k;
   zeros are published unless declared sensitive (`sensitive_zeros`).
2. **Secondary (complementary) suppression**, so that no hidden cell can be worked out from what
   is published. Two methods; `method="auto"` (default) takes the first for tables of up to
   `OPTIMAL_MAX_CELLS` cells when scipy is installed, the second otherwise:
   - *optimal* (`optimal_suppression`): the whole pattern is chosen at once by a MILP (scipy's
     HiGHS) that minimises the information lost - per hidden cell √(1 + count), times 1 + the
     number of dimensions a margin sums over; zeros last (`cell_costs`) - while an attacker's linear
     programme checks every hidden cell and adds a cut for each one it can pin down, until it
     can pin down none. It loses the least information the protection rule allows (proven,
     unless a master MILP hits its node limit or the rounds run out: tables of four or more
     dimensions may need more rounds than `optimal_suppression.MAX_ROUNDS`, and then the last
     pattern is repaired cell by cell, and the greedy rules below finish should that get stuck).
   - *greedy* (combinatorial, then audited), until nothing changes:
     - *line rule*: every relation (a line of cells and its published total, along each additive
       dimension) holding a suppressed cell holds at least two; the one added is the smallest
       non-zero published cell of the line, an inner cell before a margin on ties;
     - *cycle rule* (2-D): in every complete two-dimensional sub-table, the suppressed cells seen
       as edges between their row and their column (margins as one more row and column) must
       form no bridge - a suppressed cell on no cycle is exactly determined by the margins, even
       when every line holds two suppressed cells. For a bridge, the smallest non-zero published
       cell joining its two sides is suppressed, which closes a cycle through it.
     - *audit* (when scipy is installed, default): an attacker's linear programme finds, for
       every suppressed cell, the least and greatest value it can take given the published
       cells, every relation and non-negativity; a cell whose interval is narrower than
       `protection_level` gets the smallest published non-zero cell of one of its lines
       suppressed, and the rules run again. This is what makes tables of three or more
       dimensions (and linked breakdowns sharing a total) safe: the line and cycle rules alone
       guarantee it only per 2-D slice.
     Each choice is made alone, without seeing the others, so the greedy method hides more than
     needed, most on tables of three or more dimensions; it stays for tables too large for the
     optimal method and for use without scipy.
3. **Rounding** (optional), of published counts only: `"floor"` rounds down to a multiple of
   `base` (default k), as CTDC / synthetic-data-showcase report aggregates; `"random"` rounds to a
   multiple of `base` (default 5), up with probability remainder/base (unbiased), using a fresh
   secret seed unless `seed` is given (a known seed lets an attacker undo the rounding). Rounded
   cells no longer add up to rounded totals; that is the point.

"Protected" (the rule both methods meet) means: for every suppressed cell - primary or
secondary - (greatest − least feasible value) ≥ `protection_level` (default 1), given every
published cell, every relation and non-negativity; so no suppressed cell is exactly derivable.
With every suppressed cell ≥ 1, a cell on a cycle can move by at least 1 either way, so after
the greedy cycle rule a 2-D table's intervals are at least 2 wide.

Statistic tables (mean, median) are protected through their count column `n`: a suppressed `n`
masks the row's statistics too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from tipdata.statistics.table_structure import Slice2D, TableStructure, table_structure

DEFAULT_K = 11
#: the largest table (cells, margins included) `method="auto"` gives to the optimal method; past
#: it the MILP's root node alone takes seconds, so the greedy method runs instead
OPTIMAL_MAX_CELLS = 400
Rounding = Literal["floor", "random"]
Method = Literal["auto", "optimal", "greedy"]
PRIMARY = "primary"
SECONDARY = "secondary"


@dataclass(frozen=True)
class AppliedRule:
    """One step of the protection and how many cells it touched."""

    rule: str
    cells: int
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.cells} cell(s) - {self.detail}"


@dataclass(frozen=True)
class ProtectedTable:
    """A table fit to publish, which cells it hides and why.

    `published_df`: the input with suppressed values set to missing (and counts rounded when
    asked); `suppressed_mask`: True where hidden; `reasons`: "primary", "secondary" or "".
    """

    published_df: pd.DataFrame
    suppressed_mask: pd.Series
    rules_applied: tuple[AppliedRule, ...]
    reasons: pd.Series

    @property
    def published(self) -> pd.DataFrame:
        return self.published_df


def protect_table(table: pd.DataFrame, k: int = DEFAULT_K, *, dims: Sequence[str] | None = None,
                  count: str | None = None, total: str | None = None,
                  non_additive: Sequence[str] | None = None,
                  sensitive_zeros: bool | pd.Series = False, protection_level: float = 1.0,
                  rounding: Rounding | None = None, base: int | None = None,
                  seed: int | None = None, audit: bool | Literal["auto"] = "auto",
                  force: pd.Series | None = None, method: Method = "auto") -> ProtectedTable:
    """Suppress small cells and every cell that would reveal them; optionally round.

    Dimensions, the count column, the total code and the multi-response dimensions are read
    from `table.attrs` (set by `compute_indicators`) unless given. `force` (a boolean Series on
    the table's index) hides cells whatever their value, e.g. cells hidden in a linked table that
    publishes the same counts; they are treated as primary. `method` picks the secondary
    suppression ("optimal", "greedy" or "auto", see the module docstring); `audit=False` (no
    linear programmes) leaves only the greedy line and cycle rules.

    >>> t = pd.DataFrame({"sex": ["_T", "female", "male", "other"], "value": [40, 5, 20, 15]})
    >>> protect_table(t, k=11, dims=["sex"]).suppressed_mask.tolist()
    [False, True, False, True]
    """
    _check_k(k)
    attrs = table.attrs
    total = total or attrs.get("total_code", "_T")
    dims = list(dims if dims is not None else attrs.get("dimensions") or [])
    if not dims:
        raise ValueError("say which columns are dimensions: dims=[...] (or protect a table from compute_indicators)")
    count = count or attrs.get("count_column", "value")
    non_additive = list(non_additive if non_additive is not None else attrs.get("non_additive") or [])
    values = count_values(table, count)
    structure = table_structure(table, dims, total, [d for d in dims if d not in non_additive])

    sensitive = _sensitive_zero_mask(table, values, sensitive_zeros)
    forced = np.zeros(len(values), dtype=bool) if force is None else \
        force.reindex(table.index, fill_value=False).to_numpy(bool)
    primary = ((values > 0) & (values < k)) | sensitive | forced
    rules = [AppliedRule(PRIMARY, int(primary.sum()), f"cells below k={k}"
                         + (", sensitive zeros" if sensitive.any() else "")
                         + (f", {int(forced.sum())} forced" if forced.any() else ""))]
    suppressed, secondary_rules = secondary_suppression(values, structure, primary, protection_level=protection_level,
                                                        audit=audit, method=method)
    return published_table(table, count, primary, suppressed, (*rules, *secondary_rules), k=k,
                           rounding=rounding, base=base, seed=seed)


def secondary_suppression(values: np.ndarray, structure: TableStructure, primary: np.ndarray, *,
                          protection_level: float = 1.0, audit: bool | Literal["auto"] = "auto",
                          method: Method = "auto") -> tuple[np.ndarray, tuple[AppliedRule, ...]]:
    """The cells to hide (`primary` and their complements) over any set of cells and relations,
    e.g. several linked tables at once, and the rules that say how they were chosen.

    >>> from tipdata.statistics.table_structure import table_structure
    >>> t = pd.DataFrame({"sex": ["_T", "female", "male", "other"], "value": [40, 5, 20, 15]})
    >>> values = t["value"].to_numpy(float)
    >>> hidden, rules = secondary_suppression(values, table_structure(t, ["sex"]), values < 11)
    >>> hidden.tolist()
    [False, True, False, True]
    """
    if protection_level <= 0:
        raise ValueError(f"protection_level must be positive, not {protection_level!r}")
    if method not in ("auto", "optimal", "greedy"):
        raise ValueError(f"method must be 'auto', 'optimal' or 'greedy', not {method!r}")
    run_audit = _audit_available() if audit == "auto" else bool(audit)
    if method == "optimal" and not run_audit:
        raise ValueError("the optimal method needs the linear-programming audit: install scipy, do not pass audit=False")
    optimal = method == "optimal" or (method == "auto" and run_audit and len(values) <= OPTIMAL_MAX_CELLS)
    suppressed = np.asarray(primary, dtype=bool).copy()
    rules: list[AppliedRule] = []
    if optimal and suppressed.any():
        from tipdata.statistics.optimal_suppression import optimal_suppression

        found = optimal_suppression(values, structure.relations, suppressed, protection_level)
        suppressed = found.suppressed.copy()
        how = ("minimal information loss, proven" if found.proven_optimal
               else "node limit reached, near-minimal" if found.converged
               else f"rounds ran out after {found.rounds}, repaired by the greedy rules")
        detail = f"optimal (MILP + attacker LP): {found.rounds} round(s), {found.cuts} cut(s), {how}"
        if not found.converged:
            added = _greedy_secondary(structure, values, suppressed, protection_level, run_audit)
            detail += f"; line rule {added['line']}, cycle rule {added['cycle']}, audit {added['audit']}"
        rules.append(AppliedRule(SECONDARY, int((suppressed & ~primary).sum()), detail))
    else:
        added = _greedy_secondary(structure, values, suppressed, protection_level, run_audit)
        rules.append(AppliedRule(SECONDARY, int((suppressed & ~primary).sum()),
                                 f"greedy: line rule {added['line']}, cycle rule {added['cycle']}, audit {added['audit']}"))
    if audit == "auto" and not run_audit:
        rules.append(AppliedRule("audit", 0, "skipped: scipy is not installed (pip install scipy)"))
    elif run_audit:
        rules.append(AppliedRule("audit", 0, f"every suppressed cell's feasible interval ≥ {protection_level}"))
    return suppressed, tuple(rules)


def published_table(table: pd.DataFrame, count: str, primary: np.ndarray, suppressed: np.ndarray,
                    rules: Sequence[AppliedRule], *, k: int = DEFAULT_K, rounding: Rounding | None = None,
                    base: int | None = None, seed: int | None = None) -> ProtectedTable:
    """The `ProtectedTable` for a suppression pattern: hidden values blanked, counts rounded when
    asked, each hidden cell's reason."""
    rules = list(rules)
    published = _published(table, suppressed, count)
    if rounding:
        published, rounding_rule = _rounded(published, suppressed, count, rounding, base or
                                            (k if rounding == "floor" else 5), seed)
        rules.append(rounding_rule)
    secondary = suppressed & ~primary
    reasons = np.where(primary, PRIMARY, np.where(secondary, SECONDARY, ""))
    return ProtectedTable(published, pd.Series(suppressed, index=table.index, name="suppressed"),
                          tuple(rules), pd.Series(reasons, index=table.index, name="reason"))


def count_values(table: pd.DataFrame, count: str) -> np.ndarray:
    """The count column as floats, refused unless every row holds a non-negative count."""
    values = table[count].to_numpy(float)
    if np.isnan(values).any() or (values < 0).any():
        raise ValueError(f"column {count!r} must hold non-negative counts in every row")
    return values


def _check_k(k: int) -> None:
    if k < 1 or int(k) != k:
        raise ValueError(f"k must be a whole number of at least 1, not {k!r}")


def _sensitive_zero_mask(table: pd.DataFrame, values: np.ndarray, sensitive_zeros: bool | pd.Series) -> np.ndarray:
    if isinstance(sensitive_zeros, pd.Series):
        flagged = sensitive_zeros.reindex(table.index).fillna(False).to_numpy(bool)
    else:
        flagged = np.full(len(values), bool(sensitive_zeros))
    return flagged & (values == 0)


def _audit_available() -> bool:
    try:
        import scipy.optimize  # noqa: F401
    except ImportError:
        return False
    return True


# --- greedy secondary suppression ----------------------------------------------------------------

def _greedy_secondary(structure: TableStructure, values: np.ndarray, suppressed: np.ndarray,
                      protection_level: float, run_audit: bool) -> dict[str, int]:
    """Line rule, cycle rule and (when `run_audit`) the LP audit's repairs until nothing changes;
    `suppressed` is updated in place. Returns how many cells each rule added."""
    added = {"line": 0, "cycle": 0, "audit": 0}
    for _ in range(len(values) + 1):
        added["line"] += _line_rule(structure, values, suppressed)
        added["cycle"] += _cycle_rule(structure, values, suppressed)
        if not run_audit or not suppressed.any():
            break
        extra = _audit_repair(structure, values, suppressed, protection_level)
        if not extra:
            break
        added["audit"] += extra
    return added


def _cheapest(cells: Sequence[int], values: np.ndarray, suppressed: np.ndarray,
              structure: TableStructure) -> int | None:
    """The published cell to suppress among `cells`: smallest non-zero value, an inner cell
    before a margin, then the first; a zero only when nothing else is left."""
    candidates = [c for c in cells if not suppressed[c]]
    if not candidates:
        return None
    return min(candidates, key=lambda c: (values[c] == 0, values[c], bool(structure.is_margin[c]), c))


def _line_rule(structure: TableStructure, values: np.ndarray, suppressed: np.ndarray) -> int:
    """Until stable: a relation with exactly one suppressed cell gets a second one."""
    added = 0
    changed = True
    while changed:
        changed = False
        for relation in structure.relations:
            cells = relation.cells
            hidden = sum(1 for c in cells if suppressed[c])
            if hidden != 1:
                continue
            chosen = _cheapest(cells, values, suppressed, structure)
            if chosen is not None:
                suppressed[chosen] = True
                added += 1
                changed = True
    return added


def _cycle_rule(structure: TableStructure, values: np.ndarray, suppressed: np.ndarray) -> int:
    """Until stable: no suppressed cell is a bridge of its 2-D slice's suppression graph."""
    added = 0
    changed = True
    while changed:
        changed = False
        for piece in structure.slices:
            fix = _bridge_fix(piece, values, suppressed, structure)
            if fix is not None:
                suppressed[fix] = True
                added += 1
                changed = True
                _line_rule(structure, values, suppressed)  # keep lines at two or more
    return added


def _bridge_fix(piece: Slice2D, values: np.ndarray, suppressed: np.ndarray,
                structure: TableStructure) -> int | None:
    """A cell whose suppression puts a bridge of the slice on a cycle, or None if none is a bridge."""
    edges = [(("r", i), ("c", j), cell) for (i, j), cell in piece.cells.items() if suppressed[cell]]
    if not edges:
        return None
    bridges = _bridges(edges)
    if not bridges:
        return None
    for u, w, _cell in bridges:
        side = _component(edges, u, without=(u, w))
        other = _component(edges, w, without=(u, w))
        crossing = [cell for (i, j), cell in piece.cells.items() if not suppressed[cell]
                    and ((("r", i) in side and ("c", j) in other) or (("r", i) in other and ("c", j) in side))]
        chosen = _cheapest(crossing, values, suppressed, structure)
        if chosen is not None:
            return chosen
    return None


def _component(edges: list[tuple], start: tuple, without: tuple) -> set:
    """Nodes reachable from `start` over `edges`, not using the edge `without`."""
    adjacency: dict[tuple, list[tuple]] = {}
    for u, w, _ in edges:
        if {u, w} == set(without):
            continue
        adjacency.setdefault(u, []).append(w)
        adjacency.setdefault(w, []).append(u)
    seen, stack = {start}, [start]
    while stack:
        for nxt in adjacency.get(stack.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _bridges(edges: list[tuple]) -> list[tuple]:
    """Bridges of a simple undirected graph (Tarjan's low-link, iterative)."""
    adjacency: dict[tuple, list[tuple[tuple, int]]] = {}
    for index, (u, w, _) in enumerate(edges):
        adjacency.setdefault(u, []).append((w, index))
        adjacency.setdefault(w, []).append((u, index))
    order: dict[tuple, int] = {}
    low: dict[tuple, int] = {}
    found = []
    for root in adjacency:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack = [(root, -1, iter(adjacency[root]))]
        while stack:
            node, via, neighbours = stack[-1]
            advanced = False
            for nxt, index in neighbours:
                if index == via:
                    continue
                if nxt in order:
                    low[node] = min(low[node], order[nxt])
                else:
                    order[nxt] = low[nxt] = len(order)
                    stack.append((nxt, index, iter(adjacency[nxt])))
                    advanced = True
                    break
            if advanced:
                continue
            stack.pop()
            if stack:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[node])
                if low[node] > order[parent]:
                    found.append(edges[via])
    return found


def _audit_repair(structure: TableStructure, values: np.ndarray, suppressed: np.ndarray,
                  protection_level: float) -> int:
    """Suppress one more cell next to each under-protected cell the attacker's LP finds."""
    from tipdata.statistics.interval_audit import feasible_intervals

    intervals = feasible_intervals(values, suppressed, structure.relations)
    exposed = [cell for cell, (low, high) in intervals.items() if high - low < protection_level - 1e-9]
    added = 0
    for cell in exposed:
        lines = [c for r in structure.relations_of[cell] for c in structure.relations[r].cells]
        chosen = _cheapest(lines, values, suppressed, structure)
        if chosen is None:
            chosen = _cheapest(range(len(values)), values, suppressed, structure)
        if chosen is not None and not suppressed[chosen]:
            suppressed[chosen] = True
            added += 1
    return added


# --- publishing ---------------------------------------------------------------------------------

def _published(table: pd.DataFrame, suppressed: np.ndarray, count: str) -> pd.DataFrame:
    """The table with every value column of a suppressed row set to missing."""
    dims = set(table.attrs.get("dimensions") or [])
    published = table.copy()
    published.attrs = dict(table.attrs)
    for column in published.columns:
        if column in dims or not pd.api.types.is_numeric_dtype(published[column]):
            continue
        if column == count or pd.api.types.is_integer_dtype(published[column]):
            published[column] = published[column].astype("Int64")
        published.loc[suppressed, column] = pd.NA if published[column].dtype == "Int64" else np.nan
    return published


def _rounded(published: pd.DataFrame, suppressed: np.ndarray, count: str, rounding: Rounding,
             base: int, seed: int | None) -> tuple[pd.DataFrame, AppliedRule]:
    if base < 1:
        raise ValueError(f"rounding base must be at least 1, not {base}")
    counts = published[count].to_numpy(dtype=float, na_value=np.nan)
    shown = ~suppressed
    if rounding == "floor":
        rounded = np.floor(counts / base) * base
        detail = f"counts rounded down to a multiple of {base}"
    elif rounding == "random":
        generator = np.random.default_rng(seed)
        remainder = np.mod(counts, base)
        up = generator.random(len(counts)) < remainder / base
        rounded = counts - remainder + np.where(up, base, 0)
        detail = f"random rounding to a multiple of {base} (unbiased)" + ("" if seed is None else ", fixed seed")
    else:
        raise ValueError(f"rounding must be 'floor' or 'random', not {rounding!r}")
    changed = int((shown & (rounded != counts)).sum())
    published[count] = pd.array(np.where(shown, rounded, np.nan), dtype="Float64").round().astype("Int64")
    rate = published.attrs.get("rate")
    if rate and rate.get("numerator") == count and rate["column"] in published.columns:
        with np.errstate(divide="ignore", invalid="ignore"):
            published[rate["column"]] = (published[count].astype(float)
                                         / published[rate["denominator"]].astype(float) * rate["per"])
    return published, AppliedRule("rounding", changed, detail)
