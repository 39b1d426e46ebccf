"""`Dhis2Connector.push`: nested tracker imports, quarantine of what DHIS2 rejects, idempotence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dhis2.connector_support import (
    VERSIONS,
    build_package,
    connect,
    intake,
    make_record,
    referral,
)
from tests.doubles.dhis2 import Dhis2Double
from tipdata.codebook import load_codebook
from tipdata.dhis2_app.uids import uid_for
from tipdata.policy import load_policy


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.fixture(params=VERSIONS)
def double(request: pytest.FixtureRequest) -> Iterator[Dhis2Double]:
    with Dhis2Double(request.param) as running:
        yield running


@pytest.fixture
def connector(double, codebook):
    connector = connect(double, codebook)
    assert connector.install().ok
    return connector


def test_push__imports_synchronously_with_create_and_update_and_object_mode(double, connector):
    """should POST /api/tracker with async=false, CREATE_AND_UPDATE and atomicMode=OBJECT"""
    result = connector.push([intake("P-1", "TIP-1"), referral("TIP-1")])
    post = double.requests_to("/api/tracker", "POST")[0]
    assert post.raw_query.count("async=false") == 1
    assert (post.query["importStrategy"], post.query["atomicMode"]) == ("CREATE_AND_UPDATE", "OBJECT")
    assert result.ok and (result.records, result.pushed, result.batches) == (2, 2, 1)
    assert double.counts() == {"trackedEntities": 1, "enrollments": 1, "events": 3}


def test_push__same_records_again_is_a_no_op_update(double, connector):
    """should update, never duplicate, when the same records are pushed again"""
    records = [intake(f"P-{i}", f"TIP-{i}") for i in range(3)] + [referral("TIP-1")]
    first = connector.push(records)
    second = connector.push(records)
    assert first.ok and second.ok
    assert double.counts() == {"trackedEntities": 3, "enrollments": 3, "events": 7}
    assert sum(s["created"] for s in second.stats.values()) == 0
    assert sum(s["updated"] for s in second.stats.values()) == sum(s["created"] for s in first.stats.values())


def test_push__partial_failure_quarantines_only_the_rejected_records(double, connector):
    """should quarantine records DHIS2 rejects (with its code) while the others are saved"""
    good = intake("P-1", "TIP-1")
    bad_option = intake("P-2", "TIP-2", expl_palermo_purpose=("forced_labour", "not_a_code"))
    long_attribute = intake("P-3", "TIP-3", person_contact_instructions="x" * 1300)
    result = connector.push([good, bad_option, long_attribute])
    by_id = {q.record_id: q for q in result.quarantined}
    assert set(by_id) == {bad_option.record_id, long_attribute.record_id}
    assert by_id[bad_option.record_id].reason == "DH400"
    assert by_id[bad_option.record_id].problems[0].message.startswith("E1125:")
    assert by_id[bad_option.record_id].problems[0].element == "expl_palermo_purpose"
    assert by_id[long_attribute.record_id].problems[0].message.startswith("E1077:")
    assert by_id[long_attribute.record_id].problems[0].element == "person_contact_instructions"
    assert result.pushed == 1
    te_uids = {uid_for("trackedEntity", p) for p in ("P-1", "P-2")}
    assert te_uids <= set(double.store.tracked_entities)  # P-2's person and case were saved, its event was not
    assert uid_for("trackedEntity", "P-3") not in double.store.tracked_entities


def test_push__quarantine_keeps_values_out_of_messages(connector):
    """should redact the rejected value from DHIS2's message while keeping codes and UIDs"""
    result = connector.push([intake("P-9", "TIP-9", person_sex="secret-value")])
    message = result.quarantined[0].message
    assert "secret-value" not in message and "`…`" in message and "E1125" in message


