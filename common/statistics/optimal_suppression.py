"""Secondary suppression as an optimisation: hide as little as possible, and nothing that can be pinned down.

Why: choosing complementary cells one at a time (the smallest cell next to each exposed one)
hides far more than needed on tables of three or more dimensions - each choice is made without
seeing the others, and each new cell needs partners of its own. Here the whole pattern is chosen
at once, as the cell suppression problem of Fischetti and Salazar-González (2001), solved by
Benders decomposition with scipy's HiGHS:

- *master* (a MILP): one binary per cell (1 = hidden), primary cells fixed at 1, minimise the
  information lost (`cell_costs`); subject to the line constraints (a hidden cell never alone in a
  relation) and every cut found so far;
- *attacker* (two LPs per hidden cell of the master's pattern, all solved as one block-diagonal
  LP): the least and greatest value the cell can take given the published cells, every relation
  and 0 ≤ cell ≤ value + slack (slack = the table's sum plus the level). The bound only shrinks what the real,
  unbounded attacker of `interval_audit` can reach, so an interval wide enough here is wide
  enough there;
- *cut*: when a cell's interval is narrower than the protection level, the LP duals give
  coefficients g ≥ 0 with width(x) ≤ Σ g_i x_i for *every* pattern x (weak duality: the dual
  solution stays feasible whatever is hidden; only the bounds, linear in x, move; a published
  cell whose upper bound the dual prices gets g_i = ∞, as hiding it frees the real attacker's
  cell without bound). So Σ min(g_i, level) x_i ≥ level · x_p is valid - no pattern protected
  against the real attacker violates it - and the current pattern does. The master is solved
  again with it.

The loop ends when the attacker finds no narrow interval: the pattern is then protected and,
when each master was solved to optimality (HiGHS's 0.01 % gap), the cheapest under
`cell_costs` - no protected pattern costs less. A cell shown wide enough keeps its two attacker solutions as a certificate;
it is only solved again once a cell they move is published. Tables of four or more dimensions
can need many rounds (their cheapest patterns are often pinned down whole); after `MAX_ROUNDS`
the last master's pattern is repaired instead, which is protected but not proven minimal.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from tipdata.statistics.table_structure import Relation

#: below this width difference two numbers are the same (LP solutions are floating point)
TOLERANCE = 1e-7
#: masters solved before the last pattern is repaired instead (3-D tables settle in one to
#: three; tables of four dimensions can take dozens, each master slower than the last)
MAX_ROUNDS = 6
#: branch-and-bound nodes per master, a deterministic bound on its work
NODE_LIMIT = 2000
#: HiGHS's cut pool, kept small: on masters of four-dimensional tables the default pool (10,000
#: rows) makes the root node three times slower for the same optimum (an unknown option is
#: ignored, so an older HiGHS just runs with its default)
CUT_POOL = 100
#: relative size of the per-cell cost perturbation that makes the cheapest pattern unique, so
#: the pattern chosen among equally costly ones is the same whatever HiGHS version solves it
TIE_BREAK = 1e-5


@dataclass(frozen=True)
class OptimalSuppression:
    """The hidden cells, and how the search ended.

    `converged`: the attacker found every hidden cell's interval at least the protection level
    wide (False only if the repair after `max_rounds` got stuck: the caller must repair then);
    `proven_optimal`: settled within `max_rounds`, every master MILP solved to optimality.
    """

    suppressed: np.ndarray
    converged: bool
    proven_optimal: bool
    rounds: int
    lp_solves: int
    cuts: int


def cell_costs(values: np.ndarray, relations: Sequence[Relation]) -> np.ndarray:
    """The information lost by hiding each cell: (1 + the number of relations the cell is the
    total of) × √(1 + value); a zero costs more than every other cell together.

    Why: counting hidden cells alone hides one large number (248 male adults) to spare a few
    small ones; summing hidden values hides many small cells to spare one large one. The square
    root sits between the two. Readers look at margins first - the grand total and the one-way
    totals are the headline numbers - so a margin summing over d dimensions weighs 1 + d times
    an inner cell of its size. A hidden zero protects nothing upward: it cannot fall, so the
    small cell it partners cannot rise, and the attacker learns "at most its true value" - a
    zero is hidden only when nothing else would do.

    >>> cell_costs(np.array([15., 8., 7., 0.]), [Relation("sex", 0, (1, 2, 3))]).round(3).tolist()
    [8.0, 3.0, 2.828, 14.828]
    """
    depth = np.zeros(len(values))
    for relation in relations:
        depth[relation.total] += 1
    costs = (1.0 + depth) * np.sqrt(1.0 + values)
    zero = values == 0
    return np.where(zero, costs + costs[~zero].sum(), costs)


def optimal_suppression(values: np.ndarray, relations: Sequence[Relation], primary: np.ndarray,
                        protection_level: float = 1.0, *, costs: np.ndarray | None = None,
                        max_rounds: int = MAX_ROUNDS, node_limit: int = NODE_LIMIT) -> OptimalSuppression:
    """The cheapest pattern hiding every `primary` cell in which no hidden cell's feasible
    interval is narrower than `protection_level`.

    When `max_rounds` masters have not settled it (tables of four or more dimensions, whose
    cheapest patterns the margins often pin down whole), the last master's pattern is repaired:
    for each cell still pinned down, the published cell its cut values most per cost is hidden,
    until the attacker pins down nothing. Deterministic: HiGHS runs without time limits (a node
    limit bounds each master instead).

    >>> rel = [Relation("sex", 0, (1, 2, 3))]
    >>> optimal_suppression(np.array([40., 5., 20., 15.]), rel, np.array([False, True, False, False])
    ...                     ).suppressed.tolist()
    [False, True, False, True]
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    primary = np.asarray(primary, dtype=bool)
    if costs is None:
        costs = cell_costs(values, relations)
    if not primary.any():
        return OptimalSuppression(primary.copy(), True, True, 0, 0, 0)
    master = _Master(costs, primary, _line_constraints(relations, n), node_limit)
    audit = _Audit(_Attacker(values, _relation_matrix(relations, n), float(values.sum()) + protection_level),
                   protection_level)
    cuts = 0
    for round_number in range(1, max_rounds + 1):
        hidden = master.solve()
        new_cuts = audit.cuts(hidden)
        if not new_cuts:
            return OptimalSuppression(hidden, True, master.all_optimal, round_number, audit.lp_solves, cuts)
        cuts += len(new_cuts)
        master.add([row for _cell, row in new_cuts])
    repaired, protected = audit.repair(hidden, costs)
    return OptimalSuppression(repaired, protected, False, max_rounds, audit.lp_solves, cuts)


