"""Match encoded batches from several agencies into persons, and count who saw whom.

Runs at the linking party, on encodings only (`tipdata.linkage.encoding`). Steps:

  1. check the batches fit together: same schema fingerprint, same secret check, distinct
     source names (a batch encoded with another secret would silently match nothing);
  2. candidate pairs from blocking (`tipdata.linkage.blocking`: exact-key blocks + MinHash LSH
     blocks on the Bloom filters, sized to the data, every block capped): cost grows near-
     linearly with the records;
  3. score each candidate by the Dice coefficient of the two Bloom filters,
     D = 2·|A ∧ B| / (|A| + |B|), with numpy popcounts on the packed bits, over the identity
     group and the field groups both records hold (`tipdata.linkage.filters`); between two
     agencies, over the identity fields both records hold (`tipdata.linkage.field_presence`:
     a year-only date of birth, a missing sex or given name is not counted against the pair);
  4. accept a link (`accept_links`) when
       - a "link" key agrees (`exact`, or `names_dob`: names and day/month in either order):
         the normalised identifiers are equal, whatever the filters say; or
       - D ≥ `threshold` (default 0.75) between two agencies, D ≥ `within_source_threshold`
         (default 0.8) within one; or
       - D ≥ `supported_threshold` (default 0.6) and a "support" key agrees: the names + year
         of birth + sex, one name + the full date of birth, or the identity document number;
     the three thresholds are for up to `reference_pairs` (25 million) record pairs that could
     be compared — two agencies of 5,000 records — and rise with the number of such pairs
     (`scaled_thresholds`), since the strangers a record must not be confused with grow with it;
  5. keep, between two agencies, only mutual best links (each record is the other's best in
     that agency), and within one agency each record's best link (`clustering.best_links`);
  6. cluster with union-find, strongest links first (key links before any score), refusing
     merges beyond `max_cluster_size` (default 10) records (`clustering.cluster`).

Why these defaults (medians of D with the shipped schema, synthetic people; FEBRL and speed
numbers from `bench/linkage_splink_compare.py` and `bench/linkage_speed.py`):
  - D ≥ 0.75 keeps a typo in a name (0.94), a missing given name (0.86), a year-only date of
    birth (0.87) or a missing sex (0.97), and drops strangers who share the names but not the
    date of birth (0.66), the date of birth and sex but not the names (0.60), or nothing (0.28).
    Strangers with the same names and birth year (0.79) cannot be told from the same person
    with a wrong day and month: with many records and few distinct names, 0.8 trades a little
    recall for precision (`bench/linkage_speed.py --thresholds 0.75 0.8`);
  - a support key lets a pair with one field replaced or missing through at D ≥ 0.6 — the
    agreement of a name and the full date of birth is the evidence, the score only confirms;
  - an agency's own duplicates are rarer than the overlap between agencies, so within one
    agency the bar is higher (0.8) and one-sided best links suffice (all duplicates of a
    person may join), while between agencies the mutual-best rule stops one record from
    collecting several people of another agency.

Why the thresholds rise with the data (`scaled_thresholds`): a threshold lets a fixed share of
stranger pairs through, and stranger pairs grow with the product of the agencies' sizes while
true pairs grow only with their overlap. With the fixed thresholds, two synthetic agencies of
50,000 records each got 596 false links against 14,881 true ones (pairwise precision 0.949),
of 500,000 each precision 0.69 (`bench/linkage_speed.py --fixed`). The synthetic people are not
to blame: at a million records only 9 pairs of different people share names, date of birth
and sex. The false links were strangers born the same day whose names share letter pairs (the
date and sex set half a filter's bits: Dice 0.75-0.8), and strangers admitted at 0.6 by a
support key (one name and the date of birth, or the names and the year). So each tenfold of
comparable pairs beyond `reference_pairs` raises the score threshold by `scale_step` (0.025)
and the supported threshold by `supported_scale_step` (0.1), never above the score threshold
nor above 0.9: 0.75 / 0.6 up to 5,000 + 5,000 records (FEBRL4), 0.80 / 0.80 at 50,000 +
50,000, 0.85 / 0.85 at 500,000 + 500,000 (within one agency 0.8 → 0.85 → 0.9). The steps come
from the precision/recall of every threshold on 100,000 and 1,000,000 synthetic records;
pairs with a field missing, which a higher bar would lose, are scored on the fields both
records hold (step 3).

The result (`LinkageResult`) gives a person id per record and the number of unique persons per
combination of sources ("ngo only", "police only", "ngo + police").
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import combinations
from typing import Any

import numpy as np

from tipdata.linkage.blocking import BlockingSettings, BlockingStats, KeyColumn, candidate_pairs
from tipdata.linkage.clustering import best_links, cluster
from tipdata.linkage.encoding import EncodedBatch
from tipdata.linkage.field_presence import presence_adjusted_dice, presence_codes
from tipdata.linkage.filters import GroupedFilters, dice_of_counts
from tipdata.linkage.keys import KEY_VARIANTS, LINK, SUPPORT

DEFAULT_THRESHOLD = 0.75
DEFAULT_SUPPORTED_THRESHOLD = 0.6
DEFAULT_MAX_CLUSTER_SIZE = 10
DEFAULT_WITHIN_SOURCE_THRESHOLD = 0.8
#: record pairs up to which the thresholds apply as set: two agencies of 5,000 records (FEBRL4)
DEFAULT_REFERENCE_PAIRS = 25_000_000
DEFAULT_SCALE_STEP = 0.025
DEFAULT_SUPPORTED_SCALE_STEP = 0.1
#: scaled thresholds stop here, so a very large linkage still links typo-free pairs by score
MAX_SCALED_THRESHOLD = 0.9


class IncompatibleBatches(ValueError):
    """Batches that cannot be matched together; the message says which and how to fix it."""


@dataclass(frozen=True)
class MatchSettings:
    """Thresholds and guards; see the module docstring for the rule they configure."""

    threshold: float = DEFAULT_THRESHOLD
    supported_threshold: float = DEFAULT_SUPPORTED_THRESHOLD
    within_source_threshold: float = DEFAULT_WITHIN_SOURCE_THRESHOLD
    link_keys: tuple[str, ...] = tuple(v.name for v in KEY_VARIANTS if v.role == LINK)
    support_keys: tuple[str, ...] = tuple(v.name for v in KEY_VARIANTS if v.role == SUPPORT)
    within_source_support_keys: tuple[str, ...] = tuple(
        v.name for v in KEY_VARIANTS if v.role == SUPPORT
    )
    #: between agencies keep mutual best links only; False keeps one-sided best links everywhere
    mutual_best: bool = True
    max_cluster_size: int = DEFAULT_MAX_CLUSTER_SIZE
    #: thresholds hold up to this many comparable record pairs, then rise (`scaled_thresholds`)
    reference_pairs: int = DEFAULT_REFERENCE_PAIRS
    #: rise of `threshold` and `within_source_threshold` per tenfold of pairs (0 = fixed)
    scale_step: float = DEFAULT_SCALE_STEP
    #: rise of `supported_threshold` per tenfold of pairs
    supported_scale_step: float = DEFAULT_SUPPORTED_SCALE_STEP
    #: score the identity fields both records hold (`tipdata.linkage.field_presence`)
    presence_adjusted: bool = True
    blocking: BlockingSettings = field(default_factory=BlockingSettings)

    def __post_init__(self) -> None:
        if (
            not 0 < self.supported_threshold <= min(self.threshold, self.within_source_threshold)
            or max(self.threshold, self.within_source_threshold) > 1
        ):
            raise ValueError(
                "thresholds must satisfy 0 < supported_threshold ≤ threshold, "
                "within_source_threshold ≤ 1"
            )
        if self.max_cluster_size < 2:
            raise ValueError("max_cluster_size must be at least 2")
        if self.scale_step < 0 or self.supported_scale_step < 0 or self.reference_pairs < 1:
            raise ValueError("scale steps must be ≥ 0 and reference_pairs ≥ 1")
        known = {v.name for v in KEY_VARIANTS}
        unknown = (
            set(self.link_keys) | set(self.support_keys) | set(self.within_source_support_keys)
        ) - known
        if unknown:
            raise ValueError(f"unknown key variants {sorted(unknown)}; known: {sorted(known)}")


@dataclass(frozen=True)
class Thresholds:
    """The thresholds in force for one run (`scaled_thresholds`)."""

    across: float
    supported_across: float
    within: float
    supported_within: float


def _scaled(base: float, step: float, pairs: float, reference: int, cap: float) -> float:
    decades = max(0.0, math.log10(pairs / reference)) if pairs > 0 else 0.0
    return max(base, min(base + step * decades, cap))


def scaled_thresholds(settings: MatchSettings, source_sizes: Sequence[int]) -> Thresholds:
    """The thresholds for agencies of these sizes: as set up to `reference_pairs` comparable
    pairs, then `scale_step` (`supported_scale_step`) higher per tenfold, at most
    `MAX_SCALED_THRESHOLD` (or the setting, if higher); supported never above unsupported.

    >>> t = scaled_thresholds(MatchSettings(), [500_000, 500_000])
    >>> round(t.across, 3), round(t.supported_across, 3), round(t.within, 3)
    (0.85, 0.85, 0.9)
    >>> scaled_thresholds(MatchSettings(), [5_000, 5_000]).across
    0.75
    """
    across_pairs = sum(a * b for i, a in enumerate(source_sizes) for b in source_sizes[i + 1 :])
    within_pairs = sum(n * (n - 1) // 2 for n in source_sizes)
    ref, step, support_step = (
        settings.reference_pairs,
        settings.scale_step,
        settings.supported_scale_step,
    )
    across = _scaled(settings.threshold, step, across_pairs, ref, MAX_SCALED_THRESHOLD)
    within = _scaled(
        settings.within_source_threshold, step, within_pairs, ref, MAX_SCALED_THRESHOLD
    )
    return Thresholds(
        across=across,
        supported_across=min(
            across,
            _scaled(
                settings.supported_threshold, support_step, across_pairs, ref, MAX_SCALED_THRESHOLD
            ),
        ),
        within=within,
        supported_within=min(
            within,
            _scaled(
                settings.supported_threshold, support_step, within_pairs, ref, MAX_SCALED_THRESHOLD
            ),
        ),
    )


@dataclass
class MatchStats:
    records: int = 0
    candidate_pairs: int = 0
    pairs_from_keys: int = 0
    pairs_from_lsh: int = 0
    lsh_rows: int = 0
    lsh_bands: int = 0
    exhaustive: bool = False
    oversized_blocks: int = 0
    links_by_key: int = 0
    links_by_score: int = 0
    links_by_supported_score: int = 0
    links_kept_after_best_match: int = 0
    refused_merges: int = 0
    threshold_across: float = 0.0
    supported_threshold_across: float = 0.0
    threshold_within: float = 0.0
    pairs_rescored_for_presence: int = 0
    seconds_blocking: float = 0.0
    seconds_scoring: float = 0.0
    seconds_clustering: float = 0.0


@dataclass(frozen=True)
class LinkageResult:
    """Persons found across the batches; holds record ids and counts, never identifiers."""

    sources: tuple[str, ...]
    records_per_source: dict[str, int]
    person_of: dict[tuple[str, str], str] = field(repr=False)
    persons: int
    persons_per_source: dict[str, int]
    overlap: dict[tuple[str, ...], int]
    stats: MatchStats
    settings: MatchSettings

    def overlap_rows(self) -> list[tuple[str, int]]:
        """('ngo only', 120), ('police only', 80), ('ngo + police', 35), ... for every
        combination of sources, smallest combinations first (zero rows included)."""
        rows = []
        for size in range(1, len(self.sources) + 1):
            for combo in combinations(self.sources, size):
                label = f"{combo[0]} only" if size == 1 else " + ".join(combo)
                rows.append((label, self.overlap.get(combo, 0)))
        return rows

    def members(self) -> dict[str, list[tuple[str, str]]]:
        """Person id → its (source, record id) pairs."""
        out: dict[str, list[tuple[str, str]]] = {}
        for key, person in self.person_of.items():
            out.setdefault(person, []).append(key)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "records_per_source": self.records_per_source,
            "persons": self.persons,
            "persons_per_source": self.persons_per_source,
            "overlap": [
                {"sources": list(combo), "persons": count}
                for combo, count in sorted(self.overlap.items(), key=lambda x: (len(x[0]), x[0]))
            ],
            "assignments": [
                {"source": s, "id": r, "person": p} for (s, r), p in sorted(self.person_of.items())
            ],
            "stats": asdict(self.stats),
            "settings": {
                "threshold": self.settings.threshold,
                "supported_threshold": self.settings.supported_threshold,
                "within_source_threshold": self.settings.within_source_threshold,
                "mutual_best": self.settings.mutual_best,
                "max_cluster_size": self.settings.max_cluster_size,
                "reference_pairs": self.settings.reference_pairs,
                "scale_step": self.settings.scale_step,
                "supported_scale_step": self.settings.supported_scale_step,
                "presence_adjusted": self.settings.presence_adjusted,
                "link_keys": list(self.settings.link_keys),
                "support_keys": list(self.settings.support_keys),
            },
        }


def check_compatible(batches: Sequence[EncodedBatch]) -> None:
    """Raise `IncompatibleBatches` unless all batches share schema and secret and have distinct
    source names."""
    if not batches:
        raise IncompatibleBatches("no batches to match. Fix: pass at least one encodings file.")
    problems = []
    first = batches[0]
    for batch in batches[1:]:
        if batch.schema_fingerprint != first.schema_fingerprint:
            problems.append(
                f"{batch.source} was encoded with another linkage schema than {first.source}"
            )
        if batch.secret_check != first.secret_check:
            problems.append(f"{batch.source} was encoded with another secret than {first.source}")
        if batch.clk_bits != first.clk_bits:
            problems.append(
                f"{batch.source} has {batch.clk_bits}-bit filters, {first.source} {first.clk_bits}"
            )
    counts = Counter(b.source for b in batches)
    problems += [
        f"source name {name!r} is used by {count} batches"
        for name, count in counts.items()
        if count > 1
    ]
    if problems:
        raise IncompatibleBatches(
            "; ".join(problems) + ". Fix: every agency encodes with the same "
            "schema and secret, and each batch has its own --source name."
        )


def accept_links(
    left: np.ndarray,
    right: np.ndarray,
    dice: np.ndarray,
    source_of: np.ndarray,
    key_columns: dict[str, KeyColumn],
    settings: MatchSettings,
    stats: MatchStats | None = None,
    thresholds: Thresholds | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Which candidate pairs are links (rule 4 of the module docstring), and each link's
    strength: its Dice, plus 1 when a link key agrees so key links outrank every score.
    `thresholds` default to the settings' own (no scaling)."""
    t = thresholds or Thresholds(
        settings.threshold,
        settings.supported_threshold,
        settings.within_source_threshold,
        settings.supported_threshold,
    )
    across = source_of[left] != source_of[right]
    threshold = np.where(across, t.across, t.within)
    by_key = np.zeros(len(left), dtype=bool)
    for variant in settings.link_keys:
        by_key |= key_columns[variant].agreeing(left, right)
    by_score = dice >= threshold
    supported = np.zeros(len(left), dtype=bool)
    maybe = (dice >= np.where(across, t.supported_across, t.supported_within)) & ~by_key & ~by_score
    for is_across, variants in (
        (True, settings.support_keys),
        (False, settings.within_source_support_keys),
    ):
        idx = np.flatnonzero(maybe & (across == is_across))
        for variant in variants:
            supported[idx] |= key_columns[variant].agreeing(left[idx], right[idx])
    if stats is not None:
        stats.links_by_key = int(by_key.sum())
        stats.links_by_score = int((by_score & ~by_key).sum())
        stats.links_by_supported_score = int(supported.sum())
    return by_key | by_score | supported, dice + by_key.astype(np.float64)


