"""ODK Central's encryption vectors, used exactly as given (odk-encryption-vectors.json)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric import rsa

from tipdata.kobo_forms.odk_encryption import (
    ODK_OAEP,
    CiphertextCorrupt,
    DecryptionError,
    SignatureMismatch,
    TruncatedCiphertext,
    decrypt_file_content,
    decrypt_submission,
    encrypt_file_content,
    submission_file_iv,
    unwrap_submission_key,
)

SHARED_VECTORS = (
    Path(__file__).resolve().parents[3] / "shared/reference/odk-encryption-vectors.json"
)
VECTORS_FILE = Path(__file__).parent / "data/odk-encryption-vectors.json"
IV_INDICES = ["0", "1", "8", "15", "23", "31"]


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def collect_manifest(
    *,
    form_id: str,
    version: str,
    instance_id: str,
    encrypted_key: str,
    media_files: list[str],
    signature: str,
) -> bytes:
    """A manifest in Collect's shape (EncryptionUtils.writeSubmissionManifest), written by hand."""
    media = "".join(f"<media><file>{name}</file></media>\n" for name in media_files)
    return (
        f'<data xmlns="http://www.opendatakit.org/xforms/encrypted" id="{form_id}" '
        f'version="{version}" encrypted="yes">'
        f"<base64EncryptedKey>{encrypted_key}</base64EncryptedKey>"
        '<orx:meta xmlns:orx="http://openrosa.org/xforms">'
        f"<orx:instanceID>{instance_id}</orx:instanceID></orx:meta>\n"
        f"{media}"
        "<encryptedXmlFile>submission.xml.enc</encryptedXmlFile>"
        f"<base64EncryptedElementSignature>{signature}</base64EncryptedElementSignature>"
        "</data>"
    ).encode()


def test_vectors__copy_matches_shared_reference() -> None:
    """The test copy of the vectors should be byte-identical to shared/reference when present."""
    if not SHARED_VECTORS.is_file():
        pytest.skip("shared/reference is not beside this checkout")
    assert VECTORS_FILE.read_bytes() == SHARED_VECTORS.read_bytes()


def test_unwrap_submission_key__collect_wrapped_key_gives_expected_aes_key(
    vectors: dict[str, Any], central_private_key: rsa.RSAPrivateKey
) -> None:
    """Unwrapping the Collect-wrapped key should yield the expected 32-byte AES key."""
    case = vectors["key_retrieval"]
    aes_key = unwrap_submission_key(central_private_key, case["base64_encrypted_key"])
    assert aes_key == b64(case["expected_aes_key_base64"])
    assert len(aes_key) == 32


def test_unwrap_submission_key__mgf1_sha1_cannot_unwrap_vector(
    vectors: dict[str, Any], central_private_key: rsa.RSAPrivateKey
) -> None:
    """MGF1-SHA1 (the JCE reading of the name) should fail on Collect data, as documented."""
    mgf1_sha1 = rsa_padding.OAEP(
        mgf=rsa_padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA256(), label=None
    )
    with pytest.raises(ValueError):
        central_private_key.decrypt(
            b64(vectors["key_retrieval"]["base64_encrypted_key"]), mgf1_sha1
        )


@pytest.mark.parametrize("index", IV_INDICES)
def test_submission_file_iv__matches_central_vectors(vectors: dict[str, Any], index: str) -> None:
    """The IV for each file index should equal Central's, including the counter wrap-around."""
    case = vectors["iv_generation"]
    iv = submission_file_iv(case["instance_id"], b64(case["aes_key_base64"]), int(index))
    assert iv.hex() == case["expected_ivs_hex"][index]


def test_submission_file_iv__vector_covers_every_listed_index(vectors: dict[str, Any]) -> None:
    """Every IV the vectors list should be exercised by the parametrised test above."""
    assert sorted(vectors["iv_generation"]["expected_ivs_hex"], key=int) == IV_INDICES


