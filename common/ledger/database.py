"""Where the ledger lives and how to connect: SQLite file by default, PostgreSQL given a URL.

Precedence: argument > `TIPDATA_LEDGER_URL` > `./tipdata-ledger.sqlite`. A plain path means a
SQLite file; `postgresql://` URLs get the psycopg 3 driver.

SQLite is configured so that transactions mean what they say: WAL journal (readers do not block
the writer), foreign keys on, a busy timeout, and BEGIN emitted by us - `BEGIN IMMEDIATE` for
writes, so two sync processes queue up instead of failing half-way - because Python's sqlite3
module would otherwise run DDL and SELECTs outside the transaction.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from tipdata.ledger.errors import LedgerUnavailable

URL_ENV_VAR = "TIPDATA_LEDGER_URL"
DEFAULT_SQLITE_FILE = "tipdata-ledger.sqlite"
READ_ONLY = "tipdata_read_only"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def resolve_url(url: str | None = None, environ: Mapping[str, str] | None = None) -> URL:
    """The database URL to use. Example: `resolve_url("ledger.sqlite")` → `sqlite:///ledger.sqlite`."""
    env = os.environ if environ is None else environ
    chosen = url or env.get(URL_ENV_VAR) or DEFAULT_SQLITE_FILE
    if "://" not in chosen:
        return URL.create("sqlite", database=chosen)
    try:
        parsed = make_url(chosen)
    except ArgumentError:
        raise LedgerUnavailable(f"the ledger URL {chosen.split('@')[-1]!r} cannot be parsed",
                                "use postgresql://user@host:5432/db or a SQLite file path") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise LedgerUnavailable(f"the ledger supports SQLite and PostgreSQL, not {parsed.get_backend_name()}",
                                f"set {URL_ENV_VAR} to a postgresql:// URL or a SQLite file path")
    return parsed


def safe_url(url: URL) -> str:
    """The URL for messages: never the password."""
    return url.render_as_string(hide_password=True)


def create_ledger_engine(url: URL, schema: str | None = None, **engine_options: Any) -> Engine:
    """An Engine with the SQLite transaction fixes, or PostgreSQL tables in `schema`."""
    backend = url.get_backend_name()
    options: dict[str, Any] = {"future": True, **engine_options}
    if backend == "sqlite":
        if schema:
            raise LedgerUnavailable("a schema can only be chosen on PostgreSQL",
                                    "drop the schema option, or use a separate SQLite file")
        if url.database in (None, "", ":memory:"):
            options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        engine = create_engine(url, **options)
        _configure_sqlite(engine, in_memory=url.database in (None, "", ":memory:"))
        return engine
    options.setdefault("pool_pre_ping", True)
    if schema:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise LedgerUnavailable(f"schema name {schema!r} is not a plain lower-case identifier",
                                    "use letters, digits and underscores")
        options["execution_options"] = {"schema_translate_map": {None: schema}}
    engine = create_engine(url, **options)
    if schema:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    return engine


def _configure_sqlite(engine: Engine, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see module doc)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            # with WAL, NORMAL never corrupts; a power cut can lose the last commits, and then
            # records and watermarks are lost together, so the next run simply re-reads them
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
