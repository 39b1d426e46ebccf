"""Every way a submission can be wrong should raise a typed DecryptionError and return nothing."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tipdata.kobo_forms.odk_encryption import (
    CiphertextCorrupt,
    DecryptionError,
    EncryptedSubmission,
    FailedSubmission,
    FileMissing,
    ManifestInvalid,
    NotEncrypted,
    PlaintextNotXml,
    SignatureMismatch,
    SignatureMissing,
    TruncatedCiphertext,
    WrongKey,
    decrypt_directory,
    decrypt_submission,
    decrypt_submission_folder,
    encrypt_submission,
    parse_manifest,
    write_encrypted_submission,
)

FORM_ID = "aJ7sd2kqWcH5YbVfXe8mLp"
VERSION = "3 (2026-01-02 10:11:12)"
SECRET = "SECRET-ANSWER-MARKER"
PHOTO = b"SECRET-PHOTO-MARKER" * 10  # 190 bytes: several blocks


def secret_submission(
    public_key: rsa.RSAPublicKey, instance_id: str, submission_xml, **media: bytes
) -> EncryptedSubmission:
    xml = submission_xml(instance_id, answers={"victim_name": SECRET, "padding": "x" * 48})
    return encrypt_submission(
        public_key,
        form_id=FORM_ID,
        version=VERSION,
        instance_id=instance_id,
        submission_xml=xml,
        media=media or {"photo.jpg": PHOTO},
    )


def flip(data: bytes, position: int) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 0x01
    return bytes(changed)


def assert_no_plaintext_leaks(error: BaseException) -> None:
    """The error, its message and its whole traceback chain must not carry submission contents."""
    text = "".join(traceback.format_exception(error)) + repr(error)
    assert SECRET not in text
    assert "SECRET-PHOTO-MARKER" not in text


def test_decrypt_submission__wrong_key_raises_wrong_key(
    private_key, other_private_key, instance_id, submission_xml
) -> None:
    """A submission for another key should raise WrongKey naming the instance and manifest."""
    encrypted = secret_submission(other_private_key.public_key(), instance_id, submission_xml)
    with pytest.raises(WrongKey) as caught:
        decrypt_submission(encrypted.manifest_xml, encrypted.files, private_key)
    error = caught.value
    assert error.reason == "wrong_key"
    assert error.instance_id == instance_id
    assert error.file_name == "submission.xml"
    assert instance_id in str(error) and "submission.xml" in str(error)
    assert_no_plaintext_leaks(error)


def test_decrypt_submission__wrong_key_of_another_size_raises_wrong_key(
    private_key, instance_id, submission_xml
) -> None:
    """A 3072-bit submission opened with a 2048-bit key should also be WrongKey."""
    big = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    encrypted = secret_submission(big.public_key(), instance_id, submission_xml)
    with pytest.raises(WrongKey):
        decrypt_submission(encrypted.manifest_xml, encrypted.files, private_key)


@pytest.mark.parametrize("position", [0, 20, 40], ids=["first-block", "second-block", "third"])
def test_decrypt_submission__flipped_byte_in_xml_enc_fails_signature(
    private_key, instance_id, submission_xml, position
) -> None:
    """One flipped bit inside submission.xml.enc should be caught by the signature."""
    encrypted = secret_submission(private_key.public_key(), instance_id, submission_xml)
    files = dict(encrypted.files)
    files["submission.xml.enc"] = flip(files["submission.xml.enc"], position)
    with pytest.raises(SignatureMismatch) as caught:
        decrypt_submission(encrypted.manifest_xml, files, private_key)
    assert caught.value.reason == "signature_mismatch"
    assert caught.value.instance_id == instance_id
    assert_no_plaintext_leaks(caught.value)


def test_decrypt_submission__flipped_last_byte_in_xml_enc_fails_padding(
    private_key, instance_id
) -> None:
    """Flipping the last byte of a whole-block XML breaks its full padding block: corrupt file."""
    xml = b"<data>" + b"y" * 57 + b"</data>"  # 70 bytes
    xml = xml + b" " * (16 - len(xml) % 16)  # exact blocks: the pad is a full block of 0x10
    encrypted = encrypt_submission(
        private_key.public_key(),
        form_id=FORM_ID,
        version=VERSION,
        instance_id=instance_id,
        submission_xml=xml,
    )
    files = dict(encrypted.files)
    files["submission.xml.enc"] = flip(files["submission.xml.enc"], -1)
    with pytest.raises(CiphertextCorrupt) as caught:
        decrypt_submission(encrypted.manifest_xml, files, private_key)
    assert caught.value.reason == "corrupt_ciphertext"
    assert caught.value.file_name == "submission.xml.enc"


@pytest.mark.parametrize("position", [0, 100], ids=["first-block", "middle"])
def test_decrypt_submission__flipped_byte_in_media_enc_fails_signature(
    private_key, instance_id, submission_xml, position
) -> None:
    """One flipped bit in a media .enc should be caught by the signature."""
    encrypted = secret_submission(private_key.public_key(), instance_id, submission_xml)
    files = dict(encrypted.files)
    files["photo.jpg.enc"] = flip(files["photo.jpg.enc"], position)
    with pytest.raises(SignatureMismatch) as caught:
        decrypt_submission(encrypted.manifest_xml, files, private_key)
    assert_no_plaintext_leaks(caught.value)


def test_decrypt_submission__flipped_padding_byte_in_media_enc_names_the_media_file(
    private_key, instance_id, submission_xml
) -> None:
    """Breaking a media file's padding should raise CiphertextCorrupt naming that file."""
    photo = b"p" * 64  # whole blocks → a full 0x10 padding block
    encrypted = secret_submission(
        private_key.public_key(), instance_id, submission_xml, **{"photo.jpg": photo}
    )
    files = dict(encrypted.files)
    files["photo.jpg.enc"] = flip(files["photo.jpg.enc"], -1)
    with pytest.raises(CiphertextCorrupt) as caught:
        decrypt_submission(encrypted.manifest_xml, files, private_key)
    assert caught.value.file_name == "photo.jpg.enc"
    assert "photo.jpg.enc" in str(caught.value)


