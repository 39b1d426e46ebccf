"""What an agency shares for linkage: per record, an id, exact keys and Bloom filters — nothing else.

`encode_records` runs at the agency. It normalises each record's identifiers, computes the exact
keys (`tipdata.linkage.keys`) and the CLK (`tipdata.linkage.bloom`) from the shared secret, and
returns an `EncodedBatch`. The batch is written as JSON lines: a header line, then one line per
record:

    {"format": "tipdata-linkage-encodings", "version": 2, "source": "ngo", "records": 2,
     "schema": "<sha256 of the schema>", "secret_check": "<8 bytes>", "clk_bits": 1024,
     "key_variants": ["exact", ...], "groups": ["identity", "document", ...]}
    {"id": "<record id>", "keys": {"exact": "<base64url>", ...}, "clk": "<base64>", "held": "gfymds"}
    {"id": "<record id>", "keys": {...}, "clk": "<base64>", "held": "gfys",
     "parts": {"identity": "<base64>", "document": "<base64>"}}

`held` names the identity fields the record holds (`tipdata.linkage.field_presence`: given and
family names, birth year, month and day, sex), and the header's `field_bits` how many bits the
schema sets for the year, month, day and sex: with both the linking party scores a pair on the
fields its records both hold. Files without them (written before) are matched as before.

No name, date or code appears in the file; the record id is the tipdata record id (a UUID), not
a case number. The header lets the linking party refuse batches encoded with another schema or
secret (see `tipdata.linkage.keys.secret_check`) without learning either.

Features belong to field groups (`FEATURE_GROUPS`): `identity` (names, date of birth, sex) and
one group each for the document number, phone, street, locality, citizenship, admin area and
country of birth. A record holding any group beyond identity also gets `parts`: one filter per
group it holds, each the CLK the same schema gives with the other groups' features ignored (so
`clk` is their union). The linking party compares identity and the groups *both* records hold
(`tipdata.linkage.filters`): what only one agency recorded cannot make a person look like a
stranger.

Feature identifiers a schema may use (`FEATURE_VALUES`):
    person_names          given and family names, normalised, as one text
    person_names_folded   the same with transcription variants folded (`fold_spelling`)
    person_given_names    given names, normalised
    person_family_names   family names, normalised
    person_date_of_birth  digits at the recorded precision: YYYYMMDD, YYYYMM or YYYY
    person_birth_year     YYYY
    person_sex            f, m or x
    person_citizenship    sorted lower-case ISO codes, space-separated
    person_id_document_number, person_phone, person_address_street, person_address_locality,
    person_address_admin_area, person_country_of_birth
                          normalised like the codebook elements of the same name (document
                          numbers as letters and digits, phones as their last 9 digits)

The shipped schema hashes names, date of birth and sex, then the document number, phone, street
and locality; citizenship, admin area and country of birth are left out of it (a few values
shared by thousands make strangers alike) and count through the `exact` key only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tipdata.linkage.bloom import ClkEncoder, InvalidFeatureValue
from tipdata.linkage.field_presence import FIELD_LETTERS, field_bits, held_fields
from tipdata.linkage.keys import KEY_VARIANTS, ExactKeyer, secret_check
from tipdata.linkage.normalise import NormalisedPerson, fold_spelling, normalise_person
from tipdata.linkage.schema import LinkageSchema, SchemaInvalid

FORMAT_NAME = "tipdata-linkage-encodings"
#: version 2 added the field groups (header `groups`, per record `parts`); version 1 files
#: (no groups: everything is compared as one filter) are still read
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


def _part(person: NormalisedPerson, part: str) -> str:
    value = getattr(person.date_of_birth, part, None) if person.date_of_birth else None
    return f"{value:02d}" if value is not None else ""


def _day_month(person: NormalisedPerson) -> str:
    """Day and month in either order ("03 12" for 12 March and for 3 December)."""
    date = person.date_of_birth
    if date is None or date.day is None or date.month is None:
        return ""
    return " ".join(sorted((f"{date.month:02d}", f"{date.day:02d}")))


FEATURE_VALUES: dict[str, Callable[[NormalisedPerson], str]] = {
    "person_names": lambda p: p.names,
    "person_names_folded": lambda p: fold_spelling(p.names),
    "person_given_names": lambda p: p.given,
    "person_family_names": lambda p: p.family,
    "person_date_of_birth": lambda p: p.date_of_birth.digits() if p.date_of_birth else "",
    "person_birth_year": lambda p: f"{p.date_of_birth.year:04d}" if p.date_of_birth else "",
    "person_birth_month": lambda p: _part(p, "month"),
    "person_birth_day": lambda p: _part(p, "day"),
    "person_birth_day_month": lambda p: _day_month(p),
    "person_sex": lambda p: p.sex,
    "person_citizenship": lambda p: p.citizenship,
    "person_id_document_number": lambda p: p.id_document,
    "person_phone": lambda p: p.phone,
    "person_address_street": lambda p: p.address_street,
    "person_address_locality": lambda p: p.address_locality,
    "person_address_admin_area": lambda p: p.address_admin_area,
    "person_country_of_birth": lambda p: p.country_of_birth,
}


#: The group of fields each feature belongs to. The `identity` group (names, date of birth, sex)
#: is always compared; every other group is compared only when both records hold it, so an
#: agency that records no address is not taken for someone else because the other did.
IDENTITY = "identity"
FEATURE_GROUPS: dict[str, str] = {
    "person_names": IDENTITY,
    "person_names_folded": IDENTITY,
    "person_given_names": IDENTITY,
    "person_family_names": IDENTITY,
    "person_date_of_birth": IDENTITY,
    "person_birth_year": IDENTITY,
    "person_birth_month": IDENTITY,
    "person_birth_day": IDENTITY,
    "person_birth_day_month": IDENTITY,
    "person_sex": IDENTITY,
    "person_citizenship": "citizenship",
    "person_id_document_number": "document",
    "person_phone": "phone",
    "person_address_street": "street",
    "person_address_locality": "locality",
    "person_address_admin_area": "admin_area",
    "person_country_of_birth": "country_of_birth",
}


def schema_groups(schema: LinkageSchema) -> tuple[str, ...]:
    """The field groups a schema hashes, identity first, then in schema order."""
    groups = dict.fromkeys([IDENTITY])
    groups.update(
        dict.fromkeys(
            FEATURE_GROUPS[f.identifier]
            for f in schema.features
            if not f.ignored and f.identifier in FEATURE_GROUPS
        )
    )
    return tuple(groups)


class EncodingFileError(ValueError):
    """An encodings file that cannot be read; says which file, which line and how to fix it."""


@dataclass(frozen=True)
class PersonIdentifiers:
    """The plaintext identifiers of one record, as the agency holds them. Never leaves the agency."""

    record_id: str
    given_names: str | None = None
    family_names: str | None = None
    date_of_birth: Any = None
    sex: str | None = None
    citizenship: Any = None
    dob_estimated: bool = False
    id_document_number: str | None = None
    phone: str | None = None
    address_street: str | None = None
    address_locality: str | None = None
    address_admin_area: str | None = None
    country_of_birth: str | None = None

    def normalised(self) -> NormalisedPerson:
        return normalise_person(
            self.given_names,
            self.family_names,
            self.date_of_birth,
            self.sex,
            self.citizenship,
            dob_estimated=self.dob_estimated,
            id_document=self.id_document_number,
            phone=self.phone,
            address_street=self.address_street,
            address_locality=self.address_locality,
            address_admin_area=self.address_admin_area,
            country_of_birth=self.country_of_birth,
        )

    def __repr__(self) -> str:  # identifiers must not reach logs or tracebacks
        return f"PersonIdentifiers(record_id={self.record_id!r}, ...)"


@dataclass(frozen=True)
class EncodedRecord:
    """One record as shared: its id, exact keys, the CLK of all its fields and, when it holds
    fields beyond the identity group, the filter of each group it holds (`parts`; each is the
    CLK the same schema gives with the other groups' features ignored)."""

    record_id: str
    keys: Mapping[str, str]
    clk: bytes
    parts: Mapping[str, bytes] = field(default_factory=dict)
    #: letters of the identity fields held (`field_presence.FIELD_LETTERS`); None if not known
    held: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.record_id,
            "keys": dict(self.keys),
            "clk": base64.b64encode(self.clk).decode("ascii"),
        }
        if self.held is not None:
            out["held"] = self.held
        if self.parts:
            out["parts"] = {
                name: base64.b64encode(bits).decode("ascii") for name, bits in self.parts.items()
            }
        return out


