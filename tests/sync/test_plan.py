"""What a target receives of a ledger record: `plan_write` (pure) and the plan's numbers."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.sync.conftest import IMMIGRATION, NAME, codebook, intake_values
from tipdata.ledger import IdLink, RunError
from tipdata.policy import load_policy
from tipdata.records import CanonicalRecord, Envelope, record_id_for
from tipdata.sync.plan import SyncPlan, plan_write

T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def policy():
    return load_policy(codebook=codebook())


def intake(consent: frozenset[str]) -> CanonicalRecord:
    rid = record_id_for("kobo:aSource1", "1")
    return CanonicalRecord(envelope=Envelope(record_id=rid, source_system="kobo:aSource1", source_id="1",
                                             form_id="tip_case_intake", collected_at=T0, updated_at=T0,
                                             consent_purposes=consent),
                           values=intake_values(1))


def test_plan_write__sends_only_what_decide_allows(policy):
    """should hand DHIS2 no name and no immigration status, with the reasons they were withheld"""
    step = plan_write(intake(frozenset({"service_referral", "statistics"})), "h1", None, "dhis2",
                      policy, codebook())
    values = step.outbound.record.values
    assert step.kind == "new"
    assert "person_given_names" not in values and "person_immigration_status" not in values
    assert NAME not in values.values() and IMMIGRATION not in values.values()
    withheld = dict(step.outbound.decision.withheld)
    assert withheld["person_given_names"] == "direct_identifier_not_allowed"
    assert withheld["person_immigration_status"] == "restricted_not_named"
    assert step.outbound.content_hash == "h1"


def test_plan_write__nothing_allowed_is_withheld_with_a_reason(policy):
    """should withhold a record of which nothing may travel, naming the commonest reason"""
    step = plan_write(intake(frozenset()), "h1", None, "frappe", policy, codebook())
    assert (step.kind, step.reason) == ("withheld", "consent_missing")
    assert step.outbound.record.values == {}


def test_plan_write__linked_record_is_an_update(policy):
    """should plan an update for a record the target holds, and a creation after a withheld mark"""
    record = intake(frozenset({"service_referral"}))
    linked = IdLink(record.record_id, "frappe", f"TIP Case/{record.record_id}", synced_hash="old")
    withheld = IdLink(record.record_id, "frappe", f"withheld/{record.record_id}", synced_hash="old")
    assert plan_write(record, "new", linked, "frappe", policy, codebook()).kind == "updated"
    assert plan_write(record, "new", withheld, "frappe", policy, codebook()).kind == "new"


def test_sync_plan__status_and_counts():
    """should call a run with a failed target partial, and count per system for the run history"""
    plan = SyncPlan(False, "v1")
    plan.source("kobo:a1").new = 3
    plan.target("frappe").quarantined["FR400"] += 2
    assert plan.status == "succeeded"
    plan.errors.append(RunError("FrappeError", "frappe", status=503))
    assert plan.status == "partial"
    plan.errors.append(RunError("KoboError", "kobo:a1"))
    assert plan.status == "failed"
    counts = plan.run_counts()
    assert counts["kobo:a1"]["new"] == 3 and counts["frappe"]["quarantined"] == 2
    assert plan.to_json()["targets"]["frappe"]["quarantine_reasons"] == {"FR400": 2}
