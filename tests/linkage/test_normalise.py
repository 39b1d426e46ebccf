"""Normalisation: the same person written differently must become the same text."""

from __future__ import annotations

import datetime as dt

import pytest

from tipdata.linkage.normalise import (
    PartialDate,
    day_month_swapped,
    fold_spelling,
    name_skeleton,
    names_sorted_pair,
    normalise_citizenship,
    normalise_document_number,
    normalise_name,
    normalise_person,
    normalise_phone,
    normalise_sex,
    parse_partial_date,
)


@pytest.mark.parametrize(("written", "expected"), [
    ("José", "jose"),
    ("JOSÉ", "jose"),
    ("Zoë Ñúñez", "zoe nunez"),
    ("Łukasz Øster", "lukasz oster"),
    ("Straße", "strasse"),
    ("Nguyễn Thị Hương", "nguyen thi huong"),
])
def test_normalise_name__accents_and_case(written: str, expected: str) -> None:
    """should fold case and accents, and spell out letters NFKD keeps whole."""
    assert normalise_name(written) == expected


def test_normalise_name__punctuation_and_whitespace() -> None:
    """should drop apostrophes, split on other marks and collapse whitespace."""
    assert normalise_name("  O'Brien-Smith,  Jean.Pierre ") == "obrien smith jean pierre"
    assert normalise_name("Ng’ang’a") == "nganga"
    assert normalise_name("Ana2") == "ana"


def test_normalise_name__honorifics_dropped_unless_alone() -> None:
    """should drop courtesy titles but keep a title that is the only word."""
    assert normalise_name("Mrs. Amina Diallo") == "amina diallo"
    assert normalise_name("Dr Alhaji Musa") == "musa"
    assert normalise_name("Sir") == "sir"
    assert normalise_name("Don Bosco") == "don bosco"


def test_normalise_name__cyrillic_spelled_in_latin() -> None:
    """should spell Cyrillic names in Latin letters so both scripts meet."""
    assert normalise_name("Олена Шевченко") == "olena shevchenko"


def test_normalise_name__missing_is_empty() -> None:
    """should give an empty string for a missing name."""
    assert normalise_name(None) == ""
    assert normalise_name("") == ""
    assert normalise_name(" - ") == ""


@pytest.mark.parametrize(("one", "other"), [
    ("youssef", "yusef"), ("stephan", "stefan"), ("khalid", "kalid"), ("mohammed", "mohamed"),
    ("fatimah", "fatima"), ("alexandr", "aleksandr"), ("marie", "mari"),
])
def test_fold_spelling__transcription_variants_agree(one: str, other: str) -> None:
    """should fold common transcription variants of a name onto one spelling."""
    assert fold_spelling(one) == fold_spelling(other)


def test_fold_spelling__different_names_stay_different() -> None:
    """should keep names apart that differ by more than spelling."""
    assert fold_spelling("maria") != fold_spelling("mario")
    assert fold_spelling("amina diallo") != fold_spelling("aminata diallo")


def test_name_skeleton__vowel_variants_agree() -> None:
    """should give Mohammed, Muhamad and Mohamad one consonant skeleton."""
    assert name_skeleton("mohammed") == name_skeleton("muhamad") == name_skeleton("mohamad") == "mhmd"


def test_names_sorted_pair__swapped_names_agree() -> None:
    """should give the same pair whichever field held which name."""
    assert names_sorted_pair("lopez", "ana") == names_sorted_pair("ana", "lopez") == ("ana", "lopez")