@dataclass(frozen=True)
class EncodedBatch:
    """One agency's encodings, with what the linking party needs to check they fit together."""

    source: str
    schema_fingerprint: str
    secret_check: str
    clk_bits: int
    key_variants: tuple[str, ...]
    records: tuple[EncodedRecord, ...] = field(repr=False)
    groups: tuple[str, ...] = (IDENTITY,)
    #: bits the schema sets per whole-token identity field (`field_presence.field_bits`)
    field_bits: Mapping[str, int] = field(default_factory=dict)

    def header(self) -> dict[str, Any]:
        out = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "source": self.source,
            "records": len(self.records),
            "schema": self.schema_fingerprint,
            "secret_check": self.secret_check,
            "clk_bits": self.clk_bits,
            "key_variants": list(self.key_variants),
            "groups": list(self.groups),
        }
        if self.field_bits:
            out["field_bits"] = dict(self.field_bits)
        return out

    def lines(self) -> Iterator[str]:
        """The JSON lines of the file: header first."""
        yield json.dumps(self.header(), sort_keys=True)
        for record in self.records:
            yield json.dumps(record.to_json(), sort_keys=True)

    def write(self, path: Path | str) -> None:
        with open(path, "w", encoding="utf-8") as out:
            for line in self.lines():
                out.write(line + "\n")


