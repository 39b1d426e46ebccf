"""Key files: generation, owner-only private keys, passphrases, and clear load errors."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tipdata.crypto.keys import (
    KeyFileExists,
    KeyFileMissing,
    NotAPrivateKey,
    PassphraseRequired,
    UnsupportedKey,
    WrongPassphrase,
    generate_key_files,
    generate_private_key,
    load_private_key,
    private_key_file_is_encrypted,
    public_key_base64,
    public_key_from_base64,
    public_key_pem,
    write_private_key,
)

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """Run with the common 022 umask so modes are predictable, then restore the old one."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    previous = os.umask(0o022)
    try:
        yield generate_key_files(tmp_path_factory.mktemp("keys"), PASSPHRASE)
    finally:
        os.umask(previous)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generate_key_files__private_key_is_0600_and_passphrase_protected(key_files) -> None:
    """The private key should be owner-only and an encrypted PKCS#8 PEM."""
    assert mode_of(key_files.private_key_path) == 0o600
    pem = key_files.private_key_path.read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert private_key_file_is_encrypted(key_files.private_key_path)
    assert key_files.bits == 2048


def test_generate_key_files__public_key_and_base64_match_the_private_key(key_files) -> None:
    """The public PEM and the printed base64 should both be the private key's public half."""
    private_key = load_private_key(key_files.private_key_path, PASSPHRASE)
    public_pem = key_files.public_key_path.read_bytes()
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert mode_of(key_files.public_key_path) == 0o644
    assert public_pem == public_key_pem(private_key)
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key_files.public_key_base64 == base64.b64encode(der).decode()


