"""ODK encrypted submissions: decrypt what Kobo stores, and produce such submissions for tests.

KoboCollect, ODK Collect and Enketo (Kobo web forms) encrypt each submission on the device, so
Kobo keeps only a plain *manifest* (`submission.xml`) beside `submission.xml.enc` and one
`<name>.enc` per media file. The format (xforms-spec "Encryption"; Collect `EncryptionUtils`;
Briefcase `CipherFactory`/`Submission`; Central `lib/util/crypto.js`) is:

1. a fresh 32-byte AES key, wrapped with RSA-OAEP (SHA-256 digest, MGF1-SHA-256, empty label)
   into `base64EncryptedKey`;
2. per file an IV from `md5(instanceID + aes_key)`, with byte `i % 16` incremented before file
   `i`; media first in manifest order, `submission.xml` last;
3. AES-256-CFB (128-bit feedback) over PKCS#7-padded content;
4. `base64EncryptedElementSignature`: RSA-OAEP-wrapped md5 of the lines form id, version,
   base64EncryptedKey, instanceID, `<media>::<md5 hex>`…, `submission.xml::<md5 hex>`, each
   followed by a newline.

`decrypt_submission` decrypts everything into memory, verifies the signature, and only then
returns a `DecryptedSubmission`; any problem raises a `DecryptionError` subclass whose `reason`
is a stable code and whose message names the instance id and file, never their contents.

Legacy Enketo signed non-ASCII submissions differently (enketo/enketo#1421); those signatures
are checked against what Enketo computed and reported as `signature_scheme="enketo-legacy"`.

The signature proves the files belong together and were not altered after encryption. It is
not proof of origin: anyone holding the form's public key can produce a valid submission.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import re
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Literal
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

try:  # cryptography >= 47: CFB moved here; the old name warns and is due to go in 49.
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # cryptography <= 46 only has it among the primitives.
    from cryptography.hazmat.primitives.ciphers.modes import CFB

__all__ = [
    "AES_KEY_BYTES",
    "MANIFEST_FILE_NAME",
    "ODK_OAEP",
    "SUBMISSION_XML_ENC",
    "CiphertextCorrupt",
    "ENKETO_LEGACY_NOTE",
    "DecryptedSubmission",
    "DecryptionError",
    "EncryptedSubmission",
    "FailedSubmission",
    "FileMissing",
    "FileUnreadable",
    "ManifestInvalid",
    "NotEncrypted",
    "PlaintextNotXml",
    "SignatureMismatch",
    "SignatureMissing",
    "SignatureScheme",
    "SubmissionManifest",
    "TruncatedCiphertext",
    "WrongKey",
    "decrypt_directory",
    "decrypt_file_content",
    "decrypt_submission",
    "decrypt_submission_folder",
    "encrypt_file_content",
    "encrypt_submission",
    "find_submission_manifests",
    "parse_manifest",
    "signature_text",
    "submission_file_iv",
    "unwrap_submission_key",
    "write_encrypted_submission",
]

ODK_OAEP = rsa_padding.OAEP(
    mgf=rsa_padding.MGF1(algorithm=hashes.SHA256()),
    algorithm=hashes.SHA256(),
    label=None,
)
"""BouncyCastle's `RSA/NONE/OAEPWithSHA256AndMGF1Padding`, as Collect, Enketo and Briefcase use."""

AES_KEY_BYTES = 32
IV_BYTES = 16
MANIFEST_FILE_NAME = "submission.xml"
SUBMISSION_XML_ENC = "submission.xml.enc"
SIGNATURE_XML_NAME = "submission.xml"
ENC_SUFFIX = ".enc"

NS_SUBMISSIONS = "http://opendatakit.org/submissions"
NS_COLLECT_ENCRYPTED = "http://www.opendatakit.org/xforms/encrypted"
NS_OPENROSA = "http://openrosa.org/xforms"

ManifestDialect = Literal["enketo", "collect"]
SignatureScheme = Literal["odk", "enketo-legacy"]

ENKETO_LEGACY_NOTE = (
    "Enketo before enketo/enketo#1422 (Aug 2025) took the md5 of submission.xml over the "
    "JavaScript string instead of its UTF-8 bytes (enketo/enketo#1421), so its signatures of "
    "submissions with non-ASCII text differ from the spec. Such a signature is still checked, "
    "against the digest node-forge computed, and the result says signature_scheme="
    "'enketo-legacy'."
)


# --------------------------------------------------------------------------- errors


