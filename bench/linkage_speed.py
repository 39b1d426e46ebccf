"""Linkage speed: encoding rate and matching time for 10k, 100k (and optionally 1M) records.

Synthetic people (`tipdata.linkage.synthetic`: common names from several regions, typos, swapped
names and day/month, partial dates) are split into two agencies of N/2 records each, 30% of the
first agency's people re-registered by the second. For each size it prints:
  - encoding: records per second for normalisation + exact keys + CLK (one process), from wall
    and from CPU time (the machine may be shared: CPU seconds are the steadier number);
  - matching (per --thresholds value): seconds for blocking, scoring and clustering, candidate
    pairs and pairs per record (flat when cost grows linearly), LSH bands, the thresholds in
    force after scaling with the data (`matching.scaled_thresholds`), pairs rescored on the
    fields both records hold, and precision/recall against the known links;
  - growth: matching CPU time relative to the previous size divided by the size ratio (1.0 = linear);
  - at the end, the process's peak memory (max RSS).
`--fixed` matches with the thresholds unscaled and plain Dice (the rule before scaling), to
compare. Asserts nothing; prints numbers.

    python bench/linkage_speed.py                 # 10k and 100k records
    python bench/linkage_speed.py --with-1m       # also 1M (several minutes, ~10 GB of memory)
    python bench/linkage_speed.py --sizes 20000 --thresholds 0.75 0.8
    python bench/linkage_speed.py --fixed          # the fixed thresholds, for comparison
"""

from __future__ import annotations

import argparse
import resource
import time

from tipdata.linkage.encoding import encode_records
from tipdata.linkage.evaluation import pair_accuracy, predicted_pairs, true_pairs_between
from tipdata.linkage.matching import DEFAULT_THRESHOLD, MatchSettings, match_batches
from tipdata.linkage.schema import load_schema
from tipdata.linkage.synthetic import overlapping_batches

SECRET = b"benchmark secret - not for real data"


def run(total: int, thresholds: list[float], fixed: bool = False) -> float:
    """Encode once, match once per threshold; returns the matching CPU seconds at the first one."""
    first, second, links = overlapping_batches(total // 2, overlap=0.3, seed=total)
    schema = load_schema()
    started, cpu = time.perf_counter(), time.process_time()
    ngo = encode_records(first, SECRET, schema, source="ngo")
    police = encode_records(second, SECRET, schema, source="police")
    encode_seconds, encode_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"{total:>9,} records | encode {total / encode_seconds:>8,.0f} rec/s wall, {total / encode_cpu:>8,.0f} rec/s CPU"
        f" ({encode_seconds:6.1f} s wall, {encode_cpu:6.1f} s CPU)",
        flush=True,
    )
    first_cpu = 0.0
    for threshold in thresholds:
        started, cpu = time.perf_counter(), time.process_time()
        settings = MatchSettings(threshold=threshold)
        if fixed:
            settings = MatchSettings(
                threshold=threshold, scale_step=0, supported_scale_step=0, presence_adjusted=False
            )
        result = match_batches([ngo, police], settings)
        match_seconds, match_cpu = time.perf_counter() - started, time.process_time() - cpu
        first_cpu = first_cpu or match_cpu
        report(result, links, total, threshold, match_seconds, match_cpu)
    return first_cpu


def report(
    result, links, total: int, threshold: float, match_seconds: float, match_cpu: float
) -> None:
    accuracy = pair_accuracy(
        predicted_pairs(result, across_sources_only=True),
        true_pairs_between(links, "ngo", "police"),
    )
    s = result.stats
    print(
        f"{'':>9}   threshold {threshold:.2f} | match {match_seconds:6.1f} s wall, {match_cpu:6.1f} s CPU (blocking "
        f"{s.seconds_blocking:5.1f}, scoring {s.seconds_scoring:5.1f}, clustering {s.seconds_clustering:5.1f})"
        f" | {s.candidate_pairs:>11,} candidate pairs ({s.candidate_pairs / total:5.1f}/record;"
        f" keys {s.pairs_from_keys:,}, LSH {s.pairs_from_lsh:,} with {s.lsh_bands} bands of"
        f" {s.lsh_rows} bins) | oversized blocks {s.oversized_blocks:,}"
        f" | thresholds {s.threshold_across:.3f} / supported {s.supported_threshold_across:.3f} /"
        f" within {s.threshold_within:.3f}, {s.pairs_rescored_for_presence:,} pairs rescored on shared fields"
        f" | P {accuracy.precision:.4f} R {accuracy.recall:.4f}",
        flush=True,
    )
    print(
        f"{'':>9}   overlap: "
        + ", ".join(f"{label} {count:,}" for label, count in result.overlap_rows())
        + f" (true: ngo + police {len(links):,})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--with-1m", action="store_true", help="also run 1,000,000 records")
    parser.add_argument(
        "--thresholds",
        type=float,
        nargs="*",
        default=[DEFAULT_THRESHOLD],
        help="match at each of these Dice thresholds (growth uses the first)",
    )
    parser.add_argument(
        "--fixed",
        action="store_true",
        help="thresholds not scaled with the data, plain Dice (the earlier rule)",
    )
    args = parser.parse_args()
    sizes = list(args.sizes) + ([1_000_000] if args.with_1m else [])
    previous: tuple[int, float] | None = None
    for total in sizes:
        match_seconds = run(total, args.thresholds, args.fixed)
        if previous is not None:
            ratio = (match_seconds / previous[1]) / (total / previous[0])
            print(
                f"{'':>9}   growth vs {previous[0]:,}: CPU time ×{match_seconds / previous[1]:.1f} "
                f"for size ×{total / previous[0]:.0f} → {ratio:.2f} (1.00 = linear)",
                flush=True,
            )
        previous = (total, match_seconds)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak memory (max RSS) {peak:,.0f} MB; CPU seconds total {time.process_time():.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
