"""Migration 3 (consent purposes held by each copy): a version-2 ledger opens, keeps its links
(their held purposes unknown), and its id map matches schema.py, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, Table, insert

from tipdata.ledger import IdLink, Ledger, Watermark
from tipdata.ledger import schema as ledger_schema

from .conftest import SOURCE, T0, LedgerFactory, make_record, schema_at_version
from .test_migrations import _shape


@pytest.fixture
def version_2_ledger(open_test_ledger: LedgerFactory, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """A ledger as tipdata with migrations 1 and 2 left it: a record linked to DHIS2."""
    with schema_at_version(monkeypatch, 2):
        old = open_test_ledger()
        old.ingest_page(SOURCE, [make_record(1)], Watermark(number=1))
        columns = [
            Column(c.name, c.type)
            for c in ledger_schema.id_map.columns
            if c.name != "held_purposes"
        ]
        version_2_id_map = Table("ledger_id_map", MetaData(), *columns)  # as migration 2 left it
        with old.transaction() as tx:
            tx.conn.execute(
                insert(version_2_id_map).values(
                    record_id=make_record(1).record_id,
                    platform="dhis2",
                    platform_id="TEI-1",
                    synced_hash="h1",
                    linked_at=T0,
                    updated_at=T0,
                )
            )
        old.close()
    return old


def test_migration_3__upgrades_a_version_2_ledger_keeping_its_links(
    version_2_ledger: Ledger, open_test_ledger: LedgerFactory
) -> None:
    """should add held_purposes to the id map, read old links as unknown (None), and match schema.py"""
    upgraded = open_test_ledger()
    record_id = make_record(1).record_id
    link = upgraded.links(record_id)["dhis2"]
    assert (link.platform_id, link.synced_hash, link.held_purposes) == ("TEI-1", "h1", None)
    table = ledger_schema.id_map
    assert _shape(upgraded)["ledger_id_map"]["columns"] == {
        c.name: c.nullable for c in table.columns
    }


def test_link__held_purposes_are_kept_when_a_later_link_does_not_say(
    open_test_ledger: LedgerFactory,
) -> None:
    """should store the purposes a copy was written under, and keep them when a link gives None"""
    ledger = open_test_ledger()
    ledger.ingest_page(SOURCE, [make_record(1)], Watermark(number=1))
    record_id = make_record(1).record_id
    with ledger.transaction() as tx:
        tx.link(
            IdLink(
                record_id,
                "dhis2",
                "TEI-1",
                synced_hash="h1",
                held_purposes=frozenset({"statistics", "service_referral"}),
            )
        )
    with ledger.transaction() as tx:
        tx.link(IdLink(record_id, "dhis2", "TEI-1", synced_hash="h2"))
    assert ledger.links(record_id)["dhis2"].held_purposes == frozenset(
        {"statistics", "service_referral"}
    )
    with ledger.transaction() as tx:
        tx.link(IdLink(record_id, "dhis2", "TEI-1", synced_hash="h3", held_purposes=frozenset()))
    assert ledger.links(record_id)["dhis2"].held_purposes == frozenset()
