"""Audit log and run history: record ids and counts only, never contents."""

from __future__ import annotations

import pytest

from tipdata.ledger import AuditEntry, ContentNotAllowed, Ledger, RunError, Watermark

from .conftest import IMMIGRATION, NAME, PHONE, SOURCE, T0, make_record, raw_table_bytes


def test_audit_moves__one_entry_per_consent_set_with_ids_only(ledger: Ledger) -> None:
    """should group moved records by the purposes used and store ids, counts and policy version."""
    records = [make_record(n) for n in range(1, 4)]
    ledger.ingest_page(SOURCE, records, Watermark(T0))
    moves = [(records[0].record_id, {"statistics"}, 2), (records[1].record_id, {"statistics"}, 1),
             (records[2].record_id, {"service_referral", "statistics"}, 0)]
    with ledger.transaction() as tx:
        written = tx.audit_moves("push", SOURCE, "dhis2", "tipdata-default-1+9aa4fef2", moves)
    entries = ledger.audit_entries(target="dhis2")
    assert written == 2 == len(entries)
    by_purposes = {e.consent_purposes: e for e in entries}
    assert by_purposes[("statistics",)].record_ids == (records[0].record_id, records[1].record_id)
    assert by_purposes[("statistics",)].withheld_count == 3
    assert by_purposes[("service_referral", "statistics")].record_count == 1
    assert {e.policy_version for e in entries} == {"tipdata-default-1+9aa4fef2"}


def test_audit_log__holds_no_contents(ledger: Ledger) -> None:
    """should keep no value of any moved record in the audit table."""
    record = make_record(1)
    ledger.ingest_page(SOURCE, [record], Watermark(T0))
    with ledger.transaction() as tx:
        tx.audit_moves("push", SOURCE, "frappe", "tipdata-default-1", [(record.record_id, {"service_referral"}, 1)])
    stored = raw_table_bytes(ledger, "ledger_audit_log")
    assert record.record_id.encode() in stored
    for plaintext in (NAME, PHONE, IMMIGRATION, "deception", "female"):
        assert plaintext.encode() not in stored


@pytest.mark.parametrize("entry", [
    {"record_ids": (NAME,)},
    {"source": "Amara Okafor"},
    {"policy_version": "v1; name=Amara"},
    {"consent_purposes": ("statistics", "Amara Okafor")},
    {"action": "copied"},
])
def test_audit_entry__refuses_anything_but_ids_and_names(entry: dict) -> None:
    """should refuse an audit entry carrying something that is not a record id, name or code."""
    fields = {"action": "push", "source": SOURCE, "target": "dhis2", **entry}
    with pytest.raises(ContentNotAllowed):
        AuditEntry(**fields)


def test_runs__start_and_finish_with_counts_and_errors(ledger: Ledger) -> None:
    """should keep a run's start, end, counts per system and coded errors."""
    record = make_record(1)
    run_id = ledger.start_run()
    assert ledger.runs()[0].status == "running"
    ledger.finish_run(run_id, "partial", {SOURCE: {"pulled": 3, "quarantined": 1}, "dhis2": {"pushed": 2}},
                      [RunError("http_503", "dhis2", record.record_id, 503)])
    [run] = ledger.runs()
    assert run.run_id == run_id and run.status == "partial"
    assert run.ended_at is not None and run.ended_at >= run.started_at
    assert run.counts == {SOURCE: {"pulled": 3, "quarantined": 1}, "dhis2": {"pushed": 2}}
    assert run.errors == (RunError("http_503", "dhis2", record.record_id, 503),)


def test_finish_run__refuses_contents_in_counts_or_errors(ledger: Ledger) -> None:
    """should refuse counts that are not numbers and errors whose record id is not an id."""
    run_id = ledger.start_run()
    with pytest.raises(ContentNotAllowed):
        ledger.finish_run(run_id, "failed", {SOURCE: {"pulled": NAME}})  # type: ignore[dict-item]
    with pytest.raises(ContentNotAllowed):
        ledger.finish_run(run_id, "failed", {}, [RunError("RC201", SOURCE, NAME)])
    assert ledger.runs()[0].status == "running"
