"""Migration 4: links written before the ledger remembered held purposes learn them where the
copy is the record's current version, and stay unknown everywhere else (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, Table, insert, select

from tipdata.ledger import IdLink, Ledger, Watermark
from tipdata.ledger import schema as ledger_schema

from .conftest import SOURCE, T0, LedgerFactory, make_record, schema_at_version

PURPOSES = ("law_enforcement", "service_referral", "statistics")


def content_hash(ledger: Ledger, record_id: str) -> str:
    c = ledger_schema.records.c
    with ledger.transaction() as tx:
        return str(tx.conn.scalar(select(c.content_hash).where(c.record_id == record_id)))


@pytest.fixture
def version_3_ledger(open_test_ledger: LedgerFactory, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """Links as a version-3 ledger upgraded from version 2 holds them (held purposes NULL)."""
    with schema_at_version(monkeypatch, 3):
        old = open_test_ledger()
        old.ingest_page(SOURCE, [make_record(n, consent=PURPOSES[:n]) for n in (1, 2, 3)],
                        Watermark(number=3))
        first, second, third = (make_record(n).record_id for n in (1, 2, 3))
        current = content_hash(old, first)
        rows = [
            (first, "dhis2", "TEI-1", current),  # current copy
            (second, "dhis2", "TEI-2", "an-older-version"),  # pending at the upgrade
            (third, "dhis2", "withheld/consent_missing", content_hash(old, third)),  # no copy
        ]
        id_map = Table("ledger_id_map", MetaData(),
                       *[Column(c.name, c.type) for c in ledger_schema.id_map.columns])
        with old.transaction() as tx:
            for record_id, platform, platform_id, synced in rows:
                tx.conn.execute(insert(id_map).values(
                    record_id=record_id, platform=platform, platform_id=platform_id,
                    synced_hash=synced, linked_at=T0, updated_at=T0, held_purposes=None))
            tx.link(IdLink(first, "frappe", "TIP Case/1", synced_hash=current,
                           held_purposes=frozenset({"statistics"})))
        old.close()
    return old


def test_migration_4__current_copies_learn_the_purposes_of_their_record(
    version_3_ledger: Ledger, open_test_ledger: LedgerFactory
) -> None:
    """should set held purposes from the record for links to its current version only"""
    upgraded = open_test_ledger()
    first, second, third = (make_record(n).record_id for n in (1, 2, 3))
    assert upgraded.links(first)["dhis2"].held_purposes == frozenset(PURPOSES[:1])
    assert upgraded.links(first)["frappe"].held_purposes == frozenset({"statistics"})  # known: kept
    assert upgraded.links(second)["dhis2"].held_purposes is None  # which version it holds is unknown
    assert upgraded.links(third)["dhis2"].held_purposes is None  # withheld: holds nothing


def test_migration_4__a_ledger_opened_again_is_not_migrated_twice(
    version_3_ledger: Ledger, open_test_ledger: LedgerFactory
) -> None:
    open_test_ledger().close()
    again = open_test_ledger()
    with again.transaction() as tx:
        versions = list(tx.conn.scalars(select(ledger_schema.ledger_migrations.c.version)))
    assert sorted(versions) == [1, 2, 3, 4]
