"""Canonical records: stable ids, typed values, and one problem per bad field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tipdata.codebook import load_codebook
from tipdata.records import (
    CanonicalRecord,
    Envelope,
    coerce_value,
    record_from_json,
    record_id_for,
    validate_record,
)

NOW = dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.UTC)


def make_record(values, form_id="mini_form", purposes=("statistics",)):
    envelope = Envelope(
        record_id=record_id_for("kobo:aX1", "uuid:1"), source_system="kobo:aX1", source_id="uuid:1",
        form_id=form_id, form_version="1.2.3.1", collected_at=NOW, updated_at=NOW,
        consent_purposes=frozenset(purposes),
    )
    return CanonicalRecord(envelope=envelope, values=values)


def test_record_id_for__is_stable_and_source_scoped():
    """should give the same id for the same source record and different ids across sources"""
    assert record_id_for("kobo:a", "1") == record_id_for("kobo:a", "1")
    assert record_id_for("kobo:a", "1") != record_id_for("kobo:b", "1")
    with pytest.raises(ValueError):
        record_id_for("", "1")


def test_envelope__requires_time_zones():
    """should refuse naive timestamps, which cannot be ordered across platforms"""
    with pytest.raises(ValueError, match="time zone"):
        Envelope(record_id="x", source_system="s", source_id="1", collected_at=dt.datetime(2026, 1, 1),
                 updated_at=NOW)


def test_validate_record__accepts_a_good_record(mini_codebook):
    """should find no problem in a record that fits the codebook"""
    codebook = load_codebook(mini_codebook())
    record = make_record({"person_age": 30, "person_sex": "female", "scr_forced": "yes"})
    assert validate_record(codebook, record) == []


def test_validate_record__one_problem_per_bad_field(mini_codebook):
    """should report every bad field, each with its own code and element"""
    codebook = load_codebook(mini_codebook())
    record = make_record({"person_age": "thirty", "person_sex": "femme", "unknown_thing": 1,
                          "scr_forced": "yes"})
    problems = [p for p in validate_record(codebook, record) if p.severity == "error"]
    assert sorted((p.code, p.element) for p in problems) == [
        ("RC200", "unknown_thing"), ("RC201", "person_age"), ("RC202", "person_sex")]
    assert "female" in next(p for p in problems if p.code == "RC202").message


def test_validate_record__constraint_and_required(mini_codebook):
    """should check constraints on values and required elements of the record's form"""
    codebook = load_codebook(mini_codebook())
    problems = validate_record(codebook, make_record({"person_age": 130}))
    assert sorted((p.code, p.element) for p in problems) == [
        ("RC203", "person_sex"), ("RC204", "person_age")]
    assert "Age between 0 and 120." in next(p for p in problems if p.code == "RC204").message


def test_validate_record__unknown_consent_purpose(mini_codebook):
    """should refuse consent purposes the codebook does not declare"""
    codebook = load_codebook(mini_codebook())
    record = make_record({"person_sex": "male"}, purposes=("marketing",))
    assert [p.code for p in validate_record(codebook, record)] == ["RC206"]


@pytest.mark.parametrize(
    ("code", "raw", "expected"),
    [
        ("person_age", "42", 42),
        ("person_age", "42.0", 42),
        ("person_sex", "female", "female"),
        ("scr_is_child", "true", True),
        ("person_name", "", None),
    ],
)
def test_coerce_value__from_platform_strings(mini_codebook, code, raw, expected):
    """should turn Kobo's all-string values into typed canonical values"""
    codebook = load_codebook(mini_codebook())
    assert coerce_value(codebook.elements[code], raw) == expected


def test_coerce_value__explains_what_was_expected(mini_codebook):
    """should say what was expected when a value cannot be read"""
    codebook = load_codebook(mini_codebook())
    with pytest.raises(ValueError, match="whole number"):
        coerce_value(codebook.elements["person_age"], "4.5")


def test_record_json__round_trips_on_the_real_codebook():
    """should serialise and read back every value type"""
    codebook = load_codebook()
    values = {"screening_date": dt.date(2026, 10, 30), "consent_screening": "yes",
              "age_at_screening": 17, "screening_is_child": True, "scr_act_recruited": "yes"}
    record = make_record(values, form_id="tip_screening_child")
    back = record_from_json(codebook, record.to_json())
    assert back == record
    assert validate_record(codebook, back, today=dt.date(2026, 11, 1)) == []
    without_consent = make_record({**values, "consent_screening": None}, form_id="tip_screening_child")
    problems = validate_record(codebook, without_consent, today=dt.date(2026, 11, 1))
    assert ("RC203", "consent_screening") in [(p.code, p.element) for p in problems]
    assert ("RC205", "age_at_screening") in [(p.code, p.element) for p in problems]


def test_coerce_value__decimal_and_multi(mini_codebook):
    """should keep decimals exact and sort multi-select codes"""
    from tipdata.model import Element

    decimal = Element(code="x", type="decimal", label="x", level="person", sensitivity="operational")
    multi = Element(code="y", type="select_multiple", label="y", level="person",
                    sensitivity="operational", options="yes_no")
    assert coerce_value(decimal, "0.1") == Decimal("0.1")
    assert coerce_value(multi, "no yes no") == ("no", "yes")