class DecryptionError(Exception):
    """A submission could not be decrypted and verified; nothing of it is returned.

    `reason` is a stable code for programs, `instance_id` and `file_name` locate the problem
    (either may be None when unknown), `hint` says how to fix it. Messages never contain
    submission contents.
    """

    reason: ClassVar[str] = "decryption_failed"
    default_hint: ClassVar[str] = "check the submission's files and the private key"

    def __init__(
        self,
        detail: str,
        *,
        instance_id: str | None,
        file_name: str | None,
        hint: str | None = None,
    ) -> None:
        self.detail = detail
        self.instance_id = instance_id
        self.file_name = file_name
        self.hint = hint or self.default_hint
        where = f"submission {_printable(instance_id) if instance_id else '(instance id unknown)'}"
        if file_name:
            where += f", file {_printable(file_name)}"
        super().__init__(f"{where}: {detail} [{self.reason}]. Fix: {self.hint}")


class ManifestInvalid(DecryptionError):
    reason = "manifest_invalid"
    default_hint = (
        "fetch the manifest as XML (Kobo: GET /api/v2/assets/{uid}/data/{id}.xml); the JSON "
        "view loses the form id, version and media order"
    )


class NotEncrypted(ManifestInvalid):
    reason = "not_encrypted"
    default_hint = "this submission.xml is not an encrypted-submission manifest; leave it out"


class FileMissing(DecryptionError):
    reason = "file_missing"
    default_hint = "download every .enc attachment the manifest lists into the manifest's folder"


class FileUnreadable(DecryptionError):
    reason = "file_unreadable"
    default_hint = "check the file's permissions"


class WrongKey(DecryptionError):
    reason = "wrong_key"
    default_hint = "use the private key whose public half is in the form's settings.public_key"


class CiphertextCorrupt(DecryptionError):
    reason = "corrupt_ciphertext"
    default_hint = (
        "re-download the file; a padding error usually means a damaged file, a wrong key, or "
        "a manifest paired with another record's files"
    )


class TruncatedCiphertext(CiphertextCorrupt):
    reason = "truncated_ciphertext"
    default_hint = "re-download the file; it was cut short"


class SignatureMismatch(DecryptionError):
    reason = "signature_mismatch"
    default_hint = (
        "the files were altered or swapped, or the manifest's id, version or instanceID was "
        "changed; re-download the submission and its attachments"
    )


class SignatureMissing(DecryptionError):
    reason = "signature_missing"
    default_hint = (
        "Collect and Enketo always sign; re-download the manifest, or pass "
        "require_signature=False to accept unsigned submissions knowingly"
    )


class PlaintextNotXml(DecryptionError):
    reason = "plaintext_not_xml"
    default_hint = (
        "an unsigned submission decrypted to something that is not XML: a wrong file order or "
        "a changed instanceID; re-download the submission"
    )


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class SubmissionManifest:
    """The plain part of an encrypted submission, as parsed from its `submission.xml`."""

    form_id: str
    version: str | None
    instance_id: str
    base64_encrypted_key: str
    encrypted_xml_file: str
    media_files: tuple[str, ...]
    base64_encrypted_signature: str | None

    @property
    def encrypted_files(self) -> tuple[str, ...]:
        """Every `.enc` file in IV order: media first, then the submission XML."""
        return (*self.media_files, self.encrypted_xml_file)


