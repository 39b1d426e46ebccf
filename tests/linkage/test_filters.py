"""Grouped filters: Dice over the identity group and the groups both records hold."""

from __future__ import annotations

import numpy as np
import pytest

from tipdata.linkage.encoding import EncodedRecord, PersonIdentifiers, encode_records, schema_groups
from tipdata.linkage.filters import GroupedFilters, dice_scores
from tipdata.linkage.schema import load_schema

SECRET = b"test secret for grouped filters, 32+ chars"


def bits(*positions: int) -> bytes:
    """An 8-byte filter with the given bit positions set (bit 0 = top bit of byte 0)."""
    value = 0
    for position in positions:
        value |= 1 << (63 - position)
    return value.to_bytes(8, "big")


def union(*filters: bytes) -> bytes:
    value = 0
    for item in filters:
        value |= int.from_bytes(item, "big")
    return value.to_bytes(8, "big")


def dice(a: bytes, b: bytes) -> float:
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    return 2 * (x & y).bit_count() / (x.bit_count() + y.bit_count())


IDENTITY_A, IDENTITY_B = bits(0, 1, 2, 3), bits(0, 1, 2, 9)
STREET_A, STREET_B = bits(20, 21, 22), bits(20, 21, 23)
DOCUMENT = bits(40, 41, 42, 43, 44)


def record(name: str, identity: bytes, **groups: bytes) -> EncodedRecord:
    clk = union(identity, *groups.values())
    return EncodedRecord(name, {}, clk, {"identity": identity, **groups} if groups else {})


def test_grouped_filters__group_held_by_one_record_left_out() -> None:
    """should score identity-only against identity-plus-street on the identity filters alone."""
    filters = GroupedFilters.of([record("a", IDENTITY_A, street=STREET_A), record("b", IDENTITY_B)],
                                ["identity", "street"])
    assert filters.dice(np.array([0]), np.array([1])).tolist() == pytest.approx([dice(IDENTITY_A, IDENTITY_B)])


def test_grouped_filters__shared_groups_count_unshared_do_not() -> None:
    """should score over identity and street when both hold a street, ignoring one's document."""
    records = [record("a", IDENTITY_A, street=STREET_A, document=DOCUMENT),
               record("b", IDENTITY_B, street=STREET_B),
               record("c", IDENTITY_B, street=STREET_B, document=DOCUMENT)]
    filters = GroupedFilters.of(records, ["identity", "document", "street"])
    scores = filters.dice(np.array([0, 0, 1]), np.array([1, 2, 2]))
    assert scores.tolist() == pytest.approx([
        dice(union(IDENTITY_A, STREET_A), union(IDENTITY_B, STREET_B)),  # document held by a only
        dice(records[0].clk, records[2].clk),                            # same groups: whole CLKs
        dice(union(IDENTITY_B, STREET_B), union(IDENTITY_B, STREET_B)),  # c's document left out
    ])


def test_grouped_filters__identity_only_records_share_the_clk_matrix() -> None:
    """should not copy the filters when no record holds a group beyond identity."""
    filters = GroupedFilters.of([record("a", IDENTITY_A), record("b", IDENTITY_B)], ["identity"])
    assert filters.identity is filters.clks and filters.groups == ()
    assert filters.dice(np.array([0]), np.array([1])).tolist() == pytest.approx([dice(IDENTITY_A, IDENTITY_B)])


def test_grouped_filters__agrees_with_reference_on_encoded_people() -> None:
    """should equal a plain-Python Dice over identity + shared groups for encoded records."""
    people = [PersonIdentifiers("r1", "Amina", "Diallo", "1990-03-12", "female", id_document_number="A1234567"),
              PersonIdentifiers("r2", "Amina", "Dialo", "1990-03-12", "female", phone="+221 77 123 45 67"),
              PersonIdentifiers("r3", "Amina", "Diallo", "1990", "female", id_document_number="A1234566",
                                address_locality="Dakar"),
              PersonIdentifiers("r4", "Kofi", "Mensah", "2003-01-20", "male")]
    records = encode_records(people, SECRET, load_schema(), source="ngo").records
    filters = GroupedFilters.of(records, schema_groups(load_schema()))
    left, right = np.triu_indices(len(records), k=1)
    ours = filters.dice(left.astype(np.int64), right.astype(np.int64))
    for k, (i, j) in enumerate(zip(left.tolist(), right.tolist(), strict=True)):
        a, b = records[i], records[j]
        shared = (set(a.parts) & set(b.parts)) | {"identity"}
        if a.parts.keys() == b.parts.keys():
            expected = dice(a.clk, b.clk)
        else:
            expected = dice(union128(a, shared), union128(b, shared))
        assert ours[k] == pytest.approx(expected), (i, j)


def union128(record: EncodedRecord, groups: set[str]) -> bytes:
    if not record.parts:
        return record.clk
    value = 0
    for name in groups:
        value |= int.from_bytes(record.parts.get(name, bytes(128)), "big")
    return value.to_bytes(128, "big")


def test_dice_scores__empty_filters_score_zero() -> None:
    """should give 0, not a division error, for two empty filters."""
    matrix = np.zeros((2, 8), dtype=np.uint8)
    assert dice_scores(matrix, np.array([0]), np.array([1])).tolist() == [0.0]
