"""Round-trips through encrypt_submission → decrypt_submission / decrypt_directory."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tipdata.crypto.keys import load_private_key, write_private_key
from tipdata.kobo_forms.odk_encryption import (
    ODK_OAEP,
    DecryptedSubmission,
    FailedSubmission,
    decrypt_directory,
    decrypt_file_content,
    decrypt_submission,
    decrypt_submission_folder,
    encrypt_submission,
    parse_manifest,
    signature_text,
    submission_file_iv,
    unwrap_submission_key,
    write_encrypted_submission,
)

FORM_ID = "aJ7sd2kqWcH5YbVfXe8mLp"
VERSION = "3 (2026-01-02 10:11:12)"


def encrypt(public_key: rsa.RSAPublicKey, instance_id: str, xml: bytes, media=None, **kwargs):
    return encrypt_submission(
        public_key,
        form_id=kwargs.pop("form_id", FORM_ID),
        version=kwargs.pop("version", VERSION),
        instance_id=instance_id,
        submission_xml=xml,
        media=media,
        **kwargs,
    )


@pytest.mark.parametrize("dialect", ["enketo", "collect"])
def test_round_trip__several_media_files_keep_order_and_content(
    private_key, instance_id, submission_xml, dialect
) -> None:
    """Three media files should come back byte-identical, in manifest order, in both dialects."""
    media = {
        "photo.jpg": os.urandom(5000),
        "signature.png": os.urandom(333),
        "audio.m4a": os.urandom(17),
    }
    xml = submission_xml(instance_id)
    encrypted = encrypt(private_key.public_key(), instance_id, xml, media, dialect=dialect)

    assert list(encrypted.files) == [
        "photo.jpg.enc",
        "signature.png.enc",
        "audio.m4a.enc",
        "submission.xml.enc",
    ]
    result = decrypt_submission(encrypted.manifest_xml, encrypted.files, private_key)
    assert result.submission_xml == xml
    assert list(result.media) == list(media)
    assert dict(result.media) == media
    assert (result.instance_id, result.form_id, result.version) == (instance_id, FORM_ID, VERSION)
    assert result.signature_verified


def test_round_trip__media_use_indices_0_to_n_minus_1_and_xml_uses_n(
    private_key, instance_id, submission_xml
) -> None:
    """Each file should be encrypted with the IV of its position: media 0..n-1, XML last (n)."""
    media = {"a.jpg": b"A" * 40, "b.jpg": b"B" * 40}
    xml = submission_xml(instance_id)
    encrypted = encrypt(private_key.public_key(), instance_id, xml, media)
    manifest = parse_manifest(encrypted.manifest_xml)
    aes_key = unwrap_submission_key(private_key, manifest.base64_encrypted_key)

    for index, name in enumerate(["a.jpg.enc", "b.jpg.enc", "submission.xml.enc"]):
        iv = submission_file_iv(instance_id, aes_key, index)
        plain = decrypt_file_content(aes_key, iv, encrypted.files[name])
        assert plain == ({**media, "submission.xml": xml})[name.removesuffix(".enc")]


def test_round_trip__unicode_content_names_and_version(private_key, instance_id) -> None:
    """Non-ASCII answers, media names and form versions should survive and verify (UTF-8)."""
    xml = (
        f'<data id="{FORM_ID}" version="v1 – é"><name>أحمد Олена 李 👩🏽‍⚕️</name>'
        f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()
    media = {"фото_é.jpg": "байты ✓".encode()}
    encrypted = encrypt(private_key.public_key(), instance_id, xml, media, version="v1 – é")
    result = decrypt_submission(encrypted.manifest_xml, encrypted.files, private_key)
    assert result.submission_xml == xml
    assert dict(result.media) == media
    assert result.version == "v1 – é"


def test_round_trip__no_media_puts_xml_at_index_0(private_key, instance_id, submission_xml) -> None:
    """With an empty media list the XML should be file 0 and media should come back empty."""
    xml = submission_xml(instance_id)
    encrypted = encrypt(private_key.public_key(), instance_id, xml, {})
    assert list(encrypted.files) == ["submission.xml.enc"]
    assert b"<media>" not in encrypted.manifest_xml

    result = decrypt_submission(encrypted.manifest_xml, encrypted.files, private_key)
    assert result.submission_xml == xml
    assert dict(result.media) == {}
    aes_key = unwrap_submission_key(
        private_key, parse_manifest(encrypted.manifest_xml).base64_encrypted_key
    )
    assert (
        decrypt_file_content(
            aes_key,
            submission_file_iv(instance_id, aes_key, 0),
            encrypted.files["submission.xml.enc"],
        )
        == xml
    )


def test_round_trip__large_media_file(private_key, instance_id, submission_xml) -> None:
    """A 4 MiB media file should round-trip intact."""
    video = os.urandom(4 * 1024 * 1024 + 7)
    xml = submission_xml(instance_id)
    encrypted = encrypt(private_key.public_key(), instance_id, xml, {"interview.mp4": video})
    assert len(encrypted.files["interview.mp4.enc"]) % 16 == 0
    result = decrypt_submission(encrypted.manifest_xml, encrypted.files, private_key)
    assert result.media["interview.mp4"] == video


def test_round_trip__form_without_version_leaves_version_out(private_key, instance_id) -> None:
    """A form with no version should omit the attribute and the signature line, and verify."""
    xml = f"<data id='x'><meta><instanceID>{instance_id}</instanceID></meta></data>".encode()
    encrypted = encrypt(private_key.public_key(), instance_id, xml, version=None, form_id="x")
    assert b"version=" not in encrypted.manifest_xml
    result = decrypt_submission(encrypted.manifest_xml, encrypted.files, private_key)
    assert result.version is None
    assert result.submission_xml == xml


def test_round_trip__3072_bit_key(instance_id, submission_xml) -> None:
    """A 3072-bit key (384-byte RSA blocks) should work end to end."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    xml = submission_xml(instance_id)
    encrypted = encrypt(key.public_key(), instance_id, xml, {"p.jpg": b"x" * 100})
    assert len(base64.b64decode(parse_manifest(encrypted.manifest_xml).base64_encrypted_key)) == 384
    assert decrypt_submission(encrypted.manifest_xml, encrypted.files, key).submission_xml == xml