def test_decrypt_file_content__collect_ciphertext_at_index_1_gives_expected_plaintext(
    vectors: dict[str, Any], central_private_key: rsa.RSAPrivateKey
) -> None:
    """Collect v1.22.4's submission.xml.enc (file index 1) should decrypt to the given XML."""
    case = vectors["end_to_end"]
    ciphertext = b64(case["ciphertext_base64"])
    assert len(ciphertext) == case["ciphertext_length_bytes"]
    aes_key = unwrap_submission_key(central_private_key, case["base64_encrypted_key"])
    iv = submission_file_iv(case["instance_id"], aes_key, case["file_index"])
    plaintext = decrypt_file_content(aes_key, iv, ciphertext)
    assert plaintext == case["expected_plaintext"].encode("utf-8")


def test_encrypt_file_content__reproduces_collect_ciphertext(
    vectors: dict[str, Any], central_private_key: rsa.RSAPrivateKey
) -> None:
    """Our encryptor, given Collect's key and IV, should produce Collect's exact bytes."""
    case = vectors["end_to_end"]
    aes_key = unwrap_submission_key(central_private_key, case["base64_encrypted_key"])
    iv = submission_file_iv(case["instance_id"], aes_key, case["file_index"])
    ciphertext = encrypt_file_content(aes_key, iv, case["expected_plaintext"].encode("utf-8"))
    assert ciphertext == b64(case["ciphertext_base64"])


@pytest.mark.parametrize("wrong_index", [0, 2])
def test_decrypt_file_content__wrong_index_garbles_only_first_block(
    vectors: dict[str, Any], central_private_key: rsa.RSAPrivateKey, wrong_index: int
) -> None:
    """A wrong IV index should unpad cleanly but garble the first 16 bytes (so it needs the
    signature to catch it)."""
    case = vectors["end_to_end"]
    aes_key = unwrap_submission_key(central_private_key, case["base64_encrypted_key"])
    iv = submission_file_iv(case["instance_id"], aes_key, wrong_index)
    plaintext = decrypt_file_content(aes_key, iv, b64(case["ciphertext_base64"]))
    expected = case["expected_plaintext"].encode("utf-8")
    assert plaintext[16:] == expected[16:]
    assert plaintext[:16] != expected[:16]


def test_decrypt_file_content__truncated_vector_fails_at_unpadding(
    vectors: dict[str, Any], central_private_key: rsa.RSAPrivateKey
) -> None:
    """The 331-byte truncated ciphertext should fail at PKCS#7 unpadding, returning nothing."""
    case = vectors["negative"]
    ciphertext = b64(case["truncated_ciphertext_base64"])
    assert len(ciphertext) == case["ciphertext_length_bytes"]
    assert ciphertext == b64(vectors["end_to_end"]["ciphertext_base64"])[:331]
    aes_key = unwrap_submission_key(central_private_key, case["base64_encrypted_key"])
    iv = submission_file_iv(case["instance_id"], aes_key, case["file_index"])
    with pytest.raises(TruncatedCiphertext) as caught:
        decrypt_file_content(
            aes_key, iv, ciphertext, instance_id=case["instance_id"], file_name="submission.xml.enc"
        )
    assert isinstance(caught.value, CiphertextCorrupt)
    assert caught.value.reason == "truncated_ciphertext"
    assert case["instance_id"] in str(caught.value)
    assert "submission.xml.enc" in str(caught.value)


