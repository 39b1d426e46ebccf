"""One encrypted Kobo submission: fetch its manifest and `.enc` files, decrypt, verify, map.

Both `tipdata kobo pull` (for encrypted forms) and the receiver's retry of a held delivery
(`tipdata.sync.receiver.held`) open encrypted submissions; they share this one path so a fix to
what counts as a failure, or to what the quarantine may carry, cannot reach only one of them.

    opened = decrypt_and_map(client, codebook, layout, "tip_screening_adult", uid, row, 57, key)
    opened.outcome  # CanonicalRecord, or QuarantinedRecord KB300 with the ODK reason

The manifest XML comes from `/data/{id}.xml` (kobo-api.md §8.2): the JSON flattening loses what
the signature covers. Each `.enc` file comes through its `_attachments` download URL. Any
failure is a KB300 quarantine whose payload is the submission JSON as Kobo lists it (manifest
fields and ciphertext names only) — never partial plaintext. Kobo being unreachable is not a
verdict on the submission: its `PlatformError` propagates so the caller retries later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
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

NO_KEY_MESSAGE = "the form is encrypted and no private key was given (--key)"


@dataclass(frozen=True)
class OpenedSubmission:
    """What opening one encrypted submission gave: the mapped outcome, its media and warnings.

    `media` (file name → plaintext) is empty whenever `outcome` is quarantined for a decryption
    failure, so no caller can write partial plaintext by mistake.
    """

    outcome: CanonicalRecord | QuarantinedRecord
    media: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    warnings: tuple[Problem, ...] = ()


def decrypt_and_map(
    client: KoboClient,
    codebook: Codebook,
    layout: FormLayout,
    form_id: str,
    asset_uid: str,
    row: Mapping[str, Any],
    submission_id: int,
    private_key: rsa.RSAPrivateKey | None,
    *,
    updated_at: dt.datetime | None = None,
) -> OpenedSubmission:
    """Decrypt, verify and map one encrypted submission listed by Kobo as `row`.

    `updated_at` is passed to `map_submission` (when an edit was noticed); no key quarantines
    (KB300) so the submission is found again by a retry once the key is given.

    >>> opened = decrypt_and_map(client, codebook, layout, "tip_screening_adult", "aJ7sd2…",
    ...                          row, 57, key)
    >>> opened.outcome.values["screening_result"], sorted(opened.media)
    ('unlikely', ['photo.jpg'])
    """
    system = source_system_for(asset_uid)
    where = f"kobo asset {asset_uid} submission {submission_id}"

    def quarantine(message: str) -> OpenedSubmission:
        return OpenedSubmission(
            QuarantinedRecord.from_problems(
                system,
                str(submission_id),
                [Problem("KB300", message, where)],
                payload=row,
                record_id=record_id_for(system, str(submission_id)),
                form_id=form_id,
            )
        )

    if private_key is None:
        return quarantine(NO_KEY_MESSAGE)
    try:
        manifest_xml = client.data.get_xml(asset_uid, submission_id)
        manifest = parse_manifest(manifest_xml)
        links = attachment_links(row)
        files: dict[str, bytes] = {}
        for name in manifest.encrypted_files:
            content = download_or_none(client, links[name]) if name in links else None
            if content is not None:
                files[name] = content
        # A file left out here makes decrypt_submission raise FileMissing (quarantined).
        decrypted = decrypt_submission(manifest_xml, files, private_key)
    except DecryptionError as exc:
        return quarantine(f"{exc.reason}: {exc.detail}")
    try:
        flat = flatten_instance_xml(decrypted.submission_xml)
    except (ParseError, DefusedXmlException):
        return quarantine("plaintext_not_xml: the decrypted submission is not readable XML")
    # Kobo's own metadata (`_id`, `_submission_time`, …) is outside the ciphertext.
    merged = {**{k: v for k, v in row.items() if k.startswith("_") and k not in flat}, **flat}
    mapped = map_submission(codebook, layout, asset_uid, merged, updated_at=updated_at)
    return OpenedSubmission(mapped.outcome, decrypted.media, mapped.warnings)


def attachment_links(row: Mapping[str, Any]) -> dict[str, str]:
    """File name → download URL of a submission's live attachments (`_attachments`, §5.4).

    >>> attachment_links({"_attachments": [{"filename": "u/a/photo.jpg",
    ...                                     "download_url": "https://kf…/photo.jpg"}]})
    {'photo.jpg': 'https://kf…/photo.jpg'}
    """
    links: dict[str, str] = {}
    attachments = row.get("_attachments")
    for attachment in attachments if isinstance(attachments, list) else ():
        if not isinstance(attachment, Mapping) or attachment.get("is_deleted"):
            continue
        name = (
            attachment.get("media_file_basename")
            or str(attachment.get("filename") or "").rsplit("/", 1)[-1]
        )
        url = attachment.get("download_url")
        if name and isinstance(url, str) and url:
            links[str(name)] = url
    return links


def download_or_none(client: KoboClient, url: str) -> bytes | None:
    """An attachment, or None when the server says it is gone (404): a missing file."""
    try:
        return client.attachments.download(url)
    except PlatformError as exc:
        if exc.status == 404:
            return None
        raise