def test_write_private_key__created_0600_without_chmod(
    tmp_path: Path, usual_umask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mode should come from os.open itself; no chmod may run after writing."""

    def refuse(*args, **kwargs):
        raise AssertionError("chmod must not be used on key files")

    monkeypatch.setattr(os, "chmod", refuse)
    monkeypatch.setattr(os, "fchmod", refuse)
    monkeypatch.setattr(Path, "chmod", refuse)
    opened: list[int] = []
    real_open = os.open

    def spy_open(path, flags, mode=0o777, *args, **kwargs):
        opened.append(mode)
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy_open)
    path = write_private_key(generate_private_key(), tmp_path / "k.pem", PASSPHRASE)
    assert opened == [0o600]
    assert mode_of(path) == 0o600


def test_write_private_key__never_overwrites_an_existing_file(tmp_path: Path) -> None:
    """An existing file at the target should be left untouched and KeyFileExists raised."""
    target = tmp_path / "k.pem"
    target.write_bytes(b"keep me")
    with pytest.raises(KeyFileExists) as caught:
        write_private_key(generate_private_key(), target, PASSPHRASE)
    assert str(target) in str(caught.value)
    assert target.read_bytes() == b"keep me"


def test_write_private_key__empty_passphrase_is_refused(tmp_path: Path) -> None:
    """A private key should never be written unprotected."""
    with pytest.raises(ValueError, match="passphrase"):
        write_private_key(generate_private_key(), tmp_path / "k.pem", b"")
    assert not (tmp_path / "k.pem").exists()


def test_generate_key_files__existing_pair_is_refused_before_generating(tmp_path: Path) -> None:
    """A clash on either file should raise KeyFileExists and write nothing new."""
    (tmp_path / "odk-submissions-public.pem").write_text("old public key")
    with pytest.raises(KeyFileExists):
        generate_key_files(tmp_path, PASSPHRASE)
    assert not (tmp_path / "odk-submissions-private.pem").exists()


@pytest.mark.parametrize("bits", [1024, 4096])
def test_generate_private_key__unsupported_sizes_are_refused(bits: int) -> None:
    """Only 2048 and 3072 bits should be offered."""
    with pytest.raises(ValueError, match="2048 or 3072"):
        generate_private_key(bits)


def test_generate_key_files__3072_bits(tmp_path: Path) -> None:
    """3072-bit pairs should be generated on request."""
    files = generate_key_files(tmp_path, PASSPHRASE, bits=3072)
    assert load_private_key(files.private_key_path, PASSPHRASE).key_size == 3072


def test_load_private_key__missing_passphrase_names_the_file(key_files) -> None:
    """An encrypted key without a passphrase should raise PassphraseRequired naming the file."""
    with pytest.raises(PassphraseRequired) as caught:
        load_private_key(key_files.private_key_path, None)
    assert str(key_files.private_key_path) in str(caught.value)
    assert caught.value.reason == "passphrase_required"


def test_load_private_key__wrong_passphrase_names_the_file(key_files) -> None:
    """A wrong passphrase should raise WrongPassphrase whose message names the key file."""
    with pytest.raises(WrongPassphrase) as caught:
        load_private_key(key_files.private_key_path, b"not the passphrase")
    assert caught.value.path == key_files.private_key_path
    assert str(key_files.private_key_path) in str(caught.value)
    assert "passphrase" in str(caught.value)
    assert caught.value.__cause__ is None


def test_load_private_key__plain_pkcs1_key_loads_with_or_without_passphrase(
    tmp_path: Path, vectors
) -> None:
    """ODK tooling's unencrypted PKCS#1 PEM should load; a passphrase given for it is ignored."""
    path = tmp_path / "central.pem"
    path.write_text(vectors["private_key_pem"])
    assert not private_key_file_is_encrypted(path)
    assert load_private_key(path, None).key_size == 2048
    assert load_private_key(path, b"ignored").key_size == 2048


@pytest.mark.parametrize(
    "content",
    [b"hello, not a key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"],
    ids=["not-pem", "damaged-pem"],
)
def test_load_private_key__not_a_key_names_the_file(tmp_path: Path, content: bytes) -> None:
    """A file that is not a private key should raise NotAPrivateKey naming it."""
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(NotAPrivateKey) as caught:
        load_private_key(path, None)
    assert str(path) in str(caught.value)


def test_load_private_key__public_key_file_is_explained(key_files) -> None:
    """Passing the public key by mistake should say decryption needs the private half."""
    with pytest.raises(NotAPrivateKey, match="private half"):
        load_private_key(key_files.public_key_path, PASSPHRASE)


def test_load_private_key__missing_file_names_it(tmp_path: Path) -> None:
    """A missing key file should raise KeyFileMissing naming the path."""
    with pytest.raises(KeyFileMissing) as caught:
        load_private_key(tmp_path / "nope.pem", None)
    assert "nope.pem" in str(caught.value)


def test_load_private_key__non_rsa_key_is_unsupported(tmp_path: Path) -> None:
    """An EC key should be refused: ODK encryption is RSA only."""
    path = tmp_path / "ec.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(UnsupportedKey, match="RSA"):
        load_private_key(path, None)


def test_public_key_base64__one_line_without_armour(key_files) -> None:
    """The settings value should be single-line base64 of DER SPKI with no PEM header."""
    value = public_key_base64(key_files.public_key_path.read_bytes())
    assert "\n" not in value and "-----" not in value
    assert base64.b64decode(value, validate=True)[:2] == b"\x30\x82"  # DER SEQUENCE
    assert len(value) == 392  # 294-byte SPKI of a 2048-bit key
    assert value == key_files.public_key_base64


def test_public_key_base64__accepts_pkcs1_public_pem_and_str(key_files) -> None:
    """`BEGIN RSA PUBLIC KEY` PEM and str input should give the same SPKI base64."""
    private_key = load_private_key(key_files.private_key_path, PASSPHRASE)
    pkcs1 = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    )
    assert public_key_base64(pkcs1.decode()) == key_files.public_key_base64


def test_public_key_base64__refuses_private_key_pem(tmp_path: Path, vectors) -> None:
    """A private key should never be turned into a form setting."""
    with pytest.raises(ValueError, match="private key"):
        public_key_base64(vectors["private_key_pem"])


def test_public_key_from_base64__round_trips_the_settings_value(key_files) -> None:
    """Parsing the settings value should give back the same RSA public key."""
    public_key = public_key_from_base64(key_files.public_key_base64)
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key_pem(public_key) == key_files.public_key_path.read_bytes()
