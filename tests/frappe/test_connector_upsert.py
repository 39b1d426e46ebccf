"""Pushing canonical records to the casework DocTypes: create, update, lock, refuse, retry."""

from __future__ import annotations

import pytest

from tests.doubles.frappe import FrappeDouble, LoggedRequest
from tests.frappe.conftest import (
    client_for,
    codebook,
    intake_record,
    mapping,
    referral_record,
)
from tipdata.erpnext_casework.connector import (
    CaseworkSync,
    FrappeError,
    FrappePermissionDenied,
)

CASE, IDENTITY, REFERRAL = "TIP Case", "TIP Identity", "TIP Referral"
INSERT_MANY = "/api/method/frappe.client.insert_many"


def writes(site: FrappeDouble) -> list[LoggedRequest]:
    return [r for r in site.requests if r.method in ("POST", "PUT", "DELETE") and r.listed is None]


# --- create -------------------------------------------------------------------------------------

def test_upsert__creates_case_and_identity_named_by_record_id(casework_site, sync):
    """should write the case (no direct identifiers) and its identity, both named by record id"""
    record = intake_record(1)
    result = sync.upsert([record])
    assert result.created == [record.record_id] and not result.quarantined
    case = casework_site.doc(CASE, record.record_id)
    identity = casework_site.doc(IDENTITY, record.record_id)
    assert case["external_id"] == record.record_id and case["case_reference"] == "TIP-2026-0001"
    assert "person_given_names" not in case and "person_phone" not in case
    assert identity["person_given_names"] == "Amina" and identity["tip_case"] == record.record_id
    assert [r["option"] for r in case["expl_palermo_act"]] == ["recruitment", "transportation"]
    assert case["case_opened_date"] == "2026-02-01"
    assert case["person_number_of_children"] == "0"  # a Data field: 0 stays distinct from empty


def test_upsert__new_records_go_in_one_insert_many(casework_site, sync):
    """should send new records' documents in one insert_many, case before identity"""
    records = [intake_record(n) for n in range(1, 6)]
    sync.upsert(records)
    [batch] = writes(casework_site)
    assert batch.path == INSERT_MANY and batch.status == 200
    assert [d["doctype"] for d in batch.body["docs"]][:2] == [CASE, IDENTITY]
    assert len(batch.body["docs"]) == 10


def test_upsert__batches_never_exceed_200_documents(casework_site, sync):
    """should split 150 records (300 documents) into insert_many calls of at most 200"""
    result = sync.upsert([intake_record(n) for n in range(150)])
    sizes = [len(r.body["docs"]) for r in writes(casework_site)]
    assert sizes == [200, 100] and len(result.created) == 150
    assert casework_site.count(CASE) == 150


def test_upsert__referral_finds_its_case_by_case_reference(casework_site, sync):
    """should link a referral to the case whose case_reference it quotes, in the same push"""
    case, referral = intake_record(7), referral_record(1, "TIP-2026-0007")
    result = sync.upsert([referral, case])
    assert sorted(result.created) == sorted([case.record_id, referral.record_id])
    stored = casework_site.doc(REFERRAL, referral.record_id)
    assert stored["tip_case"] == case.record_id
    assert [r["option"] for r in stored["ref_service_type"]] == ["legal_assistance", "safe_accommodation"]


def test_upsert__referral_without_a_known_case_is_quarantined(casework_site, sync):
    """should quarantine (FR405) a referral quoting a case reference no case has"""
    referral = referral_record(1, "TIP-2026-0999")
    result = sync.upsert([referral])
    [kept] = result.quarantined
    assert (kept.reason, kept.record_id, kept.source_id) == ("FR405", referral.record_id, "referral-1")
    assert kept.payload == referral.to_json() and casework_site.count(REFERRAL) == 0


def test_upsert__restricted_values_are_withheld_unless_a_policy_names_them(casework_site, sync):
    """should leave immigration status out, counting it, unless allowed explicitly"""
    record = intake_record(1, person_immigration_status="irregular")
    assert sync.upsert([record]).withheld == {"person_immigration_status": 1}
    assert casework_site.count("TIP Restricted Detail") == 0
    allowing = CaseworkSync(sync.client, mapping(), codebook(),
                            allow_restricted={"person_immigration_status"})
    assert allowing.upsert([record]).updated == [record.record_id]
    detail = casework_site.doc("TIP Restricted Detail", record.record_id)
    assert detail["person_immigration_status"] == "irregular"


