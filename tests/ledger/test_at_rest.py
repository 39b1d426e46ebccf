"""AES-GCM sealing with key ids, and where the ledger key comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tipdata.crypto.at_rest import (
    KEY_ENV_VAR,
    KEY_FILE_ENV_VAR,
    DataKey,
    DecryptionFailed,
    KeyInvalid,
    KeyMissing,
    Keyring,
    UnknownKeyId,
    associated_data,
    load_keyring,
    token_key_id,
)

AAD = associated_data("value", "6f1c2a4e-0000-5000-8000-000000000001", "person_given_names")


def test_seal__opens_with_the_same_place_only() -> None:
    """should open a sealed value only with the record id and element code it was sealed for."""
    ring = Keyring(DataKey.generate())
    token = ring.seal(b"Amara", AAD)
    assert ring.open(token, AAD) == b"Amara"
    assert b"Amara" not in token
    with pytest.raises(DecryptionFailed, match="another record or element"):
        ring.open(token, associated_data("value", "6f1c2a4e-0000-5000-8000-000000000002", "person_given_names"))
    with pytest.raises(DecryptionFailed):
        ring.open(token, associated_data("value", "6f1c2a4e-0000-5000-8000-000000000001", "person_phone"))


def test_seal__tampered_ciphertext_fails() -> None:
    """should refuse a ciphertext with one flipped bit."""
    ring = Keyring(DataKey.generate())
    token = bytearray(ring.seal(b"Amara", AAD))
    token[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        ring.open(bytes(token), AAD)


def test_seal__token_names_its_key() -> None:
    """should put the sealing key's id in front of the ciphertext, and nonces never repeat."""
    key = DataKey.generate()
    ring = Keyring(key)
    first, second = ring.seal(b"x", AAD), ring.seal(b"x", AAD)
    assert token_key_id(first) == key.key_id
    assert first != second


def test_open__unknown_key_names_the_env_var() -> None:
    """should say which key id is missing and name TIPDATA_LEDGER_KEY in the fix."""
    token = Keyring(DataKey.generate()).seal(b"x", AAD)
    other = Keyring(DataKey.generate(), origin=KEY_ENV_VAR)
    with pytest.raises(UnknownKeyId) as caught:
        other.open(token, AAD)
    assert token_key_id(token) in str(caught.value)
    assert KEY_ENV_VAR in str(caught.value)


def test_associated_data__parts_cannot_be_shifted() -> None:
    """should give different associated data when text moves between parts."""
    assert associated_data("ab", "c") != associated_data("a", "bc")


def test_load_keyring__missing_key_names_both_variables() -> None:
    """should raise KeyMissing naming TIPDATA_LEDGER_KEY and TIPDATA_LEDGER_KEY_FILE."""
    with pytest.raises(KeyMissing) as caught:
        load_keyring(environ={})
    assert KEY_ENV_VAR in str(caught.value) and KEY_FILE_ENV_VAR in str(caught.value)


def test_load_keyring__bad_key_names_the_variable_not_the_key() -> None:
    """should name the variable holding a malformed key, without echoing the key."""
    with pytest.raises(KeyInvalid) as caught:
        load_keyring(environ={KEY_ENV_VAR: "c2hvcnQta2V5"})
    assert KEY_ENV_VAR in str(caught.value)
    assert "c2hvcnQta2V5" not in str(caught.value)


def test_load_keyring__env_then_file_first_key_current(tmp_path: Path) -> None:
    """should prefer TIPDATA_LEDGER_KEY over the key file, and take the first listed key as current."""
    new, old, filed = DataKey.generate(), DataKey.generate(), DataKey.generate()
    key_file = tmp_path / "ledger.key"
    key_file.write_text(f"# ledger key\n{filed.to_base64()}\n", encoding="utf-8")
    from_env = load_keyring(environ={KEY_ENV_VAR: f"{new.to_base64()},{old.to_base64()}",
                                     KEY_FILE_ENV_VAR: str(key_file)})
    from_file = load_keyring(environ={KEY_FILE_ENV_VAR: str(key_file)})
    assert from_env.current_key_id == new.key_id and from_env.key_ids == (new.key_id, old.key_id)
    assert from_file.current_key_id == filed.key_id
    assert str(key_file) in from_file.origin


def test_load_keyring__unreadable_file_names_the_path(tmp_path: Path) -> None:
    """should name the key file and TIPDATA_LEDGER_KEY_FILE when the file cannot be read."""
    missing = tmp_path / "nope.key"
    with pytest.raises(KeyMissing) as caught:
        load_keyring(environ={KEY_FILE_ENV_VAR: str(missing)})
    assert str(missing) in str(caught.value) and KEY_FILE_ENV_VAR in str(caught.value)


def test_data_key__repr_hides_the_secret() -> None:
    """should never show key bytes in a repr."""
    key = DataKey.generate()
    assert key.to_base64() not in repr(key) and repr(key.secret) not in repr(key)
    assert key.key_id in repr(key)
