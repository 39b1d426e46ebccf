"""Bloom-filter encodings: the clkhash v3 format, bit for bit."""

from __future__ import annotations

import base64
import copy
import hmac
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipdata.linkage.bloom import ClkEncoder, InvalidFeatureValue, fold_xor, tokenize
from tipdata.linkage.schema import (
    Comparison,
    SchemaInvalid,
    load_schema,
    load_schema_document,
    parse_schema,
    schema_fingerprint,
)

VECTORS = Path(__file__).with_name("clkhash_vectors.json")
SECRET = b"test secret for bloom filters, 32+ chars"
#: the default schema's features after the identity group (document, phone, street, locality)
NO_OTHER_GROUPS = ["", "", "", ""]


def single_feature_schema(comparison: dict, strategy: dict, hash_: dict, l: int = 64) -> dict:  # noqa: E741
    return {"version": 3,
            "clkConfig": {"l": l, "kdf": {"type": "HKDF", "hash": "SHA256", "keySize": 64,
                                          "salt": base64.b64encode(b"salt").decode(),
                                          "info": base64.b64encode(b"info").decode()}},
            "features": [{"identifier": "person_sex", "format": {"type": "string"},
                          "hashing": {"comparison": comparison, "strategy": strategy, "hash": hash_}}]}


@pytest.mark.parametrize("name", ["default", "variety"])
def test_clk__equals_clkhash_known_answers(name: str) -> None:
    """should reproduce encodings made by clkhash 0.18.3 for the same schema, secret and values.

    The vectors were written by bench/linkage_clkhash_crosscheck.py from clkhash itself, in a
    separate environment; "variety" uses blakeHash, bitsPerFeature, positional n-grams, numeric,
    integer, date and enum formats, UTF-16, a missing-value replacement and XOR folding.
    """
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))[name]
    encoder = ClkEncoder(parse_schema(vectors["schema"]), vectors["secret"].encode())
    ours = [base64.b64encode(encoder.encode(row)).decode() for row in vectors["rows"]]
    assert ours == vectors["clks"]