def test_upsert__dry_run_reads_only(casework_site, sync):
    """should report what it would create without writing anything"""
    records = [intake_record(1), referral_record(1, "TIP-2026-0001")]
    result = sync.upsert(records, dry_run=True)
    assert sorted(result.created) == sorted(r.record_id for r in records)
    assert writes(casework_site) == [] and casework_site.count(CASE) == 0


# --- update -------------------------------------------------------------------------------------

def test_upsert__update_sends_only_changed_fields_with_modified(casework_site, sync):
    """should PUT only what changed, carrying the `modified` it read"""
    sync.upsert([intake_record(1)])
    before = casework_site.doc(IDENTITY, intake_record(1).record_id)
    casework_site.requests.clear()
    result = sync.upsert([intake_record(1, person_given_names="Amina B.")])
    assert result.updated == [intake_record(1).record_id]
    [put] = writes(casework_site)
    assert put.method == "PUT" and put.path == f"/api/resource/{IDENTITY}/{intake_record(1).record_id}"
    assert put.body == {"person_given_names": "Amina B.", "modified": before["modified"]}


def test_upsert__unchanged_records_write_nothing(casework_site, sync):
    """should not save a document whose values are already those of the record"""
    sync.upsert([intake_record(1), intake_record(2)])
    casework_site.requests.clear()
    result = sync.upsert([intake_record(1), intake_record(2)])
    assert sorted(result.unchanged) == sorted([intake_record(1).record_id, intake_record(2).record_id])
    assert writes(casework_site) == []


def test_upsert__clearing_a_value_and_a_table(casework_site, sync):
    """should clear a field and empty a child table when the record no longer has values"""
    sync.upsert([intake_record(1, case_risk_factors=("debt",))])
    sync.upsert([intake_record(1, case_risk_factors=None, person_phone=None)])
    assert casework_site.doc(CASE, intake_record(1).record_id)["case_risk_factors"] == []
    assert casework_site.doc(IDENTITY, intake_record(1).record_id)["person_phone"] is None


# --- optimistic lock ----------------------------------------------------------------------------

def test_upsert__document_saved_meanwhile_is_read_again_and_kept(casework_site, sync):
    """should retry a stale PUT after reading again, keeping the other user's change"""
    record = intake_record(1)
    sync.upsert([record])
    name = record.record_id

    def caseworker_saves_after_our_read(request: LoggedRequest) -> None:
        if request.listed == CASE:
            casework_site.after_each(None)
            casework_site.edit(CASE, name, case_worker="CW-12")

    casework_site.after_each(caseworker_saves_after_our_read)
    result = sync.upsert([intake_record(1, case_risk_level="high")])
    assert result.updated == [name] and not result.quarantined
    puts = [r for r in writes(casework_site) if r.method == "PUT"]
    assert [p.status for p in puts] == [417, 200]
    stored = casework_site.doc(CASE, name)
    assert (stored["case_risk_level"], stored["case_worker"]) == ("high", "CW-12")


def test_upsert__conflict_that_persists_is_quarantined(casework_site, sync):
    """should quarantine (FR401) a record whose document changes at every attempt"""
    record = intake_record(1)
    sync.upsert([record])

    def always_saves_first(request: LoggedRequest) -> None:
        if request.listed == CASE or (request.method == "GET" and
                                      request.path == f"/api/resource/{CASE}/{record.record_id}"):
            casework_site.edit(CASE, record.record_id)

    casework_site.after_each(always_saves_first)
    result = sync.upsert([intake_record(1, case_risk_level="high")])
    [kept] = result.quarantined
    assert kept.reason == "FR401" and "TimestampMismatchError" in kept.message
    assert "modified after you have opened it" in kept.message


# --- refusals -----------------------------------------------------------------------------------

def test_upsert__server_rule_refusal_quarantines_with_the_rule_in_words(casework_site, sync):
    """should quarantine (FR400) the refused record with the site's message, saving the rest"""
    casework_site.add_rule(CASE, lambda doc: "A case opened before identification needs a note"
                           if doc["case_reference"] == "TIP-2026-0003" else None)
    records = [intake_record(n) for n in range(1, 6)]
    result = sync.upsert(records)
    [kept] = result.quarantined
    assert kept.record_id == records[2].record_id and kept.reason == "FR400"
    assert "HTTP 417 ValidationError: A case opened before identification needs a note" in kept.message
    assert sorted(result.created) == sorted(r.record_id for i, r in enumerate(records) if i != 2)
    assert casework_site.count(CASE) == 4 and casework_site.count(IDENTITY) == 4


