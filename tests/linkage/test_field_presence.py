"""Field presence: which identity fields a record holds, and Dice over the fields both hold."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from tipdata.linkage.encoding import PersonIdentifiers, encode_records, read_batch
from tipdata.linkage.field_presence import (
    UNKNOWN,
    field_bits,
    held_fields,
    presence_adjusted_dice,
    presence_codes,
)
from tipdata.linkage.filters import GroupedFilters
from tipdata.linkage.normalise import normalise_person
from tipdata.linkage.schema import load_schema

SECRET = b"test secret for field presence, 32+ chars"
FULL = PersonIdentifiers("a", "Kofi", "Mensah", "2003-05-06", "male")


def scores(
    a: PersonIdentifiers, b: PersonIdentifiers, *, known: bool = True
) -> tuple[float, float]:
    """(plain Dice, presence-adjusted Dice) of two records, encoded as two agencies would."""
    schema = load_schema()
    batch_a = encode_records([a], SECRET, schema, source="ngo")
    batch_b = encode_records([b], SECRET, schema, source="police")
    records = [batch_a.records[0], batch_b.records[0]]
    common, count_a, count_b = GroupedFilters.of(records).overlap(np.array([0]), np.array([1]))
    dice = 2.0 * common / (count_a + count_b)
    flags = presence_codes([r.held if known else None for r in records])
    adjusted = presence_adjusted_dice(
        dice, common, count_a, count_b, flags[[0]], flags[[1]], batch_a.field_bits, batch_a.clk_bits
    )
    return float(dice[0]), float(adjusted[0])


def test_held_fields__letters_of_the_fields_present() -> None:
    """should name given, family, year, month, day and sex only when the record holds them."""
    assert held_fields(normalise_person("Ana", "Lopez", "1990-03-12", "female")) == "gfymds"
    assert held_fields(normalise_person(None, "Lopez", "1990-03", None)) == "fym"
    assert held_fields(normalise_person("Ana", None, None, "declined")) == "g"


def test_field_bits__whole_token_fields_of_the_schema() -> None:
    """should read the bits per token of year, month, day and sex from the shipped schema."""
    assert field_bits(load_schema()) == {"y": 40, "m": 30, "d": 30, "s": 15}


def test_presence_codes__unknown_when_a_record_does_not_say() -> None:
    """should give flags for stated fields and UNKNOWN for records of older files."""
    assert presence_codes(["gfymds", "", None]).tolist() == [63, 0, UNKNOWN]


@pytest.mark.parametrize(
    "other",
    [
        PersonIdentifiers("b", "Kofi", "Mensha", "2003", "male"),  # year only + a typo
        PersonIdentifiers("b", None, "Mensah", "2003-05-06", "male"),  # no given name
        PersonIdentifiers("b", "Kofi", "Mensah", "2003-05-06", None),  # no sex
    ],
)
def test_presence_adjusted_dice__missing_field_not_counted_against_the_pair(
    other: PersonIdentifiers,
) -> None:
    """should score the same person recorded with a field missing on the fields both hold,
    above what plain Dice gives and above the thresholds used for a million records."""
    plain, adjusted = scores(FULL, other)
    assert adjusted > plain
    assert adjusted >= 0.85


def test_presence_adjusted_dice__same_fields_unchanged() -> None:
    """should leave the Dice of two records holding the same fields as it is (strangers with
    the same names and year, different day and month, stay below the thresholds)."""
    plain, adjusted = scores(FULL, PersonIdentifiers("b", "Kofi", "Mensah", "2003-11-21", "male"))
    assert adjusted == plain < 0.8


@pytest.mark.parametrize(
    "sparse",
    [
        PersonIdentifiers("b", "Kofi", "Mensah", None, "male"),  # no date of birth: names alone
        PersonIdentifiers("b", None, "Mensah", "2003", "male"),  # one name and a year
    ],
)
def test_presence_adjusted_dice__weak_records_not_adjusted(sparse: PersonIdentifiers) -> None:
    """should not lift a record holding too little to identify anyone (no date, or one name
    without the full date) towards a full record."""
    plain, adjusted = scores(FULL, sparse)
    assert adjusted == plain < 0.75


def test_presence_adjusted_dice__unknown_presence_not_adjusted() -> None:
    """should match records from files without presence letters as before."""
    plain, adjusted = scores(
        FULL, PersonIdentifiers("b", "Kofi", "Mensha", "2003", "male"), known=False
    )
    assert adjusted == plain


def test_read_batch__presence_letters_checked() -> None:
    """should refuse a record whose presence letters are not field letters."""
    batch = encode_records([FULL], SECRET, load_schema(), source="ngo")
    lines = list(batch.lines())
    record = json.loads(lines[1])
    record["held"] = "gfx"
    lines[1] = json.dumps(record)
    with pytest.raises(ValueError, match="held"):
        read_batch(io.StringIO("\n".join(lines) + "\n"), "ngo.jsonl")
