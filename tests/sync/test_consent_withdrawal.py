"""Consent withdrawn after a record was sent: the engine takes it back from the targets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.sync.conftest import NAME, PHONE, Platforms, codebook
from tests.sync.test_sync_doubles import dhis2_values, frappe_writes
from tipdata.ledger import Ledger
from tipdata.policy import DEFAULT_POLICY_PATH, decide, load_policy
from tipdata.records import CanonicalRecord, Envelope, record_id_for
from tipdata.sync.apply import RETRACT_ACTION
from tipdata.sync.conflicts import consent_from_answers
from tipdata.sync.consent_withdrawal import (
    RETRACTED_ID_PREFIX,
    granted_purposes,
    platform_id_to_delete,
    retraction_codes,
)
from tipdata.sync.ledger_reads import find_audit

CASE, IDENTITY = "TIP Case", "TIP Identity"
T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)


def withdraw(platforms: Platforms, record_id: str, *purposes: str) -> None:
    """A caseworker records in Frappe that the person withdrew consent for `purposes`."""
    platforms.clients()["frappe"].update(CASE, record_id, {
        "consent_withdrawn": "yes", "consent_withdrawn_purposes": [{"option": p} for p in purposes],
        "consent_withdrawn_date": "2026-02-20"}, modified=None)


def sensitive_codes(values: dict[str, Any]) -> set[str]:
    return {c for c in values if codebook().elements[c].sensitivity == "sensitive"}


# --- pure rules ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def policy():
    return load_policy(codebook=codebook())


def record(values: dict[str, Any], consent: set[str]) -> CanonicalRecord:
    return CanonicalRecord(envelope=Envelope(
        record_id=record_id_for("kobo:aSource1", "7"), source_system="kobo:aSource1", source_id="7",
        form_id="tip_case_intake", collected_at=T0, updated_at=T0, consent_purposes=frozenset(consent)),
        values=values)


def test_consent_from_answers__withdrawals_as_the_casework_app_counts_them():
    """should subtract withdrawn purposes, and every purpose when data_recording is withdrawn or refused"""
    answers = {"consent_statistics": "yes", "consent_service_referral": "yes", "consent_withdrawn": "yes"}
    assert consent_from_answers(codebook(), {**answers, "consent_withdrawn_purposes": ("statistics",)}) \
        == frozenset({"service_referral"})
    assert consent_from_answers(codebook(), {**answers, "consent_withdrawn_purposes": ("data_recording",)}) \
        == frozenset()
    assert consent_from_answers(codebook(), {**answers, "consent_withdrawn": "no",
                                             "consent_withdrawn_purposes": ("statistics",)}) \
        == frozenset({"service_referral", "statistics"})
    assert consent_from_answers(codebook(), {"consent_statistics": "yes", "consent_data_recording": "no"}) \
        == frozenset()


def test_retraction_codes__only_values_the_withdrawn_consent_had_allowed(policy):
    """should name the sensitive values DHIS2 received under statistics consent, and nothing when nothing was withdrawn"""
    values = {"consent_statistics": "yes", "consent_service_referral": "yes", "case_status": "active",
              "expl_palermo_act": ("recruitment",), "person_given_names": NAME}
    withdrawn = record(values, {"service_referral"})
    codes = retraction_codes(withdrawn, decide(withdrawn, "dhis2", policy, codebook()), policy, codebook())
    assert codes == ("expl_palermo_act",)  # not the name: DHIS2 never takes direct identifiers
    never_given = record({**values, "consent_statistics": "no"}, {"service_referral"})
    assert retraction_codes(never_given, decide(never_given, "dhis2", policy, codebook()), policy,
                            codebook()) == ()
    assert granted_purposes(codebook(), values) == frozenset({"statistics", "service_referral"})


def test_platform_id_to_delete__only_for_retracted_links():
    """should recover the platform id from a retracted link, and nothing from other links"""
    assert platform_id_to_delete(f"{RETRACTED_ID_PREFIX}TIP Case/abc") == "TIP Case/abc"
    assert platform_id_to_delete("withheld/abc") is None and platform_id_to_delete("TIP Case/abc") is None


# --- end to end over the doubles ------------------------------------------------------------------


def two_intakes_synced(platforms: Platforms, session_for) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Intakes 1 and 2 synced once: the session, and DHIS2's values of each person then."""
    platforms.add_intake(1)
    platforms.add_intake(2)
    session = session_for()
    assert session.engine.run().errors == []
    values = dhis2_values(platforms)
    return session, values["P-00001"], values["P-00002"]

