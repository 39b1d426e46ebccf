"""Canonical records → tracker payloads and back (pure functions, no server)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.dhis2.connector_support import ORG_UNIT, build_package, intake, make_record, referral
from tipdata.codebook import load_codebook
from tipdata.dhis2_app.connector import redact
from tipdata.dhis2_app.tracker import (
    FieldTarget,
    PackageError,
    PayloadBuilder,
    mapping_from_package,
    records_from_tracked_entity,
    render_value,
)
from tipdata.dhis2_app.uids import uid_for


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.fixture(scope="module")
def mapping(codebook):
    return mapping_from_package(build_package(codebook), codebook)


def build(mapping, records):
    return PayloadBuilder(mapping).build((r, r.values) for r in records)


def test_mapping__places_elements_by_package_code(mapping):
    """should map person attributes to the tracked entity, case attributes to the enrollment, data elements to stages"""
    targets = mapping.targets
    assert targets["person_sex"].kind == "te_attribute"
    assert targets["case_reference"].kind == "enrollment_attribute"
    assert targets["ident_notes"].kind == "data_element" and targets["ident_notes"].value_type == "LONG_TEXT"
    assert targets["person_sex"].uid == uid_for("trackedEntityAttribute", "person_sex")
    assert len(targets["svc_case_reference"].stages) == 2
    assert mapping.org_unit == ORG_UNIT


def test_mapping__refuses_restricted_elements_even_when_packaged(codebook):
    """should never map immigration status, even if the package lists it"""
    package = build_package(codebook, extra_te_attributes={"person_immigration_status": "TEXT"})
    mapping = mapping_from_package(package, codebook)
    assert "person_immigration_status" not in mapping.targets
    assert mapping.refused == {"person_immigration_status"}


def test_mapping__needs_exactly_one_tracker_program(codebook):
    """should explain which programs exist when none or several match"""
    package = build_package(codebook)
    twin = {**package["programs"][0], "id": "PrgTwin0001", "code": "twin"}
    with pytest.raises(PackageError, match="exactly one tracker program.*tip_case, twin"):
        mapping_from_package({**package, "programs": package["programs"] + [twin]}, codebook)
    assert mapping_from_package({**package, "programs": package["programs"] + [twin]}, codebook,
                                program="twin").program == "PrgTwin0001"


def test_mapping__org_unit_is_required_to_push(codebook):
    """should ask for an org unit to push when the package assigns none (pulling needs none)"""
    mapping = mapping_from_package(build_package(codebook, org_units=()), codebook)
    with pytest.raises(PackageError, match="--org-unit"):
        PayloadBuilder(mapping)
    assert PayloadBuilder(mapping_from_package(build_package(codebook, org_units=()), codebook,
                                               org_unit="OuOther0001")).mapping.org_unit == "OuOther0001"


@pytest.mark.parametrize("value_type, element_type, value, expected", [
    ("TEXT", "select_one", "female", "female"),
    ("MULTI_TEXT", "select_multiple", ("seeing", "walking"), "seeing,walking"),
    ("BOOLEAN", "boolean", False, "false"),
    ("TRUE_ONLY", "boolean", False, None),
    ("TRUE_ONLY", "boolean", True, "true"),
    ("DATE", "date", dt.date(2026, 2, 27), "2026-02-27"),
    ("DATETIME", "datetime", dt.datetime(2026, 2, 27, 8, 5, tzinfo=dt.UTC), "2026-02-27T08:05:00.000+00:00"),
    ("NUMBER", "decimal", Decimal("12.50"), "12.5"),
    ("INTEGER_ZERO_OR_POSITIVE", "integer", 14, "14"),
    ("COORDINATE", "geopoint", (12.5, -8.25), "[-8.25,12.5]"),
])
def test_render_value__uses_the_dhis2_format(value_type, element_type, value, expected):
    """should write each canonical value the way DHIS2 stores its value type"""
    target = FieldTarget("x", "data_element", "DeX00000001", value_type, None, (), element_type)
    assert render_value(target, value) == expected


def test_payload__nests_person_case_and_events_with_deterministic_uids(mapping):
    """should nest tracked entity → enrollment → events, with UIDs derived from person, case and record"""
    record = intake("P-0001", "TIP-2026-0001")
    payload = build(mapping, [record])
    again = build(mapping, [record])
    te = payload.body["trackedEntities"][0]
    enrollment = te["enrollments"][0]
    assert payload.body == again.body
    assert te["trackedEntity"] == uid_for("trackedEntity", "P-0001")
    assert enrollment["enrollment"] == uid_for("enrollment", "TIP-2026-0001")
    assert {a["attribute"] for a in enrollment["attributes"]} == {
        uid_for("trackedEntityAttribute", "case_reference"), uid_for("trackedEntityAttribute", "case_risk_level")}
    stages = [e["programStage"] for e in enrollment["events"]]
    assert stages == [uid_for("programStage", "tip_case_intake"), uid_for("programStage", "tip_identification")]
    # non-repeatable stages: one event per case, whichever record writes it
    assert enrollment["events"][0]["event"] == uid_for("event", f"{enrollment['enrollment']}:{stages[0]}")


def test_payload__never_carries_identifiers_or_immigration_status(mapping):
    """should leave out values whose elements are not in the package and count them as withheld"""
    payload = build(mapping, [intake("P-0001", "TIP-2026-0001")])
    text = repr(payload.body)
    assert "Never Sent" not in text and "irregular" not in text
    assert payload.withheld == {"person_given_names": 1, "person_immigration_status": 1}


def test_payload__long_narratives_go_to_event_data_values(mapping):
    """should put the 2,400-character narrative into the identification event, not an attribute"""
    payload = build(mapping, [intake("P-0001", "TIP-2026-0001")])
    te = payload.body["trackedEntities"][0]
    identification = te["enrollments"][0]["events"][1]
    notes = [v["value"] for v in identification["dataValues"]
             if v["dataElement"] == uid_for("dataElement", "ident_notes")]
    assert len(notes[0]) == 2400
    assert all(len(a["value"]) <= 1200 for a in te["attributes"])


def test_payload__follow_up_joins_the_case_enrollment(mapping):
    """should file a referral under its case: nested when the intake is in the batch, else by enrollment UID"""
    together = build(mapping, [intake("P-0001", "TIP-1"), referral("TIP-1")])
    alone = build(mapping, [referral("TIP-1")])
    events = together.body["trackedEntities"][0]["enrollments"][0]["events"]
    assert len(events) == 3 and "events" not in together.body
    loose = alone.body["events"]
    assert alone.body["trackedEntities"] == [] and len(loose) == 1  # svc_case_reference opens no 2nd stage
    assert [e["enrollment"] for e in loose] == [uid_for("enrollment", "TIP-1")]
    assert loose[0]["programStage"] == uid_for("programStage", "tip_referral")


def test_payload__record_without_person_or_case_is_unplaced(mapping):
    """should return a (non-screening) record with neither person id nor case reference as unplaced (DH401)"""
    payload = build(mapping, [make_record({"person_sex": "female"}, form_id="tip_referral")])
    assert payload.body == {"trackedEntities": []}
    assert [u.reason for u in payload.unplaced] == ["DH401"]


def test_payload__owners_name_every_contributing_record(mapping):
    """should know which records each object came from, to quarantine the right ones"""
    first, second = intake("P-0001", "TIP-1"), referral("TIP-1")
    payload = build(mapping, [first, second])
    enrollment = uid_for("enrollment", "TIP-1")
    assert payload.owners[("ENROLLMENT", enrollment)] == [first.record_id, second.record_id]
    assert payload.owners[("TRACKED_ENTITY", uid_for("trackedEntity", "P-0001"))] == [first.record_id]


def test_records_from_tracked_entity__reads_values_back(mapping, codebook):
    """should turn an exported tracked entity into one canonical record per event with typed values"""
    record = intake("P-0001", "TIP-1")
    te = build(mapping, [record]).body["trackedEntities"][0]
    te["updatedAt"] = te["createdAt"] = "2026-03-02T10:00:00.000"
    for event in te["enrollments"][0]["events"]:
        event["updatedAt"] = "2026-03-02T10:00:00.000"
    records, unreadable = records_from_tracked_entity(te, mapping, codebook)
    merged = {k: v for r in records for k, v in r.values.items()}
    sent = {k: v for k, v in record.values.items() if k in mapping.targets}
    assert merged == sent and not unreadable
    assert records[0].envelope.source_system == f"dhis2:{mapping.program}"
    assert records[0].envelope.form_id == "tip_case_intake"
    assert records[0].envelope.consent_purposes == frozenset()


def test_payload__repeatable_stages_get_an_event_per_record(mapping):
    """should give each referral its own event, keyed by the record id"""
    first, second = referral("TIP-1"), referral("TIP-1")
    events = build(mapping, [first, second]).body["events"]
    stage = uid_for("programStage", "tip_referral")
    assert [e["event"] for e in events] == [uid_for("event", f"{first.record_id}:{stage}"),
                                           uid_for("event", f"{second.record_id}:{stage}")]


def test_payload__two_records_of_one_case_share_the_case_events(mapping):
    """should merge two intake records of the same case into one event per non-repeatable stage"""
    original = intake("P-1", "TIP-1", case_status="active")
    correction = intake("P-1", "TIP-1", case_status="closed")
    payload = build(mapping, [original, correction])
    events = payload.body["trackedEntities"][0]["enrollments"][0]["events"]
    status = uid_for("dataElement", "case_status")
    assert len(events) == 2
    assert [v["value"] for v in events[0]["dataValues"] if v["dataElement"] == status] == ["closed"]
    assert payload.owners[("EVENT", events[0]["event"])] == [original.record_id, correction.record_id]


@pytest.mark.parametrize("message, expected", [
    ("Value `0204` is not a valid option code in OptionSet `AkAKfKHOpdK`.",
     "Value `…` is not a valid option code in OptionSet `AkAKfKHOpdK`."),
    ("Non-unique attribute value `TIP-2026-0153` for attribute `TeaCase0001`.",
     "Non-unique attribute value `…` for attribute `TeaCase0001`."),
    ("Error validating attribute value type: `INTEGER`; Error: `value_not_integer`.",
     "Error validating attribute value type: `INTEGER`; Error: `value_not_integer`."),
])
def test_redact__removes_values_but_keeps_uids_and_reasons(message, expected):
    """should blank quoted values in DHIS2 messages, keeping UIDs, value types and reasons"""
    assert redact(message) == expected
