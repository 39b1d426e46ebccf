"""Matching: Dice scores, link rules, the cluster guard and the overlap counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tipdata.linkage.blocking import KeyColumn
from tipdata.linkage.clustering import UnionFind, best_links, cluster
from tipdata.linkage.encoding import PersonIdentifiers, encode_records
from tipdata.linkage.evaluation import pair_accuracy, predicted_pairs, true_pairs_between
from tipdata.linkage.filters import GroupedFilters, dice_scores
from tipdata.linkage.matching import (
    IncompatibleBatches,
    MatchSettings,
    MatchStats,
    accept_links,
    match_batches,
    scaled_thresholds,
)
from tipdata.linkage.schema import load_schema, load_schema_document, parse_schema
from tipdata.linkage.synthetic import overlapping_batches

SECRET = b"test secret for matching, 32+ chars long"

NGO = [
    PersonIdentifiers("n1", "Amina", "Diallo", "1990-03-12", "female", ("sn",)),
    PersonIdentifiers("n2", "Olena", "Shevchenko", "1985-07-02", "female", ("ua",)),
    PersonIdentifiers("n3", "Kofi", "Mensah", "2003-01-20", "male", ("gh",)),
    PersonIdentifiers("n4", "Maria", "Lopez", "1979-10-05", "female", ("mx",)),
]
POLICE = [
    PersonIdentifiers(
        "p1", "DIALLO", "Amina", "1990-12-03", "female"
    ),  # n1: swapped names, day/month
    PersonIdentifiers("p2", "Olena", "Shevchenk", "1985-07-02", "female"),  # n2: typo
    PersonIdentifiers("p3", "Yaw", "Boateng", "1999-04-04", "male"),  # nobody at the NGO
    PersonIdentifiers("p4", "Kofi", "Mensah", "2003", "male"),  # n3: year only
]


def batches():
    schema = load_schema()
    return (
        encode_records(NGO, SECRET, schema, source="ngo"),
        encode_records(POLICE, SECRET, schema, source="police"),
    )


def test_dice_scores__hand_computed() -> None:
    """should compute 2|A∧B| / (|A|+|B|) per pair, 0 for two empty filters."""
    matrix = np.zeros((3, 8), dtype=np.uint8)
    matrix[0, 0], matrix[1, 0], matrix[1, 7] = 0b1111_0000, 0b1100_0000, 0b0000_0001
    scores = dice_scores(matrix, np.array([0, 0, 2]), np.array([1, 0, 2]))
    assert scores.tolist() == pytest.approx([2 * 2 / (4 + 3), 1.0, 0.0])


def test_dice_scores__agrees_with_python_popcount() -> None:
    """should agree with a plain-Python Dice on random filters (numpy popcount on packed bits)."""
    rng = np.random.default_rng(3)
    matrix = (rng.random((40, 128)) < 0.3).astype(np.uint8) * rng.integers(
        1, 256, (40, 128), dtype=np.uint8
    )
    left, right = rng.integers(0, 40, 200), rng.integers(0, 40, 200)
    ours = dice_scores(matrix, left, right)
    for k, (i, j) in enumerate(zip(left.tolist(), right.tolist(), strict=True)):
        a, b = (
            int.from_bytes(matrix[i].tobytes(), "big"),
            int.from_bytes(matrix[j].tobytes(), "big"),
        )
        total = a.bit_count() + b.bit_count()
        assert ours[k] == pytest.approx(2 * (a & b).bit_count() / total if total else 0.0)


def test_match_batches__overlap_counts() -> None:
    """should find the three shared persons despite swapped names, a typo and a partial date."""
    result = match_batches(batches())
    assert result.overlap_rows() == [("ngo only", 1), ("police only", 1), ("ngo + police", 3)]
    assert result.persons == 5
    assert result.persons_per_source == {"ngo": 4, "police": 4}
    person = result.person_of
    assert person[("ngo", "n1")] == person[("police", "p1")]
    assert person[("ngo", "n2")] == person[("police", "p2")]
    assert person[("ngo", "n3")] == person[("police", "p4")]
    assert person[("police", "p3")] not in {person[("ngo", n.record_id)] for n in NGO}


def test_match_batches__three_agencies_count_every_combination() -> None:
    """should report persons per combination of three sources."""
    schema = load_schema()
    shelter = encode_records(
        [PersonIdentifiers("s1", "Amina", "Dialo", "1990-03-12", "female")],
        SECRET,
        schema,
        source="shelter",
    )
    result = match_batches([*batches(), shelter])
    rows = dict(result.overlap_rows())
    assert rows["ngo + police + shelter"] == 1 and rows["ngo + police"] == 2
    assert rows["shelter only"] == 0 and len(rows) == 7


def test_match_batches__other_secret_refused() -> None:
    """should refuse to mix batches encoded with different secrets or schemas."""
    ngo, _ = batches()
    other = encode_records(
        POLICE, b"a different secret, also 32+ chars", load_schema(), source="police"
    )
    with pytest.raises(IncompatibleBatches, match="another secret"):
        match_batches([ngo, other])
    document = load_schema_document()
    document["features"][0]["hashing"]["strategy"] = {"bitsPerToken": 12}
    reshaped = encode_records(POLICE, SECRET, parse_schema(document), source="police")
    with pytest.raises(IncompatibleBatches, match="another linkage schema"):
        match_batches([ngo, reshaped])
    with pytest.raises(IncompatibleBatches, match="used by 2 batches"):
        match_batches([ngo, ngo])


def test_accept_links__rules() -> None:
    """should accept key links, scores over the threshold, and supported scores — no others."""
    left, right = np.array([0, 0, 0, 0, 1]), np.array([1, 2, 3, 4, 2])
    dice = np.array([0.2, 0.8, 0.65, 0.65, 0.77])
    source = np.array([0, 1, 1, 1, 0])
    keys = {
        name: KeyColumn.of([None] * 5)
        for name in ("exact", "names_dob", "names_year_sex", "given_dob", "family_dob", "document")
    }
    keys["exact"] = KeyColumn.of(["e", "e", None, None, None])  # 0-1: key link at Dice 0.2
    keys["given_dob"] = KeyColumn.of(["g", None, None, "g", None])  # 0-3: supported at 0.65
    stats = MatchStats()
    accepted, strength = accept_links(left, right, dice, source, keys, MatchSettings(), stats)
    # 0-2 by score; 0-4 below threshold, no key; 1-2 within-source (needs 0.8): 0.77 is too low
    assert accepted.tolist() == [True, True, True, False, False]
    assert strength[0] > 1 > strength[1] > strength[2]
    assert (stats.links_by_key, stats.links_by_score, stats.links_by_supported_score) == (1, 1, 1)


def test_best_links__mutual_across_one_sided_within() -> None:
    """should keep only mutual best links between sources, and each end's best within one."""
    # record 0 (source 0) is best for 1 and 2 (source 1); 0 prefers 1
    left, right = np.array([0, 0, 1, 3]), np.array([1, 2, 2, 4])
    strength = np.array([0.95, 0.9, 0.8, 0.85])
    source = np.array([0, 1, 1, 0, 0])
    keep = best_links(left, right, strength, source)
    assert keep.tolist() == [True, False, True, True]


