"""Canonical record ↔ ledger row, pure: which values are sealed, how they are hashed.

Values of direct identifiers, restricted and sensitive elements (per the codebook), and of any
code the codebook does not know, are sealed one by one with AES-GCM, bound to record id + element
code. Quasi-identifiers and operational values stay readable so the engine can plan without
opening anything. The content hash is keyed (HMAC) when the ledger is encrypted: a plain hash of
a record whose only hidden value is a name would let anyone holding the database confirm a
guessed name.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from tipdata.crypto.at_rest import Keyring, associated_data, token_key_id
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord, Envelope, coerce_value

#: sensitivity classes whose values never sit in the ledger in plaintext
SEALED_CLASSES: frozenset[str] = frozenset({"direct_identifier", "restricted", "sensitive"})


def is_sealed(codebook: Codebook, code: str) -> bool:
    """Unknown codes are sealed too: what we cannot classify we treat as sensitive."""
    element = codebook.elements.get(code)
    return element is None or element.sensitivity in SEALED_CLASSES


def dumps(value: Any) -> str:
    """Stable JSON: sorted keys, no spaces, UTF-8 kept (the bytes are hashed)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def value_aad(record_id: str, code: str) -> bytes:
    return associated_data("value", record_id, code)


def quarantine_aad(source: str, source_id: str, part: str) -> bytes:
    return associated_data("quarantine", source, source_id, part)


def canonical_content(record_json: Mapping[str, Any]) -> bytes:
    """What the content hash covers: values, consent, form and location, not timestamps.

    A re-save that changes nothing but `updated_at` is not a change worth syncing.
    """
    envelope = record_json["envelope"]
    return dumps({
        "consent_purposes": sorted(envelope.get("consent_purposes") or ()),
        "form_id": envelope.get("form_id"),
        "form_version": envelope.get("form_version"),
        "location": envelope.get("location"),
        "values": record_json["values"],
    }).encode("utf-8")


def content_hash(content: bytes, keyring: Keyring | None, key_id: str | None = None) -> str:
    if keyring is None:
        return hashlib.sha256(content).hexdigest()
    return keyring.content_hash(content, key_id)


def seal_values(values: Mapping[str, Any], record_id: str, keyring: Keyring) -> dict[str, str]:
    """JSON values → base64 tokens, one per element."""
    return {code: base64.b64encode(keyring.seal(dumps(value).encode("utf-8"), value_aad(record_id, code))).decode("ascii")
            for code, value in values.items()}


def open_values(sealed: Mapping[str, str], record_id: str, keyring: Keyring) -> dict[str, Any]:
    return {code: json.loads(keyring.open(base64.b64decode(token), value_aad(record_id, code)))
            for code, token in sealed.items()}


def sealed_key_ids(sealed: Mapping[str, str]) -> set[str]:
    return {token_key_id(base64.b64decode(token)) for token in sealed.values()}


def record_to_row(record: CanonicalRecord, codebook: Codebook, keyring: Keyring | None,
                  now: dt.datetime, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The row to upsert for a record. With no keyring every value is stored readable.

    `data` is `record.to_json()` when the caller already has it.
    """
    data = data if data is not None else record.to_json()
    envelope = record.envelope
    plain: dict[str, Any] = {}
    hidden: dict[str, Any] = {}
    for code, value in data["values"].items():
        (hidden if keyring is not None and is_sealed(codebook, code) else plain)[code] = value
    return {
        "record_id": envelope.record_id,
        "source_system": envelope.source_system,
        "source_id": envelope.source_id,
        "form_id": envelope.form_id,
        "form_version": envelope.form_version,
        "collected_at": envelope.collected_at,
        "updated_at": envelope.updated_at,
        "consent_purposes": dumps(sorted(envelope.consent_purposes)),
        "location": envelope.location,
        "content_hash": content_hash(canonical_content(data), keyring),
        "plain_values": dumps(plain),
        "sealed_values": dumps(seal_values(hidden, envelope.record_id, keyring)) if keyring else None,
        "key_id": keyring.current_key_id if keyring else None,
        "first_seen_at": now,
        "written_at": now,
    }


def _decode(codebook: Codebook, code: str, raw: Any) -> Any:
    element = codebook.elements.get(code)
    if element is None or raw is None:
        return raw
    try:
        return coerce_value(element, raw)
    except (ValueError, TypeError):
        return raw  # stored as received; validation reported it when it was ingested


def row_json_values(row: Mapping[str, Any], keyring: Keyring | None) -> dict[str, Any]:
    """The record's values in JSON form (plain and opened), as they were hashed."""
    values = json.loads(row["plain_values"])
    if row["sealed_values"]:
        if keyring is None:
            raise ValueError("sealed values need a keyring")
        values.update(open_values(json.loads(row["sealed_values"]), row["record_id"], keyring))
    return dict(sorted(values.items()))


def row_to_record(row: Mapping[str, Any], codebook: Codebook, keyring: Keyring | None) -> CanonicalRecord:
    """Inverse of `record_to_row`; values coerced back to their element types."""
    envelope = Envelope(
        record_id=row["record_id"], source_system=row["source_system"], source_id=row["source_id"],
        form_id=row["form_id"], form_version=row["form_version"],
        collected_at=row["collected_at"], updated_at=row["updated_at"],
        consent_purposes=frozenset(json.loads(row["consent_purposes"])), location=row["location"],
    )
    values = {code: _decode(codebook, code, raw) for code, raw in row_json_values(row, keyring).items()}
    return CanonicalRecord(envelope=envelope, values=values)


def reseal_row(row: Mapping[str, Any], keyring: Keyring) -> dict[str, Any]:
    """New sealed values, hash and key id under the keyring's current key (for rotation)."""
    record_id = row["record_id"]
    hidden = open_values(json.loads(row["sealed_values"] or "{}"), record_id, keyring)
    values = {**json.loads(row["plain_values"]), **hidden}
    data = {
        "envelope": {"consent_purposes": json.loads(row["consent_purposes"]),
                     "form_id": row["form_id"], "form_version": row["form_version"],
                     "location": row["location"]},
        "values": dict(sorted(values.items())),
    }
    return {
        "sealed_values": dumps(seal_values(hidden, record_id, keyring)),
        "content_hash": keyring.content_hash(canonical_content(data)),
        "key_id": keyring.current_key_id,
    }