@pytest.mark.parametrize("protected", [True, False], ids=["passphrase", "plain"])
def test_round_trip__with_key_loaded_from_pem_file(
    tmp_path: Path, private_key, instance_id, submission_xml, protected: bool
) -> None:
    """Keys loaded from a passphrase-protected PKCS#8 PEM or a plain PKCS#1 PEM should decrypt."""
    key_path = tmp_path / "odk-private.pem"
    if protected:
        write_private_key(private_key, key_path, b"a long test passphrase")
        loaded = load_private_key(key_path, b"a long test passphrase")
    else:
        key_path.write_bytes(
            private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        loaded = load_private_key(key_path, None)
    xml = submission_xml(instance_id)
    encrypted = encrypt(private_key.public_key(), instance_id, xml, {"p.jpg": b"jpeg"})
    assert decrypt_submission(encrypted.manifest_xml, encrypted.files, loaded).submission_xml == xml


def test_encrypt_submission__fresh_key_every_time(private_key, instance_id, submission_xml) -> None:
    """Encrypting the same record twice should give different keys and ciphertexts."""
    xml = submission_xml(instance_id)
    first = encrypt(private_key.public_key(), instance_id, xml)
    second = encrypt(private_key.public_key(), instance_id, xml)
    assert first.files["submission.xml.enc"] != second.files["submission.xml.enc"]
    assert first.manifest_xml != second.manifest_xml


def test_encrypt_submission__signature_follows_the_spec_lines(
    private_key, instance_id, submission_xml
) -> None:
    """The signature should wrap md5 of id, version, key, instanceID, media::md5, xml::md5."""
    xml = submission_xml(instance_id)
    photo = b"photo bytes"
    encrypted = encrypt(private_key.public_key(), instance_id, xml, {"photo.jpg": photo})
    manifest = parse_manifest(encrypted.manifest_xml)
    expected_text = (
        f"{FORM_ID}\n{VERSION}\n{manifest.base64_encrypted_key}\n{instance_id}\n"
        f"photo.jpg::{hashlib.md5(photo).hexdigest()}\n"
        f"submission.xml::{hashlib.md5(xml).hexdigest()}\n"
    )
    assert (
        signature_text(
            form_id=FORM_ID,
            version=VERSION,
            base64_encrypted_key=manifest.base64_encrypted_key,
            instance_id=instance_id,
            media={"photo.jpg": photo},
            submission_xml=xml,
        )
        == expected_text
    )
    assert manifest.base64_encrypted_signature is not None
    signed = private_key.decrypt(base64.b64decode(manifest.base64_encrypted_signature), ODK_OAEP)
    assert signed == hashlib.md5(expected_text.encode()).digest()


def test_parse_manifest__reference_example_order_with_meta_last(private_key, instance_id) -> None:
    """The reference's manifest layout (meta after the signature) should parse the same."""
    xml = (
        f"<data id='{FORM_ID}'><meta><instanceID>{instance_id}</instanceID></meta></data>".encode()
    )
    encrypted = encrypt(private_key.public_key(), instance_id, xml, {"photo.jpg": b"p" * 20})
    parsed = parse_manifest(encrypted.manifest_xml)
    reordered = (
        f'<data xmlns="http://opendatakit.org/submissions" id="{FORM_ID}" version="{VERSION}" '
        'encrypted="yes">\n'
        f"  <base64EncryptedKey>{parsed.base64_encrypted_key}</base64EncryptedKey>\n"
        "  <encryptedXmlFile>submission.xml.enc</encryptedXmlFile>\n"
        "  <media><file>photo.jpg.enc</file></media>\n"
        f"  <base64EncryptedElementSignature>{parsed.base64_encrypted_signature}"
        "</base64EncryptedElementSignature>\n"
        f'  <meta xmlns="http://openrosa.org/xforms"><instanceID>{instance_id}</instanceID></meta>\n'
        "</data>\n"
    ).encode()
    assert parse_manifest(reordered) == parsed
    assert (
        decrypt_submission(reordered, encrypted.files, private_key).media["photo.jpg"] == b"p" * 20
    )


def test_parse_manifest__several_files_under_one_media_element(private_key, instance_id) -> None:
    """`<media>` holding several `<file>`s (Enketo's planned layout) should keep their order."""
    xml = (
        f"<data id='{FORM_ID}'><meta><instanceID>{instance_id}</instanceID></meta></data>".encode()
    )
    media = {"a.jpg": b"a" * 30, "b.jpg": b"b" * 30}
    encrypted = encrypt(private_key.public_key(), instance_id, xml, media)
    merged = encrypted.manifest_xml.replace(
        b"<media><file>a.jpg.enc</file></media><media><file>b.jpg.enc</file></media>",
        b"<media><file>a.jpg.enc</file><file>b.jpg.enc</file></media>",
    )
    assert merged != encrypted.manifest_xml
    assert parse_manifest(merged).media_files == ("a.jpg.enc", "b.jpg.enc")
    assert dict(decrypt_submission(merged, encrypted.files, private_key).media) == media


def test_decrypted_submission__is_frozen_and_keeps_contents_out_of_repr(
    private_key, instance_id, submission_xml
) -> None:
    """The result should be immutable and its repr should show ids, never answers or media."""
    xml = submission_xml(instance_id, answers={"victim_name": "SECRET-NAME-MARKER"})
    encrypted = encrypt(private_key.public_key(), instance_id, xml, {"p.jpg": b"SECRET-MEDIA"})
    result = decrypt_submission(encrypted.manifest_xml, encrypted.files, private_key)

    with pytest.raises(dataclasses.FrozenInstanceError):
        result.instance_id = "uuid:other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.media["p.jpg"] = b"changed"  # type: ignore[index]
    assert instance_id in repr(result)
    assert "SECRET" not in repr(result)


def test_decrypt_directory__briefcase_layout_yields_one_result_per_submission(
    tmp_path: Path, private_key, submission_xml
) -> None:
    """Every `<folder>/submission.xml` beside its .enc files should decrypt, in a stable order."""
    instance_ids = [f"uuid:00000000-0000-4000-8000-00000000000{n}" for n in range(3)]
    for n, iid in enumerate(instance_ids):
        media = {f"photo{m}.jpg": os.urandom(100) for m in range(n)}
        encrypted = encrypt(private_key.public_key(), iid, submission_xml(iid), media)
        folder = write_encrypted_submission(encrypted, tmp_path / "instances")
        assert folder.name == iid.replace(":", "")

    progress: list[tuple[int, int]] = []
    outcomes = list(
        decrypt_directory(tmp_path, private_key, on_progress=lambda d, t: progress.append((d, t)))
    )
    assert all(isinstance(outcome, DecryptedSubmission) for outcome in outcomes)
    assert [outcome.instance_id for outcome in outcomes] == instance_ids
    assert [len(outcome.media) for outcome in outcomes] == [0, 1, 2]
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert not any(isinstance(outcome, FailedSubmission) for outcome in outcomes)


def test_decrypt_submission_folder__reads_the_manifest_beside_its_files(
    tmp_path: Path, private_key, instance_id, submission_xml
) -> None:
    """A single submission folder should decrypt on its own."""
    xml = submission_xml(instance_id)
    encrypted = encrypt(private_key.public_key(), instance_id, xml, {"p.jpg": b"jpeg"})
    folder = write_encrypted_submission(encrypted, tmp_path)
    result = decrypt_submission_folder(folder, private_key)
    assert result.submission_xml == xml
    assert result.media["p.jpg"] == b"jpeg"
