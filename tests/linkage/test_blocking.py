"""Blocking: fewer comparisons, without losing pairs that would match."""

from __future__ import annotations

import numpy as np

from tipdata.linkage.blocking import (
    BlockingSettings,
    BlockingStats,
    KeyColumn,
    candidate_pairs,
    pairs_within_groups,
    plan_lsh,
)
from tipdata.linkage.encoding import encode_records
from tipdata.linkage.filters import dice_scores, packed_matrix
from tipdata.linkage.matching import DEFAULT_THRESHOLD
from tipdata.linkage.schema import load_schema
from tipdata.linkage.synthetic import DEFAULT_NOISE, NoiseRates, overlapping_batches

SECRET = b"test secret for blocking, 32+ chars long"


def encoded_population(people: int, noise: NoiseRates = DEFAULT_NOISE):
    first, second, _ = overlapping_batches(people, overlap=0.5, seed=people, noise=noise)
    schema = load_schema()
    records = list(encode_records(first, SECRET, schema, source="a").records) + \
        list(encode_records(second, SECRET, schema, source="b").records)
    variants = BlockingSettings().key_variants
    columns = {v: KeyColumn.of([r.keys.get(v) for r in records]) for v in variants}
    return packed_matrix([r.clk for r in records]), columns


def test_candidate_pairs__never_miss_a_pair_within_the_threshold() -> None:
    """should find every pair whose Dice reaches the threshold, checked against all pairs."""
    matrix, columns = encoded_population(750)
    n = matrix.shape[0]
    all_left, all_right = np.triu_indices(n, k=1)
    dice = dice_scores(matrix, all_left.astype(np.int64), all_right.astype(np.int64))
    within = set((all_left[dice >= DEFAULT_THRESHOLD] * n + all_right[dice >= DEFAULT_THRESHOLD]).tolist())
    stats = BlockingStats()
    left, right = candidate_pairs(columns, matrix, BlockingSettings(exhaustive_below=0), stats)
    found = set((left * n + right).tolist())
    assert len(within) > 300  # the check means something: many pairs are within the threshold
    assert within - found == set()
    assert not stats.exhaustive and stats.lsh_bands > 0
    assert len(found) < n * (n - 1) / 2 / 10  # and blocking did prune


def test_candidate_pairs__lsh_finds_pairs_no_key_shares() -> None:
    """should find close pairs through LSH alone when no exact key is shared."""
    matrix, _ = encoded_population(600, NoiseRates(typo_given=1.0, typo_family=1.0))
    n = matrix.shape[0]
    all_left, all_right = np.triu_indices(n, k=1)
    dice = dice_scores(matrix, all_left.astype(np.int64), all_right.astype(np.int64))
    close = set((all_left[dice >= 0.85] * n + all_right[dice >= 0.85]).tolist())
    left, right = candidate_pairs({}, matrix, BlockingSettings(exhaustive_below=0))
    assert close and close <= set((left * n + right).tolist())


def test_candidate_pairs__small_inputs_compare_all_pairs() -> None:
    """should compare every pair below `exhaustive_below` records."""
    matrix = np.zeros((5, 128), dtype=np.uint8)
    stats = BlockingStats()
    left, right = candidate_pairs({}, matrix, BlockingSettings(exhaustive_below=10), stats)
    assert len(left) == 10 and stats.exhaustive and bool((left < right).all())


def test_pairs_within_groups__all_pairs_of_each_group() -> None:
    """should pair every two members of a group and nothing across groups."""
    codes = np.array([7, 3, 7, 9, 3, 7])
    members = np.arange(6) + 100
    pairs = pairs_within_groups(codes, members, 10, BlockingStats())
    assert sorted(tuple(sorted(p)) for p in pairs.tolist()) == [
        (100, 102), (100, 105), (101, 104), (102, 105)]


def test_pairs_within_groups__oversized_group_skipped_and_counted() -> None:
    """should skip a group above the size cap (a very common key) and count it."""
    codes = np.array([1] * 5 + [2, 2])
    stats = BlockingStats()
    pairs = pairs_within_groups(codes, np.arange(7), 4, stats)
    assert pairs.tolist() == [[5, 6]]
    assert stats.oversized_blocks == 1 and stats.records_in_oversized_blocks == 5


def test_plan_lsh__bands_narrow_as_records_grow() -> None:
    """should use more bins per band for more records, keeping detection at the threshold."""
    settings = BlockingSettings()
    small, large = plan_lsh(10_000, 0.15, settings), plan_lsh(1_000_000, 0.15, settings)
    assert small.rows < large.rows
    assert small.detection(0.75) > 0.99
    assert large.detection(0.85) > 0.999 and large.detection(0.4) < 0.01


def test_key_column__hash_collision_is_not_agreement() -> None:
    """should compare key strings when codes agree, so a collision never links records."""
    column = KeyColumn(codes=np.array([5, 5, 5]), present=np.array([True, True, False]),
                       keys=["key-a", "key-b", None])
    assert column.agreeing(np.array([0, 0]), np.array([1, 2])).tolist() == [False, False]
    same = KeyColumn.of(["k", "k", None])
    assert same.agreeing(np.array([0, 0]), np.array([1, 2])).tolist() == [True, False]
