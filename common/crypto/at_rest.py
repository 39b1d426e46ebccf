"""Encryption at rest for the sync ledger: AES-256-GCM with a key id on every ciphertext.

The ledger keeps copies of trafficking cases; a stolen database file or backup must not reveal
names, contacts, immigration status or exploitation details. Each protected value is sealed on
its own with AES-GCM, and the associated data binds it to where it lives (record id + element
code), so a ciphertext copied into another record or element fails to open instead of silently
showing the wrong person's data.

Keys are 32 random bytes, written as base64. They come from an argument, `TIPDATA_LEDGER_KEY`
or a key file named by `TIPDATA_LEDGER_KEY_FILE` (in that order). Several keys may be given, the
first is the *current* key (seals everything new), the others only open older ciphertexts; that
is how a rotation runs: new key first, old keys after, until `rotate_key` has re-sealed
everything. A key id (derived from the key, never the key itself) travels in front of every
ciphertext so the right key is picked and a missing one is named.

Nothing here logs or prints key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_ENV_VAR = "TIPDATA_LEDGER_KEY"
KEY_FILE_ENV_VAR = "TIPDATA_LEDGER_KEY_FILE"
KEY_BYTES = 32
KEY_ID_BYTES = 8
NONCE_BYTES = 12
TOKEN_VERSION = 1
_HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES
_AAD_PREFIX = b"tipdata-at-rest/v1"
_FIX_KEY = (f"set {KEY_ENV_VAR} to a base64-encoded {KEY_BYTES}-byte key, or {KEY_FILE_ENV_VAR} to "
            "a file holding one (make one with "
            "`python -c \"from tipdata.crypto.at_rest import generate_key_text; print(generate_key_text())\"`)")


class AtRestError(Exception):
    """A key could not be found, read or used. `hint` says how to fix it; no key material inside."""

    reason = "at_rest_error"

    def __init__(self, detail: str, hint: str) -> None:
        self.detail = detail
        self.hint = hint
        super().__init__(f"{detail}. Fix: {hint}")


class KeyMissing(AtRestError):
    reason = "key_missing"


class KeyInvalid(AtRestError):
    reason = "key_invalid"


class UnknownKeyId(AtRestError):
    """The ciphertext was sealed with a key the keyring does not hold."""

    reason = "unknown_key_id"


class DecryptionFailed(AtRestError):
    """Authentication failed: the ciphertext was altered, truncated or moved to another place."""

    reason = "decryption_failed"


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"tipdata at-rest v1 " + purpose).derive(secret)


@dataclass(frozen=True)
class DataKey:
    """One 32-byte key; `key_id` names it in ciphertexts and errors, the secret never shows."""

    secret: bytes = field(repr=False)
    key_id: str = field(init=False)
    _aead: AESGCM = field(init=False, repr=False, compare=False)
    _hash_key: bytes = field(init=False, repr=False, compare=False)
    #: version byte + raw key id: the start of every token this key seals
    _header: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise KeyInvalid(f"a ledger key must be {KEY_BYTES} bytes, got {len(self.secret)}", _FIX_KEY)
        key_id = hashlib.sha256(b"tipdata at-rest key id v1\0" + self.secret).hexdigest()[:2 * KEY_ID_BYTES]
        object.__setattr__(self, "key_id", key_id)
        # separate sub-keys for sealing and hashing: one key never serves two algorithms
        object.__setattr__(self, "_aead", AESGCM(_derive(self.secret, b"aead")))
        object.__setattr__(self, "_hash_key", _derive(self.secret, b"content-hash"))
        object.__setattr__(self, "_header", bytes([TOKEN_VERSION]) + bytes.fromhex(key_id))

    @classmethod
    def generate(cls) -> DataKey:
        """A fresh random key. Example: `key = DataKey.generate(); text = key.to_base64()`."""
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_base64(cls, text: str, origin: str = "the key") -> DataKey:
        """Read a key written as standard or URL-safe base64; errors name `origin`, not the text."""
        cleaned = text.strip()
        try:
            raw = base64.b64decode(cleaned.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise KeyInvalid(f"{origin} is not valid base64", _FIX_KEY) from None
        if len(raw) != KEY_BYTES:
            raise KeyInvalid(f"{origin} decodes to {len(raw)} bytes, a ledger key has {KEY_BYTES}",
                             _FIX_KEY)
        return cls(raw)

    def to_base64(self) -> str:
        return base64.b64encode(self.secret).decode("ascii")


def generate_key_text() -> str:
    """A new key as one line of base64, ready for a key file or `TIPDATA_LEDGER_KEY`."""
    return DataKey.generate().to_base64()


def associated_data(*parts: str) -> bytes:
    """Bind a ciphertext to its place, e.g. `associated_data("value", record_id, element_code)`.

    Parts are length-prefixed so ("ab", "c") and ("a", "bc") never give the same bytes.
    """
    return _AAD_PREFIX + b"".join(length_prefixed(part) for part in parts)


def length_prefixed(part: str) -> bytes:
    """One part of `associated_data`: its UTF-8 length (4 bytes, big-endian), then the bytes.

    `associated_data(*parts) + length_prefixed(last) == associated_data(*parts, last)`, so a
    caller binding many values to one record builds the record's part once.
    """
    data = part.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


class Keyring:
    """The current key (seals) and older keys (open only), with where they came from.

    Example:
        ring = Keyring(DataKey.generate())
        token = ring.seal(b"secret", associated_data("value", rid, "person_given_names"))
        ring.open(token, associated_data("value", rid, "person_given_names")) == b"secret"
    """

    def __init__(self, current: DataKey, previous: Iterable[DataKey] = (), *,
                 origin: str = "the keyring given") -> None:
        self.current = current
        self.origin = origin
        self._keys: dict[str, DataKey] = {current.key_id: current}
        for key in previous:
            self._keys.setdefault(key.key_id, key)
        #: token header (version + raw key id) → key, so opening needs no hex round trip
        self._by_header = {key._header: key for key in self._keys.values()}

    def __repr__(self) -> str:
        return f"Keyring(current={self.current.key_id!r}, key_ids={list(self._keys)!r})"

    @property
    def current_key_id(self) -> str:
        return self.current.key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def has(self, key_id: str) -> bool:
        return key_id in self._keys

    def key(self, key_id: str) -> DataKey:
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownKeyId(
                f"data was sealed with ledger key id {key_id}, which {self.origin} does not hold "
                f"(it holds {', '.join(self._keys)})",
                f"set {KEY_ENV_VAR} (or {KEY_FILE_ENV_VAR}) to the key that sealed the data; "
                "during a rotation list the new key first and the old keys after it",
            ) from None

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """version(1) | key id(8) | nonce(12) | AES-GCM ciphertext and tag, with the current key."""
        nonce = os.urandom(NONCE_BYTES)
        return self.current._header + nonce + self.current._aead.encrypt(nonce, plaintext, aad)

    def seal_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        """`seal` for many (plaintext, aad) pairs: one draw of random bytes for all the nonces.

        A record seals a dozen values at once; one `os.urandom` call instead of a dozen is most
        of the saving. Each token is exactly what `seal` would make (fresh random nonce each).
        """
        key = self.current
        encrypt, header = key._aead.encrypt, key._header
        randomness = os.urandom(NONCE_BYTES * len(items))
        tokens = []
        for n, (plaintext, aad) in enumerate(items):
            nonce = randomness[n * NONCE_BYTES:(n + 1) * NONCE_BYTES]
            tokens.append(header + nonce + encrypt(nonce, plaintext, aad))
        return tokens

    def open(self, token: bytes, aad: bytes) -> bytes:
        """Open a token sealed by `seal` with any key of the ring; raise with a fix otherwise."""
        key = self._by_header.get(token[:1 + KEY_ID_BYTES]) if len(token) >= _HEADER_BYTES + 16 else None
        if key is None:
            key = self.key(token_key_id(token))  # raises: malformed, or a key the ring lacks
        try:
            return key._aead.decrypt(token[1 + KEY_ID_BYTES:_HEADER_BYTES], token[_HEADER_BYTES:], aad)
        except InvalidTag:
            raise DecryptionFailed(
                "a ledger ciphertext failed authentication (altered, truncated, or copied from "
                "another record or element)",
                "restore the row from a backup; do not edit sealed columns by hand",
            ) from None

    def content_hash(self, data: bytes, key_id: str | None = None) -> str:
        """Keyed hash (HMAC-SHA256) so a hash of a short secret cannot be confirmed by guessing."""
        key = self.key(key_id) if key_id else self.current
        return hmac.digest(key._hash_key, data, "sha256").hex()


def token_key_id(token: bytes) -> str:
    """The key id a token was sealed with, without opening it."""
    if len(token) < _HEADER_BYTES + 16 or token[0] != TOKEN_VERSION:
        raise DecryptionFailed("a ledger ciphertext is malformed or of an unknown version",
                               "restore the row from a backup; do not edit sealed columns by hand")
    return token[1:1 + KEY_ID_BYTES].hex()


def _keys_from_text(text: str, origin: str) -> list[DataKey]:
    """One key per line or comma; blank lines and `#` comments are ignored; first is current."""
    items: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        items.extend(part for part in (p.strip() for p in line.split(",")) if part)
    if not items:
        raise KeyMissing(f"{origin} holds no key", _FIX_KEY)
    return [DataKey.from_base64(item, f"key {n} of {origin}") for n, item in enumerate(items, 1)]


def load_keyring(keys: str | Iterable[DataKey] | None = None,
                 environ: Mapping[str, str] | None = None) -> Keyring:
    """The ledger keyring: argument > `TIPDATA_LEDGER_KEY` > file named by `TIPDATA_LEDGER_KEY_FILE`.

    Raises KeyMissing / KeyInvalid whose message names the variable or file looked at (never the
    key). Example: `ring = load_keyring()` with `TIPDATA_LEDGER_KEY=<base64>` in the environment.
    """
    env = os.environ if environ is None else environ
    if keys is not None:
        if isinstance(keys, str):
            found = _keys_from_text(keys, "the key argument")
        else:
            found = list(keys)
            if not found:
                raise KeyMissing("no ledger key was given", _FIX_KEY)
        return Keyring(found[0], found[1:], origin="the keys given")
    if env.get(KEY_ENV_VAR, "").strip():
        found = _keys_from_text(env[KEY_ENV_VAR], KEY_ENV_VAR)
        return Keyring(found[0], found[1:], origin=KEY_ENV_VAR)
    if env.get(KEY_FILE_ENV_VAR, "").strip():
        path = Path(env[KEY_FILE_ENV_VAR])
        origin = f"the key file {path} ({KEY_FILE_ENV_VAR})"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyMissing(f"cannot read {origin}: {exc.strerror}",
                             f"check the path and that the file is readable by this user; {_FIX_KEY}") from None
        found = _keys_from_text(text, origin)
        return Keyring(found[0], found[1:], origin=origin)
    raise KeyMissing(f"no ledger key found: neither {KEY_ENV_VAR} nor {KEY_FILE_ENV_VAR} is set", _FIX_KEY)
