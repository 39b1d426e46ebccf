"""Candidate pairs: which records are worth comparing, without comparing all of them.

Comparing every record with every other grows with the square of the records (5·10^11 pairs for
a million). Blocking instead groups records that share something and compares only within
groups:

  1. exact-key blocks — records sharing any exact key variant (`tipdata.linkage.keys`): the
     variants each drop or relax one field (given_dob, family_dob, names, initials_dob, ...), so
     a pair with a fault in one field still shares a block. Grouping is a sort: O(n log n).
  2. LSH blocks on the Bloom filters — for pairs with faults in several fields. One-permutation
     MinHash (Li, Owen & Zhang 2012): a permutation shuffles the filter's bytes into 16-bit bins
     and orders the bits inside each bin; a bin's value is the rank of its first set bit. Two
     filters agree on a bin with probability close to their Jaccard similarity J = D / (2 − D)
     (D = Dice). `rows` bins make a band; records agreeing on a whole band share a block, and a
     pair is found by one of b bands with probability 1 − (1 − J^rows)^b. Bits set in more than
     half of all records (the bits of "f"/"m", say) are masked first: they make strangers agree.

The LSH parameters follow the data (`plan_lsh`), which is what keeps the cost near-linear. The
agreement rate p of a bin for two random records is measured on a sample of pairs (about 0.15
for the shipped schema); then
  - rows = ⌈ln(target / n) / ln p⌉, so a record meets about `lsh_target_collisions` strangers
    per band whatever the number of records n (a fixed band width would let the strangers per
    band grow in proportion to n, and the cost with n²);
  - bands = ⌈ln(1 − P) / ln(1 − J_T^rows)⌉ for the detection probability P at the matching
    threshold Dice D_T (J_T = D_T / (2 − D_T)), at most `lsh_max_bands`.
Total work is then about n × bands × target, with bands growing like n^ρ, ρ = ln(1/J_T) / ln(1/p)
≈ 0.27 for D_T = 0.75 and p = 0.15 — the classic LSH bound, near-linear. When `lsh_max_bands`
caps the bands (around a million records), detection at exactly D_T falls below P (about 0.88
at a million), while pairs a little above it are still found (0.99 at D = 0.8).

A block larger than `max_block_size` is skipped (and counted): a key shared by hundreds of
records (a very common name) says little about which of its pairs match, and comparing inside it
would cost the square of its size. Skipped blocks are reported in the statistics.

Everything is seeded, so the same inputs always give the same pairs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BIN_BITS = 16


@dataclass(frozen=True)
class BlockingSettings:
    """How candidate pairs are found; the rules are in the module docstring."""

    key_variants: tuple[str, ...] = ("exact", "names_dob", "names_year_sex", "names", "given_dob",
                                     "family_dob", "document", "initials_dob", "skeleton_dob")
    #: Dice at which LSH should find a pair with probability `lsh_detect_probability`
    lsh_detect_dice: float = 0.75
    lsh_detect_probability: float = 0.999
    #: expected random records sharing a band with a record, per band
    lsh_target_collisions: float = 0.5
    lsh_min_rows: int = 4
    lsh_max_bands: int = 128
    lsh_seed: int = 20240917
    #: bits set in more than this share of all records are ignored by LSH
    lsh_max_bit_share: float = 0.5
    max_block_size: int = 100
    #: below this many records every pair is compared (all pairs are cheap there)
    exhaustive_below: int = 2000
    use_lsh: bool = True


@dataclass
class BlockingStats:
    oversized_blocks: int = 0
    records_in_oversized_blocks: int = 0
    pairs_from_keys: int = 0
    pairs_from_lsh: int = 0
    candidate_pairs: int = 0
    exhaustive: bool = False
    lsh_rows: int = 0
    lsh_bands: int = 0
    lsh_bin_agreement: float = 0.0


@dataclass(frozen=True)
class KeyColumn:
    """One key variant for every record, as 64-bit codes: `present[i]` is False when record i
    has no key of this variant.

    Python's string hash is stable within one process, which is all grouping needs; a collision
    (about 1 in 10^7 for a million records) only adds a candidate pair, and link decisions
    compare the key strings themselves (`agreeing`).
    """

    codes: np.ndarray
    present: np.ndarray
    keys: Sequence[str | None]

    @classmethod
    def of(cls, keys: Sequence[str | None]) -> KeyColumn:
        present = np.fromiter((k is not None for k in keys), dtype=bool, count=len(keys))
        codes = np.fromiter((hash(k) if k is not None else 0 for k in keys), dtype=np.int64,
                            count=len(keys))
        return cls(codes, present, keys)

    def agreeing(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Which pairs (left[k], right[k]) have the same key; strings are compared for the pairs
        whose codes agree, so a hash collision never counts as agreement."""
        same = self.present[left] & self.present[right] & (self.codes[left] == self.codes[right])
        for k in np.flatnonzero(same):
            if self.keys[int(left[k])] != self.keys[int(right[k])]:
                same[k] = False
        return same


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(start, start + length) for each pair, without a Python loop."""
    total = int(lengths.sum())
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + (np.arange(total) - offsets)


def pairs_within_groups(codes: np.ndarray, members: np.ndarray, max_block_size: int,
                        stats: BlockingStats) -> np.ndarray:
    """All pairs of `members` that share a code, skipping groups above `max_block_size`.

    `codes[k]` is the block code of record `members[k]`. Returns pairs as an (m, 2) array.
    Work is O(m log m + pairs): sort, then pair each record with the record d places on in its
    group, for d = 1, 2, ... while any group is that large.

    >>> import numpy as np
    >>> pairs_within_groups(np.array([5, 1, 5, 5]), np.array([10, 11, 12, 13]), 10,
    ...                     BlockingStats()).tolist()
    [[10, 12], [12, 13], [10, 13]]
    """
    if len(codes) < 2:
        return np.empty((0, 2), dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    sorted_members = members[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, len(sorted_codes)])
    oversized = sizes > max_block_size
    stats.oversized_blocks += int(oversized.sum())
    stats.records_in_oversized_blocks += int(sizes[oversized].sum())
    usable = (sizes >= 2) & ~oversized
    if not usable.any():
        return np.empty((0, 2), dtype=np.int64)
    group_sizes = sizes[usable]
    positions = _ranges(starts[usable], group_sizes)
    # how many members of its group follow each position; the working set shrinks as d grows
    remaining = np.repeat(starts[usable] + group_sizes, group_sizes) - positions - 1
    chunks = []
    distance = 1
    while positions.size:
        keep = remaining >= distance
        positions, remaining = positions[keep], remaining[keep]
        if positions.size:
            chunks.append(np.stack((sorted_members[positions],
                                    sorted_members[positions + distance]), axis=1))
        distance += 1
    return np.concatenate(chunks) if chunks else np.empty((0, 2), dtype=np.int64)


# --- MinHash LSH ------------------------------------------------------------------------------

def _first_set_rank_table(order: np.ndarray) -> np.ndarray:
    """For every 16-bit value, the smallest rank (under `order`) of its set bits; -1 for zero.

    Bit i of a bin is the i-th bit from the most significant end of its two bytes.
    """
    values = np.arange(1 << BIN_BITS, dtype=np.int64)
    table = np.full(1 << BIN_BITS, BIN_BITS, dtype=np.int64)
    for bit in range(BIN_BITS):
        is_set = (values >> (BIN_BITS - 1 - bit)) & 1 == 1
        table = np.where(is_set, np.minimum(table, order[bit]), table)
    table[0] = -1
    return table.astype(np.int8)


class MinHasher:
    """One-permutation MinHash signatures of packed filters, one permutation at a time.

    A permutation shuffles the filter's bytes, pairs them into 16-bit bins and orders the bits
    inside each bin at random; a bin's value is the rank of its first set bit (-1 if empty),
    read from a 65,536-entry table. The positions a token sets are keyed pseudo-random, so
    byte-aligned bins do as well as bins of scattered bits, for a fraction of the work.
    """

    def __init__(self, clks: np.ndarray, seed: int, max_bit_share: float) -> None:
        records, width = clks.shape
        if width % 2:
            raise ValueError("filters must have an even number of bytes for 16-bit LSH bins")
        self.clks = clks
        self.bins = width // 2
        self._rng = np.random.default_rng(seed)
        counts = np.zeros(width * 8, dtype=np.int64)
        for start in range(0, records, 50_000):
            counts += np.unpackbits(clks[start:start + 50_000], axis=1).sum(axis=0, dtype=np.int64)
        self.mask = np.packbits(counts <= max_bit_share * max(records, 1))

    def next_signatures(self) -> np.ndarray:
        """Signatures (records × bins, int8) under the next permutation of the seeded sequence."""
        byte_order = self._rng.permutation(self.clks.shape[1])
        table = _first_set_rank_table(self._rng.permutation(BIN_BITS))
        out = np.empty((self.clks.shape[0], self.bins), dtype=np.int8)
        for start in range(0, self.clks.shape[0], 50_000):
            block = (self.clks[start:start + 50_000] & self.mask)[:, byte_order].astype(np.uint16)
            out[start:start + 50_000] = table[(block[:, 0::2] << 8) | block[:, 1::2]]
        return out


def bin_agreement(signatures: np.ndarray, seed: int, sample: int = 20_000) -> float:
    """Share of bins on which two random records agree (both bins non-empty)."""
    rng = np.random.default_rng(seed)
    n = signatures.shape[0]
    a = signatures[rng.integers(0, n, sample)]
    b = signatures[rng.integers(0, n, sample)]
    valid = (a >= 0) & (b >= 0)
    return float(((a == b) & valid).sum() / max(int(valid.sum()), 1))


@dataclass(frozen=True)
class LshPlan:
    rows: int
    bands: int
    bin_agreement: float

    def detection(self, dice: float) -> float:
        """Probability that a pair with this Dice shares at least one band."""
        jaccard = dice / (2 - dice)
        return 1 - (1 - jaccard ** self.rows) ** self.bands


def plan_lsh(records: int, bin_agreement: float, settings: BlockingSettings) -> LshPlan:
    """Rows and bands for `records` records (formulas in the module docstring).

    >>> plan = plan_lsh(1_000_000, 0.15, BlockingSettings())
    >>> plan.rows, plan.bands, round(plan.detection(0.8), 3)
    (8, 128, 0.994)
    """
    p = min(max(bin_agreement, 1e-3), 0.9)
    rows = math.ceil(math.log(settings.lsh_target_collisions / max(records, 2)) / math.log(p))
    rows = max(settings.lsh_min_rows, rows)
    jaccard = settings.lsh_detect_dice / (2 - settings.lsh_detect_dice)
    per_band = jaccard ** rows
    bands = math.ceil(math.log(1 - settings.lsh_detect_probability) / math.log(1 - per_band))
    return LshPlan(rows=rows, bands=max(1, min(bands, settings.lsh_max_bands)), bin_agreement=p)


def lsh_blocks(clks: np.ndarray, settings: BlockingSettings, stats: BlockingStats
               ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(codes, members) per band, for records whose band has no empty bin."""
    hasher = MinHasher(clks, settings.lsh_seed, settings.lsh_max_bit_share)
    signatures = hasher.next_signatures()
    plan = plan_lsh(clks.shape[0], bin_agreement(signatures, settings.lsh_seed), settings)
    stats.lsh_rows, stats.lsh_bands, stats.lsh_bin_agreement = plan.rows, plan.bands, plan.bin_agreement
    per_permutation = hasher.bins // plan.rows
    band = 0
    while band < plan.bands:
        for slot in range(per_permutation):
            if band == plan.bands:
                break
            values = signatures[:, slot * plan.rows:(slot + 1) * plan.rows].astype(np.int64)
            members = np.flatnonzero((values >= 0).all(axis=1))
            code = np.zeros(len(members), dtype=np.int64)
            for column in range(plan.rows):
                code = code * 17 + values[members, column]
            yield code, members
            band += 1
        if band < plan.bands:
            signatures = hasher.next_signatures()