def _central_record(
    vectors: dict[str, Any],
    central_private_key: rsa.RSAPrivateKey,
    *,
    xml_ciphertext: bytes,
) -> tuple[bytes, dict[str, bytes], bytes]:
    """Collect's real wrapped key and XML ciphertext, completed into a whole signed record.

    The vector's media file (index 0) is not in the vectors, so a stand-in photo is encrypted at
    index 0 with the same AES key; the signature is computed here by hand from the spec, not by
    the code under test.
    """
    case = vectors["end_to_end"]
    plaintext = case["expected_plaintext"].encode("utf-8")
    aes_key = unwrap_submission_key(central_private_key, case["base64_encrypted_key"])
    photo = b"\xff\xd8\xff\xe0 stand-in jpeg " * 40
    photo_enc = encrypt_file_content(
        aes_key, submission_file_iv(case["instance_id"], aes_key, 0), photo
    )
    lines = [
        "encrypted",
        "working3",
        case["base64_encrypted_key"],
        case["instance_id"],
        f"1561432532482.jpg::{hashlib.md5(photo).hexdigest()}",
        f"submission.xml::{hashlib.md5(plaintext).hexdigest()}",
    ]
    digest = hashlib.md5(("\n".join(lines) + "\n").encode("utf-8")).digest()
    signature = base64.b64encode(central_private_key.public_key().encrypt(digest, ODK_OAEP))
    manifest = collect_manifest(
        form_id="encrypted",
        version="working3",
        instance_id=case["instance_id"],
        encrypted_key=case["base64_encrypted_key"],
        media_files=["1561432532482.jpg.enc"],
        signature=signature.decode("ascii"),
    )
    files = {"1561432532482.jpg.enc": photo_enc, "submission.xml.enc": xml_ciphertext}
    return manifest, files, photo


def test_decrypt_submission__central_vector_in_collect_manifest(
    vectors: dict[str, Any], central_private_key: rsa.RSAPrivateKey
) -> None:
    """A whole Collect-shaped record around the vector's key and XML should decrypt and verify."""
    case = vectors["end_to_end"]
    manifest, files, photo = _central_record(
        vectors, central_private_key, xml_ciphertext=b64(case["ciphertext_base64"])
    )
    result = decrypt_submission(manifest, files, central_private_key)
    assert result.submission_xml == case["expected_plaintext"].encode("utf-8")
    assert dict(result.media) == {"1561432532482.jpg": photo}
    assert (result.instance_id, result.form_id, result.version) == (
        case["instance_id"],
        "encrypted",
        "working3",
    )
    assert result.signature_verified


def test_decrypt_submission__central_truncated_vector_is_refused(
    vectors: dict[str, Any], central_private_key: rsa.RSAPrivateKey
) -> None:
    """The same record with the truncated XML should raise TruncatedCiphertext, no result."""
    manifest, files, _ = _central_record(
        vectors,
        central_private_key,
        xml_ciphertext=b64(vectors["negative"]["truncated_ciphertext_base64"]),
    )
    with pytest.raises(TruncatedCiphertext) as caught:
        decrypt_submission(manifest, files, central_private_key)
    assert caught.value.file_name == "submission.xml.enc"
    assert caught.value.instance_id == vectors["negative"]["instance_id"]


def test_decrypt_submission__central_vector_with_xml_at_wrong_index_fails_signature(
    vectors: dict[str, Any], central_private_key: rsa.RSAPrivateKey
) -> None:
    """Listing no media (so the XML is read at index 0) should be caught by the signature."""
    case = vectors["end_to_end"]
    manifest, files, _ = _central_record(
        vectors, central_private_key, xml_ciphertext=b64(case["ciphertext_base64"])
    )
    manifest = manifest.replace(b"<media><file>1561432532482.jpg.enc</file></media>\n", b"")
    with pytest.raises(SignatureMismatch) as caught:
        decrypt_submission(manifest, files, central_private_key)
    assert isinstance(caught.value, DecryptionError)
    assert caught.value.reason == "signature_mismatch"


def test_vectors__json_is_data_only(vectors: dict[str, Any]) -> None:
    """The vectors file should keep its documented sections (guards against silent edits)."""
    assert set(vectors) >= {"key_retrieval", "iv_generation", "end_to_end", "negative"}
    assert json.loads(VECTORS_FILE.read_text(encoding="utf-8")) == vectors
