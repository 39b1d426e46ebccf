"""Ledger fixtures: every ledger test runs on SQLite and on a real PostgreSQL server.

PostgreSQL: 127.0.0.1:5432, user postgres (trust), database `test` (override with
TIPDATA_TEST_POSTGRES_URL). Each test gets a fresh schema, dropped afterwards. The PostgreSQL
cases are skipped only when the server is unreachable and `CI` is not set; on CI an unreachable
server fails the run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tipdata.codebook import load_codebook
from tipdata.crypto.at_rest import DataKey, Keyring
from tipdata.ledger import Ledger, open_ledger
from tipdata.ledger import schema as ledger_schema
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord, Envelope, record_id_for

POSTGRES_URL = os.environ.get("TIPDATA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SOURCE = "kobo:aJ7sd2kqWcH5YbVfXe8mLp"
T0 = dt.datetime(2026, 1, 31, 10, 0, tzinfo=dt.UTC)

#: plaintexts that must never be readable in the database when the ledger is encrypted
NAME = "Amara Okafor-Testname"
PHONE = "+234 803 555 0199"
IMMIGRATION = "irregular"


@pytest.fixture(scope="session")
def codebook() -> Codebook:
    return load_codebook()


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except OperationalError:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable and CI is set")
        return False
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Where a test's ledger lives: {"url": ..., "schema": ...}; fresh for every test."""
    if request.param == "sqlite":
        yield {"url": str(tmp_path / "ledger.sqlite"), "schema": None}
        return
    if not request.getfixturevalue("postgres_available"):
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable (set CI to make this fail)")
    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    yield {"url": POSTGRES_URL, "schema": schema}
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def key() -> DataKey:
    return DataKey.generate()


LedgerFactory = Callable[..., Ledger]


@pytest.fixture
def open_test_ledger(database: dict[str, Any], codebook: Codebook, key: DataKey) -> Iterator[LedgerFactory]:
    """Open (or re-open) the test's ledger; default: encrypted with `key`. Closes all at the end."""
    opened: list[Ledger] = []

    def make(keys: Any = "default", **options: Any) -> Ledger:
        if keys == "default":
            keys = Keyring(key)
        options.setdefault("environ", {})
        ledger = open_ledger(database["url"], codebook=codebook, keys=keys,
                             schema=database["schema"], **options)
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(open_test_ledger: LedgerFactory) -> Ledger:
    return open_test_ledger()


def make_record(n: int = 1, *, updated_at: dt.datetime = T0, consent: tuple[str, ...] = ("service_referral", "statistics"),
                source: str = SOURCE, **values: Any) -> CanonicalRecord:
    """A realistic intake record; `values` override or add elements (None removes one)."""
    base: dict[str, Any] = {
        "person_given_names": NAME,
        "person_phone": PHONE,
        "person_immigration_status": IMMIGRATION,
        "person_age": 17,
        "person_sex": "female",
        "person_citizenship": ("NG",),
        "scr_means_force": "yes",
        "expl_palermo_means": ("deception", "threat"),
        "case_status": "active",
        "case_opened_date": dt.date(2026, 1, 30),
    }
    base.update(values)
    source_id = f"uuid:{uuid.UUID(int=n)}"
    envelope = Envelope(
        record_id=record_id_for(source, source_id), source_system=source, source_id=source_id,
        form_id="tip_case_intake", form_version="3", collected_at=T0, updated_at=updated_at,
        consent_purposes=frozenset(consent))
    return CanonicalRecord(envelope=envelope, values={k: v for k, v in base.items() if v is not None})


def raw_table_bytes(ledger: Ledger, table: str) -> bytes:
    """Every stored cell of a table, read with plain SQL (no ledger decoding), as bytes."""
    qualified = table
    translate = ledger.engine.get_execution_options().get("schema_translate_map") or {}
    if translate.get(None):
        qualified = f'"{translate[None]}".{table}'
    out = bytearray()
    with ledger.engine.connect() as conn:
        for row in conn.execute(text(f"SELECT * FROM {qualified}")):
            for cell in row:
                if isinstance(cell, bytes | bytearray | memoryview):
                    out += bytes(cell)
                else:
                    out += str(cell).encode("utf-8")
                out += b"\x1f"
    return bytes(out)


def raw_database_bytes(ledger: Ledger) -> bytes:
    return b"".join(raw_table_bytes(ledger, table.name) for table in ledger_schema.metadata.sorted_tables)


@contextlib.contextmanager
def schema_at_version(monkeypatch: pytest.MonkeyPatch, version: int) -> Iterator[None]:
    """Within: tipdata knows only migrations 1..`version`, as an older release did (to build an
    old ledger that a test then opens with every migration)."""
    import tipdata.ledger.migrations as migrations

    with monkeypatch.context() as patched:
        patched.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:version])
        patched.setattr(migrations, "LATEST_VERSION", version)
        yield
