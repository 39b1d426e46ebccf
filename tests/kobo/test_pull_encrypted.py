"""Pulling encrypted submissions: decrypt, verify, map — or quarantine, never partial plaintext."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.kobo.kobo_connector_fixtures import (
    SCREENING,
    encrypted_xlsform,
    screening_answers,
    submit_encrypted,
)
from tipdata.kobo_forms.pull import PullOptions, pull_form
from tipdata.records import CanonicalRecord

pytest_plugins = ("tests.kobo.kobo_connector_fixtures",)

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
SECRET_ANSWER = "SECRET-MARKER-ANSWER"


@pytest.fixture
def encrypted_asset(kobo, codebook, private_key) -> str:
    return kobo.create_form(encrypted_xlsform(codebook, private_key), name="enc.xlsx")


def pull(client, codebook, asset_uid, state, **options):
    return list(pull_form(client, codebook, SCREENING, asset_uid, state,
                          PullOptions(**options), now=lambda: NOW))


def test_pull_encrypted__good_submission_is_decrypted_and_mapped(
        kobo, client, codebook, encrypted_asset, private_key, new_state):
    """should decrypt, verify and map an encrypted submission like a plain one"""
    sid = submit_encrypted(kobo, encrypted_asset, private_key,
                           screening_answers(age_at_screening="41"))
    assert kobo.asset_json(encrypted_asset)["deployment__encrypted"] is True
    pages = pull(client, codebook, encrypted_asset, new_state(), private_key=private_key)
    [record] = [r for p in pages for r in p.records]
    assert isinstance(record, CanonicalRecord)
    assert record.envelope.source_id == str(sid)
    assert record.values["age_at_screening"] == 41
    assert record.values["consent_screening"] == "yes"
    assert record.envelope.form_version == "vPlainVersionInside"  # from inside the ciphertext
    assert [q for p in pages for q in p.quarantined] == []


@pytest.mark.parametrize(("damage", "reason"), [
    ({"tamper": "submission.xml.enc"}, ("signature_mismatch", "corrupt_ciphertext",
                                        "plaintext_not_xml")),
    ({"drop": "submission.xml.enc"}, ("file_missing",)),
])
def test_pull_encrypted__damaged_submission_is_quarantined(
        kobo, client, codebook, encrypted_asset, private_key, new_state, damage, reason):
    """should quarantine a tampered or incomplete submission with the ODK reason, no plaintext"""
    good = submit_encrypted(kobo, encrypted_asset, private_key, screening_answers())
    bad = submit_encrypted(kobo, encrypted_asset, private_key,
                           screening_answers(age_at_screening="33"), **damage)
    pages = pull(client, codebook, encrypted_asset, new_state(), private_key=private_key)
    assert [int(r.envelope.source_id) for p in pages for r in p.records] == [good]
    [quarantined] = [q for p in pages for q in p.quarantined]
    assert (int(quarantined.source_id), quarantined.reason) == (bad, "KB300")
    assert quarantined.message.split(": ", 1)[1].startswith(reason)
    payload = json.dumps(quarantined.to_json())
    assert "age_at_screening" not in payload and "base64EncryptedKey" in payload


def test_pull_encrypted__tampered_media_is_quarantined(kobo, client, codebook, encrypted_asset,
                                                       private_key, new_state):
    """should quarantine when an encrypted attachment was altered (the signature covers it)"""
    bad = submit_encrypted(kobo, encrypted_asset, private_key, screening_answers(),
                           media={"photo.jpg": b"\xff\xd8" + b"x" * 200}, tamper="photo.jpg.enc")
    pages = pull(client, codebook, encrypted_asset, new_state(), private_key=private_key)
    [quarantined] = [q for p in pages for q in p.quarantined]
    assert int(quarantined.source_id) == bad and quarantined.reason == "KB300"


def test_pull_encrypted__wrong_key(kobo, client, codebook, encrypted_asset, private_key,
                                   other_private_key, new_state):
    """should quarantine with wrong_key when pulled with a key that does not pair with the form"""
    submit_encrypted(kobo, encrypted_asset, private_key, screening_answers())
    pages = pull(client, codebook, encrypted_asset, new_state(), private_key=other_private_key)
    [quarantined] = [q for p in pages for q in p.quarantined]
    assert "wrong_key" in quarantined.message


def test_pull_encrypted__no_key_quarantines_and_retry_recovers(
        kobo, client, codebook, encrypted_asset, private_key, new_state):
    """should quarantine without a key, and map on a retry once the key is given"""
    sid = submit_encrypted(kobo, encrypted_asset, private_key, screening_answers())
    first = pull(client, codebook, encrypted_asset, new_state())
    [quarantined] = [q for p in first for q in p.quarantined]
    assert "no private key" in quarantined.message
    retried = pull(client, codebook, encrypted_asset, new_state(), private_key=private_key,
                   retry_quarantined=True)
    assert [int(r.envelope.source_id) for p in retried for r in p.records] == [sid]


def test_pull_encrypted__decrypted_media_saved(kobo, client, codebook, encrypted_asset,
                                               private_key, new_state, tmp_path):
    """should save decrypted attachments (not the .enc files) when attachments are wanted"""
    sid = submit_encrypted(kobo, encrypted_asset, private_key, screening_answers(),
                           media={"photo.jpg": b"\xff\xd8JPEG-bytes"})
    pages = pull(client, codebook, encrypted_asset, new_state(), private_key=private_key,
                 attachments_dir=tmp_path / "att")
    saved = [path for p in pages for path in p.attachments]
    assert saved == [tmp_path / "att" / encrypted_asset / str(sid) / "photo.jpg"]
    assert saved[0].read_bytes() == b"\xff\xd8JPEG-bytes"


def test_pull_encrypted__bad_answer_inside_is_quarantined_after_decryption(
        kobo, client, codebook, encrypted_asset, private_key, new_state):
    """should run the codebook checks on the decrypted answers"""
    sid = submit_encrypted(kobo, encrypted_asset, private_key,
                           screening_answers(scr_safe_now=SECRET_ANSWER))
    pages = pull(client, codebook, encrypted_asset, new_state(), private_key=private_key)
    [quarantined] = [q for p in pages for q in p.quarantined]
    assert (int(quarantined.source_id), quarantined.reason) == (sid, "RC202")
    assert SECRET_ANSWER not in repr(quarantined)
