"""Encryption at rest in the ledger: identifiers, restricted and sensitive values are sealed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tipdata.crypto.at_rest import KEY_ENV_VAR, DataKey, KeyMissing, Keyring, UnknownKeyId
from tipdata.ledger import EncryptionModeMismatch, Ledger, Watermark, open_ledger
from tipdata.ledger import schema as ledger_schema
from tipdata.ledger.record_rows import canonical_content, content_hash
from tipdata.model import Codebook

from .conftest import (
    IMMIGRATION,
    NAME,
    PHONE,
    SOURCE,
    T0,
    LedgerFactory,
    make_record,
    raw_database_bytes,
)


def test_encrypted_ledger__raw_sql_shows_no_identifier_or_restricted_value(ledger: Ledger, database: dict) -> None:
    """should keep names, phone, immigration status and sensitive answers out of every table."""
    record = make_record(1, expl_palermo_means=("abuse_of_vulnerability",))
    ledger.ingest_page(SOURCE, [record], Watermark(T0))
    stored = raw_database_bytes(ledger)
    for plaintext in (NAME, PHONE, IMMIGRATION, "abuse_of_vulnerability"):
        assert plaintext.encode() not in stored, plaintext
    assert b"female" in stored  # quasi-identifiers stay readable for planning
    if database["schema"] is None:  # SQLite: the file and its write-ahead log too
        path = Path(database["url"])
        on_disk = path.read_bytes() + (path.with_name(path.name + "-wal").read_bytes()
                                       if path.with_name(path.name + "-wal").exists() else b"")
        assert NAME.encode() not in on_disk and IMMIGRATION.encode() not in on_disk


def test_encrypted_ledger__sealed_elements_follow_the_codebook(ledger: Ledger) -> None:
    """should seal exactly the direct identifier, restricted and sensitive elements."""
    ledger.ingest_page(SOURCE, [make_record(1)], Watermark(T0))
    with ledger.reading() as tx:
        stored = tx.conn.execute(ledger_schema.records.select()).mappings().one()
    sealed = set(json.loads(stored["sealed_values"]))
    plain = set(json.loads(stored["plain_values"]))
    assert sealed == {"person_given_names", "person_phone", "person_immigration_status",
                      "scr_means_force", "expl_palermo_means"}
    assert plain == {"person_age", "person_sex", "person_citizenship", "case_status", "case_opened_date"}


def test_encrypted_ledger__content_hash_is_keyed(open_test_ledger: LedgerFactory) -> None:
    """should give a content hash that depends on the key, so a guessed name cannot be confirmed."""
    first = open_test_ledger()
    first.ingest_page(SOURCE, [make_record(1)], Watermark(T0))
    hash_one = first.content_hash(make_record(1).record_id)
    other = Keyring(DataKey.generate())
    assert hash_one != content_hash(canonical_content(make_record(1).to_json()), other)
    assert hash_one != content_hash(canonical_content(make_record(1).to_json()), None)


def test_open_ledger__without_key_names_the_env_var(open_test_ledger: LedgerFactory) -> None:
    """should refuse to open an encrypted ledger with no key, naming TIPDATA_LEDGER_KEY."""
    open_test_ledger().ingest_page(SOURCE, [make_record(1)], Watermark(T0))
    with pytest.raises(KeyMissing, match=KEY_ENV_VAR):
        open_test_ledger(keys=None, environ={})


def test_open_ledger__wrong_key_names_the_env_var(open_test_ledger: LedgerFactory, key: DataKey) -> None:
    """should refuse a key that did not seal the stored data, naming its id and the variable."""
    open_test_ledger().ingest_page(SOURCE, [make_record(1)], Watermark(T0))
    wrong = DataKey.generate()
    with pytest.raises(UnknownKeyId) as caught:
        open_test_ledger(keys=None, environ={KEY_ENV_VAR: wrong.to_base64()})
    assert key.key_id in str(caught.value) and KEY_ENV_VAR in str(caught.value)


def test_open_ledger__encryption_mode_is_fixed_at_creation(open_test_ledger: LedgerFactory) -> None:
    """should refuse to open an encrypted ledger with encrypt=False."""
    open_test_ledger()
    with pytest.raises(EncryptionModeMismatch, match="created with at-rest encryption"):
        open_test_ledger(keys=None, encrypt=False)


def test_unencrypted_ledger__round_trips_in_plaintext(database: dict, codebook: Codebook) -> None:
    """should work without encryption when created so (benchmarks), storing values readable."""
    with open_ledger(database["url"], codebook=codebook, encrypt=False, schema=database["schema"], environ={}) as plain:
        plain.ingest_page(SOURCE, [make_record(1)], Watermark(T0))
        assert plain.get_record(make_record(1).record_id).values == make_record(1).values  # type: ignore[union-attr]
        assert NAME.encode() in raw_database_bytes(plain)
