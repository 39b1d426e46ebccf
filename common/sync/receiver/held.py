"""Decrypting a held encrypted submission when `tipdata quarantine retry` asks for it.

`tipdata serve` never decrypts: the internet-facing process holds no private key, so an
encrypted delivery (the ODK manifest, kobo-api.md §8.2) is kept in the quarantine as
`SY722 awaiting-decryption` with the JSON exactly as delivered — ciphertext only. On retry, the
Kobo source (which has the key when `[kobo] private_key` is configured and
TIPDATA_KEY_PASSPHRASE opens it) calls `decrypt_held`, which takes the same path as
`tipdata kobo pull` for encrypted forms: the manifest XML from `/data/{id}.xml` (the JSON
flattening loses what the signature covers), each `.enc` file through its `_attachments`
download URL, decrypt and verify in memory, flatten the XML like Kobo's JSON, map.

Any failure is a `KB300` quarantine carrying only the encrypted manifest JSON — never partial
plaintext. Media files are decrypted to verify the signature and then dropped: the canonical
record holds no media.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import ParseError

from cryptography.hazmat.primitives.asymmetric import rsa
from defusedxml.common import DefusedXmlException

from tipdata.http import PlatformError
from tipdata.kobo_forms.connector import KoboClient
from tipdata.kobo_forms.mapping import (
    FormLayout,
    flatten_instance_xml,
    map_submission,
    source_system_for,
)
from tipdata.kobo_forms.odk_encryption import DecryptionError, decrypt_submission, parse_manifest
from tipdata.model import Codebook
from tipdata.problems import Problem
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord, record_id_for


def decrypt_held(client: KoboClient, codebook: Codebook, form_id: str, asset_uid: str,
                 row: Mapping[str, Any], submission_id: int,
                 private_key: rsa.RSAPrivateKey) -> CanonicalRecord | QuarantinedRecord:
    """Decrypt, verify and map one encrypted submission held since its delivery.

    Kobo being unreachable raises its `PlatformError` (nothing is decided; retry later);
    anything wrong with the submission itself is a KB300 quarantine.

    >>> outcome = decrypt_held(client, codebook, "tip_screening_adult", "aJ7sd2…", row, 57, key)
    >>> outcome.values["screening_result"]
    'unlikely'
    """
    system = source_system_for(asset_uid)
    where = f"kobo asset {asset_uid} submission {submission_id}"

    def quarantine(message: str) -> QuarantinedRecord:
        return QuarantinedRecord.from_problems(
            system, str(submission_id), [Problem("KB300", message, where)], payload=row,
            record_id=record_id_for(system, str(submission_id)), form_id=form_id)

    try:
        manifest_xml = client.data.get_xml(asset_uid, submission_id)
        manifest = parse_manifest(manifest_xml)
        links = attachment_links(row)
        files: dict[str, bytes] = {}
        for name in manifest.encrypted_files:
            content = _download_or_none(client, links[name]) if name in links else None
            if content is not None:
                files[name] = content
        # a file left out here makes decrypt_submission raise FileMissing (quarantined)
        decrypted = decrypt_submission(manifest_xml, files, private_key)
    except DecryptionError as exc:
        return quarantine(f"{exc.reason}: {exc.detail}")
    try:
        flat = flatten_instance_xml(decrypted.submission_xml)
    except (ParseError, DefusedXmlException):
        return quarantine("plaintext_not_xml: the decrypted submission is not readable XML")
    merged = {**{k: v for k, v in row.items() if k.startswith("_") and k not in flat}, **flat}
    return map_submission(codebook, FormLayout.of(codebook, form_id), asset_uid, merged).outcome


def attachment_links(row: Mapping[str, Any]) -> dict[str, str]:
    """File name → download URL of a submission's live attachments (`_attachments`, §5.4)."""
    links: dict[str, str] = {}
    attachments = row.get("_attachments")
    for attachment in attachments if isinstance(attachments, list) else ():
        if not isinstance(attachment, Mapping) or attachment.get("is_deleted"):
            continue
        name = attachment.get("media_file_basename") or \
            str(attachment.get("filename") or "").rsplit("/", 1)[-1]
        url = attachment.get("download_url")
        if name and isinstance(url, str) and url:
            links[str(name)] = url
    return links


def _download_or_none(client: KoboClient, url: str) -> bytes | None:
    """An attachment, or None when the server says it is gone (404): a missing file."""
    try:
        return client.attachments.download(url)
    except PlatformError as exc:
        if exc.status == 404:
            return None
        raise
