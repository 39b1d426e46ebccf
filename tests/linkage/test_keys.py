"""Exact keys: deterministic for one secret, unrelated across secrets, tolerant by variant."""

from __future__ import annotations

from pathlib import Path

import pytest

from tipdata.linkage.keys import (
    KEY_VARIANTS,
    SECRET_ENV_VAR,
    SECRET_FILE_ENV_VAR,
    ExactKeyer,
    linkage_secret,
    secret_check,
)
from tipdata.linkage.normalise import normalise_person

SECRET = b"test secret for exact keys, 32+ chars"
OTHER_SECRET = b"another secret for exact keys, 32+ chars"


def keys_of(given, family, dob, sex="female", citizenship=("sn",), secret=SECRET, **kw):
    return ExactKeyer(secret).keys(normalise_person(given, family, dob, sex, citizenship, **kw))


def test_exact_keyer__deterministic() -> None:
    """should give the same keys for the same identifiers, from separate keyer instances."""
    first = keys_of("Amina", "Diallo", "1990-03-12", id_document="A-123 456")
    second = keys_of("AMINA", "Diallo ", "12/03/1990", id_document="a123456")
    assert first == second
    assert set(first) == {v.name for v in KEY_VARIANTS}


def test_exact_keyer__document_key_only_for_long_numbers() -> None:
    """should key a document number of 5 or more letters and digits, not a short serial."""
    assert "document" in keys_of("Amina", "Diallo", "1990-03-12", id_document="AB 1234")
    assert "document" not in keys_of("Amina", "Diallo", "1990-03-12", id_document="12-34")
    assert "document" not in keys_of("Amina", "Diallo", "1990-03-12")


def test_exact_keyer__secret_dependent() -> None:
    """should share no key between two secrets."""
    first = keys_of("Amina", "Diallo", "1990-03-12")
    other = keys_of("Amina", "Diallo", "1990-03-12", secret=OTHER_SECRET)
    assert set(first) == set(other)
    assert not set(first.values()) & set(other.values())


def test_exact_keyer__keys_hold_no_plaintext() -> None:
    """should write keys as 128-bit base64url strings unrelated to the names."""
    keys = keys_of("Amina", "Diallo", "1990-03-12")
    for key in keys.values():
        assert len(key) == 22 and "amina" not in key.lower() and "1990" not in key


def test_exact_keyer__swapped_names_share_names_dob_only() -> None:
    """should link swapped given and family names through names_dob, not through exact."""
    straight = keys_of("Amina", "Diallo", "1990-03-12")
    swapped = keys_of("Diallo", "Amina", "1990-03-12")
    assert straight["names_dob"] == swapped["names_dob"]
    assert straight["names"] == swapped["names"]
    assert straight["exact"] != swapped["exact"]
    assert straight["given_dob"] != swapped["given_dob"]


def test_exact_keyer__day_month_swap_shares_names_dob() -> None:
    """should give 12 March and 3 December the same names_dob key, but not the same exact key."""
    march = keys_of("Amina", "Diallo", "1990-03-12")
    december = keys_of("Amina", "Diallo", "1990-12-03")
    assert march["names_dob"] == december["names_dob"]
    assert march["exact"] != december["exact"]


def test_exact_keyer__missing_field_omits_variants() -> None:
    """should leave out variants whose fields are missing, so 'no date' is never a shared key."""
    no_date = keys_of("Amina", "Diallo", None)
    assert set(no_date) == {"names"}
    no_given = keys_of(None, "Diallo", "1990-03-12")
    assert set(no_given) == {"family_dob"}


def test_exact_keyer__year_only_date_shares_names_year_sex() -> None:
    """should link a year-only date of birth to the full date through names_year_sex."""
    full = keys_of("Amina", "Diallo", "1990-03-12")
    year = keys_of("Amina", "Diallo", "1990")
    assert full["names_year_sex"] == year["names_year_sex"]
    assert "exact" not in year and "given_dob" not in year


def test_exact_keyer__variants_never_collide() -> None:
    """should give different keys to different variants over the same field values."""
    keys = keys_of("Ana", "Ana", "1990-03-12")
    assert keys["given_dob"] != keys["family_dob"]
    assert len(set(keys.values())) == len(keys)


def test_exact_keyer__sex_and_citizenship_only_in_exact() -> None:
    """should keep names_dob when sex or citizenship differ or are missing."""
    one = keys_of("Amina", "Diallo", "1990-03-12", sex="female", citizenship=("sn",))
    other = keys_of("Amina", "Diallo", "1990-03-12", sex=None, citizenship=())
    assert one["names_dob"] == other["names_dob"]
    assert one["exact"] != other["exact"]


def test_linkage_secret__environment_then_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """should read the secret from the environment, else from the file it names."""
    monkeypatch.setenv(SECRET_ENV_VAR, "s" * 20)
    assert linkage_secret() == b"s" * 20
    monkeypatch.delenv(SECRET_ENV_VAR)
    key_file = tmp_path / "linkage.key"
    key_file.write_text("f" * 24 + "\n", encoding="utf-8")
    monkeypatch.setenv(SECRET_FILE_ENV_VAR, str(key_file))
    assert linkage_secret() == b"f" * 24


def test_linkage_secret__missing_names_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """should say which variables were looked at when no secret is set."""
    monkeypatch.delenv(SECRET_ENV_VAR, raising=False)
    monkeypatch.delenv(SECRET_FILE_ENV_VAR, raising=False)
    with pytest.raises(ValueError, match=SECRET_ENV_VAR) as caught:
        linkage_secret()
    assert SECRET_FILE_ENV_VAR in str(caught.value)


def test_linkage_secret__short_secret_refused_without_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    """should refuse a guessable secret and never print it."""
    monkeypatch.setenv(SECRET_ENV_VAR, "hunter2")
    with pytest.raises(ValueError, match="shorter than 16") as caught:
        linkage_secret()
    assert "hunter2" not in str(caught.value)


def test_secret_check__equal_only_for_equal_secrets() -> None:
    """should let batches be compared for their secret without revealing it."""
    assert secret_check(SECRET) == secret_check(SECRET)
    assert secret_check(SECRET) != secret_check(OTHER_SECRET)
    assert SECRET.decode() not in secret_check(SECRET)