def feature_values(schema: LinkageSchema, person: NormalisedPerson) -> list[str]:
    """One text per schema feature ('' for ignored features), in schema order."""
    values = []
    for feature in schema.features:
        values.append("" if feature.ignored else FEATURE_VALUES[feature.identifier](person))
    return values


class GroupedEncoder:
    """A record's CLK and, when it holds more than the identity group, each group's filter."""

    def __init__(self, schema: LinkageSchema, secret: bytes) -> None:
        self.clk_encoder = ClkEncoder(schema, secret)
        self.feature_group = [FEATURE_GROUPS.get(f.identifier, IDENTITY) for f in schema.features]

    def encode(self, values: list[str]) -> tuple[bytes, dict[str, bytes]]:
        encoder = self.clk_encoder
        masks = encoder.feature_masks(values)
        union = 0
        grouped: dict[str, int] = {}
        for group, mask in zip(self.feature_group, masks, strict=True):
            if mask:
                union |= mask
                grouped[group] = grouped.get(group, 0) | mask
        clk = encoder.to_bytes(union)
        if not grouped or list(grouped) == [IDENTITY]:
            return clk, {}
        return clk, {group: encoder.to_bytes(mask) for group, mask in grouped.items()}


def check_schema_features(schema: LinkageSchema) -> None:
    """Raise `SchemaInvalid` if a hashed feature names a value tipdata does not know how to fill."""
    unknown = [
        f.identifier
        for f in schema.features
        if not f.ignored and f.identifier not in FEATURE_VALUES
    ]
    if unknown:
        raise SchemaInvalid(
            [
                f"feature {name!r} is not one of {', '.join(FEATURE_VALUES)}; "
                "mark it ignored or rename it"
                for name in unknown
            ]
        )


def encode_records(
    records: Iterable[PersonIdentifiers],
    secret: bytes,
    schema: LinkageSchema,
    *,
    source: str,
    progress: Callable[[int], None] | None = None,
) -> EncodedBatch:
    """Encode one agency's records for linkage: exact keys and a CLK per record.

    Runs where the plaintext lives; the batch holds no plaintext and can be sent to the linking
    party. `progress` (if given) is called with the count of records done every 10,000 records.

    >>> from tipdata.linkage.schema import load_schema
    >>> batch = encode_records([PersonIdentifiers("r1", "Ana", "Lopez", "1990-03-12", "female")],
    ...                        b"a shared secret, never in code", load_schema(), source="ngo")
    >>> sorted(batch.records[0].keys)[:2], len(batch.records[0].clk)
    (['exact', 'family_dob'], 128)
    """
    if not source:
        raise ValueError("a batch needs a source name (e.g. the agency: ngo, police)")
    check_schema_features(schema)
    clk_encoder = GroupedEncoder(schema, secret)
    keyer = ExactKeyer(secret)
    encoded = []
    seen: set[str] = set()
    for count, record in enumerate(records, start=1):
        if record.record_id in seen:
            raise ValueError(
                f"record id {record.record_id} appears twice in the batch; "
                "each record must be encoded once"
            )
        seen.add(record.record_id)
        person = record.normalised()
        try:
            clk, parts = clk_encoder.encode(feature_values(schema, person))
        except InvalidFeatureValue as exc:
            raise InvalidFeatureValue(
                f"record {record.record_id}: {exc}. Fix: correct the record, "
                "or agree a schema whose formats fit tipdata's values."
            ) from None
        encoded.append(
            EncodedRecord(record.record_id, keyer.keys(person), clk, parts, held_fields(person))
        )
        if progress is not None and count % 10_000 == 0:
            progress(count)
    return EncodedBatch(
        source=source,
        schema_fingerprint=schema.fingerprint,
        secret_check=secret_check(secret),
        clk_bits=schema.l,
        key_variants=tuple(v.name for v in KEY_VARIANTS),
        records=tuple(encoded),
        groups=schema_groups(schema),
        field_bits=field_bits(schema),
    )


