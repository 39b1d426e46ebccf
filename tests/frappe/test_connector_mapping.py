"""The pure mapping: where each value goes, in which form, and back; site time arithmetic."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.frappe.conftest import codebook, intake_record, make_record, mapping, referral_record
from tipdata.erpnext_casework.mapping import (
    DocumentDraft,
    FieldMapping,
    changed_fields,
    doctype_form,
    documents_for_record,
    dst_margin,
    from_frappe_value,
    record_from_documents,
    site_naive_to_utc,
    to_frappe_value,
    utc_to_site_naive,
)

UTC_ZONE = ZoneInfo("UTC")
KOLKATA = ZoneInfo("Asia/Kolkata")


def element(code: str):
    return codebook().elements[code]


def field_of(code: str) -> FieldMapping:
    m = mapping()
    return m.doctypes[m.placement[code]].fields[code]


def test_mapping__fields_follow_the_generated_doctypes():
    """should read each element's field and fieldtype from the generated DocType JSON"""
    assert field_of("person_given_names").fieldtype == "Data"
    assert mapping().placement["person_given_names"] == "TIP Identity"
    assert mapping().placement["person_immigration_status"] == "TIP Restricted Detail"
    palermo = field_of("expl_palermo_act")
    assert (palermo.fieldtype, palermo.child_doctype, palermo.child_field) == (
        "Table", "TIP Palermo Act Option", "option")
    assert mapping().doctypes["TIP Referral"].case_field == "tip_case"
    assert mapping().doctypes["TIP Case"].case_field is None


@pytest.mark.parametrize(("code", "value", "expected"), [
    ("person_age_reported", 34, "34"),                         # optional integer: Data
    ("person_number_of_children", 0, "0"),
    ("pros_fine_amount", Decimal("1250.50"), "1250.5"),        # optional decimal: Data
    ("case_opened_date", dt.date(2026, 2, 1), "2026-02-01"),
    ("recr_abducted", True, 1),                                # boolean: Check
    ("recr_abducted", None, 0),
    ("case_status", "active", "active"),
    ("expl_palermo_act", ("transfer", "recruitment"), [{"option": "recruitment"},
                                                       {"option": "transfer"}]),
    ("expl_palermo_act", None, []),
])
def test_to_frappe_value__each_type_in_its_stored_form(code, value, expected):
    """should write each canonical value as the field stores it"""
    assert to_frappe_value(field_of(code), element(code), value, UTC_ZONE) == expected


def test_to_frappe_value__wrong_type_is_a_value_error():
    """should refuse a value of the wrong type, saying what was expected"""
    with pytest.raises(ValueError, match="expected a date"):
        to_frappe_value(field_of("case_opened_date"), element("case_opened_date"), "2026-02-01",
                        UTC_ZONE)


def test_from_frappe_value__unknown_option_is_refused():
    """should refuse a stored code that is not in the element's option list"""
    with pytest.raises(ValueError, match="not in option list 'case_status'"):
        from_frappe_value(field_of("case_status"), element("case_status"), "frozen", codebook(),
                          UTC_ZONE)


def test_documents_for_record__intake_writes_case_then_identity():
    """should split an intake record into the case and its identity, linked by name"""
    record = intake_record(1)
    docs = documents_for_record(record, codebook(), mapping(), UTC_ZONE)
    case, identity = docs.drafts
    assert (case.doctype, identity.doctype) == ("TIP Case", "TIP Identity")
    assert case.name == identity.name == record.record_id
    assert identity.values["tip_case"] == record.record_id
    assert "person_phone" in identity.values and "person_phone" not in case.values
    assert "person_pseudo_id" in case.values  # pseudonymous: stays on the case


def test_documents_for_record__every_problem_at_once():
    """should report an unknown element, a wrong type and the missing case together"""
    record = referral_record(1, "TIP-2026-0001", ref_date="yesterday", ref_colour="blue")
    problems = documents_for_record(record, codebook(), mapping(), UTC_ZONE)
    assert sorted((p.code, p.element) for p in problems) == [
        ("FR405", "svc_case_reference"), ("RC200", "ref_colour"), ("RC201", "ref_date")]


