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
import binascii
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Container, Mapping
from typing import Any

from tipdata.crypto.at_rest import Keyring, associated_data, length_prefixed, token_key_id
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord, Envelope, coerce_value

#: sensitivity classes whose values never sit in the ledger in plaintext
SEALED_CLASSES: frozenset[str] = frozenset({"direct_identifier", "restricted", "sensitive"})


def is_sealed(codebook: Codebook, code: str) -> bool:
    """Unknown codes are sealed too: what we cannot classify we treat as sensitive."""
    element = codebook.elements.get(code)
    return element is None or element.sensitivity in SEALED_CLASSES


_PLAIN_CODES: list[tuple[Codebook, frozenset[str]]] = []


def _plain_codes(codebook: Codebook) -> frozenset[str]:
    """The codes `is_sealed` says no to, worked out once per codebook (every record asks)."""
    last = _PLAIN_CODES[0] if _PLAIN_CODES else None
    if last is not None and last[0] is codebook:  # held: the identity cannot match a new object
        return last[1]
    plain = frozenset(code for code in codebook.elements if not is_sealed(codebook, code))
    _PLAIN_CODES[:] = [(codebook, plain)]
    return plain


#: one encoder for every `dumps` (json.dumps with options builds a new one per call); same output
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_DECODE = json.JSONDecoder().decode


def dumps(value: Any) -> str:
    """Stable JSON: sorted keys, no spaces, UTF-8 kept (the bytes are hashed)."""
    return _ENCODE(value)


def value_aad(record_id: str, code: str) -> bytes:
    return associated_data("value", record_id, code)


@functools.lru_cache(maxsize=4096)
def _code_part(code: str) -> bytes:
    """The element code's part of a value's associated data (codes repeat on every record)."""
    return length_prefixed(code)


def _value_aads(record_id: str, codes: Any) -> list[bytes]:
    """`value_aad(record_id, code)` for each code, the record's part built once."""
    base = associated_data("value", record_id)
    return [base + _code_part(code) for code in codes]


def _json_loads(plain: bytes) -> Any:
    """`json.loads(plain)` for the UTF-8 JSON that `dumps` wrote, without re-detecting the encoding.

    `json.loads` of bytes picks UTF-8 unless the text starts with a BOM or a NUL byte (UTF-16/32),
    which JSON written by `dumps` never does; anything else takes `json.loads` itself.
    """
    if plain[:1] in _PLAIN_JSON_STARTS and (len(plain) < 2 or plain[1]):
        return _DECODE(plain.decode("utf-8", "surrogatepass"))
    return json.loads(plain)


#: first bytes a JSON text written by `dumps` can have (never a BOM, never NUL)
_PLAIN_JSON_STARTS = frozenset(bytes([b]) for b in b'"-0123456789[{tfn')


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
    """JSON values → base64 tokens, one per element (each bound to record id + element code)."""
    codes = list(values)
    tokens = keyring.seal_many([(_ENCODE(value).encode("utf-8"), aad) for value, aad in
                                zip(values.values(), _value_aads(record_id, codes), strict=True)])
    return {code: binascii.b2a_base64(token, newline=False).decode("ascii")
            for code, token in zip(codes, tokens, strict=True)}


def open_values(sealed: Mapping[str, str], record_id: str, keyring: Keyring) -> dict[str, Any]:
    opened = keyring.open
    return {code: _json_loads(opened(base64.b64decode(token), aad))
            for (code, token), aad in zip(sealed.items(), _value_aads(record_id, sealed), strict=True)}


def sealed_key_ids(sealed: Mapping[str, str]) -> set[str]:
    return {token_key_id(base64.b64decode(token)) for token in sealed.values()}


def record_to_row(record: CanonicalRecord, codebook: Codebook, keyring: Keyring | None,
                  now: dt.datetime, data: Mapping[str, Any] | None = None,
                  hashed: str | None = None) -> dict[str, Any]:
    """The row to upsert for a record. With no keyring every value is stored readable.

    `data` is `record.to_json()` and `hashed` its content hash under the keyring's current key,
    when the caller already has them (each is computed once per write).
    """
    data = data if data is not None else record.to_json()
    envelope = record.envelope
    plain: dict[str, Any] = {}
    hidden: dict[str, Any] = {}
    if keyring is None:
        plain = dict(data["values"])
    else:
        readable = _plain_codes(codebook)
        for code, value in data["values"].items():
            (plain if code in readable else hidden)[code] = value
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
        "content_hash": hashed if hashed is not None else content_hash(canonical_content(data), keyring),
        "plain_values": dumps(plain),
        "sealed_values": dumps(seal_values(hidden, envelope.record_id, keyring)) if keyring else None,
        "key_id": keyring.current_key_id if keyring else None,
        "first_seen_at": now,
        "written_at": now,
    }


