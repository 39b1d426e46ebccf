"""Generated rules and translations of the app, and its frappe-free consent rule."""

from __future__ import annotations

import csv
import io

import pytest

from tipdata.codebook import load_codebook
from tipdata.erpnext_casework.doctypes import CASE, SCREENING, build_doctypes
from tipdata.erpnext_casework.rules_data import build_rules
from tipdata.erpnext_casework.translations import translation_files, translation_rows
from tipdata.logic import parse, references

from .test_rule_runtime import load_app_module

consent_rules = load_app_module("consent_rules")


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.fixture(scope="module")
def built(codebook):
    return build_doctypes(codebook)


@pytest.fixture(scope="module")
def rules(codebook, built):
    return build_rules(codebook, built)


def test_build_rules__elements_come_after_what_they_read(codebook, rules):
    """should order each DocType's elements so every reference inside it is settled first."""
    for doctype, spec in rules["doctypes"].items():
        order = [rule["code"] for rule in spec["elements"]]
        position = {code: i for i, code in enumerate(order)}
        for code in order:
            for _, text in codebook.elements[code].expressions():
                for ref in references(parse(text)) - {code}:
                    if ref in position:
                        assert position[ref] < position[code], (doctype, ref, code)


def test_build_rules__cross_doctype_reads_come_from_the_case(rules):
    """should read consent_screening from the linked TIP Case for screening relevance."""
    assert rules["doctypes"][SCREENING]["from_case"] == {"consent_screening": "linked_consent_screening"}
    assert rules["doctypes"][CASE]["from_case"] == {}


def test_build_rules__rules_said_in_words(rules):
    """should say each rule with labels and option labels, not codes."""
    closed = next(r for r in rules["doctypes"][CASE]["elements"] if r["code"] == "case_closed_date")
    assert closed["required"] is True
    assert closed["relevant"]["words"] == (
        "Case status is 'Closed' or Case status is 'Closed - referred to another organisation'")
    other = next(r for r in rules["doctypes"][CASE]["elements"] if r["code"] == "case_risk_factors_other")
    assert "includes 'Other" in other["relevant"]["words"]


def test_translations__option_codes_have_doctype_context(codebook, built):
    """should translate option codes per DocType (the desk calls __(code, null, doctype))."""
    rows = translation_rows(codebook, built, "fr")
    confirmed = [r for r in rows if r[0] == "confirmed" and r[2] == CASE]
    assert confirmed == [("confirmed", codebook.option_text("fr", "trafficking_status", "confirmed"), CASE)]
    en = translation_rows(codebook, built, "en")
    assert ("confirmed", "Confirmed victim", CASE) in en
    assert ("forced_labour", codebook.option_text("en", "exploitation_form", "forced_labour"),
            "TIP Exploitation Form Option") in en


def test_translations__labels_translated_and_files_parse(codebook, built):
    """should give French and Spanish labels, and CSV that csv.reader reads back unchanged."""
    files = translation_files(codebook, built)
    assert set(files) == {"en", "fr", "es"}
    for lang in ("fr", "es"):
        parsed = [tuple(row) for row in csv.reader(io.StringIO(files[lang].decode("utf-8")))]
        assert parsed == translation_rows(codebook, built, lang)
        label = codebook.elements["person_sex"].label
        assert (label, codebook.element_text(lang, "person_sex"), CASE) in parsed


def test_translations__shared_code_takes_the_most_used_label(codebook, built):
    """should word 'no' on TIP Case as yes/no's No, not the language list's Norwegian."""
    rows = {(r[0], r[2]): r[1] for r in translation_rows(codebook, built, "en")}
    assert rows[("no", CASE)] == "No"
    assert rows[("no", "TIP Language Option")] == "Norwegian"


def test_coverage__needs_recording_and_purpose_and_no_withdrawal():
    """should cover a purpose only with recording consent, that purpose's consent, and no withdrawal."""
    base = {"consent_data_recording": "yes", "consent_law_enforcement": "yes", "consent_statistics": "no"}
    purposes = ["law_enforcement", "statistics"]
    assert consent_rules.coverage(base, purposes) == {"law_enforcement": True, "statistics": False}
    assert consent_rules.coverage({**base, "consent_data_recording": "no"}, purposes)["law_enforcement"] is False
    withdrawn = {**base, "consent_withdrawn": "yes", "consent_withdrawn_purposes": ["law_enforcement"]}
    assert consent_rules.coverage(withdrawn, purposes)["law_enforcement"] is False
    everything = {**base, "consent_withdrawn": "yes", "consent_withdrawn_purposes": ["data_recording"]}
    assert consent_rules.coverage(everything, purposes)["law_enforcement"] is False
    not_withdrawn = {**base, "consent_withdrawn": "no", "consent_withdrawn_purposes": ["law_enforcement"]}
    assert consent_rules.coverage(not_withdrawn, purposes)["law_enforcement"] is True
