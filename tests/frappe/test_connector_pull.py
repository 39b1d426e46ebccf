"""Pulling changed casework documents back as canonical records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.frappe.conftest import (
    client_for,
    codebook,
    intake_record,
    mapping,
    referral_record,
)
from tipdata.erpnext_casework.connector import CaseworkSync
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord

CASE, IDENTITY, REFERRAL = "TIP Case", "TIP Identity", "TIP Referral"


def keep_consent_coverage(doc: dict[str, Any]) -> None:
    """What the casework app's controller does: consent_covers_<purpose> from the answers."""
    for purpose in ("service_referral", "law_enforcement", "statistics", "follow_up_contact"):
        doc[f"consent_covers_{purpose}"] = int(doc.get(f"consent_{purpose}") == "yes")


def by_id(items: list[Any]) -> dict[str, Any]:
    return {item.record_id: item for item in items}


def test_pull__round_trip_gives_back_the_pushed_values(casework_site, sync):
    """should pull a pushed case (with its identity) and referral with the same values and ids"""
    case, referral = intake_record(1), referral_record(1, "TIP-2026-0001")
    sync.upsert([case, referral])
    pulled = by_id(list(sync.pull(None)))
    assert set(pulled) == {case.record_id, referral.record_id}
    for original in (case, referral):
        got = pulled[original.record_id]
        assert isinstance(got, CanonicalRecord)
        assert {k: got.values.get(k) for k in original.values} == original.values
        extra = set(got.values) - set(original.values)
        # Check fields cannot be empty on Frappe: an unanswered boolean comes back false
        assert all(codebook().elements[c].type == "boolean" and got.values[c] is False for c in extra)
    got_case = pulled[case.record_id]
    assert got_case.envelope.source_system.startswith("frappe:127.0.0.1:")
    assert got_case.envelope.source_id == f"{CASE}/{case.record_id}"


def test_pull__timestamps_are_utc_and_consent_comes_from_the_case(casework_site, sync, clock):
    """should stamp records with the site's save time in UTC and the case's consent coverage"""
    casework_site.add_hook(CASE, keep_consent_coverage)
    clock.current = dt.datetime(2026, 3, 2, 23, 45, 0, 250000, tzinfo=dt.UTC)
    clock.step = dt.timedelta(0)
    sync.upsert([intake_record(1), referral_record(1, "TIP-2026-0001")])
    for record in sync.pull(None):
        assert record.envelope.updated_at == dt.datetime(2026, 3, 2, 23, 45, 0, 250000, tzinfo=dt.UTC)
        assert record.envelope.consent_purposes == {"service_referral", "statistics",
                                                    "follow_up_contact"}


def test_pull__since_returns_only_later_changes(casework_site, sync, clock):
    """should leave out documents saved before `since`"""
    sync.upsert([intake_record(1)])
    since = clock.current
    sync.upsert([intake_record(2)])
    assert [r.record_id for r in sync.pull(since)] == [intake_record(2).record_id]


def test_pull__an_identity_edit_brings_back_its_case_record(casework_site, sync, clock):
    """should pull the case record when only its TIP Identity was edited on the site"""
    record = intake_record(1)
    sync.upsert([record, intake_record(2)])
    since = clock.current
    casework_site.edit(IDENTITY, record.record_id, person_given_names="Amina K.")
    [pulled] = list(sync.pull(since))
    assert pulled.record_id == record.record_id
    assert pulled.values["person_given_names"] == "Amina K."


def test_pull__a_document_outside_the_codebook_is_quarantined(casework_site, sync):
    """should quarantine (FR404) a document holding a code the codebook does not have"""
    referral = referral_record(1, "TIP-2026-0001")
    sync.upsert([intake_record(1), referral])
    casework_site.edit(REFERRAL, referral.record_id, ref_urgency="whenever")
    pulled = by_id(list(sync.pull(None)))
    kept = pulled[referral.record_id]
    assert isinstance(kept, QuarantinedRecord) and kept.reason == "FR404"
    assert kept.problems[0].element == "ref_urgency" and "'whenever'" in kept.message
    assert kept.payload["document"]["ref_urgency"] == "whenever"
    assert isinstance(pulled[intake_record(1).record_id], CanonicalRecord)


def test_pull__restricted_detail_stays_on_the_site_unless_allowed(casework_site):
    """should leave immigration status out of pulled records unless the policy names it"""
    allowing = CaseworkSync(client_for(casework_site), mapping(), codebook(),
                            allow_restricted={"person_immigration_status"})
    record = intake_record(1, person_immigration_status="irregular")
    allowing.upsert([record])
    plain = CaseworkSync(client_for(casework_site), mapping(), codebook())
    [pulled] = list(plain.pull(None))
    assert "person_immigration_status" not in pulled.values
    [pulled] = list(allowing.pull(None))
    assert pulled.values["person_immigration_status"] == "irregular"


def test_pull__a_case_created_in_the_desk_gets_a_frappe_source(casework_site, sync):
    """should give a document tipdata never wrote the site as its source"""
    casework_site.seed(CASE, {"external_id": "CASE-DESK-1", "case_reference": "TIP-2026-0100",
                              "case_status": "active"})
    [pulled] = list(sync.pull(None))
    assert pulled.record_id == "CASE-DESK-1" and pulled.values["case_status"] == "active"
    assert pulled.envelope.source_id == f"{CASE}/CASE-DESK-1"
