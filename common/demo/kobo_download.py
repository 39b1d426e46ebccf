"""Encrypted submissions laid out as a Kobo download, and that download as a sync source.

`write_download` encrypts every submission with the form's public key exactly as Collect and
Enketo do (`odk_encryption.encrypt_submission`) and lays it out the way Briefcase and a Kobo
download do (`write_encrypted_submission`): one folder per submission holding the plain manifest
`submission.xml` beside `submission.xml.enc`. Next to the folders, `data.json` is the asset's
submission listing as Kobo's `/api/v2/assets/{uid}/data/` returns it for an encrypted form:
`_id`, `_uuid`, `_submission_time` and the instance id — no answers, those are in the ciphertext.

`KoboDownloadSource` reads such a folder the way `tipdata.kobo_forms.pull` reads a server:
`decrypt_directory` decrypts and verifies every submission in memory, the decrypted XML is
flattened like Kobo's JSON (`flatten_instance_xml`), Kobo's `_`-metadata from the listing is
added, and `map_submission` turns it into a canonical record or a quarantined one. A submission
that does not decrypt is quarantined (KB300) with the ODK reason and only its listing row as
payload — never partial plaintext. The stream and record ids are those of the real Kobo source
(`kobo:<asset uid>`, `record_id_for(stream, _id)`), so the ledger cannot tell the difference.

A download is a snapshot: each run reads all of it, and the ledger tells new from unchanged.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from tipdata.demo.instance_xml import InstanceTemplate
from tipdata.demo.synthetic import DemoDataset, DemoSubmission
from tipdata.kobo_forms.mapping import (
    SUBMISSION_TIME_FORMAT,
    FormLayout,
    flatten_instance_xml,
    map_submission,
    source_system_for,
)
from tipdata.kobo_forms.odk_encryption import (
    SUBMISSION_XML_ENC,
    DecryptedSubmission,
    EncryptedSubmission,
    FailedSubmission,
    decrypt_directory,
    encrypt_submission,
    write_encrypted_submission,
)
from tipdata.ledger import Watermark
from tipdata.model import Codebook
from tipdata.problems import Problem
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord, record_id_for
from tipdata.sync.ports import SourcePage

LISTING_FILE = "data.json"
#: marks a folder `write_download` made, the only kind it ever deletes
MARKER_FILE = ".tipdata-demo-download"
DEFAULT_PAGE_SIZE = 200


class DownloadFolderError(ValueError):
    """The download folder cannot be (re)written; the message says which folder and what to do."""


@dataclass(frozen=True)
class DownloadAsset:
    """One asset's folder in a download."""

    agency: str
    form_id: str
    asset_uid: str
    folder: Path


@dataclass
class DownloadWritten:
    """What `write_download` wrote (counts and folders only)."""

    assets: list[DownloadAsset] = field(default_factory=list)
    encrypted: int = 0


def write_download(dataset: DemoDataset, templates: Mapping[str, InstanceTemplate],
                   public_key: rsa.RSAPublicKey, root: Path) -> DownloadWritten:
    """Encrypt every submission of `dataset` into `root/<agency>/<asset uid>/` (replacing it).

    `templates` maps form ids to their compiled instance. A submission whose defect is
    `undecryptable` has one bit of its `submission.xml.enc` flipped after encryption, as a
    damaged transfer would.

    >>> written = write_download(dataset, templates, private_key.public_key(), out / "kobo")
    """
    _clear(root)
    root.mkdir(parents=True)
    (root / MARKER_FILE).write_text("written by `tipdata demo`; rewritten on every run\n")
    listings: dict[str, list[dict[str, Any]]] = {}
    written = DownloadWritten()
    assets: dict[str, DownloadAsset] = {}
    for submission in dataset.submissions:
        template = templates[submission.form_id]
        asset = assets.get(submission.asset_uid)
        if asset is None:
            asset = assets[submission.asset_uid] = DownloadAsset(
                submission.agency, submission.form_id, submission.asset_uid,
                root / submission.agency / submission.asset_uid)
        xml = template.render(asset_uid=submission.asset_uid, instance_id=submission.instance_id,
                              started=submission.started, ended=submission.submitted,
                              answers=submission.answers)
        encrypted = encrypt_submission(public_key, form_id=submission.asset_uid,
                                       version=template.version,
                                       instance_id=submission.instance_id, submission_xml=xml)
        if submission.defect == "undecryptable":
            encrypted = _damaged(encrypted)
        write_encrypted_submission(encrypted, asset.folder)
        listings.setdefault(submission.asset_uid, []).append(_listing_row(submission, template))
        written.encrypted += 1
    for uid, rows in listings.items():
        listing = {"count": len(rows), "next": None, "previous": None,
                   "results": sorted(rows, key=lambda r: r["_id"])}
        (assets[uid].folder / LISTING_FILE).write_text(json.dumps(listing, indent=1) + "\n",
                                                       encoding="utf-8")
    written.assets = sorted(assets.values(), key=lambda a: (a.agency, a.form_id))
    return written


