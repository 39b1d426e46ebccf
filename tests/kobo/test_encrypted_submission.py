"""Opening one encrypted submission, the path the pull and the receiver's retry share."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.kobo.kobo_connector_fixtures import (
    SCREENING,
    encrypted_xlsform,
    instance_xml,
    screening_answers,
)
from tipdata.http import PlatformError
from tipdata.kobo_forms.encrypted_submission import (
    NO_KEY_MESSAGE,
    attachment_links,
    decrypt_and_map,
)
from tipdata.kobo_forms.mapping import FormLayout
from tipdata.kobo_forms.odk_encryption import encrypt_submission
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord
from tipdata.sync.receiver.held import decrypt_held

pytest_plugins = ("tests.kobo.kobo_connector_fixtures",)

SECRET_ANSWER = "41"
SIGNATURE = re.compile(rb"<base64EncryptedElementSignature>[^<]*</base64EncryptedElementSignature>")


@pytest.fixture
def encrypted_asset(kobo, codebook, private_key) -> str:
    return kobo.create_form(encrypted_xlsform(codebook, private_key), name="enc.xlsx")


def encrypt(kobo, asset_uid, private_key, media=None):
    """An Enketo-style encrypted screening (manifest XML and .enc files), not yet stored."""
    instance_id = f"uuid:{uuid.uuid4()}"
    version = kobo.form_version(asset_uid)
    xml = instance_xml(
        asset_uid, version, screening_answers(age_at_screening=SECRET_ANSWER), instance_id
    )
    return encrypt_submission(
        private_key.public_key(),
        form_id=asset_uid,
        version=version,
        instance_id=instance_id,
        submission_xml=xml,
        media=media or {},
    )


def open_stored(kobo, client, codebook, asset_uid, submission_id, key):
    row = kobo.submission(asset_uid, submission_id)
    return row, decrypt_and_map(
        client,
        codebook,
        FormLayout.of(codebook, SCREENING),
        SCREENING,
        asset_uid,
        row,
        submission_id,
        key,
    )


def test_decrypt_and_map__verified_submission_gives_record_and_media(
    kobo, client, codebook, encrypted_asset, private_key
):
    """should map the decrypted answers and hand back the decrypted media"""
    sealed = encrypt(kobo, encrypted_asset, private_key, media={"photo.jpg": b"\xff\xd8JPEG"})
    sid = kobo.add_encrypted_submission(encrypted_asset, sealed.manifest_xml, sealed.files)
    _row, opened = open_stored(kobo, client, codebook, encrypted_asset, sid, private_key)
    assert isinstance(opened.outcome, CanonicalRecord)
    assert opened.outcome.values["age_at_screening"] == 41
    assert dict(opened.media) == {"photo.jpg": b"\xff\xd8JPEG"}


def test_decrypt_and_map__signature_of_another_submission_is_quarantined(
    kobo, client, codebook, encrypted_asset, private_key
):
    """should quarantine (KB300 signature_mismatch) a submission whose files decrypt but whose
    signature was made for other contents, with no plaintext and no media"""
    sealed = encrypt(kobo, encrypted_asset, private_key)
    other = encrypt(kobo, encrypted_asset, private_key)
    other_signature = SIGNATURE.search(other.manifest_xml).group(0)
    forged = SIGNATURE.sub(other_signature, sealed.manifest_xml)
    assert forged != sealed.manifest_xml
    sid = kobo.add_encrypted_submission(encrypted_asset, forged, sealed.files)
    row, opened = open_stored(kobo, client, codebook, encrypted_asset, sid, private_key)
    assert isinstance(opened.outcome, QuarantinedRecord)
    assert opened.outcome.reason == "KB300"
    assert opened.outcome.message.split(": ", 1)[1].startswith("signature_mismatch")
    assert opened.media == {}
    stored = json.dumps(opened.outcome.to_json())
    assert "age_at_screening" not in stored and "base64EncryptedKey" in stored
    # the receiver's retry takes the same path and reaches the same verdict
    held = decrypt_held(client, codebook, SCREENING, encrypted_asset, row, sid, private_key)
    assert isinstance(held, QuarantinedRecord) and held.message == opened.outcome.message


def test_decrypt_and_map__no_key_is_quarantined_without_asking_kobo(
    kobo, client, codebook, encrypted_asset, private_key
):
    """should quarantine with the no-key reason and request nothing from the server"""
    sealed = encrypt(kobo, encrypted_asset, private_key)
    sid = kobo.add_encrypted_submission(encrypted_asset, sealed.manifest_xml, sealed.files)
    kobo.clear_requests()
    _row, opened = open_stored(kobo, client, codebook, encrypted_asset, sid, None)
    assert isinstance(opened.outcome, QuarantinedRecord)
    assert opened.outcome.message.endswith(NO_KEY_MESSAGE)
    assert kobo.requests == []


def test_decrypt_and_map__server_failure_is_not_a_verdict(
    kobo, client, codebook, encrypted_asset, private_key, monkeypatch
):
    """should raise Kobo's error (retry later) rather than quarantine when Kobo cannot answer"""
    sealed = encrypt(kobo, encrypted_asset, private_key)
    sid = kobo.add_encrypted_submission(encrypted_asset, sealed.manifest_xml, sealed.files)
    row = kobo.submission(encrypted_asset, sid)

    def unreachable(*args, **kwargs):
        raise PlatformError("GET", "http://127.0.0.1/x.xml", 503, "unavailable", "retry")

    monkeypatch.setattr(client.data, "get_xml", unreachable)
    with pytest.raises(PlatformError):
        decrypt_and_map(
            client,
            codebook,
            FormLayout.of(codebook, SCREENING),
            SCREENING,
            encrypted_asset,
            row,
            sid,
            private_key,
        )


def test_attachment_links__skips_deleted_and_malformed_entries():
    """should list live attachments by base name and ignore deleted or unreadable entries"""
    row = {
        "_attachments": [
            {"filename": "u/attachments/abc/submission.xml.enc", "download_url": "https://k/1"},
            {"media_file_basename": "photo.jpg.enc", "download_url": "https://k/2"},
            {"filename": "u/gone.jpg.enc", "download_url": "https://k/3", "is_deleted": True},
            {"filename": "u/no_url.enc"},
            "not an object",
        ]
    }
    assert attachment_links(row) == {
        "submission.xml.enc": "https://k/1",
        "photo.jpg.enc": "https://k/2",
    }
    assert attachment_links({"_attachments": "not a list"}) == {}