def test_push__children_of_a_rejected_parent_are_quarantined_as_dh402(connector):
    """should quarantine a referral whose case enrollment was rejected in the same batch (E5000)"""
    parent = intake("P-1", "TIP-1", person_age=-3)
    child = referral("TIP-1")
    result = connector.push([parent, child])
    reasons = {q.record_id: q.reason for q in result.quarantined}
    assert reasons == {parent.record_id: "DH400", child.record_id: "DH402"}


def test_push__follow_up_of_an_unknown_case_is_rejected_by_dhis2(connector):
    """should quarantine a referral whose case DHIS2 does not hold (E1033)"""
    result = connector.push([referral("TIP-404")])
    assert [q.problems[0].message.split(":")[0] for q in result.quarantined] == ["E1033"]


def test_push__follow_up_in_a_later_push_joins_the_enrollment(double, connector):
    """should add a later referral as an event of the existing enrollment"""
    connector.push([intake("P-1", "TIP-1")])
    result = connector.push([referral("TIP-1"), referral("TIP-1")])
    assert result.ok
    enrollment = uid_for("enrollment", "TIP-1")
    assert sum(e.enrollment == enrollment for e in double.store.events.values()) == 4


def test_push__record_without_keys_is_quarantined_locally(double, connector):
    """should quarantine a record without person or case key (DH401) without asking DHIS2"""
    result = connector.push([make_record({"person_sex": "female"}, form_id="tip_referral")])
    assert [q.reason for q in result.quarantined] == ["DH401"]
    assert double.requests_to("/api/tracker", "POST") == []


def test_push__never_sends_identifiers_or_immigration_status(double, connector):
    """should keep direct identifiers and immigration status out of every payload"""
    result = connector.push([intake("P-1", "TIP-1")])
    body = double.requests_to("/api/tracker", "POST")[0].body.decode()
    assert "Never Sent" not in body and "irregular" not in body
    assert result.withheld == {"person_given_names": 1, "person_immigration_status": 1}


def test_push__immigration_status_stays_out_even_if_packaged(codebook):
    """should not send immigration status even when a package (wrongly) maps it"""
    package = build_package(codebook, extra_te_attributes={"person_immigration_status": "TEXT"})
    with Dhis2Double("2.42") as double:
        connector = connect(double, codebook, package)
        connector.push([intake("P-1", "TIP-1")])
        body = double.requests_to("/api/tracker", "POST")[0].body.decode()
    assert "irregular" not in body
    assert uid_for("trackedEntityAttribute", "person_immigration_status") not in body


def test_push__policy_withholds_free_text_and_unconsented_values(double, codebook):
    """should send only what the routing policy allows: consent and class per element"""
    connector = connect(double, codebook, policy=load_policy(codebook=codebook))
    connector.install()
    consented = intake("P-1", "TIP-1")
    unconsented = make_record({**intake("P-2", "TIP-2").values}, consent=frozenset())
    result = connector.push([consented, unconsented])
    body = double.requests_to("/api/tracker", "POST")[0].json()
    entities = {te["trackedEntity"]: te for te in body["trackedEntities"]}
    first = entities[uid_for("trackedEntity", "P-1")]
    notes = uid_for("dataElement", "ident_notes")
    assert all(v["dataElement"] != notes for e in first["enrollments"][0]["events"] for v in e["dataValues"])
    assert result.withheld["ident_notes"] == 2
    assert uid_for("trackedEntity", "P-2") not in entities  # nothing may travel, not even the person id
    assert (result.skipped, result.pushed, result.quarantined) == (1, 1, [])


def test_push__batches_requests(double, codebook):
    """should split the records into imports of batch_size records"""
    connector = connect(double, codebook, batch_size=2)
    connector.install()
    result = connector.push(intake(f"P-{i}", f"TIP-{i}") for i in range(5))
    assert result.batches == 3 and len(double.requests_to("/api/tracker", "POST")) == 3
    assert result.pushed == 5 and double.counts()["trackedEntities"] == 5
