"""Numbered, forward-only schema migrations recorded in `ledger_migrations`.

Why not Alembic: the ledger is a library embedded in a sync tool, not an application with a
deployment pipeline. Alembic would need an `alembic.ini`, an `env.py` and a script folder shipped
and located at run time, and operators would have to learn a second command. The ledger's schema
is small and owned here, so a list of Python functions over SQLAlchemy Core (dialect-neutral DDL)
applied on open does the job with no extra moving parts:

- every pending migration runs in ONE transaction (PostgreSQL and SQLite both have transactional
  DDL; the SQLite engine is configured to emit its own BEGIN so DDL really is inside it), so a
  failed upgrade leaves the previous schema untouched;
- concurrent openers are serialised (PostgreSQL advisory lock; SQLite `BEGIN IMMEDIATE`);
- a database newer than the code is refused rather than written with old assumptions.

Rule for later versions: a released migration is frozen. Its table definitions are copied here,
never imported from `schema.py`, because `schema.py` moves on with the code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    exists,
    insert,
    not_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from tipdata.ledger.errors import LedgerSchemaError
from tipdata.ledger.schema import AutoId, UtcDateTime, ledger_migrations

#: pg_advisory_xact_lock key: "tipdata ledger migrate"
_PG_LOCK_KEY = 0x7469_7064_6C6D


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _v1_initial(conn: Connection) -> None:
    """Frozen copy of the first schema (records, id map, watermarks, quarantine, runs, audit)."""
    md = MetaData()
    Table("ledger_meta", md,
          Column("name", String(64), primary_key=True),
          Column("value", Text, nullable=False))
    Table("ledger_records", md,
          Column("record_id", String(36), primary_key=True),
          Column("source_system", String(200), nullable=False),
          Column("source_id", String(500), nullable=False),
          Column("form_id", String(64)),
          Column("form_version", String(100)),
          Column("collected_at", UtcDateTime, nullable=False),
          Column("updated_at", UtcDateTime, nullable=False),
          Column("consent_purposes", Text, nullable=False),
          Column("location", String(200)),
          Column("content_hash", String(64), nullable=False),
          Column("plain_values", Text, nullable=False),
          Column("sealed_values", Text),
          Column("key_id", String(16)),
          Column("first_seen_at", UtcDateTime, nullable=False),
          Column("written_at", UtcDateTime, nullable=False),
          UniqueConstraint("source_system", "source_id", name="uq_ledger_records_source"),
          Index("ix_ledger_records_key_id", "key_id"),
          Index("ix_ledger_records_updated_at", "updated_at"))
    Table("ledger_id_map", md,
          Column("record_id", String(36), ForeignKey("ledger_records.record_id"), nullable=False),
          Column("platform", String(64), nullable=False),
          Column("platform_id", String(500), nullable=False),
          Column("platform_version", String(100)),
          Column("platform_modified", UtcDateTime),
          Column("synced_hash", String(64)),
          Column("linked_at", UtcDateTime, nullable=False),
          Column("updated_at", UtcDateTime, nullable=False),
          PrimaryKeyConstraint("record_id", "platform", name="pk_ledger_id_map"),
          UniqueConstraint("platform", "platform_id", name="uq_ledger_id_map_platform_id"))
    Table("ledger_watermarks", md,
          Column("source", String(200), primary_key=True),
          Column("position_at", UtcDateTime),
          Column("position_number", BigInteger),
          Column("position_cursor", String(500), nullable=False),
          Column("run_id", AutoId),
          Column("updated_at", UtcDateTime, nullable=False))
    Table("ledger_quarantine", md,
          Column("id", AutoId, primary_key=True, autoincrement=True),
          Column("source", String(200), nullable=False),
          Column("source_id", String(500), nullable=False),
          Column("reason_code", String(64), nullable=False),
          Column("message_blob", LargeBinary, nullable=False),
          Column("payload_blob", LargeBinary, nullable=False),
          Column("key_id", String(16)),
          Column("created_at", UtcDateTime, nullable=False),
          Column("updated_at", UtcDateTime, nullable=False),
          Column("retried_count", Integer, nullable=False),
          Column("resolved_at", UtcDateTime),
          Column("resolution", String(64)),
          UniqueConstraint("source", "source_id", name="uq_ledger_quarantine_source"),
          Index("ix_ledger_quarantine_key_id", "key_id"))
    Table("ledger_runs", md,
          Column("run_id", AutoId, primary_key=True, autoincrement=True),
          Column("started_at", UtcDateTime, nullable=False),
          Column("ended_at", UtcDateTime),
          Column("status", String(32), nullable=False),
          Column("counts", Text, nullable=False),
          Column("errors", Text, nullable=False))
    Table("ledger_audit_log", md,
          Column("id", AutoId, primary_key=True, autoincrement=True),
          Column("at", UtcDateTime, nullable=False),
          Column("run_id", AutoId),
          Column("action", String(32), nullable=False),
          Column("source", String(200)),
          Column("target", String(200)),
          Column("policy_version", String(200)),
          Column("consent_purposes", Text, nullable=False),
          Column("record_count", Integer, nullable=False),
          Column("record_ids", Text, nullable=False),
          Column("withheld_count", Integer, nullable=False),
          Index("ix_ledger_audit_log_at", "at"))
    md.create_all(conn)


def _v2_kobo_pull_state(conn: Connection) -> None:
    """Frozen copy: the Kobo pull state moves from a JSON file into the ledger.

    Seen submissions per asset (revision, keyed content digest, last seen) and per asset the
    last reconciliation; written in the transactions that store the pages, so the state and
    the records can no longer disagree after a crash.
    """
    md = MetaData()
    Table("ledger_kobo_submissions", md,
          Column("asset_uid", String(64), nullable=False),
          Column("submission_id", BigInteger, nullable=False, autoincrement=False),
          Column("revision", String(500), nullable=False),
          Column("content_digest", String(100), nullable=False),
          Column("last_seen_at", UtcDateTime, nullable=False),
          PrimaryKeyConstraint("asset_uid", "submission_id", name="pk_ledger_kobo_submissions"),
          Index("ix_ledger_kobo_submissions_revision", "asset_uid", "revision"))
    Table("ledger_kobo_assets", md,
          Column("asset_uid", String(64), primary_key=True),
          Column("reconciled_at", UtcDateTime),
          Column("imported_from", Text),
          Column("updated_at", UtcDateTime, nullable=False))
    md.create_all(conn)


def _v3_held_purposes(conn: Connection) -> None:
    """Frozen: each id-map link remembers the consent purposes its platform's copy was written
    under (JSON list; NULL for links written before, read as unknown).

    A consent answer corrected from yes to no leaves no trace in the record itself; what the
    copy was written under tells the engine which values to take back from it.
    """
    schema = (conn.get_execution_options().get("schema_translate_map") or {}).get(None)
    table = f'"{schema}".ledger_id_map' if schema else "ledger_id_map"  # a checked identifier
    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN held_purposes TEXT"))


def _v4_held_purposes_of_current_copies(conn: Connection) -> None:
    """Frozen: a link written before migration 3 whose copy is the record's current version
    (`synced_hash` = the record's `content_hash`) was written under at most the purposes the
    record carries now, so they become its `held_purposes`. Without them a consent answer
    corrected from yes to no later would not be seen as a withdrawal for that copy.

    Links to an older version (pending at the upgrade) and withheld links stay unknown (NULL);
    the engine then assumes the copy may hold values under every purpose (see
    `tipdata.sync.consent_withdrawal`).
    """
    md = MetaData()
    records = Table("ledger_records", md,
                    Column("record_id", String(36), primary_key=True),
                    Column("consent_purposes", Text, nullable=False),
                    Column("content_hash", String(64), nullable=False))
    id_map = Table("ledger_id_map", md,
                   Column("record_id", String(36), nullable=False),
                   Column("platform", String(64), nullable=False),
                   Column("platform_id", String(500), nullable=False),
                   Column("synced_hash", String(64)),
                   Column("held_purposes", Text))
    r, m = records.c, id_map.c
    current = and_(r.record_id == m.record_id, r.content_hash == m.synced_hash)
    conn.execute(update(id_map)
                 .where(m.held_purposes.is_(None), not_(m.platform_id.startswith("withheld/")),
                        exists(select(r.record_id).where(current)))
                 .values(held_purposes=select(r.consent_purposes).where(current).scalar_subquery()))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _v1_initial),
    Migration(2, "kobo pull state", _v2_kobo_pull_state),
    Migration(3, "consent purposes held by each copy", _v3_held_purposes),
    Migration(4, "held purposes of links to current copies", _v4_held_purposes_of_current_copies),
)
LATEST_VERSION = MIGRATIONS[-1].version


def migrate(conn: Connection, now: dt.datetime) -> list[int]:
    """Apply every pending migration inside the caller's transaction; return the versions applied.

    Example: `with engine.begin() as conn: migrate(conn, datetime.now(UTC))`
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    ledger_migrations.create(conn, checkfirst=True)
    applied = set(conn.scalars(select(ledger_migrations.c.version)))
    newer = sorted(v for v in applied if v > LATEST_VERSION)
    if newer:
        raise LedgerSchemaError(
            f"the ledger schema is at version {max(applied)} but this tipdata knows versions up "
            f"to {LATEST_VERSION}",
            "upgrade tipdata to the version that wrote this ledger (never downgrade a ledger)",
        )
    done: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in applied:
            continue
        migration.apply(conn)
        conn.execute(insert(ledger_migrations).values(
            version=migration.version, name=migration.name, applied_at=now))
        done.append(migration.version)
    return done
