"""RSA key pairs for ODK/Kobo submission encryption.

An organisation puts the public half into the XLSForm (`settings.public_key`); devices then
encrypt every submission so the server only ever stores ciphertext. The private half stays with
the organisation, on disk only as a passphrase-protected PEM readable by its owner alone.

Passphrases always arrive as arguments: the CLI reads them from an environment variable or a
hidden prompt. Nothing in this module logs or prints key material.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ALLOWED_KEY_SIZES: tuple[int, ...] = (2048, 3072)
DEFAULT_KEY_SIZE = 2048
PASSPHRASE_ENV_VAR = "TIPDATA_KEY_PASSPHRASE"
DEFAULT_KEY_NAME = "odk-submissions"

_PRIVATE_KEY_MODE = 0o600
_PUBLIC_KEY_MODE = 0o644
_ENCRYPTED_PEM_MARKERS = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----", b"Proc-Type: 4,ENCRYPTED")


class KeyFileError(Exception):
    """A key file could not be written or read.

    `reason` is a stable code, `path` the file concerned, `hint` how to fix it. The message
    names the file and never contains key material.
    """

    reason: ClassVar[str] = "key_file_error"

    def __init__(self, path: Path | str, detail: str, hint: str) -> None:
        self.path = Path(path)
        self.detail = detail
        self.hint = hint
        super().__init__(f"{self.path}: {detail}. Fix: {hint}")


class KeyFileMissing(KeyFileError):
    reason = "key_file_missing"


class KeyFileExists(KeyFileError):
    reason = "key_file_exists"


class KeyFileUnreadable(KeyFileError):
    reason = "key_file_unreadable"


class PassphraseRequired(KeyFileError):
    reason = "passphrase_required"


class WrongPassphrase(KeyFileError):
    reason = "wrong_passphrase"


class NotAPrivateKey(KeyFileError):
    reason = "not_a_private_key"


class UnsupportedKey(KeyFileError):
    reason = "unsupported_key"


@dataclass(frozen=True)
class KeyPairFiles:
    """Where `generate_key_files` put the pair, and the value for `settings.public_key`."""

    private_key_path: Path
    public_key_path: Path
    public_key_base64: str
    bits: int


def generate_private_key(bits: int = DEFAULT_KEY_SIZE) -> rsa.RSAPrivateKey:
    """Generate an RSA key for ODK encryption (2048 or 3072 bits, e = 65537).

    Example: `key = generate_private_key(3072)`
    """
    if bits not in ALLOWED_KEY_SIZES:
        allowed = " or ".join(str(size) for size in ALLOWED_KEY_SIZES)
        raise ValueError(f"RSA key size {bits} is not supported; use {allowed} bits")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(private_key: rsa.RSAPrivateKey, passphrase: bytes) -> bytes:
    """Serialise a private key as passphrase-protected PKCS#8 PEM.

    Example: `pem = private_key_pem(key, b"correct horse battery staple")`
    """
    _require_passphrase(passphrase)
    return private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.BestAvailableEncryption(passphrase),
    )


def public_key_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """Serialise the public half as SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).

    Example: `Path("odk-public.pem").write_bytes(public_key_pem(key))`
    """
    public_key = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public_key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def public_key_base64(pem: bytes | str) -> str:
    """Return the one-line base64 DER SubjectPublicKeyInfo that `settings.public_key` wants.

    Accepts `BEGIN PUBLIC KEY` (SPKI) and `BEGIN RSA PUBLIC KEY` (PKCS#1) PEM; the result has
    no PEM armour and no line breaks, which is what pyxform and Kobo require.

    Example: `public_key_base64(Path("odk-public.pem").read_bytes())` → `"MIIBIjANBgkqh…"`
    """
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    if b"PRIVATE KEY-----" in data:
        raise ValueError(
            "expected a public key PEM but got a private key; pass the public key file "
            "(never put private key material into a form)"
        )
    try:
        public_key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError("not a PEM public key (expected '-----BEGIN PUBLIC KEY-----')") from exc
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("ODK encryption needs an RSA public key")
    der = public_key.public_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return base64.b64encode(der).decode("ascii")


def public_key_from_base64(text: str) -> rsa.RSAPublicKey:
    """Load the RSA public key from a form's `settings.public_key` value.

    Example: `encrypt_submission(public_key_from_base64(settings["public_key"]), ...)`
    """
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        public_key = serialization.load_der_public_key(der)
    except (binascii.Error, ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError("not a base64 DER SubjectPublicKeyInfo public key") from exc
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("ODK encryption needs an RSA public key")
    return public_key


def write_private_key(private_key: rsa.RSAPrivateKey, path: Path, passphrase: bytes) -> Path:
    """Write a passphrase-protected private key PEM that only its owner can read.

    The file is created with mode 0600 in the same `open` call that creates it (never widened
    and narrowed later) and an existing file is never overwritten.

    Example: `write_private_key(key, Path("keys/odk-private.pem"), passphrase)`
    """
    path = Path(path)
    _write_new_file(path, private_key_pem(private_key, passphrase), _PRIVATE_KEY_MODE)
    return path


def write_public_key(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, path: Path) -> Path:
    """Write the public key as SPKI PEM; refuses to overwrite an existing file.

    Example: `write_public_key(key, Path("keys/odk-public.pem"))`
    """
    path = Path(path)
    _write_new_file(path, public_key_pem(key), _PUBLIC_KEY_MODE)
    return path


def generate_key_files(
    out_dir: Path,
    passphrase: bytes,
    *,
    bits: int = DEFAULT_KEY_SIZE,
    name: str = DEFAULT_KEY_NAME,
) -> KeyPairFiles:
    """Generate a key pair and write `<name>-private.pem` (0600, encrypted) and `<name>-public.pem`.

    Checks both paths before generating, so a clash leaves nothing half-written.

    Example: `files = generate_key_files(Path("keys"), passphrase, bits=3072)`
    """
    _require_passphrase(passphrase)
    if not name or any(sep in name for sep in ("/", "\\", "\x00")) or name.startswith("."):
        raise ValueError(f"key name {name!r} must be a plain file name prefix")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path = out_dir / f"{name}-private.pem"
    public_path = out_dir / f"{name}-public.pem"
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise KeyFileExists(
                path,
                "already exists",
                "choose another --out-dir or name; existing keys are never overwritten",
            )
    private_key = generate_private_key(bits)
    write_private_key(private_key, private_path, passphrase)
    try:
        write_public_key(private_key, public_path)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    return KeyPairFiles(
        private_key_path=private_path,
        public_key_path=public_path,
        public_key_base64=public_key_base64(public_key_pem(private_key)),
        bits=bits,
    )


def is_encrypted_pem(data: bytes) -> bool:
    """True when a private key PEM is passphrase-protected (PKCS#8 or legacy OpenSSL).

    Example: `is_encrypted_pem(Path("odk-private.pem").read_bytes())` → `True`
    """
    return any(marker in data for marker in _ENCRYPTED_PEM_MARKERS)


def private_key_file_is_encrypted(path: Path) -> bool:
    """True when the key file at `path` needs a passphrase; raises `KeyFileError` if unreadable.

    Example: `passphrase = ask() if private_key_file_is_encrypted(key_path) else None`
    """
    return is_encrypted_pem(_read_key_file(Path(path)))


def load_private_key(path: Path, passphrase: bytes | None) -> rsa.RSAPrivateKey:
    """Load an RSA private key from a plain or passphrase-protected PEM (PKCS#1 or PKCS#8).

    A passphrase given for an unencrypted key is ignored. Every failure raises a
    `KeyFileError` subclass whose message names the file: `KeyFileMissing`,
    `PassphraseRequired`, `WrongPassphrase`, `NotAPrivateKey`, `UnsupportedKey`.

    Example: `key = load_private_key(Path("odk-private.pem"), b"correct horse battery staple")`
    """
    path = Path(path)
    data = _read_key_file(path)
    if b"-----BEGIN" not in data:
        raise NotAPrivateKey(
            path, "is not a PEM file", "pass the private key PEM written by `tipdata keys generate`"
        )
    if b"PRIVATE KEY-----" not in data and b"PUBLIC KEY-----" in data:
        raise NotAPrivateKey(
            path,
            "holds a public key; decryption needs the private half",
            "pass the private key PEM that pairs with the form's public key",
        )
    encrypted = is_encrypted_pem(data)
    if encrypted and not passphrase:
        raise PassphraseRequired(
            path,
            "is passphrase-protected and no passphrase was given",
            f"set {PASSPHRASE_ENV_VAR} or enter the passphrase when prompted",
        )
    try:
        key = serialization.load_pem_private_key(data, password=passphrase if encrypted else None)
    except ValueError as exc:
        if encrypted:
            raise WrongPassphrase(
                path,
                "could not be decrypted: wrong passphrase (or the file is damaged)",
                "check the passphrase used when the key was generated",
            ) from None
        raise NotAPrivateKey(
            path, "could not be parsed as a PEM private key", "pass an RSA private key PEM"
        ) from exc
    except TypeError as exc:
        raise PassphraseRequired(
            path,
            "is passphrase-protected and no passphrase was given",
            f"set {PASSPHRASE_ENV_VAR} or enter the passphrase when prompted",
        ) from exc
    except UnsupportedAlgorithm as exc:
        raise UnsupportedKey(
            path, "uses a key type or cipher this system cannot read", "use an RSA key"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UnsupportedKey(
            path,
            f"holds a {type(key).__name__.lstrip('_')}, not an RSA key",
            "ODK encryption needs RSA; generate one with `tipdata keys generate`",
        )
    return key


def _require_passphrase(passphrase: bytes) -> None:
    if not isinstance(passphrase, bytes):
        raise TypeError("passphrase must be bytes (encode the text as UTF-8)")
    if not passphrase:
        raise ValueError("a non-empty passphrase is required to protect the private key")


def _read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileMissing(path, "does not exist", "check the key path") from None
    except IsADirectoryError:
        raise KeyFileUnreadable(path, "is a directory", "pass the key file itself") from None
    except OSError as exc:
        raise KeyFileUnreadable(
            path, f"cannot be read ({exc.strerror})", "check the file's permissions"
        ) from None


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `mode` atomically (O_CREAT | O_EXCL); never follows or replaces."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise KeyFileExists(
            path, "already exists", "choose another location; keys are never overwritten"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