def test_cluster__size_cap_refuses_giant_clusters() -> None:
    """should never let a chain of links build a cluster above the cap, and count refusals."""
    n = 30
    left, right = np.arange(n - 1), np.arange(1, n)
    strength = np.linspace(0.99, 0.8, n - 1)
    labels, refused = cluster(n, left, right, strength, max_cluster_size=5)
    sizes = np.bincount(labels)
    assert sizes.max() == 5 and refused > 0
    assert sizes.sum() == n


def test_cluster__strongest_links_merge_first() -> None:
    """should keep a strong pair together when a weak link would overfill the cluster."""
    labels, refused = cluster(
        3, np.array([0, 1]), np.array([1, 2]), np.array([0.7, 0.99]), max_cluster_size=2
    )
    assert labels[1] == labels[2] != labels[0] and refused == 1


def test_match_batches__guard_holds_for_many_identical_records() -> None:
    """should cap a person at max_cluster_size records even when all records agree."""
    schema = load_schema()
    same = [
        PersonIdentifiers(f"r{i}", "Amina", "Diallo", "1990-03-12", "female") for i in range(14)
    ]
    result = match_batches(
        [encode_records(same, SECRET, schema, source="ngo")], MatchSettings(max_cluster_size=6)
    )
    sizes = sorted(len(m) for m in result.members().values())
    assert max(sizes) <= 6 and sum(sizes) == 14 and result.stats.refused_merges > 0


def test_union_find__union_reports_outcome() -> None:
    """should say whether a union merged, was redundant, or was refused by the cap."""
    sets = UnionFind(3)
    assert sets.union(0, 1) is True and sets.union(1, 0) is None
    assert sets.union(0, 2, max_size=2) is False and sets.find(2) == 2


