"""The ledger's tables as SQLAlchemy Core objects: the same schema on SQLite and PostgreSQL.

This is the *current* schema the code queries. Databases get it through the numbered
migrations in `migrations.py` (each frozen once released); a test checks that a database built by
running every migration matches these tables on both engines.

Portable types only: JSON is stored as text we serialise ourselves (sorted keys, so bytes are
stable), timestamps are timezone-aware UTC on both engines (`UtcDateTime`), ciphertexts are
binary or base64 text.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
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
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# 64-bit ids on PostgreSQL; SQLite only auto-increments a column declared INTEGER
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on both engines.

    SQLite has no time zone type and would hand back naive values; storing UTC and re-attaching
    it keeps comparisons (watermarks, stale updates) exact everywhere.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("ledger timestamps must carry a time zone")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


metadata = MetaData()

ledger_meta = Table(
    "ledger_meta", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

ledger_migrations = Table(
    "ledger_migrations", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
)

#: one row per canonical record; quasi-identifiers and operational values in `plain_values`,
#: everything else sealed one element at a time in `sealed_values` (see record_rows.py)
records = Table(
    "ledger_records", metadata,
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
    Index("ix_ledger_records_updated_at", "updated_at"),
)

id_map = Table(
    "ledger_id_map", metadata,
    Column("record_id", String(36), ForeignKey("ledger_records.record_id"), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("platform_id", String(500), nullable=False),
    Column("platform_version", String(100)),
    Column("platform_modified", UtcDateTime),
    Column("synced_hash", String(64)),
    Column("linked_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    #: JSON list: consent purposes the platform's copy was written under (migration 3; NULL:
    #: unknown, written before), so values a withdrawn purpose had allowed can be taken back
    Column("held_purposes", Text),
    PrimaryKeyConstraint("record_id", "platform", name="pk_ledger_id_map"),
    UniqueConstraint("platform", "platform_id", name="uq_ledger_id_map_platform_id"),
)

watermarks = Table(
    "ledger_watermarks", metadata,
    Column("source", String(200), primary_key=True),
    Column("position_at", UtcDateTime),
    Column("position_number", BigInteger),
    Column("position_cursor", String(500), nullable=False),
    Column("run_id", AutoId),
    Column("updated_at", UtcDateTime, nullable=False),
)

#: message and payload are sealed when `key_id` is set (always, unless the ledger was created
#: without encryption); the reason code stays readable for triage
quarantine = Table(
    "ledger_quarantine", metadata,
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
    Index("ix_ledger_quarantine_key_id", "key_id"),
)

runs = Table(
    "ledger_runs", metadata,
    Column("run_id", AutoId, primary_key=True, autoincrement=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Column("status", String(32), nullable=False),
    Column("counts", Text, nullable=False),
    Column("errors", Text, nullable=False),
)

#: what moved where, when, under which consent purposes and policy version: ids and counts only
audit_log = Table(
    "ledger_audit_log", metadata,
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
    Index("ix_ledger_audit_log_at", "at"),
)

#: what a Kobo pull has seen, per asset and submission `_id`: the revision (`_uuid`, which
#: changes on every edit) and a keyed digest of what was mapped, so reconciliation finds edits
#: and deletions. Written in the same transaction as the records of the page (migration 2).
kobo_submissions = Table(
    "ledger_kobo_submissions", metadata,
    Column("asset_uid", String(64), nullable=False),
    Column("submission_id", BigInteger, nullable=False, autoincrement=False),
    Column("revision", String(500), nullable=False),
    Column("content_digest", String(100), nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("asset_uid", "submission_id", name="pk_ledger_kobo_submissions"),
    Index("ix_ledger_kobo_submissions_revision", "asset_uid", "revision"),
)

#: one row per Kobo asset whose pull state the ledger holds: when it was last reconciled in
#: full, and the JSON state file imported when the ledger took over (None: nothing imported)
kobo_assets = Table(
    "ledger_kobo_assets", metadata,
    Column("asset_uid", String(64), primary_key=True),
    Column("reconciled_at", UtcDateTime),
    Column("imported_from", Text),
    Column("updated_at", UtcDateTime, nullable=False),
)