def test_documents_for_record__screening_values_on_the_case_are_update_only():
    """should write a screening's case-level answer as an update of its case, never an insert"""
    record = make_record("tip_screening_adult", "s-1", {"screening_date": dt.date(2026, 2, 3),
                                                        "consent_screening": "yes"})
    docs = documents_for_record(record, codebook(), mapping(), UTC_ZONE, case_name="CASE-1")
    assert [(d.doctype, d.name, d.update_only) for d in docs.drafts] == [
        ("TIP Case", "CASE-1", True), ("TIP Screening", record.record_id, False)]
    assert not docs.insertable


def test_changed_fields__compares_values_not_representations():
    """should see no change between what was sent and what the site answers for it"""
    draft = DocumentDraft("TIP Case", "x", {"person_number_of_children": "0",
                                            "expl_palermo_act": [{"option": "transfer"},
                                                                 {"option": "recruitment"}],
                                            "recr_abducted": 0, "case_opened_date": "2026-02-01"})
    stored = {"person_number_of_children": "0", "recr_abducted": 0,
              "expl_palermo_act": [{"option": "recruitment", "idx": 1, "name": "a1"},
                                   {"option": "transfer", "idx": 2, "name": "a2"}],
              "case_opened_date": "2026-02-01"}
    assert changed_fields(stored, draft, mapping()) == {}
    assert changed_fields({**stored, "recr_abducted": 1}, draft, mapping()) == {"recr_abducted": 0}


def test_site_time__naive_site_time_to_utc_and_back():
    """should convert Frappe's naive site time to aware UTC and back"""
    naive = dt.datetime(2026, 3, 1, 13, 30, 0, 123456)
    instant = site_naive_to_utc(naive, KOLKATA)
    assert instant == dt.datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=dt.UTC)
    assert utc_to_site_naive(instant, KOLKATA) == naive


def test_site_time__repeated_hour_reads_either_occurrence():
    """should read an ambiguous local time as its first, or with later=True its second, instant"""
    london = ZoneInfo("Europe/London")
    naive = dt.datetime(2026, 10, 25, 1, 30)
    assert site_naive_to_utc(naive, london).hour == 0
    assert site_naive_to_utc(naive, london, later=True).hour == 1


def test_dst_margin__one_hour_near_clocks_going_back_none_in_kolkata():
    """should widen the listing window only near a change back from summer time"""
    near = dt.datetime(2026, 10, 25, 0, 40, tzinfo=dt.UTC)
    assert dst_margin(near, ZoneInfo("Europe/London")) == dt.timedelta(hours=1)
    assert dst_margin(near, KOLKATA) == dt.timedelta(0)
    assert dst_margin(dt.datetime(2026, 7, 1, tzinfo=dt.UTC), ZoneInfo("Europe/London")) == dt.timedelta(0)


def test_doctype_form__each_record_doctype_has_the_form_of_its_level():
    """should give each record DocType but the screening (always under a case) the form of its level"""
    forms = {d: doctype_form(d, codebook(), mapping()) for d in mapping().record_doctypes}
    assert forms.pop("TIP Screening") is None  # a form would derive a second case from it
    assert forms["TIP Case"] == "tip_case_intake"
    assert forms["TIP Referral"] == "tip_referral"
    assert forms["TIP Service"] == "tip_service_followup"
    assert all(codebook().forms[f].level in {lv for lv, d in mapping().level_doctypes.items()
                                             if d == doctype} for doctype, f in forms.items())
    assert doctype_form("TIP Service Provider", codebook(), mapping()) is None


def test_record_from_documents__desk_referral_carries_its_form():
    """should give a referral created in the desk (no form behind it) the referral form"""
    referral = {"doctype": "TIP Referral", "name": "r-1", "external_id": "r-1", "tip_case": "c-1",
                "ref_date": "2026-02-03", "modified": "2026-02-03 10:00:00.000000",
                "creation": "2026-02-03 10:00:00.000000"}
    case = {"doctype": "TIP Case", "name": "c-1", "case_reference": "REF-1"}
    record = record_from_documents(referral, {}, case, codebook(), mapping(), UTC_ZONE,
                                   site_url="http://site.test")
    assert not isinstance(record, list)
    assert record.envelope.form_id == "tip_referral"
    assert record.values["svc_case_reference"] == "REF-1"