def test_upsert__refused_batch_falls_back_record_by_record(casework_site, sync):
    """should send the whole batch once, then each record alone to find the refused one"""
    casework_site.add_rule(IDENTITY, lambda doc: "Phone numbers need a country code"
                           if doc["person_phone"] == "0600" else None)
    records = [intake_record(1), intake_record(2, person_phone="0600"), intake_record(3)]
    sync.upsert(records)
    calls = [(len(r.body["docs"]), r.status) for r in writes(casework_site)]
    assert calls == [(6, 417), (2, 200), (2, 417), (2, 200)]


def test_upsert__document_created_meanwhile_becomes_an_update(casework_site, sync):
    """should treat a 409 DuplicateEntryError on insert as 'exists': read, compare, update"""
    record = intake_record(1)

    def someone_pushes_first(request: LoggedRequest) -> None:
        if request.listed == IDENTITY:
            casework_site.after_each(None)
            casework_site.seed(CASE, {"external_id": record.record_id, "case_reference": "OLD-REF",
                                      "case_status": "active"})

    casework_site.after_each(someone_pushes_first)
    result = sync.upsert([record])
    assert not result.quarantined and result.updated == [record.record_id]
    assert 409 in [r.status for r in writes(casework_site)]
    assert casework_site.doc(CASE, record.record_id)["case_reference"] == "TIP-2026-0001"
    assert casework_site.doc(IDENTITY, record.record_id)["person_given_names"] == "Amina"


def test_upsert__a_batch_refused_permission_stops_the_push(casework_site, sync):
    """should stop with a fix naming the permission when every record is refused (403)"""
    casework_site.deny(IDENTITY, "create")
    with pytest.raises(FrappePermissionDenied) as caught:
        sync.upsert([intake_record(1), intake_record(2)])
    assert caught.value.status == 403 and "Role Permissions Manager" in str(caught.value)
    assert casework_site.count(CASE) == 0  # insert_many rolled each record back


def test_upsert__changing_a_referrals_case_is_refused_by_the_site(casework_site, sync):
    """should quarantine a referral that now quotes another case (the link is set once)"""
    sync.upsert([intake_record(1), intake_record(2), referral_record(1, "TIP-2026-0001")])
    result = sync.upsert([referral_record(1, "TIP-2026-0002")])
    [kept] = result.quarantined
    assert kept.reason == "FR400" and "CannotChangeConstantError" in kept.message


# --- transient failures -------------------------------------------------------------------------

def test_upsert__retries_503_on_reads(casework_site, sync):
    """should retry reads answered 503 and finish the push"""
    casework_site.fail_next(2, 503)
    result = sync.upsert([intake_record(1)])
    assert result.created == [intake_record(1).record_id]
    assert [r.status for r in casework_site.requests[:3]] == [503, 503, 200]


def test_upsert__insert_answer_lost_in_a_502_is_not_duplicated(casework_site, sync):
    """should retry an insert_many whose answer was lost (502 after the commit) without harm"""
    records = [intake_record(1), intake_record(2)]
    result = _push_with_lost_insert(casework_site, sync, records)
    assert not result.quarantined
    assert sorted(result.created + result.unchanged) == sorted(r.record_id for r in records)
    assert casework_site.count(CASE) == 2 and casework_site.count(IDENTITY) == 2
    statuses = [r.status for r in casework_site.requests if r.path == INSERT_MANY]
    assert statuses[:2] == [502, 409]


def _push_with_lost_insert(site: FrappeDouble, sync: CaseworkSync, records: list) -> object:
    """Arrange for the first insert_many to be carried out and its answer lost, then push."""

    def arm(request: LoggedRequest) -> None:
        if request.listed == IDENTITY:
            site.after_each(None)
            site.fail_next(1, 502, after_processing=True)

    site.after_each(arm)
    return sync.upsert(records)


def test_upsert__gives_up_on_a_site_that_stays_unavailable(casework_site):
    """should raise, naming the status and a fix, after the retry budget"""
    client = client_for(casework_site)
    casework_site.fail_next(10, 503)
    with pytest.raises(FrappeError) as caught:
        CaseworkSync(client, mapping(), codebook()).upsert([intake_record(1)])
    assert caught.value.status == 503 and "retry in a few minutes" in str(caught.value)
    assert "Amina" not in str(caught.value)