@dataclass(frozen=True)
class DecryptedSubmission:
    """A decrypted, verified submission. Contents are left out of `repr` so logs stay clean."""

    instance_id: str
    form_id: str
    version: str | None
    submission_xml: bytes = field(repr=False)
    media: Mapping[str, bytes] = field(repr=False)
    """Original file name (without `.enc`) → plaintext, in manifest order."""
    signature_verified: bool = True
    signature_scheme: SignatureScheme | None = "odk"
    """How the signature matched: `"odk"` (the spec), `"enketo-legacy"` (see
    `ENKETO_LEGACY_NOTE`), or None when unsigned and accepted with `require_signature=False`."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "media", MappingProxyType(dict(self.media)))


@dataclass(frozen=True)
class EncryptedSubmission:
    """What a device uploads: the manifest plus `.enc` files (media in order, then the XML)."""

    instance_id: str
    manifest_xml: bytes = field(repr=False)
    files: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))


@dataclass(frozen=True)
class FailedSubmission:
    """A submission folder that `decrypt_directory` could not decrypt, and why."""

    manifest_path: Path
    error: DecryptionError

    @property
    def reason(self) -> str:
        return self.error.reason

    @property
    def instance_id(self) -> str | None:
        return self.error.instance_id


# --------------------------------------------------------------------------- primitives


def submission_file_iv(instance_id: str, aes_key: bytes, file_index: int) -> bytes:
    """IV of the `file_index`-th encrypted file (0-based; media first, XML last).

    The seed is `md5(utf8(instanceID) + aes_key)`; before file `i` byte `i % 16` is
    incremented (mod 256), and increments accumulate across files.

    Example: `submission_file_iv("uuid:22525f8e-…", aes_key, 0).hex()` → `"39bbb089…"`
    """
    if file_index < 0:
        raise ValueError("file_index must be >= 0")
    seed = bytearray(
        hashlib.md5(instance_id.encode("utf-8") + aes_key, usedforsecurity=False).digest()
    )
    for position in range(min(file_index + 1, IV_BYTES)):
        increments = (file_index - position) // IV_BYTES + 1
        seed[position] = (seed[position] + increments) % 256
    return bytes(seed)


def encrypt_file_content(aes_key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-256-CFB128 over PKCS#7-padded `plaintext`, as Collect's `AES/CFB/PKCS5Padding`.

    Example: `encrypt_file_content(aes_key, submission_file_iv(iid, aes_key, 0), b"<data/>")`
    """
    padder = sym_padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), CFB(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def decrypt_file_content(
    aes_key: bytes,
    iv: bytes,
    ciphertext: bytes,
    *,
    instance_id: str | None = None,
    file_name: str | None = None,
) -> bytes:
    """Decrypt one `.enc` file and strip its PKCS#7 padding.

    Raises `TruncatedCiphertext` (length not a multiple of 16) or `CiphertextCorrupt` (bad
    padding). A wrong IV garbles only the first block and is caught by the signature instead.

    Example: `decrypt_file_content(aes_key, submission_file_iv(iid, aes_key, 1), enc_bytes)`
    """
    decryptor = Cipher(algorithms.AES(aes_key), CFB(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = sym_padding.PKCS7(algorithms.AES.block_size).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        if len(ciphertext) % IV_BYTES:
            raise TruncatedCiphertext(
                f"ciphertext is {len(ciphertext)} bytes, not a multiple of 16, and fails "
                "PKCS#7 unpadding",
                instance_id=instance_id,
                file_name=file_name,
            ) from None
        raise CiphertextCorrupt(
            "decrypted data has invalid PKCS#7 padding",
            instance_id=instance_id,
            file_name=file_name,
        ) from None


def unwrap_submission_key(
    private_key: rsa.RSAPrivateKey,
    base64_encrypted_key: str,
    *,
    instance_id: str | None = None,
) -> bytes:
    """Recover the 32-byte AES key from `base64EncryptedKey` (RSA-OAEP SHA-256/MGF1-SHA-256).

    Example: `aes_key = unwrap_submission_key(private_key, manifest.base64_encrypted_key)`
    """
    wrapped = _b64decode(
        base64_encrypted_key,
        element="base64EncryptedKey",
        instance_id=instance_id,
    )
    try:
        aes_key = private_key.decrypt(wrapped, ODK_OAEP)
    except ValueError:
        raise WrongKey(
            "the AES key could not be unwrapped with this private key",
            instance_id=instance_id,
            file_name=MANIFEST_FILE_NAME,
        ) from None
    if len(aes_key) != AES_KEY_BYTES:
        raise WrongKey(
            f"the unwrapped key is {len(aes_key)} bytes, not {AES_KEY_BYTES}",
            instance_id=instance_id,
            file_name=MANIFEST_FILE_NAME,
        )
    return aes_key


def signature_text(
    *,
    form_id: str,
    version: str | None,
    base64_encrypted_key: str,
    instance_id: str,
    media: Mapping[str, bytes],
    submission_xml: bytes,
) -> str:
    """The newline-terminated lines whose md5 the element signature wraps.

    `media` maps original names (no `.enc`) to plaintext, in manifest order.

    Example: `signature_text(form_id="f", version="1", base64_encrypted_key=k,
    instance_id="uuid:1", media={}, submission_xml=b"<data/>")`
    → `"f\\n1\\n<k>\\nuuid:1\\nsubmission.xml::<md5 hex>\\n"`
    """
    return _signature_text_from_digests(
        form_id=form_id,
        version=version,
        base64_encrypted_key=base64_encrypted_key,
        instance_id=instance_id,
        media_md5_hex={name: _md5_hex(content) for name, content in media.items()},
        submission_xml_md5_hex=_md5_hex(submission_xml),
    )


def _signature_text_from_digests(
    *,
    form_id: str,
    version: str | None,
    base64_encrypted_key: str,
    instance_id: str,
    media_md5_hex: Mapping[str, str],
    submission_xml_md5_hex: str,
) -> str:
    lines = [form_id]
    if version is not None:
        lines.append(version)
    lines += [base64_encrypted_key, instance_id]
    lines += [f"{name}::{digest}" for name, digest in media_md5_hex.items()]
    lines.append(f"{SIGNATURE_XML_NAME}::{submission_xml_md5_hex}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- manifest


def parse_manifest(manifest_xml: bytes) -> SubmissionManifest:
    """Parse an encrypted-submission manifest in any dialect (spec, Enketo, Collect).

    Elements are matched by local name; namespaces, prefixes and element order are ignored.
    DTDs and entities are refused (defusedxml). Raises `ManifestInvalid` or `NotEncrypted`.

    Example: `parse_manifest(Path("uuid123/submission.xml").read_bytes()).media_files`
    """
    try:
        root = SafeElementTree.fromstring(manifest_xml)
    except (ParseError, DefusedXmlException) as exc:
        raise ManifestInvalid(
            f"manifest is not well-formed or safe XML ({type(exc).__name__})",
            instance_id=None,
            file_name=MANIFEST_FILE_NAME,
        ) from None

    attributes = {_local_name(name): value for name, value in root.attrib.items()}
    singles: dict[str, list[str]] = {}
    media_files: list[str] = []
    for element in root.iter():
        name = _local_name(element.tag)
        if name in (
            "base64EncryptedKey",
            "encryptedXmlFile",
            "base64EncryptedElementSignature",
            "instanceID",
        ):
            singles.setdefault(name, []).append(_text(element))
        elif name == "media":
            media_files += [_text(child) for child in element if _local_name(child.tag) == "file"]

    instance_ids = singles.get("instanceID", [])
    instance_id = instance_ids[0] if len(instance_ids) == 1 and instance_ids[0] else None

    def invalid(detail: str) -> ManifestInvalid:
        return ManifestInvalid(detail, instance_id=instance_id, file_name=MANIFEST_FILE_NAME)

    if attributes.get("encrypted", "").strip().lower() != "yes":
        raise NotEncrypted(
            'root element lacks encrypted="yes"',
            instance_id=instance_id,
            file_name=MANIFEST_FILE_NAME,
        )
    for name in ("base64EncryptedKey", "encryptedXmlFile", "instanceID"):
        values = singles.get(name, [])
        if len(values) != 1 or not values[0]:
            found = "missing or empty" if not any(values) else f"present {len(values)} times"
            raise invalid(f"<{name}> is {found}; exactly one is required")
    signatures = singles.get("base64EncryptedElementSignature", [])
    if len(signatures) > 1:
        raise invalid("<base64EncryptedElementSignature> appears more than once")
    form_id = attributes.get("id", "")
    if not form_id:
        raise invalid("root element has no form id attribute")

    encrypted_xml_file = singles["encryptedXmlFile"][0]
    for file_name in (*media_files, encrypted_xml_file):
        problem = _unsafe_file_name_problem(file_name)
        if problem:
            raise invalid(f"file name {file_name!r} {problem}")
    if len(set(media_files)) != len(media_files):
        raise invalid("a media file is listed twice")
    if encrypted_xml_file in media_files:
        raise invalid("the encrypted XML file is also listed as media")
    if any(name[: -len(ENC_SUFFIX)] == SIGNATURE_XML_NAME for name in media_files):
        raise invalid(f"a media file is named {SIGNATURE_XML_NAME!r}")

    return SubmissionManifest(
        form_id=form_id,
        version=attributes.get("version"),
        instance_id=singles["instanceID"][0],
        base64_encrypted_key=singles["base64EncryptedKey"][0],
        encrypted_xml_file=encrypted_xml_file,
        media_files=tuple(media_files),
        base64_encrypted_signature=(signatures[0] or None) if signatures else None,
    )


# --------------------------------------------------------------------------- decryption


def decrypt_submission(
    manifest_xml: bytes,
    encrypted_files: Mapping[str, bytes],
    private_key: rsa.RSAPrivateKey,
    *,
    require_signature: bool = True,
) -> DecryptedSubmission:
    """Decrypt and verify one submission entirely in memory.

    `encrypted_files` maps `.enc` names (as the manifest lists them) to their bytes. Every
    file is decrypted and the signature checked before anything is returned; on any failure a
    `DecryptionError` subclass is raised and no plaintext escapes. An unsigned manifest is
    refused unless `require_signature=False`, in which case the result says
    `signature_verified=False` and the XML must at least parse.

    Example:
        result = decrypt_submission(manifest, {"submission.xml.enc": enc}, private_key)
        result.submission_xml  # b"<data id=...>...</data>"
    """
    manifest = parse_manifest(manifest_xml)
    return _decrypt_manifest(
        manifest, encrypted_files, private_key, require_signature=require_signature
    )


def find_submission_manifests(directory: Path) -> list[Path]:
    """Every `submission.xml` under `directory` (Briefcase/Kobo layout: one folder per record).

    Example: `find_submission_manifests(Path("instances"))` → `[…/uuid1/submission.xml, …]`
    """
    return sorted(path for path in Path(directory).rglob(MANIFEST_FILE_NAME) if path.is_file())


def decrypt_submission_folder(
    folder: Path,
    private_key: rsa.RSAPrivateKey,
    *,
    require_signature: bool = True,
) -> DecryptedSubmission:
    """Decrypt the submission whose manifest `submission.xml` sits beside its `.enc` files.

    Example: `decrypt_submission_folder(Path("instances/uuid3f6c…"), private_key)`
    """
    folder = Path(folder)
    manifest_xml = _read_file(folder / MANIFEST_FILE_NAME, instance_id=None)
    manifest = parse_manifest(manifest_xml)
    encrypted_files: dict[str, bytes] = {}
    missing = [name for name in manifest.encrypted_files if not (folder / name).is_file()]
    if missing:
        raise _file_missing(manifest, missing)
    for name in manifest.encrypted_files:
        encrypted_files[name] = _read_file(folder / name, instance_id=manifest.instance_id)
    return _decrypt_manifest(
        manifest, encrypted_files, private_key, require_signature=require_signature
    )


def decrypt_directory(
    directory: Path,
    private_key: rsa.RSAPrivateKey,
    *,
    require_signature: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> Iterator[DecryptedSubmission | FailedSubmission]:
    """Decrypt every submission folder under `directory`, one result per manifest.

    A failing submission yields a `FailedSubmission` and the walk goes on. `on_progress` is
    called as `(done, total)` after each submission so a CLI can draw a progress bar.

    Example:
        for outcome in decrypt_directory(Path("instances"), private_key):
            if isinstance(outcome, FailedSubmission):
                print(outcome.manifest_path, outcome.reason)
    """
    manifests = find_submission_manifests(directory)
    total = len(manifests)
    for done, manifest_path in enumerate(manifests, start=1):
        try:
            yield decrypt_submission_folder(
                manifest_path.parent, private_key, require_signature=require_signature
            )
        except DecryptionError as error:
            yield FailedSubmission(manifest_path=manifest_path, error=error)
        if on_progress is not None:
            on_progress(done, total)


def _decrypt_manifest(
    manifest: SubmissionManifest,
    encrypted_files: Mapping[str, bytes],
    private_key: rsa.RSAPrivateKey,
    *,
    require_signature: bool,
) -> DecryptedSubmission:
    instance_id = manifest.instance_id
    missing = [name for name in manifest.encrypted_files if name not in encrypted_files]
    if missing:
        raise _file_missing(manifest, missing)
    if manifest.base64_encrypted_signature is None and require_signature:
        raise SignatureMissing(
            "manifest has no base64EncryptedElementSignature",
            instance_id=instance_id,
            file_name=MANIFEST_FILE_NAME,
        )

    aes_key = unwrap_submission_key(
        private_key, manifest.base64_encrypted_key, instance_id=instance_id
    )
    media: dict[str, bytes] = {}
    for index, enc_name in enumerate(manifest.media_files):
        media[enc_name[: -len(ENC_SUFFIX)]] = decrypt_file_content(
            aes_key,
            submission_file_iv(instance_id, aes_key, index),
            encrypted_files[enc_name],
            instance_id=instance_id,
            file_name=enc_name,
        )
    submission_xml = decrypt_file_content(
        aes_key,
        submission_file_iv(instance_id, aes_key, len(manifest.media_files)),
        encrypted_files[manifest.encrypted_xml_file],
        instance_id=instance_id,
        file_name=manifest.encrypted_xml_file,
    )

    scheme: SignatureScheme | None = None
    if manifest.base64_encrypted_signature is not None:
        scheme = _verify_signature(manifest, private_key, media, submission_xml)
    else:
        _require_xml(submission_xml, instance_id, manifest.encrypted_xml_file)

    return DecryptedSubmission(
        instance_id=instance_id,
        form_id=manifest.form_id,
        version=manifest.version,
        submission_xml=submission_xml,
        media=media,
        signature_verified=scheme is not None,
        signature_scheme=scheme,
    )


def _verify_signature(
    manifest: SubmissionManifest,
    private_key: rsa.RSAPrivateKey,
    media: Mapping[str, bytes],
    submission_xml: bytes,
) -> SignatureScheme:
    """Check the element signature; return which scheme matched or raise SignatureMismatch."""
    assert manifest.base64_encrypted_signature is not None
    wrapped = _b64decode(
        manifest.base64_encrypted_signature,
        element="base64EncryptedElementSignature",
        instance_id=manifest.instance_id,
    )
    try:
        signed_digest = private_key.decrypt(wrapped, ODK_OAEP)
    except ValueError:
        raise SignatureMismatch(
            "the element signature could not be unwrapped with this private key",
            instance_id=manifest.instance_id,
            file_name=MANIFEST_FILE_NAME,
        ) from None
    for scheme, expected_digest in _expected_signature_digests(manifest, media, submission_xml):
        if hmac.compare_digest(signed_digest, expected_digest):
            return scheme
    raise SignatureMismatch(
        "the element signature does not match the decrypted files and manifest fields",
        instance_id=manifest.instance_id,
        file_name=MANIFEST_FILE_NAME,
    )


def _expected_signature_digests(
    manifest: SubmissionManifest,
    media: Mapping[str, bytes],
    submission_xml: bytes,
) -> Iterator[tuple[SignatureScheme, bytes]]:
    """The spec's digest first; then, only where they differ, what legacy Enketo computed.

    Enketo hashed JavaScript strings with node-forge without UTF-8 encoding them: before its
    fix the submission XML, and always the joined signature text (non-ASCII only in a version
    or media name). See `ENKETO_LEGACY_NOTE`.
    """
    fields = {
        "form_id": manifest.form_id,
        "version": manifest.version,
        "base64_encrypted_key": manifest.base64_encrypted_key,
        "instance_id": manifest.instance_id,
        "media_md5_hex": {name: _md5_hex(content) for name, content in media.items()},
    }
    xml_md5_hex = _md5_hex(submission_xml)
    text = _signature_text_from_digests(**fields, submission_xml_md5_hex=xml_md5_hex)
    yield "odk", hashlib.md5(text.encode("utf-8"), usedforsecurity=False).digest()

    if not text.isascii():  # Enketo after its fix, with a non-ASCII version or media name
        yield "enketo-legacy", _forge_string_md5(text)
    try:
        xml_text = submission_xml.decode("utf-8")
    except UnicodeDecodeError:
        return
    if not xml_text.isascii():  # Enketo before its fix, with non-ASCII answers
        legacy_text = _signature_text_from_digests(
            **fields, submission_xml_md5_hex=_forge_string_md5(xml_text).hex()
        )
        yield "enketo-legacy", _forge_string_md5(legacy_text)


def _require_xml(submission_xml: bytes, instance_id: str, file_name: str) -> None:
    try:
        SafeElementTree.fromstring(submission_xml)
    except (ParseError, DefusedXmlException):
        raise PlaintextNotXml(
            "decrypted submission is not well-formed XML",
            instance_id=instance_id,
            file_name=file_name,
        ) from None


# --------------------------------------------------------------------------- encryption


def encrypt_submission(
    public_key: rsa.RSAPublicKey,
    *,
    form_id: str,
    version: str | None,
    instance_id: str,
    submission_xml: bytes,
    media: Mapping[str, bytes] | None = None,
    dialect: ManifestDialect = "enketo",
) -> EncryptedSubmission:
    """Encrypt a submission the way Collect and Enketo do, for tests and demos.

    A fresh AES key per call; media encrypted first in `media`'s order (IV indices 0..n-1),
    the XML last (index n); manifest with `base64EncryptedKey`, `encryptedXmlFile`, `<media>`
    entries and `base64EncryptedElementSignature`. `dialect` picks the manifest shape:
    `"enketo"` (namespace `http://opendatakit.org/submissions`, unprefixed `meta`) or
    `"collect"` (namespace `http://www.opendatakit.org/xforms/encrypted`, `orx:meta`).

    Example:
        encrypted = encrypt_submission(public_key, form_id="aJ7sd2", version="1",
                                       instance_id="uuid:3f6c…", submission_xml=xml,
                                       media={"photo.jpg": jpeg_bytes})
        encrypted.files.keys()  # photo.jpg.enc, submission.xml.enc
    """
    media = dict(media or {})
    for what, value in (
        ("form_id", form_id),
        ("instance_id", instance_id),
        *(("media file name", name) for name in media),
    ):
        if not value or value != value.strip() or not _is_xml_text(value):
            raise ValueError(
                f"{what} {value!r} must be non-empty XML text without surrounding whitespace"
            )
    if version is not None and not _is_xml_text(version):
        raise ValueError(f"version {version!r} contains characters XML cannot carry")
    for name in media:
        problem = _unsafe_file_name_problem(name + ENC_SUFFIX)
        if problem or name == SIGNATURE_XML_NAME:
            raise ValueError(f"media file name {name!r} {problem or 'is reserved'}")

    aes_key = os.urandom(AES_KEY_BYTES)
    encrypted_key = base64.b64encode(public_key.encrypt(aes_key, ODK_OAEP)).decode("ascii")
    files: dict[str, bytes] = {}
    for index, (name, content) in enumerate(media.items()):
        iv = submission_file_iv(instance_id, aes_key, index)
        files[name + ENC_SUFFIX] = encrypt_file_content(aes_key, iv, content)
    xml_iv = submission_file_iv(instance_id, aes_key, len(media))
    files[SUBMISSION_XML_ENC] = encrypt_file_content(aes_key, xml_iv, submission_xml)

    text = signature_text(
        form_id=form_id,
        version=version,
        base64_encrypted_key=encrypted_key,
        instance_id=instance_id,
        media=media,
        submission_xml=submission_xml,
    )
    digest = hashlib.md5(text.encode("utf-8"), usedforsecurity=False).digest()
    signature = base64.b64encode(public_key.encrypt(digest, ODK_OAEP)).decode("ascii")

    manifest = _manifest_xml(
        dialect=dialect,
        form_id=form_id,
        version=version,
        instance_id=instance_id,
        encrypted_key=encrypted_key,
        media_files=[name + ENC_SUFFIX for name in media],
        signature=signature,
    )
    return EncryptedSubmission(instance_id=instance_id, manifest_xml=manifest, files=files)


def write_encrypted_submission(encrypted: EncryptedSubmission, parent_dir: Path) -> Path:
    """Lay a submission out as Briefcase does: `<parent>/<uuid…>/submission.xml` + `.enc` files.

    The folder name is the instance id without colons (`uuid:3f…` → `uuid3f…`). Returns it.

    Example: `folder = write_encrypted_submission(encrypted, tmp_path / "instances")`
    """
    folder_name = encrypted.instance_id.replace(":", "")
    problem = _unsafe_file_name_problem(folder_name + ENC_SUFFIX)
    if problem:
        raise ValueError(f"instance id {encrypted.instance_id!r} cannot name a folder: {problem}")
    folder = Path(parent_dir) / folder_name
    folder.mkdir(parents=True, exist_ok=False)
    (folder / MANIFEST_FILE_NAME).write_bytes(encrypted.manifest_xml)
    for name, content in encrypted.files.items():
        (folder / name).write_bytes(content)
    return folder


def _manifest_xml(
    *,
    dialect: ManifestDialect,
    form_id: str,
    version: str | None,
    instance_id: str,
    encrypted_key: str,
    media_files: list[str],
    signature: str,
) -> bytes:
    version_attr = f" version={quoteattr(version)}" if version is not None else ""
    key = f"<base64EncryptedKey>{encrypted_key}</base64EncryptedKey>"
    xml_file = f"<encryptedXmlFile>{SUBMISSION_XML_ENC}</encryptedXmlFile>"
    media_elements = [f"<media><file>{escape(name)}</file></media>" for name in media_files]
    signed = f"<base64EncryptedElementSignature>{signature}</base64EncryptedElementSignature>"
    iid = escape(instance_id)
    if dialect == "collect":
        # EncryptionUtils.writeSubmissionManifest: key, orx:meta, media, xml file, signature.
        root = f'<data xmlns="{NS_COLLECT_ENCRYPTED}" id={quoteattr(form_id)}{version_attr} '
        meta = (
            f'<orx:meta xmlns:orx="{NS_OPENROSA}"><orx:instanceID>{iid}</orx:instanceID></orx:meta>'
        )
        body = key + meta + "\n" + "".join(m + "\n" for m in media_elements) + xml_file + signed
    elif dialect == "enketo":
        # enketo encryptor.js: key, meta, media, xml file, signature.
        root = f'<data xmlns="{NS_SUBMISSIONS}" id={quoteattr(form_id)}{version_attr} '
        meta = f'<meta xmlns="{NS_OPENROSA}"><instanceID>{iid}</instanceID></meta>'
        body = key + meta + "".join(media_elements) + xml_file + signed
    else:
        raise ValueError(f"unknown manifest dialect {dialect!r}; use 'enketo' or 'collect'")
    return (root + 'encrypted="yes">' + body + "</data>").encode("utf-8")


# --------------------------------------------------------------------------- helpers

_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f]")


def _unsafe_file_name_problem(name: str) -> str | None:
    """Why `name` cannot be a plain `.enc` file name in a submission folder, or None."""
    if not name.endswith(ENC_SUFFIX) or len(name) == len(ENC_SUFFIX):
        return "must end in .enc after a name"
    if _UNSAFE_NAME.search(name):
        return "contains a path separator or control character"
    if name.startswith("."):
        return "must not start with a dot"
    return None


_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _is_xml_text(value: str) -> bool:
    """True when every character of `value` is allowed in XML 1.0."""
    return _NOT_XML_CHAR.search(value) is None


def _printable(value: str) -> str:
    """Manifest values go into messages as-is only when they cannot drive a terminal."""
    return value if value.isprintable() else repr(value)


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(element: Element) -> str:
    return (element.text or "").strip()


_MD5_SHIFTS = (7, 12, 17, 22) * 4 + (5, 9, 14, 20) * 4 + (4, 11, 16, 23) * 4 + (6, 10, 15, 21) * 4
_MD5_CONSTANTS = tuple(int(abs(math.sin(i + 1)) * 2**32) & 0xFFFFFFFF for i in range(64))


def _forge_string_md5(text: str) -> bytes:
    """md5 as node-forge computes it for a JavaScript string passed without `'utf8'`.

    forge treats each UTF-16 code unit as one "byte" and packs words with
    `c0 ^ c1 << 8 ^ c2 << 16 ^ c3 << 24`, so code units above 0xFF bleed into their
    neighbours. Equal to `hashlib.md5(text.encode("latin-1"))` when every code unit is below
    0x100; checked against node-forge 1.3.1 on 400 random strings. Only used to verify legacy
    Enketo signatures (enketo/enketo#1421).
    """
    raw = text.encode("utf-16-le")
    units = list(struct.unpack(f"<{len(raw) // 2}H", raw))
    length = len(units)
    units += [0x80] + [0] * ((55 - length) % 64) + list(struct.pack("<Q", (length * 8) % 2**64))
    mask = 0xFFFFFFFF
    h0, h1, h2, h3 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for offset in range(0, len(units), 64):
        block = units[offset : offset + 64]
        words = [
            (block[4 * i] ^ block[4 * i + 1] << 8 ^ block[4 * i + 2] << 16 ^ block[4 * i + 3] << 24)
            & mask
            for i in range(16)
        ]
        a, b, c, d = h0, h1, h2, h3
        for i in range(64):
            if i < 16:
                f, g = (b & c) | (~b & d), i
            elif i < 32:
                f, g = (d & b) | (~d & c), (5 * i + 1) % 16
            elif i < 48:
                f, g = b ^ c ^ d, (3 * i + 5) % 16
            else:
                f, g = c ^ (b | ~d), (7 * i) % 16
            f = (f + a + _MD5_CONSTANTS[i] + words[g]) & mask
            shift = _MD5_SHIFTS[i]
            a, d, c = d, c, b
            b = (b + ((f << shift | f >> (32 - shift)) & mask)) & mask
        h0, h1, h2, h3 = (h0 + a) & mask, (h1 + b) & mask, (h2 + c) & mask, (h3 + d) & mask
    return struct.pack("<4I", h0, h1, h2, h3)


def _md5_hex(content: bytes) -> str:
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def _b64decode(text: str, *, element: str, instance_id: str | None) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ManifestInvalid(
            f"<{element}> is not valid base64",
            instance_id=instance_id,
            file_name=MANIFEST_FILE_NAME,
        ) from None


def _file_missing(manifest: SubmissionManifest, missing: list[str]) -> FileMissing:
    listed = ", ".join(missing)
    return FileMissing(
        f"{len(missing)} file(s) listed in the manifest are missing: {listed}",
        instance_id=manifest.instance_id,
        file_name=missing[0],
    )


def _read_file(path: Path, *, instance_id: str | None) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileMissing(
            "file does not exist", instance_id=instance_id, file_name=str(path)
        ) from None
    except OSError as exc:
        raise FileUnreadable(
            f"cannot be read ({exc.strerror})", instance_id=instance_id, file_name=str(path)
        ) from None