def read_batch(stream: TextIO, name: str = "<encodings>") -> EncodedBatch:
    """Read an encodings file written by `EncodedBatch.write`; errors name the file and line."""

    def fail(line: int, problem: str) -> EncodingFileError:
        return EncodingFileError(
            f"{name}, line {line}: {problem}. Fix: pass files written by "
            "`tipdata link encode`, unedited."
        )

    header_line = stream.readline()
    try:
        header = json.loads(header_line)
    except json.JSONDecodeError:
        raise fail(1, "the header is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise fail(1, f"not a {FORMAT_NAME} file")
    if header.get("version") not in READABLE_VERSIONS:
        raise fail(1, f"format version {header.get('version')!r} is not one of {READABLE_VERSIONS}")
    for key in ("source", "schema", "secret_check", "clk_bits"):
        if key not in header:
            raise fail(1, f"the header lacks {key!r}")
    clk_bytes = (int(header["clk_bits"]) + 7) // 8
    groups = tuple(str(g) for g in header.get("groups", (IDENTITY,)))
    records = []
    for number, line in enumerate(stream, start=2):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            clk = base64.b64decode(item["clk"], validate=True)
            keys = item.get("keys", {})
            record_id = str(item["id"])
            parts = {
                str(name): base64.b64decode(bits, validate=True)
                for name, bits in item.get("parts", {}).items()
            }
            held = item.get("held")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise fail(
                number, "not an encoded record (id, keys, clk, optional parts, held)"
            ) from None
        if held is not None and (not isinstance(held, str) or set(held) - set(FIELD_LETTERS)):
            raise fail(number, f"'held' must be letters of {''.join(FIELD_LETTERS)}")
        if (
            len(clk) != clk_bytes
            or not isinstance(keys, dict)
            or any(len(bits) != clk_bytes for bits in parts.values())
        ):
            raise fail(number, f"a filter is not {header['clk_bits']} bits")
        if any(name not in groups for name in parts):
            raise fail(
                number, f"a filter belongs to no group the header lists ({', '.join(groups)})"
            )
        records.append(EncodedRecord(record_id, keys, clk, parts, held))
    if len(records) != header.get("records", len(records)):
        raise fail(
            1,
            f"the header announces {header.get('records')} records but the file holds "
            f"{len(records)} (truncated?)",
        )
    return EncodedBatch(
        source=str(header["source"]),
        schema_fingerprint=str(header["schema"]),
        secret_check=str(header["secret_check"]),
        clk_bits=int(header["clk_bits"]),
        key_variants=tuple(header.get("key_variants", ())),
        records=tuple(records),
        groups=groups,
        field_bits=_field_bits(header.get("field_bits"), fail),
    )


def _field_bits(raw: Any, fail: Callable[[int, str], EncodingFileError]) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or any(
        k not in FIELD_LETTERS or not isinstance(v, int) or v < 0 for k, v in raw.items()
    ):
        raise fail(1, "'field_bits' must map field letters to bit counts")
    return {str(k): int(v) for k, v in raw.items()}


def load_batch(path: Path | str) -> EncodedBatch:
    with open(path, encoding="utf-8") as stream:
        return read_batch(stream, str(path))