def test_decrypt_submission__missing_media_file_raises_file_missing(
    private_key, instance_id, submission_xml
) -> None:
    """A media file the manifest lists but that is absent should raise FileMissing naming it."""
    encrypted = secret_submission(private_key.public_key(), instance_id, submission_xml)
    files = {k: v for k, v in encrypted.files.items() if k != "photo.jpg.enc"}
    with pytest.raises(FileMissing) as caught:
        decrypt_submission(encrypted.manifest_xml, files, private_key)
    assert caught.value.reason == "file_missing"
    assert caught.value.file_name == "photo.jpg.enc"
    assert "photo.jpg.enc" in str(caught.value) and instance_id in str(caught.value)


def test_decrypt_submission_folder__missing_xml_enc_on_disk_raises_file_missing(
    tmp_path: Path, private_key, instance_id, submission_xml
) -> None:
    """A folder without submission.xml.enc should raise FileMissing naming it."""
    encrypted = secret_submission(private_key.public_key(), instance_id, submission_xml)
    folder = write_encrypted_submission(encrypted, tmp_path)
    (folder / "submission.xml.enc").unlink()
    with pytest.raises(FileMissing) as caught:
        decrypt_submission_folder(folder, private_key)
    assert caught.value.file_name == "submission.xml.enc"