class _Audit:
    """The attacker run over whole patterns: cuts for the cells it pins down, certificates for
    the others (a cell's two extreme solutions stay feasible while every cell they move is hidden)."""

    def __init__(self, attacker: _Attacker, level: float) -> None:
        self.attacker = attacker
        self.level = level
        self.certificates: dict[int, np.ndarray] = {}
        self.lp_solves = 0

    def cuts(self, hidden: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(cell, row) per hidden cell pinned down: row · x ≥ 0 is its cut, violated by `hidden`."""
        unknown = np.array([c for c in np.flatnonzero(hidden)
                            if c not in self.certificates or not hidden[self.certificates[c]].all()], dtype=int)
        self.lp_solves += 2 * len(unknown)
        found = []
        for cell, (width, unbounded, bounded, moved) in zip(unknown, self.attacker.widths(unknown, hidden),
                                                             strict=True):
            if width >= self.level - TOLERANCE:
                self.certificates[int(cell)] = moved
                continue
            for coefficients in (unbounded, bounded):
                row = np.minimum(coefficients, self.level)
                row[row < TOLERANCE] = 0.0
                row[cell] -= self.level
                if row @ hidden < -TOLERANCE:  # violated by the pattern, as a cut must be
                    break
            found.append((int(cell), row))
        return found

    def repair(self, hidden: np.ndarray, costs: np.ndarray) -> tuple[np.ndarray, bool]:
        """`hidden` with cells added until the attacker pins down none, and whether that was reached."""
        hidden = hidden.copy()
        for _ in range(len(hidden) + 1):
            violated = self.cuts(hidden)
            if not violated:
                return hidden, True
            before = int(hidden.sum())
            for cell, row in violated:
                while row @ hidden < -TOLERANCE:
                    gain = np.where(hidden, 0.0, row) / costs
                    gain[cell] = 0.0
                    best = int(np.argmax(gain))
                    if gain[best] <= 0.0:
                        break
                    hidden[best] = True
            if int(hidden.sum()) == before:
                break
        return hidden, False


def _relation_matrix(relations: Sequence[Relation], n: int) -> sparse.csr_matrix:
    """One row per relation: +1 on its members, -1 on its total (rows · values = 0)."""
    rows, cols, data = [], [], []
    for r, relation in enumerate(relations):
        for member in relation.members:
            rows.append(r)
            cols.append(member)
            data.append(1.0)
        rows.append(r)
        cols.append(relation.total)
        data.append(-1.0)
    return sparse.csr_matrix((data, (rows, cols)), shape=(len(relations), n))


def _line_constraints(relations: Sequence[Relation], n: int) -> sparse.csr_matrix:
    """For each relation and each of its cells p: Σ x_(other cells) - x_p ≥ 0 - a hidden cell is
    never the only hidden cell of a relation, or the relation gives it away."""
    rows, cols, data = [], [], []
    row = 0
    for relation in relations:
        cells = relation.cells
        for p in cells:
            for c in cells:
                rows.append(row)
                cols.append(c)
                data.append(-1.0 if c == p else 1.0)
            row += 1
    return sparse.csr_matrix((data, (rows, cols)), shape=(row, n))


class _Master:
    """The MILP over which cells to hide; cuts accumulate between solves."""

    def __init__(self, costs: np.ndarray, primary: np.ndarray, lines: sparse.csr_matrix, node_limit: int) -> None:
        self.objective = np.where(primary, 0.0, costs * (1.0 + TIE_BREAK * _jitter(len(costs))))
        self.bounds = Bounds(primary.astype(float), np.ones(len(costs)))
        self.blocks: list[sparse.csr_matrix] = [lines] if lines.shape[0] else []
        self.node_limit = node_limit
        self.all_optimal = True

    def add(self, rows: list[np.ndarray]) -> None:
        self.blocks.append(sparse.csr_matrix(np.vstack(rows)))

    def solve(self) -> np.ndarray:
        constraints = []
        if self.blocks:
            stacked = sparse.vstack(self.blocks, format="csr")
            constraints.append(LinearConstraint(stacked, lb=np.zeros(stacked.shape[0]), ub=np.inf))
        with warnings.catch_warnings():  # scipy warns that it passes HiGHS's own option through
            warnings.simplefilter("ignore", RuntimeWarning)
            result = milp(self.objective, integrality=np.ones(len(self.objective)), bounds=self.bounds,
                          constraints=constraints, options={"node_limit": self.node_limit, "mip_rel_gap": 0.0,
                                                            "mip_pool_soft_limit": CUT_POOL})
        if result.x is None:  # pragma: no cover - hiding everything always satisfies every cut
            raise RuntimeError(f"secondary suppression: the master problem has no solution ({result.message})")
        self.all_optimal &= result.status == 0
        return result.x > 0.5


def _jitter(n: int) -> np.ndarray:
    """n fixed numbers in [0, 1) that no two subsets of share a sum (in practice): cell i's is
    read from a hash of i, not from a random generator whose stream may change between versions."""
    return np.array([int.from_bytes(hashlib.sha256(str(i).encode()).digest()[:6], "big") / 2.0 ** 48
                     for i in range(n)])


class _Attacker:
    """The least and greatest value of a hidden cell, and the dual certificate of the width."""

    def __init__(self, values: np.ndarray, matrix: sparse.csr_matrix, slack: float) -> None:
        self.values = values
        self.matrix = matrix
        self.slack = slack
        self._pattern: bytes | None = None

    def _prepare(self, hidden: np.ndarray) -> None:
        key = hidden.tobytes()
        if key == self._pattern:
            return
        self._pattern = key
        self.columns = np.flatnonzero(hidden)
        touched = np.flatnonzero(np.asarray(abs(self.matrix[:, self.columns]).sum(axis=1)).ravel() > 0)
        self.rows = self.matrix[touched]
        self.a_eq = self.rows[:, self.columns]
        published = ~hidden
        self.b_eq = -(self.rows[:, np.flatnonzero(published)] @ self.values[published])
        self.bounds = [(0.0, self.values[c] + self.slack) for c in self.columns]
        self.position = {int(c): i for i, c in enumerate(self.columns)}

    def widths(self, cells: np.ndarray, hidden: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
        """Per cell: (greatest - least, g, g', cells the two extreme solutions move), where
        width(x) ≤ Σ g_i x_i for every pattern x against the real attacker (no upper bound: a
        cell whose upper bound the dual prices gets an infinite coefficient) and Σ g'_i x_i
        against this one (upper bound value + slack). The first is the cut to use; the second is
        the fallback should the first not cut the pattern off (a cell at its slack bound).

        One LP for all: 2·len(cells) independent copies of the attacker's problem side by side
        (block-diagonal), so each copy's optimum and duals are its own, for one solver call."""
        if not len(cells):
            return []
        self._prepare(hidden)
        m, h = self.a_eq.shape
        copies = 2 * len(cells)
        objective = np.zeros(copies * h)
        signs = np.tile([1.0, -1.0], len(cells))
        for k, cell in enumerate(np.repeat(cells, 2)):
            objective[k * h + self.position[int(cell)]] = signs[k]
        a_eq = sparse.kron(sparse.identity(copies, format="csr"), self.a_eq, format="csr")
        bounds = np.tile(np.array(self.bounds), (copies, 1))
        result = linprog(objective, A_eq=a_eq if m else None, b_eq=np.tile(self.b_eq, copies) if m else None,
                         bounds=bounds, method="highs")
        if result.status != 0:
            raise RuntimeError(f"secondary suppression: the attacker's LP failed ({result.message}); "
                               "the table's margins do not add up - check it is an unrounded count table")
        solutions = result.x.reshape(copies, h)
        duals = result.eqlin.marginals.reshape(copies, m) if m else np.zeros((copies, 0))
        found = []
        for i, cell in enumerate(cells):
            g = np.zeros(len(self.values))
            g_bounded = np.zeros(len(self.values))
            for k in (2 * i, 2 * i + 1):
                # reduced costs over every cell: r = c - Aᵀλ; a cell's bounds are [v(1-x), v + slack·x]
                full = np.zeros(len(self.values))
                full[cell] = signs[k]
                reduced = full - self.rows.T @ duals[k]
                lowered = np.maximum(reduced, 0.0) * self.values
                g += lowered + np.where(reduced < -TOLERANCE, np.inf, 0.0)
                g_bounded += lowered + np.maximum(-reduced, 0.0) * self.slack
            least, greatest = solutions[2 * i], solutions[2 * i + 1]
            position = self.position[int(cell)]
            moved = self.columns[(np.abs(least - self.values[self.columns]) > TOLERANCE)
                                 | (np.abs(greatest - self.values[self.columns]) > TOLERANCE)]
            found.append((float(greatest[position] - least[position]), g, g_bounded, moved))
        return found