def match_batches(
    batches: Sequence[EncodedBatch], settings: MatchSettings | None = None
) -> LinkageResult:
    """Cluster the records of several agencies' batches into persons.

    >>> from tipdata.linkage.encoding import PersonIdentifiers, encode_records
    >>> from tipdata.linkage.schema import load_schema
    >>> secret, schema = b"a shared secret, never in code", load_schema()
    >>> ngo = encode_records([PersonIdentifiers("n1", "Ana", "Lopez", "1990-03-12", "female"),
    ...                       PersonIdentifiers("n2", "Ben", "Okafor", "1985-01-02", "male")],
    ...                      secret, schema, source="ngo")
    >>> police = encode_records([PersonIdentifiers("p1", "LOPEZ", "Ana", "1990-12-03", "female")],
    ...                         secret, schema, source="police")
    >>> match_batches([ngo, police]).overlap_rows()
    [('ngo only', 1), ('police only', 0), ('ngo + police', 1)]
    """
    settings = settings or MatchSettings()
    check_compatible(batches)
    stats = MatchStats()
    sources = tuple(b.source for b in batches)
    records = [
        (source_index, record)
        for source_index, batch in enumerate(batches)
        for record in batch.records
    ]
    n = stats.records = len(records)
    source_of = np.fromiter((s for s, _ in records), dtype=np.int64, count=n)
    filters = GroupedFilters.of([r for _, r in records], [g for b in batches for g in b.groups])
    variants = (
        set(settings.blocking.key_variants)
        | set(settings.link_keys)
        | set(settings.support_keys)
        | set(settings.within_source_support_keys)
    )
    key_columns = {v: KeyColumn.of([r.keys.get(v) for _, r in records]) for v in variants}

    thresholds = scaled_thresholds(settings, [len(b.records) for b in batches])
    stats.threshold_across, stats.threshold_within = thresholds.across, thresholds.within
    stats.supported_threshold_across = thresholds.supported_across

    started = time.perf_counter()
    blocking_stats = BlockingStats()
    # LSH aims its detection probability at the Dice threshold actually in use
    blocking = replace(settings.blocking, lsh_detect_dice=settings.threshold)
    also_lsh = (filters.identity,) if filters.identity is not filters.clks else ()
    left, right = candidate_pairs(key_columns, filters.clks, blocking, blocking_stats, also_lsh)
    for name in (
        "candidate_pairs",
        "pairs_from_keys",
        "pairs_from_lsh",
        "lsh_rows",
        "lsh_bands",
        "exhaustive",
        "oversized_blocks",
    ):
        setattr(stats, name, getattr(blocking_stats, name))
    stats.seconds_blocking = time.perf_counter() - started

    started = time.perf_counter()
    common, count_left, count_right = filters.overlap(left, right)
    dice = dice_of_counts(common, count_left, count_right)
    field_bits = (
        batches[0].field_bits if all(b.field_bits == batches[0].field_bits for b in batches) else {}
    )
    if settings.presence_adjusted and field_bits:
        flags = presence_codes([r.held for _, r in records])
        source_small = source_of.astype(np.int16)
        # between agencies only: within one the plain score stays (its duplicates are rarer)
        idx = np.flatnonzero(
            (source_small[left] != source_small[right]) & (flags[left] != flags[right])
        )
        adjusted = presence_adjusted_dice(
            dice[idx],
            common[idx],
            count_left[idx],
            count_right[idx],
            flags[left[idx]],
            flags[right[idx]],
            field_bits,
            batches[0].clk_bits,
        )
        stats.pairs_rescored_for_presence = int((adjusted != dice[idx]).sum())
        dice[idx] = adjusted
    del common, count_left, count_right
    accepted, strength = accept_links(
        left, right, dice, source_of, key_columns, settings, stats, thresholds
    )
    left, right, strength = left[accepted], right[accepted], strength[accepted]
    stats.seconds_scoring = time.perf_counter() - started

    started = time.perf_counter()
    keep = best_links(left, right, strength, source_of, mutual_across_sources=settings.mutual_best)
    left, right, strength = left[keep], right[keep], strength[keep]
    stats.links_kept_after_best_match = len(left)
    labels, stats.refused_merges = cluster(n, left, right, strength, settings.max_cluster_size)
    stats.seconds_clustering = time.perf_counter() - started
    return _result(sources, records, source_of, labels, stats, settings)


def _result(
    sources: tuple[str, ...],
    records: list,
    source_of: np.ndarray,
    labels: np.ndarray,
    stats: MatchStats,
    settings: MatchSettings,
) -> LinkageResult:
    width = len(str(int(labels.max()) + 1)) if len(labels) else 1
    person_of = {
        (sources[s], r.record_id): f"P{int(label) + 1:0{width}d}"
        for (s, r), label in zip(records, labels, strict=True)
    }
    seen_by: dict[int, set[int]] = {}
    for label, s in zip(labels.tolist(), source_of.tolist(), strict=True):
        seen_by.setdefault(label, set()).add(s)
    overlap: Counter[tuple[str, ...]] = Counter()
    per_source: Counter[str] = Counter()
    for members in seen_by.values():
        combo = tuple(sources[s] for s in sorted(members))
        overlap[combo] += 1
        for s in members:
            per_source[sources[s]] += 1
    return LinkageResult(
        sources=sources,
        records_per_source={name: int((source_of == i).sum()) for i, name in enumerate(sources)},
        person_of=person_of,
        persons=len(seen_by),
        persons_per_source={name: per_source.get(name, 0) for name in sources},
        overlap=dict(overlap),
        stats=stats,
        settings=settings,
    )