def _decode(codebook: Codebook, code: str, raw: Any) -> Any:
    """A stored JSON value back to its element type (as `coerce_value`; as stored if it cannot)."""
    return _decode_values(codebook, {code: raw})[code]


_TEXT_TYPES = frozenset({"text", "select_one"})
_KINDS: list[tuple[Codebook, dict[str, str]]] = []


def _kinds(codebook: Codebook) -> dict[str, str]:
    """Element code → type, worked out once per codebook (every value of every record asks)."""
    last = _KINDS[0] if _KINDS else None
    if last is not None and last[0] is codebook:  # held: the identity cannot match a new object
        return last[1]
    kinds = {code: element.type for code, element in codebook.elements.items()}
    _KINDS[:] = [(codebook, kinds)]
    return kinds


def _decode_values(codebook: Codebook, values: Mapping[str, Any]) -> dict[str, Any]:
    kinds = _kinds(codebook)
    decoded: dict[str, Any] = {}
    for code, raw in values.items():
        kind = kinds.get(code)
        if kind is None or raw is None or raw is NOT_OPENED:
            decoded[code] = raw
        # what `coerce_value` returns for the JSON these types are stored as, without its checks
        elif type(raw) is str and kind in _TEXT_TYPES:
            decoded[code] = raw or None
        elif type(raw) is int and kind == "integer":
            decoded[code] = raw
        else:
            try:
                decoded[code] = coerce_value(codebook.elements[code], raw)
            except (ValueError, TypeError):
                decoded[code] = raw  # stored as received; validation reported it at ingestion
    return decoded


class _NotOpened:
    """The value of a sealed element a reader asked not to open (see `row_to_record`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<sealed, not opened>"


#: stands for a sealed value left closed: its code is present, its value never read
NOT_OPENED: Any = _NotOpened()


def row_json_values(row: Mapping[str, Any], keyring: Keyring | None,
                    open_only: Container[str] | None = None) -> dict[str, Any]:
    """The record's values in JSON form (plain and opened), as they were hashed.

    `open_only`: open only the sealed values of these codes; the others are `NOT_OPENED`.
    """
    values = _json_loads_text(row["plain_values"])
    if row["sealed_values"]:
        if keyring is None:
            raise ValueError("sealed values need a keyring")
        sealed = _json_loads_text(row["sealed_values"])
        if open_only is not None:
            closed = [code for code in sealed if code not in open_only]
            for code in closed:
                del sealed[code]
            values.update(dict.fromkeys(closed, NOT_OPENED))
        values.update(open_values(sealed, row["record_id"], keyring))
    return dict(sorted(values.items()))


def _json_loads_text(text: str) -> Any:
    return _DECODE(text)


def row_to_record(row: Mapping[str, Any], codebook: Codebook, keyring: Keyring | None,
                  open_only: Container[str] | None = None) -> CanonicalRecord:
    """Inverse of `record_to_row`; values coerced back to their element types.

    The row was written from a validated record (`record_to_row`; timestamps come back aware,
    in UTC), so the envelope and record are built without validating them again: a push reads
    every record it sends, once per target. `open_only` (the codes a reader may use, e.g. what
    a target could ever receive) leaves other sealed values closed, as `NOT_OPENED`: the codes
    stay, so what is withheld and why is counted as before.
    """
    envelope = Envelope.model_construct(
        record_id=row["record_id"], source_system=row["source_system"], source_id=row["source_id"],
        form_id=row["form_id"], form_version=row["form_version"],
        collected_at=row["collected_at"], updated_at=row["updated_at"],
        consent_purposes=frozenset(_json_loads_text(row["consent_purposes"])), location=row["location"],
    )
    values = _decode_values(codebook, row_json_values(row, keyring, open_only))
    return CanonicalRecord.model_construct(envelope=envelope, values=values)


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