@pytest.mark.parametrize(("written", "expected"), [
    ("1995", PartialDate(1995)),
    ("1995-03", PartialDate(1995, 3)),
    ("199503", PartialDate(1995, 3)),
    ("03/1995", PartialDate(1995, 3)),
    ("1995-03-12", PartialDate(1995, 3, 12)),
    ("19950312", PartialDate(1995, 3, 12)),
    ("12/03/1995", PartialDate(1995, 3, 12)),
    ("12.3.1995", PartialDate(1995, 3, 12)),
    (dt.date(1995, 3, 12), PartialDate(1995, 3, 12)),
    ("2001-02-03T00:00:00", PartialDate(2001, 2, 3)),
])
def test_parse_partial_date__keeps_precision(written: object, expected: PartialDate) -> None:
    """should read years, year-months and full dates and keep the precision given."""
    assert parse_partial_date(written) == expected


def test_parse_partial_date__month_above_12_read_as_swapped() -> None:
    """should read 1995-28-03 as 28 March when only that reading is a date."""
    assert parse_partial_date("1995-28-03") == PartialDate(1995, 3, 28)


@pytest.mark.parametrize("written", ["", None, "abc", "1700", "1700-02-30", "31/31/1700"])
def test_parse_partial_date__unreadable_is_none(written: object) -> None:
    """should treat dates without a readable year as missing."""
    assert parse_partial_date(written) is None


@pytest.mark.parametrize(("written", "expected"), [
    ("1995-13-13", PartialDate(1995)), ("19086011", PartialDate(1908)),
    ("1995-02-30", PartialDate(1995, 2)), ("19450493", PartialDate(1945, 4)),
    ("31/31/2000", PartialDate(2000))])
def test_parse_partial_date__impossible_date_keeps_what_is_readable(written: str, expected: PartialDate) -> None:
    """should keep the year (and a possible month) of a date with a mistyped day or month."""
    assert parse_partial_date(written) == expected


def test_partial_date__digits_and_precision() -> None:
    """should write digits at the recorded precision."""
    assert PartialDate(1995).digits() == "1995" and PartialDate(1995).precision == "year"
    assert PartialDate(1995, 3).digits() == "199503" and PartialDate(1995, 3).precision == "month"
    assert PartialDate(1995, 3, 2).digits() == "19950302"


def test_day_month_swapped__offers_the_other_reading() -> None:
    """should swap day and month when that gives another valid date, else None."""
    assert day_month_swapped(PartialDate(1995, 3, 12)) == PartialDate(1995, 12, 3)
    assert day_month_swapped(PartialDate(1995, 3, 28)) is None
    assert day_month_swapped(PartialDate(1995, 5, 5)) is None
    assert day_month_swapped(PartialDate(1995, 5)) is None


def test_normalise_person__estimated_date_keeps_year_only() -> None:
    """should drop the made-up day and month of an estimated date of birth."""
    person = normalise_person("Ana", "Lopez", "1990-07-01", dob_estimated=True)
    assert person.date_of_birth == PartialDate(1990)
    assert normalise_person("Ana", "Lopez", "1990-07-01").date_of_birth == PartialDate(1990, 7, 1)


def test_normalise_person__repr_hides_identifiers() -> None:
    """should never show names or dates in its repr (logs, tracebacks)."""
    person = normalise_person("Amina", "Diallo", "1990-07-01", "female", ("sn",))
    assert "amina" not in repr(person) and "1990" not in repr(person)
    assert person.names == "amina diallo"


def test_normalise_sex_and_citizenship__codes() -> None:
    """should map sex codes to one letter (declined is unknown) and sort citizenships."""
    assert [normalise_sex(v) for v in ("female", "Male", "intersex", "declined", None)] == ["f", "m", "x", "", ""]
    assert normalise_citizenship(("SN", "fr")) == normalise_citizenship("FR SN") == "fr sn"
    assert normalise_citizenship(()) == ""


def test_normalise_other_identifiers__documents_and_phones() -> None:
    """should keep letters and digits of documents and the last 9 digits of phones."""
    assert normalise_document_number("AB 12-345") == "ab12345"
    assert normalise_phone("+221 77 123 45 67") == normalise_phone("077 123 45 67") == "771234567"
    assert normalise_phone("12") == ""
