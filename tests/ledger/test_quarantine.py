"""Quarantine: bad source records kept (sealed), counted on retry, closed when they ingest."""

from __future__ import annotations

import json
from types import SimpleNamespace

from tipdata.ledger import Ledger, QuarantineItem, Watermark

from .conftest import NAME, SOURCE, T0, make_record, raw_table_bytes

PAYLOAD = f'{{"_id": 7, "person_given_names": "{NAME}", "person_age": "seventeen"}}'.encode()
MESSAGE = f"person_age: expected a whole number, got 'seventeen' (name {NAME})"


def test_quarantine__round_trip_opens_message_and_payload(ledger: Ledger) -> None:
    """should give back the exact message and raw payload of a quarantined record."""
    with ledger.transaction() as tx:
        quarantine_id = tx.quarantine(QuarantineItem(SOURCE, "uuid:7", "RC201", MESSAGE, PAYLOAD))
    [entry] = ledger.quarantined()
    assert (entry.id, entry.source, entry.source_id, entry.reason_code) == (quarantine_id, SOURCE, "uuid:7", "RC201")
    assert entry.retried_count == 0 and entry.resolved_at is None
    contents = ledger.quarantined_contents(quarantine_id)
    assert contents.raw_payload == PAYLOAD
    assert contents.message == MESSAGE


def test_quarantine__raw_payload_is_encrypted_on_disk(ledger: Ledger) -> None:
    """should store neither the payload's nor the message's plaintext in the quarantine table."""
    with ledger.transaction() as tx:
        tx.quarantine(QuarantineItem(SOURCE, "uuid:7", "RC201", MESSAGE, PAYLOAD))
    stored = raw_table_bytes(ledger, "ledger_quarantine")
    assert b"RC201" in stored  # the reason code stays readable for triage
    assert NAME.encode() not in stored
    assert b"seventeen" not in stored
    assert PAYLOAD not in stored


def test_quarantine__again_counts_a_retry(ledger: Ledger) -> None:
    """should keep one entry per source record and count each further failure as a retry."""
    for reason in ("RC201", "RC204", "RC204"):
        with ledger.transaction() as tx:
            tx.quarantine(QuarantineItem(SOURCE, "uuid:7", reason, MESSAGE, PAYLOAD + reason.encode()))
    [entry] = ledger.quarantined()
    assert entry.retried_count == 2
    assert entry.reason_code == "RC204"
    assert ledger.quarantined_contents(entry.id).raw_payload == PAYLOAD + b"RC204"


def test_quarantine__clean_ingest_resolves_the_entry(ledger: Ledger) -> None:
    """should close the open quarantine entry when the same source record later ingests cleanly."""
    record = make_record(7)
    with ledger.transaction() as tx:
        tx.quarantine(QuarantineItem(SOURCE, record.envelope.source_id, "RC201", MESSAGE, PAYLOAD))
    ledger.ingest_page(SOURCE, [record], Watermark(T0))
    assert ledger.quarantined() == []
    [closed] = ledger.quarantined(include_resolved=True)
    assert closed.resolution == "ingested" and closed.resolved_at is not None


def test_resolve_quarantined__by_hand(ledger: Ledger) -> None:
    """should close an entry once and report False when nothing open is left to close."""
    with ledger.transaction() as tx:
        tx.quarantine(QuarantineItem(SOURCE, "uuid:7", "RC201", MESSAGE, PAYLOAD))
    with ledger.transaction() as tx:
        first = tx.resolve_quarantined(SOURCE, "uuid:7", "discarded")
        second = tx.resolve_quarantined(SOURCE, "uuid:7", "discarded")
    assert (first, second) == (True, False)
    assert ledger.quarantined(include_resolved=True)[0].resolution == "discarded"


def test_quarantine_item__from_a_connector_quarantined_record(ledger: Ledger) -> None:
    """should store a connector's quarantined record (mapping payload) as sealed JSON bytes."""
    connector_side = SimpleNamespace(source_system=SOURCE, source_id=16, reason="RC203",
                                     message="RC203 person_sex: a value is required",
                                     payload={"_id": 16, "person_given_names": NAME})
    with ledger.transaction() as tx:
        quarantine_id = tx.quarantine(QuarantineItem.from_quarantined(connector_side))
    contents = ledger.quarantined_contents(quarantine_id)
    assert json.loads(contents.raw_payload) == {"_id": 16, "person_given_names": NAME}
    assert ledger.quarantined()[0].source_id == "16"
    assert NAME.encode() not in raw_table_bytes(ledger, "ledger_quarantine")


def test_quarantine__clean_unchanged_version_also_resolves(ledger: Ledger) -> None:
    """should close a quarantined edit when the source goes back to the version already stored."""
    record = make_record(7)
    ledger.ingest_page(SOURCE, [record], Watermark(T0))
    with ledger.transaction() as tx:
        tx.quarantine(QuarantineItem(SOURCE, record.envelope.source_id, "RC201", MESSAGE, PAYLOAD))
    with ledger.transaction() as tx:
        assert tx.upsert_records([record]).unchanged == (record.record_id,)
    assert ledger.quarantined() == []
