"""Watermarks advance only in the same transaction as the writes they cover."""

from __future__ import annotations

import datetime as dt

import pytest

from tipdata.ledger import Ledger, QuarantineItem, RecordConflict, Watermark, WatermarkRewind

from .conftest import SOURCE, T0, make_record


class SimulatedCrash(Exception):
    """Stands for anything that can go wrong between the writes and the commit."""


def test_advance_watermark__failure_mid_transaction_advances_nothing(ledger: Ledger) -> None:
    """should keep records, quarantine and watermark at their old state when the block raises."""
    ledger.ingest_page(SOURCE, [make_record(1)], Watermark(T0, cursor="1"))
    with pytest.raises(SimulatedCrash):
        with ledger.transaction() as tx:
            tx.upsert_records([make_record(2), make_record(3)])
            tx.quarantine(QuarantineItem(SOURCE, "uuid:bad", "RC201", "bad", b"<x/>"))
            tx.advance_watermark(SOURCE, Watermark(T0 + dt.timedelta(hours=1), cursor="3"))
            raise SimulatedCrash
    assert ledger.watermark(SOURCE) == Watermark(T0, cursor="1")
    assert ledger.count_records() == 1
    assert ledger.get_record(make_record(2).record_id) is None
    assert ledger.quarantined() == []


def test_ingest_page__database_error_in_batch_advances_nothing(ledger: Ledger) -> None:
    """should leave the watermark where it was when one write of the page fails in the database."""
    first = make_record(1)
    ledger.ingest_page(SOURCE, [first], Watermark(T0))
    clash = make_record(2).model_copy(update={"envelope": first.envelope.model_copy(
        update={"record_id": make_record(2).record_id})})  # a second id for the same source record
    with pytest.raises(RecordConflict, match="record_id_for"):
        ledger.ingest_page(SOURCE, [make_record(3), clash], Watermark(T0 + dt.timedelta(hours=2)))
    assert ledger.watermark(SOURCE) == Watermark(T0)
    assert ledger.get_record(make_record(3).record_id) is None


def test_ingest_page__success_advances_with_the_records(ledger: Ledger) -> None:
    """should store the page and the new watermark together."""
    later = Watermark(T0 + dt.timedelta(minutes=10), cursor="42")
    outcome = ledger.ingest_page(SOURCE, [make_record(1), make_record(2)], later)
    assert len(outcome.inserted) == 2
    assert ledger.watermark(SOURCE) == later


def test_advance_watermark__backwards_is_refused(ledger: Ledger) -> None:
    """should refuse to move a watermark back unless the rewind is asked for explicitly."""
    ledger.ingest_page(SOURCE, [], Watermark(T0, cursor="b"))
    with pytest.raises(WatermarkRewind, match="allow_rewind"):
        with ledger.transaction() as tx:
            tx.advance_watermark(SOURCE, Watermark(T0, cursor="a"))
    assert ledger.watermark(SOURCE) == Watermark(T0, cursor="b")
    with ledger.transaction() as tx:
        tx.advance_watermark(SOURCE, Watermark(T0 - dt.timedelta(days=7)), allow_rewind=True)
    assert ledger.watermark(SOURCE) == Watermark(T0 - dt.timedelta(days=7))


def test_watermark__same_instant_other_offset_is_equal(ledger: Ledger) -> None:
    """should store watermarks as instants: 12:00+02:00 equals 10:00 UTC on both engines."""
    plus_two = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    ledger.ingest_page(SOURCE, [], Watermark(plus_two))
    stored = ledger.watermark(SOURCE)
    assert stored == Watermark(T0) and stored is not None and stored.at.utcoffset() == dt.timedelta(0)


def test_advance_watermark__row_numbers_order_as_numbers(ledger: Ledger) -> None:
    """should order Kobo-style `_id` watermarks numerically (10 after 9), refusing 9 after 10."""
    ledger.ingest_page(SOURCE, [], Watermark(number=9))
    ledger.ingest_page(SOURCE, [], Watermark(number=10))
    with pytest.raises(WatermarkRewind, match="#10"):
        ledger.ingest_page(SOURCE, [], Watermark(number=9))
    assert ledger.watermark(SOURCE) == Watermark(number=10)


def test_advance_watermark__concurrent_lower_write_cannot_rewind(ledger: Ledger) -> None:
    """should leave a higher stored watermark in place even if the Python check is bypassed."""
    ledger.ingest_page(SOURCE, [], Watermark(T0, number=5))
    with ledger.transaction() as tx:
        tx.watermark = lambda source, for_update=False: None  # as if another writer got in first
        tx.advance_watermark(SOURCE, Watermark(T0, number=4))
    assert ledger.watermark(SOURCE) == Watermark(T0, number=5)
