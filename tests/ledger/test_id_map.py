"""The id map: a record's id on each platform, with that platform's last-seen version."""

from __future__ import annotations

import datetime as dt

import pytest

from tipdata.ledger import IdLink, Ledger, RecordConflict, Watermark

from .conftest import SOURCE, T0, make_record


def test_link__maps_both_ways(ledger: Ledger) -> None:
    """should find a platform id from the record id and the record id from the platform id."""
    record = make_record(1)
    modified = T0 + dt.timedelta(minutes=3)
    with ledger.transaction() as tx:
        tx.upsert_records([record])
        tx.link([IdLink(record.record_id, "dhis2", "Tei0000001a", platform_modified=modified),
                 IdLink(record.record_id, "frappe", "TIP-CASE-0001", platform_version="2")])
    links = ledger.links(record.record_id)
    assert set(links) == {"dhis2", "frappe"}
    assert links["dhis2"].platform_id == "Tei0000001a"
    assert links["dhis2"].platform_modified == modified
    assert links["frappe"].platform_version == "2"
    found = ledger.link_for("frappe", "TIP-CASE-0001")
    assert found is not None and found.record_id == record.record_id
    assert ledger.link_for("frappe", "TIP-CASE-9999") is None


def test_link__relink_updates_and_keeps_unknown_fields(ledger: Ledger) -> None:
    """should update a link in place, keeping stored fields that the new link leaves as None."""
    record = make_record(1)
    ledger.ingest_page(SOURCE, [record], Watermark(T0))
    with ledger.transaction() as tx:
        tx.link(IdLink(record.record_id, "dhis2", "Tei0000001a", platform_version="1", synced_hash="h1"))
    with ledger.transaction() as tx:
        tx.link(IdLink(record.record_id, "dhis2", "Tei0000001a", platform_version="2"))
    link = ledger.links(record.record_id)["dhis2"]
    assert (link.platform_version, link.synced_hash) == ("2", "h1")


def test_link__platform_id_of_another_record_conflicts(ledger: Ledger) -> None:
    """should refuse to link one platform id to two records, and roll the transaction back."""
    first, second = make_record(1), make_record(2)
    ledger.ingest_page(SOURCE, [first, second], Watermark(T0))
    with ledger.transaction() as tx:
        tx.link(IdLink(first.record_id, "dhis2", "Tei0000001a"))
    with pytest.raises(RecordConflict, match="already linked"):
        with ledger.transaction() as tx:
            tx.link(IdLink(second.record_id, "dhis2", "Tei0000001a"))
    assert ledger.links(second.record_id) == {}


def test_link__unknown_record_is_refused(ledger: Ledger) -> None:
    """should refuse a link for a record id that is not in the ledger (foreign key)."""
    with pytest.raises(RecordConflict, match="upsert the record before linking"):
        with ledger.transaction() as tx:
            tx.link(IdLink(make_record(9).record_id, "dhis2", "Tei0000009a"))
