"""From accepted links to persons: union-find with a guard against giant clusters.

Linking is transitive — if A is B and B is C, then A is C — so persons are the connected
components of the link graph. Transitivity is also how linkage fails: one wrong link between two
common-name clusters, repeated, chains thousands of records into one "person". Two guards:

  - links are merged strongest first, and a merge that would make a cluster larger than
    `max_cluster_size` is refused (and counted), so a chain of weak links cannot absorb a
    cluster that strong links already formed;
  - `best_links` (used before clustering by `tipdata.linkage.matching`) keeps a link between
    two agencies only if each record is the other's best match in that agency, so one record
    cannot pull in several people from another agency.
"""

from __future__ import annotations

import numpy as np


class UnionFind:
    """Disjoint sets over 0..n-1 with union by size and path halving."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int, max_size: int | None = None) -> bool | None:
        """Merge the sets of a and b. True if merged, None if already together, False if the
        merged set would exceed `max_size` (nothing changes then)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        if max_size is not None and self.size[ra] + self.size[rb] > max_size:
            return False
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return True


def best_links(left: np.ndarray, right: np.ndarray, strength: np.ndarray, source: np.ndarray,
               *, mutual_across_sources: bool = True, tolerance: float = 1e-9) -> np.ndarray:
    """Mask of links to keep: each end's best link into the other end's source.

    A link between two sources is kept when it is the best (ties kept) for both ends, so a
    record links to at most one record per other agency unless several are equally good; a link
    within one source (an agency's own duplicates) is kept when it is the best for either end,
    so all duplicates of a person can join. With `mutual_across_sources=False` the one-sided rule
    applies everywhere.
    """
    if len(left) == 0:
        return np.zeros(0, dtype=bool)
    sources = int(source.max()) + 1
    n = len(source)
    best = np.full(n * sources, -np.inf)
    left_slot = left * sources + source[right]
    right_slot = right * sources + source[left]
    np.maximum.at(best, left_slot, strength)
    np.maximum.at(best, right_slot, strength)
    best_for_left = strength >= best[left_slot] - tolerance
    best_for_right = strength >= best[right_slot] - tolerance
    across = source[left] != source[right]
    if mutual_across_sources:
        return np.where(across, best_for_left & best_for_right, best_for_left | best_for_right)
    return best_for_left | best_for_right


def cluster(n: int, left: np.ndarray, right: np.ndarray, strength: np.ndarray,
            max_cluster_size: int) -> tuple[np.ndarray, int]:
    """Cluster labels (0..clusters-1, in order of each cluster's first record) and the number of
    refused merges, merging strongest links first.

    >>> import numpy as np
    >>> labels, refused = cluster(4, np.array([0, 1, 2]), np.array([1, 2, 3]),
    ...                           np.array([0.9, 0.8, 0.7]), max_cluster_size=2)
    >>> labels.tolist(), refused
    ([0, 0, 1, 1], 1)
    """
    sets = UnionFind(n)
    refused = 0
    for k in np.argsort(-strength, kind="stable"):
        if sets.union(int(left[k]), int(right[k]), max_cluster_size) is False:
            refused += 1
    roots = np.fromiter((sets.find(i) for i in range(n)), dtype=np.int64, count=n)
    _, first_index, labels = np.unique(roots, return_index=True, return_inverse=True)
    # renumber so cluster ids follow the order of each cluster's first record
    rank = np.empty(len(first_index), dtype=np.int64)
    rank[np.argsort(first_index)] = np.arange(len(first_index))
    return rank[labels], refused