def test_sync__withdrawn_statistics_consent_empties_dhis2_values(platforms: Platforms, session_for,
                                                                 ledger: Ledger):
    """should delete from DHIS2 the sensitive values sent under statistics consent, audit it, and leave Frappe alone"""
    session, before, other = two_intakes_synced(platforms, session_for)
    assert sensitive_codes(before)
    record_id = platforms.record_id(1)
    withdraw(platforms, record_id, "statistics")
    dry = session.engine.run(dry_run=True)
    assert dry.targets["dhis2"].retracted == {"values_blanked": 1}
    frappe_before = len(frappe_writes(platforms))
    plan = session.engine.run()
    assert plan.errors == []
    assert plan.targets["dhis2"].retracted == {"values_blanked": 1} and plan.targets["dhis2"].updated == 1
    assert plan.targets["frappe"].retracted == {} and len(frappe_writes(platforms)) == frappe_before
    after = dhis2_values(platforms)
    assert sensitive_codes(after["P-00001"]) == set()
    assert after["P-00001"]["case_status"] == before["case_status"]  # what consent still covers stays
    assert after["P-00002"] == other  # another person's record is untouched
    with ledger.reading() as tx:
        [entry] = [r.entry for r in find_audit(tx, record_id=record_id, action=RETRACT_ACTION)]
    assert entry.target == "dhis2" and entry.withheld_count == len(sensitive_codes(before))
    assert "statistics" not in entry.consent_purposes and entry.consent_purposes
    requests = len(platforms.dhis2.requests_to("/api/tracker", "POST"))
    again = session.engine.run()
    assert again.targets["dhis2"].retracted == {} and \
        len(platforms.dhis2.requests_to("/api/tracker", "POST")) == requests


def test_sync__withdrawing_the_record_retracts_it_whole_and_names_what_to_delete(
        platforms: Platforms, session_for, ledger: Ledger):
    """should send nothing more, mark the record retracted on both targets, audit it, and list the platform ids to delete"""
    platforms.add_intake(1)
    session = session_for()
    assert session.engine.run().errors == []
    record_id = platforms.record_id(1)
    withdraw(platforms, record_id, "data_recording")
    dry = session.engine.run(dry_run=True)
    assert dry.targets["frappe"].retracted == {"delete_on_platform": 1}
    assert dry.targets["frappe"].to_delete == [f"{CASE}/{record_id}"]
    frappe_before = len(frappe_writes(platforms))
    dhis2_before = len(platforms.dhis2.requests_to("/api/tracker", "POST"))
    plan = session.engine.run()
    assert plan.errors == []
    for target, platform_id in (("frappe", f"{CASE}/{record_id}"), ("dhis2", record_id)):
        tally = plan.targets[target]
        assert (tally.retracted, tally.to_delete, tally.updated) == ({"delete_on_platform": 1}, [platform_id], 0)
        link = ledger.links(record_id)[target]
        assert link.platform_id == f"{RETRACTED_ID_PREFIX}{platform_id}"
        assert platform_id_to_delete(link.platform_id) == platform_id
    assert len(frappe_writes(platforms)) == frappe_before
    assert len(platforms.dhis2.requests_to("/api/tracker", "POST")) == dhis2_before
    with ledger.reading() as tx:
        entries = [r.entry for r in find_audit(tx, record_id=record_id, action=RETRACT_ACTION)]
    assert sorted(e.target for e in entries) == ["dhis2", "frappe"]
    assert all(e.consent_purposes == () for e in entries)  # nothing may remain
    again = session.engine.run()
    assert all(t.retracted == {} for t in again.targets.values())


def test_sync__withdrawn_contact_consent_blanks_identifiers_on_frappe(platforms: Platforms, session_for,
                                                                     ledger: Ledger, tmp_path: Path):
    """should set to null on Frappe the direct identifiers a policy sends under follow-up consent only"""
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
        'direct_identifier = ["service_referral", "follow_up_contact"]',
        'direct_identifier = ["follow_up_contact"]'), encoding="utf-8")
    platforms.add_intake(1)
    session = session_for(policy_file=policy)
    assert session.engine.run().errors == []
    record_id = platforms.record_id(1)
    assert platforms.frappe.doc(IDENTITY, record_id)["person_phone"] == PHONE
    withdraw(platforms, record_id, "follow_up_contact")
    plan = session.engine.run()
    assert plan.errors == [] and plan.targets["frappe"].retracted == {"values_blanked": 1}
    identity = platforms.frappe.doc(IDENTITY, record_id)
    assert identity["person_phone"] in (None, "") and identity["person_given_names"] in (None, "")
    assert platforms.frappe.doc(CASE, record_id)["case_status"] == "active"
    assert ledger.get_record(record_id).values["person_phone"] == PHONE  # the ledger keeps its copy
    writes = len(frappe_writes(platforms))
    again = session.engine.run()
    assert again.targets["frappe"].retracted == {} and len(frappe_writes(platforms)) == writes
