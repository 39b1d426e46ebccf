"""The Bloom filters of a linkage run as packed matrices, and Dice over the fields both records hold.

One filter over all of a record's fields (the CLK) compares well when both agencies record the
same fields. They often do not: an NGO notes where a person lives, the police note the passport
number. Bits for an address only one record has can only lower the Dice coefficient, so the
same person, recorded with different fields, looks like a stranger (FEBRL4 with the address and
identity number on one side only: recall falls from 0.90 to 0.73 at the default threshold).

So filters are kept per group of fields (`tipdata.linkage.encoding.FEATURE_GROUPS`): the
identity group (names, date of birth, sex) is always compared — a missing date of birth *should*
lower the score, the names alone being weak evidence — and every other group (document, phone,
street, locality, ...) counts only when both records hold it. The score of a pair is the Dice
coefficient of the union of those groups' filters,

    D = 2·|A_S ∧ B_S| / (|A_S| + |B_S|),   A_S = identity(A) ∨ ⋁_{g held by A and B} g(A),

which is the plain CLK Dice whenever the two records hold the same groups (the common case, and
the only case for records with identity fields only, which carry no separate groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tipdata.linkage.encoding import IDENTITY, EncodedRecord

#: pairs scored per numpy step: bounds the temporary (pairs × filter words) arrays to ~32 MB
CHUNK = 262_144


def packed_matrix(filters: Sequence[bytes], width: int | None = None) -> np.ndarray:
    """Filters as a (records × bytes) uint8 matrix, padded to whole 64-bit words."""
    width = width if width is not None else (len(filters[0]) if filters else 0)
    padded = (width + 7) // 8 * 8
    matrix = np.zeros((len(filters), padded), dtype=np.uint8)
    if filters:
        matrix[:, :width] = np.frombuffer(b"".join(filters), dtype=np.uint8).reshape(
            len(filters), width
        )
    return matrix


def _popcounts(matrix: np.ndarray) -> np.ndarray:
    return np.bitwise_count(matrix.view(np.uint64)).sum(axis=1, dtype=np.int64)


def dice_of_words(
    a: np.ndarray, b: np.ndarray, count_a: np.ndarray, count_b: np.ndarray
) -> np.ndarray:
    """Dice of row pairs of two uint64 word arrays with known popcounts; 0 for two empty rows."""
    common = np.bitwise_count(a & b).sum(axis=1, dtype=np.int64)
    total = count_a + count_b
    return np.divide(2.0 * common, total, out=np.zeros(len(a)), where=total > 0)


def dice_of_counts(common: np.ndarray, count_a: np.ndarray, count_b: np.ndarray) -> np.ndarray:
    """2·common / (count_a + count_b); 0 where both filters are empty."""
    total = count_a.astype(np.int32) + count_b
    return np.divide(2.0 * common, total, out=np.zeros(len(common)), where=total > 0)


def dice_scores(
    matrix: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    chunk: int = CHUNK,
    popcount: np.ndarray | None = None,
) -> np.ndarray:
    """Dice coefficients of the filter pairs (left[k], right[k]); 0 when both filters are empty.

    >>> m = np.array([[0b1110, 0, 0, 0, 0, 0, 0, 0], [0b0110, 0, 0, 0, 0, 0, 0, 0]], dtype=np.uint8)
    >>> dice_scores(m, np.array([0]), np.array([1])).round(3).tolist()
    [0.8]
    """
    words = matrix.view(np.uint64)
    popcount = _popcounts(matrix) if popcount is None else popcount
    out = np.empty(len(left), dtype=np.float64)
    for start in range(0, len(left), chunk):
        a, b = left[start : start + chunk], right[start : start + chunk]
        out[start : start + chunk] = dice_of_words(words[a], words[b], popcount[a], popcount[b])
    return out


@dataclass(frozen=True)
class GroupedFilters:
    """Every record's CLK, its identity-group filter, and the filters of the other groups it holds.

    `held[i]` has bit k set when record i holds group `groups[k]`; `rows[k][i]` is its row in
    `parts[k]` (-1 when not held). Records without separate groups share their CLK as identity
    filter, so a run over identity fields only costs no more memory than the CLKs.
    """

    clks: np.ndarray
    identity: np.ndarray
    groups: tuple[str, ...]
    held: np.ndarray
    rows: tuple[np.ndarray, ...]
    parts: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, records: Sequence[EncodedRecord], groups: Sequence[str] = ()) -> GroupedFilters:
        """Matrices for `records`; `groups` are the group names the batches declare.

        >>> from tipdata.linkage.encoding import EncodedRecord
        >>> filters = GroupedFilters.of([EncodedRecord("r1", {}, bytes(8))])
        >>> filters.clks.shape, filters.groups
        ((1, 8), ())
        """
        width = len(records[0].clk) if records else 0
        clks = packed_matrix([r.clk for r in records], width)
        others = tuple(g for g in dict.fromkeys(groups) if g != IDENTITY)
        extra = sorted({g for r in records for g in r.parts if g != IDENTITY and g not in others})
        others += tuple(extra)
        with_parts = [i for i, r in enumerate(records) if r.parts]
        identity = clks
        held = np.zeros(len(records), dtype=np.int64)
        rows = tuple(np.full(len(records), -1, dtype=np.int64) for _ in others)
        parts = []
        if with_parts:
            identity = clks.copy()
            empty = bytes(width)
            identity[with_parts] = packed_matrix(
                [records[i].parts.get(IDENTITY, empty) for i in with_parts], width
            )
            for k, group in enumerate(others):
                members = [i for i in with_parts if group in records[i].parts]
                rows[k][members] = np.arange(len(members))
                held[members] |= 1 << k
                parts.append(packed_matrix([records[i].parts[group] for i in members], width))
        else:
            parts = [np.zeros((0, clks.shape[1]), dtype=np.uint8) for _ in others]
        return cls(clks, identity, others, held, rows, tuple(parts))

    def dice(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Dice of each pair over the identity group and the groups both records hold."""
        common, count_left, count_right = self.overlap(left, right)
        return dice_of_counts(common, count_left, count_right)

    def overlap(
        self, left: np.ndarray, right: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per pair, over the identity group and the groups both records hold: the bits the two
        filters share and the bits each holds (the terms of the Dice coefficient)."""
        # bit counts of 1024-bit filters fit int16: a quarter of the memory for 10^8 pairs
        common = np.empty(len(left), dtype=np.int16)
        count_left = np.empty(len(left), dtype=np.int16)
        count_right = np.empty(len(left), dtype=np.int16)
        held_left, held_right = self.held[left], self.held[right]
        same = held_left == held_right  # the CLKs cover exactly the shared groups
        idx = np.flatnonzero(same)
        self._fill(self.clks, left[idx], right[idx], idx, common, count_left, count_right)
        shared = held_left & held_right
        rest = np.flatnonzero(~same)
        for pattern in np.unique(shared[rest]).tolist():
            idx = rest[shared[rest] == pattern]
            if pattern == 0:
                self._fill(
                    self.identity, left[idx], right[idx], idx, common, count_left, count_right
                )
            else:
                self._fill_union(
                    left[idx], right[idx], pattern, idx, common, count_left, count_right
                )
        return common, count_left, count_right

    @staticmethod
    def _fill(
        matrix: np.ndarray,
        left: np.ndarray,
        right: np.ndarray,
        at: np.ndarray,
        common: np.ndarray,
        count_left: np.ndarray,
        count_right: np.ndarray,
    ) -> None:
        if not len(left):
            return
        words = matrix.view(np.uint64)
        popcount = _popcounts(matrix)
        for start in range(0, len(left), CHUNK):
            a_idx, b_idx = left[start : start + CHUNK], right[start : start + CHUNK]
            common[at[start : start + CHUNK]] = np.bitwise_count(words[a_idx] & words[b_idx]).sum(
                axis=1, dtype=np.int64
            )
        count_left[at], count_right[at] = popcount[left], popcount[right]

    def _fill_union(
        self,
        left: np.ndarray,
        right: np.ndarray,
        pattern: int,
        at: np.ndarray,
        common: np.ndarray,
        count_left: np.ndarray,
        count_right: np.ndarray,
    ) -> None:
        identity = self.identity.view(np.uint64)
        chosen = [k for k in range(len(self.groups)) if pattern >> k & 1]
        for start in range(0, len(left), CHUNK):
            a_idx, b_idx = left[start : start + CHUNK], right[start : start + CHUNK]
            a, b = identity[a_idx].copy(), identity[b_idx].copy()
            for k in chosen:
                words = self.parts[k].view(np.uint64)
                a |= words[self.rows[k][a_idx]]
                b |= words[self.rows[k][b_idx]]
            where = at[start : start + CHUNK]
            common[where] = np.bitwise_count(a & b).sum(axis=1, dtype=np.int64)
            count_left[where] = np.bitwise_count(a).sum(axis=1, dtype=np.int64)
            count_right[where] = np.bitwise_count(b).sum(axis=1, dtype=np.int64)