def check_replaceable(root: Path) -> None:
    """Raise unless `root` is absent, empty, or a download `write_download` made (marker file)."""
    if not root.exists() or (root / MARKER_FILE).is_file():
        return
    if root.is_dir() and not any(root.iterdir()):
        return
    raise DownloadFolderError(f"{root} exists and was not written by `tipdata demo`; "
                              "choose another --out folder or remove it")


def _clear(root: Path) -> None:
    check_replaceable(root)
    if root.is_dir():
        shutil.rmtree(root)


def _damaged(encrypted: EncryptedSubmission) -> EncryptedSubmission:
    files = dict(encrypted.files)
    content = bytearray(files[SUBMISSION_XML_ENC])
    content[min(20, len(content) - 1)] ^= 0x01
    files[SUBMISSION_XML_ENC] = bytes(content)
    return EncryptedSubmission(encrypted.instance_id, encrypted.manifest_xml, files)


def _listing_row(submission: DemoSubmission, template: InstanceTemplate) -> dict[str, Any]:
    return {
        "_id": submission.submission_id,
        "_uuid": submission.instance_id.removeprefix("uuid:"),
        "_submission_time": submission.submitted.strftime(SUBMISSION_TIME_FORMAT),
        "_xform_id_string": submission.asset_uid,
        "_attachments": [{"filename": SUBMISSION_XML_ENC, "mimetype": "application/octet-stream"}],
        "_status": "submitted_via_web",
        "__version__": template.version,
        "meta/instanceID": submission.instance_id,
    }


# --------------------------------------------------------------------------- the source


@dataclass
class DecryptionTally:
    """What the source decrypted, per run (counts only)."""

    decrypted: int = 0
    failed: int = 0


class KoboDownloadSource:
    """Kobo assets downloaded to folders, decrypted and mapped like a pull; see the module doc.

    >>> source = KoboDownloadSource(codebook, written.assets, private_key)
    >>> source.streams()[:1]
    ['kobo:aX3…']
    """

    platform = "kobo"
    empty_values: Mapping[str, Any] = {}  # Kobo leaves unanswered questions out

    def __init__(self, codebook: Codebook, assets: Sequence[DownloadAsset],
                 private_key: rsa.RSAPrivateKey, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.codebook = codebook
        self.assets = {source_system_for(a.asset_uid): a for a in assets}
        self.private_key = private_key
        self.page_size = max(1, page_size)
        self.layouts = {a.form_id: FormLayout.of(codebook, a.form_id) for a in assets}
        self.tally = DecryptionTally()

    def streams(self) -> Sequence[str]:
        return list(self.assets)

    def pages(self, stream: str, since: Watermark | None, *,
              dry_run: bool = False) -> Iterator[SourcePage]:
        """Every submission of the asset, in `_id` order (a download is read whole each time)."""
        asset = self.assets[stream]
        listing = json.loads((asset.folder / LISTING_FILE).read_text(encoding="utf-8"))["results"]
        rows = {str(row["meta/instanceID"]).replace(":", ""): row for row in listing}
        outcomes: list[tuple[int, CanonicalRecord | QuarantinedRecord]] = []
        for result in decrypt_directory(asset.folder, self.private_key):
            folder = (result.manifest_path.parent.name if isinstance(result, FailedSubmission)
                      else result.instance_id.replace(":", ""))
            row = rows.get(folder)
            if row is None:
                continue  # a folder the listing does not know: not part of this download
            outcomes.append((int(row["_id"]), self._outcome(asset, row, result)))
        outcomes.sort(key=lambda item: item[0])
        total = len(outcomes)
        for start in range(0, total, self.page_size):
            chunk = outcomes[start:start + self.page_size]
            yield SourcePage(
                tuple(o for _, o in chunk if isinstance(o, CanonicalRecord)),
                tuple(o for _, o in chunk if isinstance(o, QuarantinedRecord)),
                Watermark(number=chunk[-1][0]), received=len(chunk), total=total)

    def _outcome(self, asset: DownloadAsset, row: Mapping[str, Any],
                 result: DecryptedSubmission | FailedSubmission) -> CanonicalRecord | QuarantinedRecord:
        system = source_system_for(asset.asset_uid)
        source_id = str(row["_id"])
        if isinstance(result, FailedSubmission):
            self.tally.failed += 1
            where = f"kobo asset {asset.asset_uid} submission {source_id}"
            return QuarantinedRecord.from_problems(
                system, source_id, [Problem("KB300", f"{result.reason}: {result.error.detail}", where)],
                payload=dict(row), record_id=record_id_for(system, source_id), form_id=asset.form_id)
        self.tally.decrypted += 1
        flat = flatten_instance_xml(result.submission_xml)
        merged = {**{k: v for k, v in row.items() if k.startswith("_") and k not in flat}, **flat}
        return map_submission(self.codebook, self.layouts[asset.form_id], asset.asset_uid,
                              merged).outcome

    def remap(self, quarantine_source: str, source_id: str,
              payload: bytes) -> CanonicalRecord | QuarantinedRecord | None:
        """Not retried here: the payload is a listing row or plaintext that failed the codebook;
        fix the download and run the demo again."""
        return None