def test_clk__bits_follow_the_double_hash_formula() -> None:
    """should set g_i = (HMAC-SHA1(k1, t) + i·HMAC-MD5(k2, t)) mod l, bit 0 = top bit of byte 0."""
    document = single_feature_schema({"type": "exact"}, {"bitsPerToken": 5}, {"type": "doubleHash"})
    clk = ClkEncoder(parse_schema(document), SECRET).encode(["ab"])
    material = HKDF(algorithm=hashes.SHA256(), length=128, salt=b"salt", info=b"info").derive(SECRET)
    k1, k2 = material[:64], material[64:]
    first = int.from_bytes(hmac.digest(k1, b"ab", "sha1"), "big") % 64
    step = int.from_bytes(hmac.digest(k2, b"ab", "md5"), "big") % 64
    expected = bytearray(8)
    for i in range(5):
        position = (first + i * step) % 64
        expected[position // 8] |= 0x80 >> (position % 8)
    assert clk == bytes(expected)


def test_clk__default_schema_is_1024_bits_and_keyed() -> None:
    """should give 128 bytes per record, differing between secrets, empty for an empty record."""
    schema = load_schema()
    row = ["amina diallo", "1990", "03", "12", "f", *NO_OTHER_GROUPS]
    one = ClkEncoder(schema, SECRET).encode(row)
    other = ClkEncoder(schema, b"another secret for bloom filters, 32+").encode(row)
    assert len(one) == 128 and one != other
    assert 150 < sum(bin(b).count("1") for b in one) < 400
    assert ClkEncoder(schema, SECRET).encode([""] * 9) == bytes(128)


def test_clk__similar_names_share_most_bits() -> None:
    """should make a one-letter typo keep most bits and a stranger share few."""
    encoder = ClkEncoder(load_schema(), SECRET)

    def dice(a: bytes, b: bytes) -> float:
        x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
        return 2 * (x & y).bit_count() / (x.bit_count() + y.bit_count())

    base = encoder.encode(["amina diallo", "1990", "03", "12", "f", *NO_OTHER_GROUPS])
    typo = encoder.encode(["amina dialo", "1990", "03", "12", "f", *NO_OTHER_GROUPS])
    stranger = encoder.encode(["olena shevchenko", "1975", "11", "02", "f", *NO_OTHER_GROUPS])
    assert dice(base, typo) > 0.9
    assert dice(base, stranger) < 0.4


def test_clk__invalid_value_names_feature_not_value() -> None:
    """should reject a value outside the format, naming the feature and hiding the value."""
    encoder = ClkEncoder(load_schema(), SECRET)
    with pytest.raises(InvalidFeatureValue) as caught:
        encoder.encode(["amina diallo", "19x0", "", "", "", *NO_OTHER_GROUPS])
    assert "person_birth_year" in str(caught.value) and "19x0" not in str(caught.value)


def test_tokenize__ngrams_positional_and_exact() -> None:
    """should pad n-grams with n-1 spaces, number positional ones from 1, keep exact values whole."""
    assert tokenize(Comparison("ngram", n=2), "abc") == [" a", "ab", "bc", "c "]
    assert tokenize(Comparison("ngram", n=1, positional=True), "ab") == ["1 a", "2 b"]
    assert tokenize(Comparison("ngram", n=3), "ab") == ["  a", " ab", "ab ", "b  "]
    assert tokenize(Comparison("exact"), "f") == ["f"]
    assert tokenize(Comparison("ngram", n=2), "") == []


def test_tokenize__numeric_neighbourhoods_overlap_for_close_numbers() -> None:
    """should give close numbers shared tokens and distant numbers none."""
    comparison = Comparison("numeric", threshold_distance=3, resolution=2)
    near = set(tokenize(comparison, "1990")) & set(tokenize(comparison, "1991"))
    far = set(tokenize(comparison, "1990")) & set(tokenize(comparison, "2001"))
    assert len(tokenize(comparison, "1990")) == 5 and near and not far


def test_bits_per_feature__spreads_insertions_over_tokens() -> None:
    """should insert a feature's bits over its tokens, the first tokens taking the remainder."""
    schema = parse_schema(single_feature_schema({"type": "ngram", "n": 2}, {"bitsPerFeature": 10},
                                                {"type": "blakeHash"}))
    assert schema.features[0].hashing.bits_per_token(3) == [4, 3, 3]


def test_fold_xor__halves_the_filter() -> None:
    """should XOR the first half of the filter onto the second."""
    assert fold_xor(0b1100_1010, 8, 1) == 0b1100 ^ 0b1010
    assert fold_xor(0b1100_1010, 8, 2) == (0b11 ^ 0b00) ^ (0b10 ^ 0b10)


def test_parse_schema__reports_every_problem() -> None:
    """should collect all problems of a broken schema in one error."""
    document = load_schema_document()
    document["version"] = 2
    document["clkConfig"]["l"] = 0
    document["features"][0]["hashing"]["comparison"] = {"type": "soundex"}
    document["features"][1]["hashing"]["strategy"] = {"bitsPerToken": 0}
    with pytest.raises(SchemaInvalid) as caught:
        parse_schema(document)
    problems = caught.value.problems
    assert len(problems) == 4
    assert any("version" in p for p in problems) and any("soundex" in p for p in problems)


def test_schema_fingerprint__ignores_key_order_not_content() -> None:
    """should identify a schema by content, whatever the JSON key order."""
    document = load_schema_document()
    reordered = json.loads(json.dumps(document, sort_keys=True))
    changed = copy.deepcopy(document)
    changed["features"][0]["hashing"]["strategy"]["bitsPerToken"] += 1
    assert schema_fingerprint(document) == schema_fingerprint(reordered)
    assert schema_fingerprint(document) != schema_fingerprint(changed)


def test_default_schema__identity_then_optional_groups_double_hash_1024() -> None:
    """should ship a 1024-bit, HMAC double-hashing schema over names, date of birth and sex,
    then document number, phone, street and locality (compared when both records hold them)."""
    schema = load_schema()
    assert schema.l == 1024 and schema.xor_folds == 0
    assert [f.identifier for f in schema.features] == [
        "person_names", "person_birth_year", "person_birth_month", "person_birth_day", "person_sex",
        "person_id_document_number", "person_phone", "person_address_street", "person_address_locality"]
    assert all(f.hashing.hash_type == "doubleHash" for f in schema.features)
    assert schema.features[0].hashing.comparison == Comparison("ngram", n=2)
    assert len(schema.fingerprint) == 64 and int(schema.fingerprint, 16) >= 0
