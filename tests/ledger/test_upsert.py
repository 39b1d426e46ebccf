"""Idempotent upserts keyed by record id, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from tipdata.ledger import Ledger, RecordConflict, Watermark
from tipdata.records import CanonicalRecord, Envelope

from .conftest import NAME, SOURCE, T0, make_record


def test_upsert_records__same_batch_twice_is_unchanged(ledger: Ledger) -> None:
    """should insert a batch once and report every record unchanged when it is upserted again."""
    batch = [make_record(n) for n in range(1, 6)]
    with ledger.transaction() as tx:
        first = tx.upsert_records(batch)
    with ledger.transaction() as tx:
        second = tx.upsert_records(batch)
    assert sorted(first.inserted) == sorted(r.record_id for r in batch)
    assert first.updated == () and first.unchanged == ()
    assert sorted(second.unchanged) == sorted(r.record_id for r in batch)
    assert second.written == ()
    assert ledger.count_records() == 5


def test_upsert_records__round_trip_keeps_typed_values(ledger: Ledger) -> None:
    """should give back the record's values with their element types (dates, tuples, ints)."""
    record = make_record(1)
    ledger.ingest_page(SOURCE, [record], Watermark(T0))
    stored = ledger.get_record(record.record_id)
    assert stored is not None
    assert stored.values == record.values
    assert stored.envelope.consent_purposes == record.envelope.consent_purposes
    assert stored.envelope.updated_at == T0 and stored.envelope.updated_at.tzinfo is not None


def test_upsert_records__changed_value_updates(ledger: Ledger) -> None:
    """should report a record whose values changed as updated and store the new value."""
    ledger.ingest_page(SOURCE, [make_record(1)], Watermark(T0))
    later = T0 + dt.timedelta(hours=1)
    with ledger.transaction() as tx:
        outcome = tx.upsert_records([make_record(1, updated_at=later, person_given_names="Ngozi")])
    assert outcome.updated == (make_record(1).record_id,)
    stored = ledger.get_record(make_record(1).record_id)
    assert stored is not None and stored.values["person_given_names"] == "Ngozi"


def test_upsert_records__consent_change_is_a_change(ledger: Ledger) -> None:
    """should treat a change of consent purposes as a change of content (hash differs)."""
    ledger.ingest_page(SOURCE, [make_record(1)], Watermark(T0))
    before = ledger.content_hash(make_record(1).record_id)
    with ledger.transaction() as tx:
        outcome = tx.upsert_records([make_record(1, consent=("statistics",))])
    assert len(outcome.updated) == 1
    assert ledger.content_hash(make_record(1).record_id) != before


def test_upsert_records__older_version_never_overwrites(ledger: Ledger) -> None:
    """should refuse (as stale) a version older than the stored one, keeping the newer values."""
    newer = make_record(1, updated_at=T0 + dt.timedelta(days=1), person_given_names="Newer")
    ledger.ingest_page(SOURCE, [newer], Watermark(T0))
    with ledger.transaction() as tx:
        outcome = tx.upsert_records([make_record(1, updated_at=T0, person_given_names="Older")])
    assert outcome.stale == (newer.record_id,)
    stored = ledger.get_record(newer.record_id)
    assert stored is not None and stored.values["person_given_names"] == "Newer"


def test_upsert_records__duplicate_in_one_batch_keeps_newest(ledger: Ledger) -> None:
    """should keep the newest of two versions of one record given in the same batch."""
    old = make_record(1, updated_at=T0, person_age=16)
    new = make_record(1, updated_at=T0 + dt.timedelta(minutes=5), person_age=17)
    with ledger.transaction() as tx:
        outcome = tx.upsert_records([new, old])
    assert outcome.inserted == (new.record_id,)
    stored = ledger.get_record(new.record_id)
    assert stored is not None and stored.values["person_age"] == 17


def test_upsert_records__same_source_other_record_id_conflicts(ledger: Ledger) -> None:
    """should raise RecordConflict when a second record id claims an already stored source record."""
    first = make_record(1)
    ledger.ingest_page(SOURCE, [first], Watermark(T0))
    impostor = CanonicalRecord(
        envelope=Envelope(**{**first.envelope.model_dump(), "record_id": "00000000-0000-4000-8000-000000000001"}),
        values={"person_age": 3})
    with pytest.raises(RecordConflict, match="record_id_for"):
        with ledger.transaction() as tx:
            tx.upsert_records([impostor])
    assert ledger.count_records() == 1


def test_iter_records__pages_through_everything(ledger: Ledger) -> None:
    """should yield every record once across pages, and only recent ones when asked."""
    batch = [make_record(n, updated_at=T0 + dt.timedelta(minutes=n)) for n in range(1, 8)]
    ledger.ingest_page(SOURCE, batch, Watermark(T0))
    everything = list(ledger.iter_records(batch_size=3))
    recent = list(ledger.iter_records(updated_since=T0 + dt.timedelta(minutes=5), batch_size=2))
    assert sorted(r.record_id for r in everything) == sorted(r.record_id for r in batch)
    assert {r.record_id for r in recent} == {r.record_id for r in batch[4:]}
    assert all(r.values["person_given_names"] == NAME for r in everything)
