"""Encoded batches: what leaves an agency holds ids, keys and filters — never plaintext."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tipdata.linkage.bloom import InvalidFeatureValue
from tipdata.linkage.encoding import (
    EncodingFileError,
    PersonIdentifiers,
    encode_records,
    load_batch,
    read_batch,
)
from tipdata.linkage.schema import SchemaInvalid, load_schema, load_schema_document, parse_schema

SECRET = b"test secret for encodings, 32+ chars long"

PEOPLE = [
    PersonIdentifiers("r1", "Amina", "Diallo", "1990-03-12", "female", ("SN",)),
    PersonIdentifiers("r2", "Olena", "Шевченко", "1985", "female", ("UA",)),
    PersonIdentifiers(
        "r3",
        "José María",
        "O'Brien",
        "2001-11-30",
        "male",
        ("ES", "IE"),
        id_document_number="X1234567",
        phone="+34 612 345 678",
    ),
]
# as written and as normalised; words of 4+ characters are looked for in the whole file,
# case-sensitively, so they cannot turn up by chance in base64 (about 1 in 16 million per
# position); all are looked for in the readable parts (header, key names, ids)
PLAINTEXT = [
    "Amina",
    "amina",
    "Diallo",
    "diallo",
    "Olena",
    "olena",
    "Шевченко",
    "shevchenko",
    "José",
    "jose",
    "María",
    "maria",
    "O'Brien",
    "obrien",
    "1990",
    "1985",
    "2001",
    "19900312",
    "X1234567",
    "x1234567",
    "612345678",
    "female",
    "SN",
    "UA",
]


def test_encode_records__no_plaintext_in_output(tmp_path: Path) -> None:
    """should write no name, date, document or phone, in any case or spelling, to the file."""
    batch = encode_records(PEOPLE, SECRET, load_schema(), source="ngo")
    path = tmp_path / "ngo.jsonl"
    batch.write(path)
    text = path.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    readable = json.dumps(lines[0]) + "".join(
        json.dumps(sorted(line["keys"])) for line in lines[1:]
    )
    for word in PLAINTEXT:
        assert len(word) < 4 or word not in text, word
        assert word.lower() not in readable.lower(), word
    assert lines[0]["format"] == "tipdata-linkage-encodings" and lines[0]["records"] == 3
    assert [set(line) for line in lines[1:]] == [{"id", "keys", "clk", "held"}] * 2 + [
        {"id", "keys", "clk", "held", "parts"}
    ]
    assert all(set(line["held"]) <= set("gfymds") for line in lines[1:])


def test_encode_records__every_record_gets_keys_and_a_filter() -> None:
    """should give each record its keys (as its fields allow) and a 1024-bit filter."""
    batch = encode_records(PEOPLE, SECRET, load_schema(), source="ngo")
    assert [r.record_id for r in batch.records] == ["r1", "r2", "r3"]
    assert all(len(r.clk) == 128 for r in batch.records)
    assert "exact" in batch.records[0].keys and "exact" not in batch.records[1].keys
    assert "names_year_sex" in batch.records[1].keys


def test_encode_records__groups_beyond_identity_get_their_own_filters() -> None:
    """should give a record with a document or phone one filter per group it holds, whose
    union is its CLK, and none to a record with identity fields only."""
    batch = encode_records(PEOPLE, SECRET, load_schema(), source="ngo")
    assert batch.groups == ("identity", "document", "phone", "street", "locality")
    plain, rich = batch.records[0], batch.records[2]
    assert plain.parts == {}
    assert set(rich.parts) == {"identity", "document", "phone"}
    union = 0
    for bits in rich.parts.values():
        union |= int.from_bytes(bits, "big")
    assert union == int.from_bytes(rich.clk, "big")
    assert "document" in rich.keys and "document" not in plain.keys


def test_read_batch__version_1_files_still_read() -> None:
    """should read a version-1 file (no groups) as identity filters only."""
    batch = encode_records(PEOPLE[:2], SECRET, load_schema(), source="ngo")
    lines = list(batch.lines())
    header = json.loads(lines[0])
    header["version"] = 1
    del header["groups"]
    again = read_batch(io.StringIO("\n".join([json.dumps(header), *lines[1:]]) + "\n"), "old.jsonl")
    assert again.groups == ("identity",) and again.records == batch.records


def test_read_batch__part_of_an_undeclared_group_rejected() -> None:
    """should refuse a record filter whose group the header does not list."""
    batch = encode_records(PEOPLE, SECRET, load_schema(), source="ngo")
    lines = list(batch.lines())
    record = json.loads(lines[3])
    record["parts"]["shoe_size"] = record["clk"]
    lines[3] = json.dumps(record)
    with pytest.raises(EncodingFileError, match=r"ngo.jsonl, line 4: .*no group"):
        read_batch(io.StringIO("\n".join(lines) + "\n"), "ngo.jsonl")


def test_encoded_batch__round_trip(tmp_path: Path) -> None:
    """should read back exactly what was written."""
    batch = encode_records(PEOPLE, SECRET, load_schema(), source="police")
    path = tmp_path / "police.jsonl"
    batch.write(path)
    again = load_batch(path)
    assert again == batch
    assert again.records == batch.records


def test_read_batch__truncated_file_rejected() -> None:
    """should refuse a file with fewer records than its header announces."""
    batch = encode_records(PEOPLE, SECRET, load_schema(), source="ngo")
    lines = list(batch.lines())[:-1]
    with pytest.raises(EncodingFileError, match="announces 3 records"):
        read_batch(io.StringIO("\n".join(lines) + "\n"), "ngo.jsonl")


def test_read_batch__bad_line_named() -> None:
    """should name the file and line of a damaged record."""
    batch = encode_records(PEOPLE, SECRET, load_schema(), source="ngo")
    lines = list(batch.lines())
    lines[2] = '{"id": "r2", "keys": {}, "clk": "not base64!"}'
    with pytest.raises(EncodingFileError, match=r"ngo.jsonl, line 3"):
        read_batch(io.StringIO("\n".join(lines) + "\n"), "ngo.jsonl")


def test_read_batch__not_an_encodings_file() -> None:
    """should refuse a file that is not tipdata encodings, saying what it expected."""
    with pytest.raises(EncodingFileError, match="line 1"):
        read_batch(io.StringIO('{"envelope": {}, "values": {}}\n'), "records.jsonl")


def test_encode_records__duplicate_ids_rejected() -> None:
    """should refuse to encode one record id twice."""
    with pytest.raises(ValueError, match="appears twice"):
        encode_records([PEOPLE[0], PEOPLE[0]], SECRET, load_schema(), source="ngo")


def test_encode_records__unknown_feature_rejected() -> None:
    """should refuse a schema feature tipdata cannot fill, unless it is ignored."""
    document = load_schema_document()
    document["features"][0]["identifier"] = "mothers_maiden_name"
    with pytest.raises(SchemaInvalid, match="mothers_maiden_name"):
        encode_records(PEOPLE, SECRET, parse_schema(document), source="ngo")
    document["features"][0] = {"identifier": "mothers_maiden_name", "ignored": True}
    assert len(encode_records(PEOPLE, SECRET, parse_schema(document), source="ngo").records) == 3


def test_person_identifiers__repr_hides_identifiers() -> None:
    """should show the record id only."""
    assert "Amina" not in repr(PEOPLE[0]) and "r1" in repr(PEOPLE[0])


def test_encode_records__value_outside_schema_names_record_not_value() -> None:
    """should say which record and feature break the schema, never the value."""
    document = load_schema_document()
    document["features"][1]["format"]["pattern"] = "[0-9]{2}"
    with pytest.raises(InvalidFeatureValue) as caught:
        encode_records(PEOPLE, SECRET, parse_schema(document), source="ngo")
    message = str(caught.value)
    assert "record r1" in message and "person_birth_year" in message and "1990" not in message