def test_linkage_result__json_has_counts_and_ids_only() -> None:
    """should write counts and record ids, never identifiers."""
    document = match_batches(batches()).to_json()
    text = json.dumps(document)
    assert document["persons"] == 5 and len(document["assignments"]) == 8
    assert {"sources": ["ngo", "police"], "persons": 3} in document["overlap"]
    for word in ("Amina", "amina", "Diallo", "1990", "Olena"):
        assert word not in text


def test_match_batches__empty_batches() -> None:
    """should count nobody when agencies send empty batches."""
    schema = load_schema()
    result = match_batches(
        [
            encode_records([], SECRET, schema, source="ngo"),
            encode_records([], SECRET, schema, source="police"),
        ]
    )
    assert result.persons == 0 and result.overlap_rows()[-1] == ("ngo + police", 0)


def test_scaled_thresholds__as_set_up_to_the_reference_then_rising() -> None:
    """should keep the set thresholds up to reference_pairs comparable pairs, raise them by the
    step per tenfold beyond, never above the cap, supported never above unsupported."""
    settings = MatchSettings()
    small = scaled_thresholds(settings, [5_000, 5_000])
    assert (small.across, small.supported_across, small.within) == (0.75, 0.6, 0.8)
    tenfold = scaled_thresholds(settings, [50_000, 5_000])
    assert tenfold.across == pytest.approx(0.75 + settings.scale_step)
    assert tenfold.supported_across == pytest.approx(0.6 + settings.supported_scale_step)
    huge = scaled_thresholds(settings, [10**8, 10**8])
    assert huge.across == huge.supported_across == 0.9
    fixed = scaled_thresholds(MatchSettings(scale_step=0, supported_scale_step=0), [10**6, 10**6])
    assert (fixed.across, fixed.supported_across) == (0.75, 0.6)


def test_accept_links__strangers_sharing_a_birth_date_refused_among_many_records() -> None:
    """should link two strangers born the same day whose names share letter pairs (Dice about
    0.77) no longer once the agencies hold 500,000 records each, while the same person with a
    typo still links: the failure that gave precision 0.69 at a million records."""
    schema = load_schema()
    ngo = encode_records(
        [
            PersonIdentifiers("n1", "Salma", "Kamara", "1990-03-12", "female"),
            PersonIdentifiers("n2", "Salma", "Kamara", "1990-03-12", "female"),
        ],
        SECRET,
        schema,
        source="ngo",
    )
    police = encode_records(
        [
            PersonIdentifiers("p1", "Sara", "Diop", "1990-03-12", "female"),
            PersonIdentifiers("p2", "Salma", "Kamarra", "1990-03-12", "female"),
        ],
        SECRET,
        schema,
        source="police",
    )
    records = [*ngo.records, *police.records]
    left, right = np.array([0, 1]), np.array([2, 3])  # n1-p1 strangers, n2-p2 a typo
    dice = GroupedFilters.of(records).dice(left, right)
    assert 0.75 <= dice[0] < 0.8 and dice[1] > 0.9
    source = np.array([0, 0, 1, 1])
    keys = {
        v: KeyColumn.of([r.keys.get(v) for r in records])
        for v in (*MatchSettings().link_keys, *MatchSettings().support_keys)
    }
    settings = MatchSettings()
    few, _ = accept_links(
        left,
        right,
        dice,
        source,
        keys,
        settings,
        thresholds=scaled_thresholds(settings, [5_000, 5_000]),
    )
    many, _ = accept_links(
        left,
        right,
        dice,
        source,
        keys,
        settings,
        thresholds=scaled_thresholds(settings, [500_000, 500_000]),
    )
    assert few.tolist() == [True, True]
    assert many.tolist() == [False, True]


def test_match_batches__precision_holds_as_agencies_grow() -> None:
    """should keep pairwise precision ≥ 0.985 and recall ≥ 0.98 on 20,000 + 20,000 synthetic
    records (30% overlap), where fixed thresholds gave 0.980: strangers alike by chance grow
    with the square of the records, true pairs only with the overlap."""
    first, second, links = overlapping_batches(20_000, overlap=0.3, seed=40_000)
    schema = load_schema()
    result = match_batches(
        [
            encode_records(first, SECRET, schema, source="ngo"),
            encode_records(second, SECRET, schema, source="police"),
        ]
    )
    accuracy = pair_accuracy(
        predicted_pairs(result, across_sources_only=True),
        true_pairs_between(links, "ngo", "police"),
    )
    assert accuracy.precision >= 0.985, str(accuracy)
    assert accuracy.recall >= 0.98, str(accuracy)
