"""Screening records in the DHIS2 tracker, with the real package, against the double.

A Kobo screening has no person id and no case reference. DHIS2 files it under the keys the sync
engine derives from its record id for the case a screening opens (`SCRP-…`, `SCR-…`), so the
screening and that case share one tracked entity and one enrollment whichever arrives first;
consent to screening is a data element of the screening stage, compulsory there. A screening
that quotes no case (its result opened none) is filed in a COMPLETED enrollment, never an open case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dhis2.connector_support import ORG_UNIT, VERSIONS, connect, make_record
from tests.doubles.dhis2 import Dhis2Double
from tipdata.codebook import load_codebook
from tipdata.dhis2_app.metadata import build_metadata
from tipdata.dhis2_app.screening import screening_case_reference, screening_person_id
from tipdata.dhis2_app.tracker import PayloadBuilder, mapping_from_package
from tipdata.dhis2_app.uids import uid_for
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord

SCREENED_ON = dt.date(2026, 2, 14)
ANSWERS = {
    "screening_date": SCREENED_ON,
    "screening_population": "adult",
    "consent_screening": "yes",
    "scr_act_recruited": "yes",
    "scr_means_debt": "yes",
    "scr_purpose_forced_work": "yes",
    "palermo_act_indicated": True,
    "palermo_means_indicated": True,
    "palermo_purpose_indicated": True,
    "palermo_elements_met": True,
    "screening_result": "likely",
}


@pytest.fixture(scope="module")
def codebook() -> Codebook:
    return load_codebook()


@pytest.fixture(scope="module")
def package(codebook) -> dict[str, Any]:
    return build_metadata(codebook).json


@pytest.fixture(scope="module")
def mapping(package, codebook):
    return mapping_from_package(package, codebook, org_unit=ORG_UNIT)


@pytest.fixture(params=VERSIONS)
def double(request: pytest.FixtureRequest) -> Iterator[Dhis2Double]:
    with Dhis2Double(request.param) as running:
        yield running


def screening(**extra: Any) -> CanonicalRecord:
    return make_record({**ANSWERS, **extra}, form_id="tip_screening_adult")


def negative_screening(**extra: Any) -> CanonicalRecord:
    """A screening whose Palermo result is negative: the sync engine opens no case, so no quote."""
    return screening(
        palermo_act_indicated=False,
        palermo_means_indicated=False,
        palermo_purpose_indicated=False,
        palermo_elements_met=False,
        screening_result="unlikely",
        scr_act_recruited="no",
        scr_means_debt="no",
        scr_purpose_forced_work="no",
        **extra,
    )


def quoting_its_case(record: CanonicalRecord) -> CanonicalRecord:
    """The screening as the sync engine stores it after deriving its case: quoting that case."""
    return CanonicalRecord(
        envelope=record.envelope,
        values={**record.values, "svc_case_reference": screening_case_reference(record.record_id)},
    )


def derived_case(record: CanonicalRecord) -> CanonicalRecord:
    """The case the sync engine derives from a screening (tipdata.sync.screening_cases' values)."""
    return make_record(
        {
            "case_reference": screening_case_reference(record.record_id),
            "person_pseudo_id": screening_person_id(record.record_id),
            "case_status": "active",
            "consent_screening": "yes",
            "ident_stage": "initial_screening",
            "ident_trafficking_status": "presumed",
            "case_opened_date": SCREENED_ON,
            "ident_date": SCREENED_ON,
        },
        form_id="tip_case_intake",
        source_id=f"screening-case/{record.record_id}",
    )


def build(mapping, records, allowed=None):
    return PayloadBuilder(mapping).build((r, allowed(r) if allowed else r.values) for r in records)


def stage(code: str) -> str:
    return uid_for("programStage", code)


# --- keys -------------------------------------------------------------------------------------------


def test_screening_keys__are_the_ones_the_sync_engine_derives():
    """should derive the same case reference and person id as tipdata.sync.screening_cases"""
    screening_cases = pytest.importorskip("tipdata.sync.screening_cases")
    record = screening()
    assert screening_case_reference(record.record_id) == screening_cases.case_reference_for(record)
    assert screening_person_id(record.record_id) == screening_cases.person_id_for(record)
    assert screening_case_reference(record.record_id) != screening_case_reference(
        screening().record_id
    )


# --- payloads ----------------------------------------------------------------------------------------


def test_payload__screening_is_filed_under_the_case_derived_from_it(mapping):
    """should file a screening quoting its derived case as the screening event of an ACTIVE enrollment"""
    record = screening()
    payload = build(mapping, [quoting_its_case(record)])
    assert not payload.unplaced and not payload.skipped
    [te] = payload.body["trackedEntities"]
    assert te["trackedEntity"] == uid_for("trackedEntity", screening_person_id(record.record_id))
    assert {a["attribute"]: a["value"] for a in te["attributes"]} == {
        uid_for("trackedEntityAttribute", "person_pseudo_id"): screening_person_id(record.record_id)
    }
    [enrollment] = te["enrollments"]
    assert enrollment["enrollment"] == uid_for(
        "enrollment", screening_case_reference(record.record_id)
    )
    assert (
        enrollment["enrolledAt"].startswith(SCREENED_ON.isoformat())
        and enrollment["status"] == "ACTIVE"
    )
    [event] = enrollment["events"]
    assert event["programStage"] == stage("screening")
    assert uid_for("dataElement", "consent_screening") in {
        v["dataElement"] for v in event["dataValues"]
    }


def test_payload__screening_that_opened_no_case_completes_its_enrollment(mapping):
    """should file a negative screening under the same UIDs, with its enrollment COMPLETED"""
    record = negative_screening()
    payload = build(mapping, [record])
    assert not payload.unplaced and not payload.skipped
    [te] = payload.body["trackedEntities"]
    assert te["trackedEntity"] == uid_for("trackedEntity", screening_person_id(record.record_id))
    [enrollment] = te["enrollments"]
    assert enrollment["enrollment"] == uid_for(
        "enrollment", screening_case_reference(record.record_id)
    )
    assert enrollment["status"] == "COMPLETED"
    [event] = enrollment["events"]
    assert event["programStage"] == stage("screening") and event["status"] == "ACTIVE"
    values = {v["dataElement"]: v["value"] for v in event["dataValues"]}
    assert values[uid_for("dataElement", "screening_result")] == "unlikely"


def test_payload__quote_decides_the_status_and_nothing_else(mapping):
    """should give a screening with and without its case quoted the same body but the enrollment status"""
    record = screening()
    quoted = build(mapping, [quoting_its_case(record)]).body
    unquoted = build(mapping, [record]).body
    assert quoted["trackedEntities"][0]["enrollments"][0]["status"] == "ACTIVE"
    assert unquoted["trackedEntities"][0]["enrollments"][0]["status"] == "COMPLETED"
    unquoted["trackedEntities"][0]["enrollments"][0]["status"] = "ACTIVE"
    assert quoted == unquoted


@pytest.mark.parametrize("order", ["screening first", "case first"])
def test_payload__a_case_record_in_the_batch_decides_the_status(mapping, order):
    """should send the enrollment ACTIVE when its case record is in the batch with an unquoted screening"""
    record = screening()
    records = [record, derived_case(record)]
    payload = build(mapping, records if order == "screening first" else records[::-1])
    [te] = payload.body["trackedEntities"]
    [enrollment] = te["enrollments"]
    assert enrollment["status"] == "ACTIVE"


def test_payload__screening_quoting_another_case_joins_that_case(mapping):
    """should make a screening that quotes another case an event of that case's enrollment"""
    payload = build(mapping, [screening(svc_case_reference="TIP-2026-0009")])
    assert payload.body["trackedEntities"] == []
    assert [e["enrollment"] for e in payload.body["events"]] == [
        uid_for("enrollment", "TIP-2026-0009")
    ]


def test_payload__screening_the_policy_withholds_is_skipped(mapping):
    """should skip, not quarantine, a screening whose link or whose every value the policy withholds"""
    record = screening(svc_case_reference="SCR-OTHER")
    unlinked = build(
        mapping,
        [record],
        allowed=lambda r: {k: v for k, v in r.values.items() if k != "svc_case_reference"},
    )
    nothing = build(mapping, [screening()], allowed=lambda r: {})
    for payload in (unlinked, nothing):
        assert payload.body == {"trackedEntities": []} and not payload.unplaced
        assert len(payload.skipped) == 1


def test_payload__screening_and_derived_case_share_entity_and_enrollment(mapping):
    """should nest the screening and its derived case under one tracked entity and one enrollment"""
    record = screening()
    linked = CanonicalRecord(
        envelope=record.envelope,
        values={**record.values, "svc_case_reference": screening_case_reference(record.record_id)},
    )
    payload = build(mapping, [linked, derived_case(record)])
    [te] = payload.body["trackedEntities"]
    [enrollment] = te["enrollments"]
    stages = sorted(e["programStage"] for e in enrollment["events"])
    assert stages == sorted([stage("screening"), stage("case"), stage("identification")])
    assert "events" not in payload.body


# --- against the double --------------------------------------------------------------------------------


def installed(double: Dhis2Double, codebook: Codebook, package: dict[str, Any]):
    connector = connect(double, codebook, package, org_unit=ORG_UNIT)
    assert connector.install(assign_to=[ORG_UNIT]).ok
    return connector


def entities(double: Dhis2Double) -> tuple[int, int, list[str]]:
    store = double.store
    return (
        len(store.tracked_entities),
        len(store.enrollments),
        sorted(e.program_stage for e in store.events.values()),
    )


def test_push__screening_lands_once_and_repush_updates(double, codebook, package):
    """should store one tracked entity, enrollment and screening event, and add nothing on a re-push"""
    connector = installed(double, codebook, package)
    record = quoting_its_case(screening())
    first = connector.push([record])
    assert first.ok and first.pushed == 1, [q.message for q in first.quarantined]
    assert entities(double) == (1, 1, [stage("screening")])
    again = connector.push([record])
    assert again.ok and entities(double) == (1, 1, [stage("screening")])
    [event] = double.store.events.values()
    assert uid_for("dataElement", "consent_screening") in event.data_values


@pytest.mark.parametrize("order", ["screening first", "case first", "same push"])
def test_push__screening_and_its_case_meet_in_one_enrollment(order, codebook, package):
    """should give a screening and the case derived from it one tracked entity and one enrollment, in any order"""
    with Dhis2Double("2.42") as double:
        connector = installed(double, codebook, package)
        record = screening()
        linked = CanonicalRecord(
            envelope=record.envelope,
            values={
                **record.values,
                "svc_case_reference": screening_case_reference(record.record_id),
            },
        )
        case = derived_case(record)
        batches = {
            "screening first": [[linked], [case]],
            "case first": [[case], [linked]],
            "same push": [[linked, case]],
        }[order]
        for batch in batches:
            result = connector.push(batch)
            assert result.ok, [q.message for q in result.quarantined]
        assert entities(double) == (
            1,
            1,
            sorted([stage("screening"), stage("case"), stage("identification")]),
        )
        [enrollment] = double.store.enrollments.values()
        assert enrollment.uid == uid_for("enrollment", screening_case_reference(record.record_id))


def test_push__negative_screening_is_stored_without_an_open_case(double, codebook, package):
    """should store a negative screening's event in a COMPLETED enrollment, the same one on a re-push"""
    connector = installed(double, codebook, package)
    record = negative_screening()
    for _ in range(2):
        result = connector.push([record])
        assert result.ok and result.pushed == 1, [q.message for q in result.quarantined]
    assert entities(double) == (1, 1, [stage("screening")])
    [enrollment] = double.store.enrollments.values()
    assert enrollment.status == "COMPLETED"
    assert [e.status for e in double.store.events.values()] == ["ACTIVE"]


def test_push__screening_edited_to_positive_reopens_the_same_enrollment(codebook, package):
    """should turn the negative screening's COMPLETED enrollment ACTIVE once it opens a case, without a second one"""
    with Dhis2Double("2.43") as double:
        connector = installed(double, codebook, package)
        negative = negative_screening()
        assert connector.push([negative]).ok
        edited = CanonicalRecord(envelope=negative.envelope, values={**ANSWERS})
        result = connector.push([quoting_its_case(edited), derived_case(edited)])
        assert result.ok, [q.message for q in result.quarantined]
        assert entities(double) == (
            1,
            1,
            sorted([stage("screening"), stage("case"), stage("identification")]),
        )
        [enrollment] = double.store.enrollments.values()
        assert enrollment.status == "ACTIVE"
