"""Versioned migrations: a migrated database is exactly the schema the code queries."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, inspect, select

from tipdata.ledger import Ledger, LedgerSchemaError
from tipdata.ledger import schema as ledger_schema
from tipdata.ledger.migrations import LATEST_VERSION

from .conftest import LedgerFactory


def _shape(ledger: Ledger) -> dict[str, dict[str, object]]:
    translate = ledger.engine.get_execution_options().get("schema_translate_map") or {}
    db_schema = translate.get(None)
    with ledger.engine.connect() as conn:
        inspector = inspect(conn)
        shape = {}
        for table in inspector.get_table_names(schema=db_schema):
            shape[table] = {
                "columns": {c["name"]: c["nullable"]
                            for c in inspector.get_columns(table, schema=db_schema)},
                "primary_key": tuple(inspector.get_pk_constraint(table, schema=db_schema)["constrained_columns"]),
                "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table, schema=db_schema)),
                "indexes": sorted(tuple(i["column_names"]) for i in inspector.get_indexes(table, schema=db_schema)
                                  if not i.get("unique")),
            }
        return shape


def test_migrate__fresh_database_matches_schema_module(ledger: Ledger) -> None:
    """should create every table, column, key and index that schema.py declares, and nothing else."""
    shape = _shape(ledger)
    expected = {table.name: table for table in ledger_schema.metadata.sorted_tables}
    assert set(shape) == set(expected)
    for name, table in expected.items():
        assert shape[name]["columns"] == {c.name: c.nullable for c in table.columns}, name
        assert shape[name]["primary_key"] == tuple(c.name for c in table.primary_key.columns), name
        declared_unique = sorted(tuple(c.name for c in u.columns) for u in table.constraints
                                 if type(u).__name__ == "UniqueConstraint")
        assert shape[name]["unique"] == declared_unique, name
        assert shape[name]["indexes"] == sorted(tuple(c.name for c in i.columns) for i in table.indexes), name


def test_migrate__reopening_applies_nothing_twice(open_test_ledger: LedgerFactory) -> None:
    """should record each migration once however often the ledger is opened."""
    open_test_ledger()
    again = open_test_ledger()
    with again.reading() as tx:
        versions = list(tx.conn.scalars(select(ledger_schema.ledger_migrations.c.version)))
    assert versions == list(range(1, LATEST_VERSION + 1))


def test_migrate__newer_schema_is_refused(open_test_ledger: LedgerFactory) -> None:
    """should refuse to open a ledger written by a newer tipdata, saying to upgrade."""
    ledger = open_test_ledger()
    with ledger.transaction() as tx:
        tx.conn.execute(insert(ledger_schema.ledger_migrations).values(
            version=LATEST_VERSION + 1, name="from the future", applied_at=dt.datetime.now(dt.UTC)))
    with pytest.raises(LedgerSchemaError, match="upgrade tipdata"):
        open_test_ledger()
