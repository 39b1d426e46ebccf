"""Record ↔ row fast paths: the same tokens, bindings, values and hashes as the plain definitions."""

from __future__ import annotations

import base64
import codecs
import datetime as dt
import hashlib
import hmac
import json

import pytest

from tipdata.crypto.at_rest import DataKey, DecryptionFailed, Keyring, associated_data
from tipdata.ledger.record_rows import (
    _decode,
    _json_loads,
    _plain_codes,
    content_hash,
    dumps,
    is_sealed,
    open_values,
    seal_values,
    value_aad,
)
from tipdata.model import Codebook
from tipdata.records import coerce_value

RID = "6f1c2a4e-0000-5000-8000-000000000001"
VALUES = {"person_given_names": "Amara Okafor-Testname", "person_phone": "+234 803 555 0199",
          "person_immigration_status": "irregular", "person_age_reported": 34,
          "expl_palermo_means": ["deception", "threat"], "note": None, "flag": True,
          "ratio": 0.25, "nested": {"b": 1, "a": "ü"}, "empty": "", "émigré": "naïve – ✓"}


def test_seal_values__each_token_opens_with_its_own_binding() -> None:
    """should seal every value so that `keyring.open` with `value_aad(record id, code)` gives its JSON."""
    ring = Keyring(DataKey.generate())
    sealed = seal_values(VALUES, RID, ring)
    assert list(sealed) == list(VALUES)
    for code, token in sealed.items():
        plain = ring.open(base64.b64decode(token), value_aad(RID, code))
        assert plain == dumps(VALUES[code]).encode("utf-8")
    assert len({base64.b64decode(t)[9:21] for t in sealed.values()}) == len(VALUES)  # fresh nonces


def test_open_values__round_trips_and_refuses_a_moved_token() -> None:
    """should give back every value, and refuse a token copied to another element."""
    ring = Keyring(DataKey.generate())
    sealed = seal_values(VALUES, RID, ring)
    assert open_values(sealed, RID, ring) == json.loads(dumps(VALUES))
    moved = {"person_phone": sealed["person_given_names"]}
    with pytest.raises(DecryptionFailed):
        open_values(moved, RID, ring)


def test_open_values__reads_tokens_sealed_one_by_one() -> None:
    """should open tokens made by `Keyring.seal` with `associated_data` (rows written before)."""
    ring = Keyring(DataKey.generate())
    sealed = {code: base64.b64encode(ring.seal(dumps(value).encode("utf-8"),
                                               associated_data("value", RID, code))).decode("ascii")
              for code, value in VALUES.items()}
    assert open_values(sealed, RID, ring) == json.loads(dumps(VALUES))


def test_json_loads__equals_json_loads() -> None:
    """should parse like `json.loads` for what `dumps` writes and for other encodings."""
    texts = [dumps(v).encode("utf-8") for v in VALUES.values()]
    texts += [codecs.BOM_UTF8 + b'"x"', '"wide"'.encode("utf-16"), '"be"'.encode("utf-16-be"), b"7"]
    for text in texts:
        assert _json_loads(text) == json.loads(text)


def test_content_hash__is_hmac_sha256_of_the_content(codebook: Codebook) -> None:
    """should be the HMAC-SHA256 under the key's hash sub-key, or plain SHA-256 without a keyring."""
    key = DataKey.generate()
    content = dumps(VALUES).encode("utf-8")
    assert content_hash(content, Keyring(key)) == hmac.new(key._hash_key, content, hashlib.sha256).hexdigest()
    assert content_hash(content, None) == hashlib.sha256(content).hexdigest()


def test_plain_codes__agrees_with_is_sealed(codebook: Codebook) -> None:
    """should leave readable exactly the codes `is_sealed` says no to."""
    plain = _plain_codes(codebook)
    assert plain
    for code in [*codebook.elements, "not_in_the_codebook"]:
        assert (code in plain) == (not is_sealed(codebook, code))


@pytest.mark.parametrize("raw", ["", "text", "2026-02-01", " 2026-02-01 ", 34, 0, True, 1.5, "12",
                                 ["b", "a", "a"], "a b", "not a date", None])
def test_decode__equals_coercion(codebook: Codebook, raw: object) -> None:
    """should decode every stored value as `coerce_value` does (the raw value when it cannot)."""
    for code, element in codebook.elements.items():
        try:
            expected = coerce_value(element, raw) if raw is not None else None
        except (ValueError, TypeError):
            expected = raw
        got = _decode(codebook, code, raw)
        assert got == expected and type(got) is type(expected), (code, raw)
    assert _decode(codebook, "not_in_the_codebook", raw) == raw


def test_decode__dates_stay_dates(codebook: Codebook) -> None:
    """should turn a stored ISO date back into a date for a date element."""
    dates = [c for c, e in codebook.elements.items() if e.type == "date"]
    assert dates
    assert _decode(codebook, dates[0], "2026-02-01") == dt.date(2026, 2, 1)