def test_decrypt_submission__signature_from_another_submission_is_refused(
    private_key, instance_id, submission_xml
) -> None:
    """A manifest whose signature belongs to another record should raise SignatureMismatch."""
    encrypted = secret_submission(private_key.public_key(), instance_id, submission_xml)
    other = secret_submission(private_key.public_key(), instance_id, submission_xml)
    own_sig = parse_manifest(encrypted.manifest_xml).base64_encrypted_signature
    other_sig = parse_manifest(other.manifest_xml).base64_encrypted_signature
    assert own_sig and other_sig
    manifest = encrypted.manifest_xml.replace(own_sig.encode(), other_sig.encode())
    with pytest.raises(SignatureMismatch) as caught:
        decrypt_submission(manifest, encrypted.files, private_key)
    assert caught.value.file_name == "submission.xml"
    assert_no_plaintext_leaks(caught.value)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f'version="{VERSION}"'.encode(), b'version="4 (2026-02-02 00:00:00)"'),
        (f'id="{FORM_ID}"'.encode(), b'id="anotherForm"'),
    ],
    ids=["version", "form-id"],
)
def test_decrypt_submission__edited_manifest_field_fails_signature(
    private_key, instance_id, submission_xml, old: bytes, new: bytes
) -> None:
    """Changing the form id or version in the manifest should break the signature."""
    encrypted = secret_submission(private_key.public_key(), instance_id, submission_xml)
    assert old in encrypted.manifest_xml
    with pytest.raises(SignatureMismatch):
        decrypt_submission(encrypted.manifest_xml.replace(old, new), encrypted.files, private_key)


def test_decrypt_submission__swapped_media_order_fails_signature(
    private_key, instance_id, submission_xml
) -> None:
    """Reordering <media> entries changes the IVs; the signature should catch it."""
    encrypted = secret_submission(
        private_key.public_key(), instance_id, submission_xml, a_jpg=b"a" * 90, b_jpg=b"b" * 90
    )
    a, b = b"<media><file>a_jpg.enc</file></media>", b"<media><file>b_jpg.enc</file></media>"
    swapped = encrypted.manifest_xml.replace(a + b, b + a)
    assert swapped != encrypted.manifest_xml
    with pytest.raises(SignatureMismatch):
        decrypt_submission(swapped, encrypted.files, private_key)


def test_decrypt_submission__files_of_another_record_are_refused(
    private_key, submission_xml
) -> None:
    """A manifest paired with another record's .enc files should never decrypt."""
    first = secret_submission(private_key.public_key(), "uuid:first", submission_xml)
    second = secret_submission(private_key.public_key(), "uuid:second", submission_xml)
    with pytest.raises((CiphertextCorrupt, SignatureMismatch)):
        decrypt_submission(first.manifest_xml, second.files, private_key)


def test_decrypt_submission__truncated_ciphertext_raises_truncated(
    private_key, instance_id, submission_xml
) -> None:
    """A .enc file cut short should raise TruncatedCiphertext naming it."""
    encrypted = secret_submission(private_key.public_key(), instance_id, submission_xml)
    files = dict(encrypted.files)
    files["submission.xml.enc"] = files["submission.xml.enc"][:-5]
    with pytest.raises(TruncatedCiphertext) as caught:
        decrypt_submission(encrypted.manifest_xml, files, private_key)
    assert caught.value.reason == "truncated_ciphertext"
    assert caught.value.file_name == "submission.xml.enc"
    assert_no_plaintext_leaks(caught.value)


def test_decrypt_submission__unsigned_manifest_is_refused_by_default(
    private_key, instance_id, submission_xml
) -> None:
    """A manifest without a signature should raise SignatureMissing unless explicitly allowed."""
    encrypted = secret_submission(private_key.public_key(), instance_id, submission_xml)
    signature = parse_manifest(encrypted.manifest_xml).base64_encrypted_signature
    unsigned = encrypted.manifest_xml.replace(
        f"<base64EncryptedElementSignature>{signature}</base64EncryptedElementSignature>".encode(),
        b"",
    )
    with pytest.raises(SignatureMissing):
        decrypt_submission(unsigned, encrypted.files, private_key)

    allowed = decrypt_submission(unsigned, encrypted.files, private_key, require_signature=False)
    assert allowed.signature_verified is False
    assert SECRET.encode() in allowed.submission_xml