# --- all together ------------------------------------------------------------------------------

def _pair_codes(pairs: np.ndarray, n: int) -> np.ndarray:
    low, high = pairs.min(axis=1), pairs.max(axis=1)
    keep = low != high
    return low[keep] * n + high[keep]


def _unique(codes: list[np.ndarray]) -> np.ndarray:
    if not codes:
        return np.empty(0, dtype=np.int64)
    everything = np.concatenate(codes)
    everything.sort()  # sort-based de-duplication: faster than np.unique's hash path here
    return everything[np.r_[True, everything[1:] != everything[:-1]]] if len(everything) else everything


def candidate_pairs(key_columns: Mapping[str, KeyColumn], clks: np.ndarray,
                    settings: BlockingSettings, stats: BlockingStats | None = None,
                    also_lsh: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Unique candidate pairs (i < j) from key blocks and LSH blocks: (left, right) arrays.

    `key_columns[variant]` holds every record's key of that variant; `clks` is the packed
    filter matrix (records × bytes). LSH also runs on each matrix of `also_lsh` (the identity-
    group filters, when some records hold other groups: a record with an address and one
    without are alike in their identity filters, not in their CLKs).

    >>> import numpy as np
    >>> clks = np.zeros((3, 128), dtype=np.uint8)
    >>> left, right = candidate_pairs({"names": KeyColumn.of(["k1", None, "k1"])}, clks,
    ...                               BlockingSettings(exhaustive_below=0, use_lsh=False))
    >>> list(zip(left.tolist(), right.tolist()))
    [(0, 2)]
    """
    stats = stats if stats is not None else BlockingStats()
    n = clks.shape[0]
    if n < 2:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if n < settings.exhaustive_below:
        stats.exhaustive = True
        left, right = np.triu_indices(n, k=1)
        stats.candidate_pairs = len(left)
        return left.astype(np.int64), right.astype(np.int64)
    from_keys = []
    for variant in settings.key_variants:
        column = key_columns.get(variant)
        if column is not None:
            members = np.flatnonzero(column.present)
            pairs = pairs_within_groups(column.codes[members], members, settings.max_block_size, stats)
            from_keys.append(_pair_codes(pairs, n))
    keyed = _unique(from_keys)
    stats.pairs_from_keys = len(keyed)
    collected = [keyed]
    if settings.use_lsh:
        from_lsh = [_pair_codes(pairs_within_groups(codes, members, settings.max_block_size, stats), n)
                    for matrix in (clks, *also_lsh) for codes, members in lsh_blocks(matrix, settings, stats)]
        hashed = _unique(from_lsh)
        stats.pairs_from_lsh = len(hashed)
        collected.append(hashed)
    unique = _unique(collected)
    stats.candidate_pairs = len(unique)
    return unique // n, unique % n
