"""Migration 2 (the Kobo pull state): a ledger written by a version-1 tipdata opens, keeps its
data, and gains exactly the tables schema.py declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

import tipdata.ledger.migrations as migrations
from tipdata.ledger import Ledger, Watermark
from tipdata.ledger import schema as ledger_schema

from .conftest import SOURCE, LedgerFactory, make_record, schema_at_version
from .test_migrations import _shape


@pytest.fixture
def version_1_ledger(open_test_ledger: LedgerFactory, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """A ledger as tipdata with only migration 1 left it, holding a record and a watermark."""
    with schema_at_version(monkeypatch, 1):
        old = open_test_ledger()
        old.ingest_page(SOURCE, [make_record(1), make_record(2)], Watermark(number=2))
        old.close()
    return old


def _tables(ledger: Ledger) -> set[str]:
    translate = ledger.engine.get_execution_options().get("schema_translate_map") or {}
    with ledger.engine.connect() as conn:
        return set(inspect(conn).get_table_names(schema=translate.get(None)))


def test_migration_2__version_1_ledger_lacks_the_kobo_tables(version_1_ledger: Ledger,
                                                            open_test_ledger: LedgerFactory,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """should start from a real version-1 ledger (the fixture is what an old tipdata wrote)"""
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    monkeypatch.setattr(migrations, "LATEST_VERSION", 1)
    reopened = open_test_ledger()
    assert {"ledger_kobo_submissions", "ledger_kobo_assets"}.isdisjoint(_tables(reopened))
    with reopened.reading() as tx:
        assert list(tx.conn.scalars(select(ledger_schema.ledger_migrations.c.version))) == [1]


def test_migration_2__upgrades_a_version_1_ledger_keeping_its_data(
        version_1_ledger: Ledger, open_test_ledger: LedgerFactory) -> None:
    """should apply migration 2 on open, keep records and watermarks, and match schema.py"""
    upgraded = open_test_ledger()
    with upgraded.reading() as tx:
        versions = list(tx.conn.scalars(select(ledger_schema.ledger_migrations.c.version)
                                        .order_by(ledger_schema.ledger_migrations.c.version)))
    assert versions == list(range(1, migrations.LATEST_VERSION + 1))
    assert upgraded.count_records() == 2
    assert upgraded.get_record(make_record(1).record_id).values == make_record(1).values
    assert upgraded.watermark(SOURCE) == Watermark(number=2)
    expected = {table.name: table for table in ledger_schema.metadata.sorted_tables}
    shape = _shape(upgraded)
    assert set(shape) == set(expected)
    for name in ("ledger_kobo_submissions", "ledger_kobo_assets"):
        table = expected[name]
        assert shape[name]["columns"] == {c.name: c.nullable for c in table.columns}, name
        assert shape[name]["primary_key"] == tuple(c.name for c in table.primary_key.columns)
        assert shape[name]["indexes"] == sorted(tuple(c.name for c in i.columns)
                                                for i in table.indexes)