def test_decrypt_submission__unsigned_with_wrong_instance_id_is_not_xml(
    private_key, instance_id, submission_xml
) -> None:
    """Unsigned, a changed instanceID garbles the first block; the XML check should refuse it."""
    encrypted = secret_submission(private_key.public_key(), instance_id, submission_xml)
    manifest = parse_manifest(encrypted.manifest_xml)
    unsigned = encrypted.manifest_xml.replace(
        f"<base64EncryptedElementSignature>{manifest.base64_encrypted_signature}"
        "</base64EncryptedElementSignature>".encode(),
        b"",
    ).replace(instance_id.encode(), b"uuid:changed")
    with pytest.raises((PlaintextNotXml, CiphertextCorrupt)) as caught:
        decrypt_submission(unsigned, encrypted.files, private_key, require_signature=False)
    assert_no_plaintext_leaks(caught.value)


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (b"not xml at all", ManifestInvalid),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><data id="f" encrypted="yes">'
            b"&e;</data>",
            ManifestInvalid,
        ),
        (b'<data id="f"><meta><instanceID>uuid:1</instanceID></meta></data>', NotEncrypted),
        (
            b'<data id="f" encrypted="yes"><meta><instanceID>uuid:1</instanceID></meta></data>',
            ManifestInvalid,
        ),
    ],
    ids=["not-xml", "entity", "plain-submission", "no-key"],
)
def test_parse_manifest__bad_manifests_are_refused(manifest: bytes, expected: type) -> None:
    """Malformed, entity-laden, unencrypted or incomplete manifests should be refused."""
    with pytest.raises(expected):
        parse_manifest(manifest)


@pytest.mark.parametrize(
    "media_name",
    ["../escape.jpg.enc", "sub/dir.jpg.enc", ".hidden.enc", "photo.jpg", "submission.xml.enc"],
)
def test_parse_manifest__unsafe_media_names_are_refused(
    private_key, instance_id, submission_xml, media_name: str
) -> None:
    """Media names with paths, leading dots, no .enc, or clashing with the XML are refused."""
    encrypted = secret_submission(private_key.public_key(), instance_id, submission_xml)
    manifest = encrypted.manifest_xml.replace(b"photo.jpg.enc", media_name.encode())
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(manifest)
    assert caught.value.reason == "manifest_invalid"


def test_parse_manifest__bad_base64_key_is_manifest_invalid(
    private_key, instance_id, submission_xml
) -> None:
    """A base64EncryptedKey that is not base64 should raise ManifestInvalid, not crash."""
    encrypted = secret_submission(private_key.public_key(), instance_id, submission_xml)
    key = parse_manifest(encrypted.manifest_xml).base64_encrypted_key
    manifest = encrypted.manifest_xml.replace(key.encode(), b"***not-base64***")
    with pytest.raises(ManifestInvalid):
        decrypt_submission(manifest, encrypted.files, private_key)


def test_decrypt_directory__bad_submissions_are_reported_and_the_walk_continues(
    tmp_path: Path, private_key, other_private_key, submission_xml
) -> None:
    """Good folders should decrypt while bad ones yield FailedSubmission with a reason."""
    good = secret_submission(private_key.public_key(), "uuid:good", submission_xml)
    wrong = secret_submission(other_private_key.public_key(), "uuid:wrong-key", submission_xml)
    tampered = secret_submission(private_key.public_key(), "uuid:tampered", submission_xml)
    for encrypted in (good, wrong, tampered):
        write_encrypted_submission(encrypted, tmp_path)
    enc = tmp_path / "uuidtampered" / "photo.jpg.enc"
    enc.write_bytes(flip(enc.read_bytes(), 3))

    outcomes = {
        (o.instance_id, o.reason if isinstance(o, FailedSubmission) else "ok")
        for o in decrypt_directory(tmp_path, private_key)
    }
    assert outcomes == {
        ("uuid:good", "ok"),
        ("uuid:wrong-key", "wrong_key"),
        ("uuid:tampered", "signature_mismatch"),
    }


def test_decryption_error__every_subclass_has_a_distinct_reason() -> None:
    """Reason codes should be stable and unique per error class."""
    classes = [
        ManifestInvalid,
        NotEncrypted,
        FileMissing,
        WrongKey,
        CiphertextCorrupt,
        TruncatedCiphertext,
        SignatureMismatch,
        SignatureMissing,
        PlaintextNotXml,
    ]
    reasons = [cls.reason for cls in classes]
    assert len(set(reasons)) == len(reasons)
    assert all(issubclass(cls, DecryptionError) for cls in classes)
