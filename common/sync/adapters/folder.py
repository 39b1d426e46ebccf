"""Targets that write to a folder what would be sent: DHIS2 tracker payloads, Frappe documents.

For a demo, a dry run against real platforms, or an air-gapped hand-over, a folder stands in for a
server. The files are produced by the same code the real targets use — `PayloadBuilder` on the
DHIS2 metadata package, `documents_for_record` on the casework mapping — from the records the
sync engine hands over, which `tipdata.policy.decide` has already reduced to what the policy lets
travel. So the folder holds exactly what the platform would receive, and nothing else.

Writes are idempotent upserts keyed by record id, like the real targets': one file per record
(DHIS2: the `POST /api/tracker` body for that record) or per document (Frappe: the document as the
site would store it, named by the record id). Writing the same content again is `unchanged`;
different content replaces the file (`updated`); files are replaced atomically.

    dhis2/<record id>.json
    frappe/<doctype slug>/<document name>.json
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from tipdata.dhis2_app.tracker import PayloadBuilder, mapping_from_package
from tipdata.erpnext_casework.mapping import (
    CaseworkMapping,
    DocumentDraft,
    case_reference_of,
    casework_mapping,
    documents_for_record,
    record_doctype,
)
from tipdata.model import Codebook
from tipdata.problems import Problem
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord
from tipdata.sync.adapters.dhis2 import LINK_WITHHELD, link_precheck
from tipdata.sync.adapters.frappe import doctype_slug
from tipdata.sync.ports import Outbound, WriteOutcome

FileStatus = Literal["created", "updated", "unchanged"]


def write_json_if_changed(path: Path, document: Mapping[str, Any]) -> FileStatus:
    """Write `document` as stable JSON unless the file already holds exactly that.

    >>> write_json_if_changed(Path("out/a.json"), {"b": 1})   # again: 'unchanged'
    'created'
    """
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    try:
        before: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        before = None
    if before == text:
        return "unchanged"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return "created" if before is None else "updated"


def _quarantined(record: CanonicalRecord, problems: Iterable[Problem]) -> QuarantinedRecord:
    envelope = record.envelope
    return QuarantinedRecord.from_problems(envelope.source_system, envelope.source_id, problems,
                                           payload=record.to_json(), record_id=record.record_id,
                                           form_id=envelope.form_id)


class Dhis2PayloadFolder:
    """The DHIS2 tracker target, writing each record's tracker payload to `<folder>/<id>.json`.

    >>> target = Dhis2PayloadFolder(out / "dhis2", codebook, load_package(), org_unit="DiszpKrYNg8")
    """

    name = "dhis2"
    transient_reasons: frozenset[str] = frozenset()

    def __init__(self, folder: Path, codebook: Codebook, package: Mapping[str, Any], *,
                 org_unit: str | None = None, program: str | None = None,
                 batch_size: int = 250) -> None:
        self.folder = Path(folder)
        self.mapping = mapping_from_package(package, codebook, org_unit=org_unit, program=program)
        self.builder = PayloadBuilder(self.mapping)
        self.batch_size = batch_size

    def path_of(self, record_id: str) -> Path:
        return self.folder / f"{record_id}.json"

    def precheck(self, outbound: Outbound) -> WriteOutcome | None:
        return link_precheck(outbound)

    def write(self, batch: Sequence[Outbound]) -> list[WriteOutcome]:
        outcomes = []
        for outbound in batch:
            record = outbound.record
            payload = self.builder.build([(record, record.values)])
            if payload.unplaced:
                problems = [Problem(u.reason, u.message, "dhis2 folder") for u in payload.unplaced]
                outcomes.append(WriteOutcome(record.record_id, "quarantined",
                                             quarantined=_quarantined(record, problems)))
            elif payload.skipped or not payload.object_count:
                outcomes.append(WriteOutcome(record.record_id, "withheld", reason=LINK_WITHHELD))
            else:
                status = write_json_if_changed(self.path_of(record.record_id), payload.body)
                outcomes.append(WriteOutcome(record.record_id, status, platform_id=record.record_id))
        return outcomes


class FrappeDocumentFolder:
    """The Frappe casework target, writing each record's documents as JSON files.

    A record of another level finds its case among the case documents already in the folder by
    case reference, as `CaseworkSync` finds it on the site; none (or two) is FR405, tried again
    next run once the case is there. Only the restricted elements named in `allow_restricted`
    are written (the policy's `[targets.frappe.restricted]`; none by default).

    >>> target = FrappeDocumentFolder(out / "frappe", codebook)
    """

    name = "frappe"
    #: FR405: the case is not in the folder yet (written in a later batch or run)
    transient_reasons = frozenset({"FR405"})

    def __init__(self, folder: Path, codebook: Codebook, *, allow_restricted: Collection[str] = (),
                 mapping: CaseworkMapping | None = None, time_zone: str = "UTC",
                 batch_size: int = 200) -> None:
        self.folder = Path(folder)
        self.codebook = codebook
        self.mapping = mapping or casework_mapping(codebook)
        self.allow_restricted = frozenset(allow_restricted)
        self.zone = ZoneInfo(time_zone)
        self.batch_size = batch_size
        self._cases: dict[str, set[str]] | None = None

    def path_of(self, doctype: str, name: str) -> Path:
        return self.folder / doctype_slug(doctype) / f"{name}.json"

    def precheck(self, outbound: Outbound) -> WriteOutcome | None:
        return None  # what cannot be written is found while mapping (quarantined with reasons)

    def write(self, batch: Sequence[Outbound]) -> list[WriteOutcome]:
        case_doctype = self.mapping.case_doctype
        ordered = sorted(batch, key=lambda o: record_doctype(o.record, self.codebook,
                                                             self.mapping) != case_doctype)
        return [self._write_record(o.record) for o in ordered]

    def _write_record(self, record: CanonicalRecord) -> WriteOutcome:
        case_name = None
        reference = case_reference_of(record, self.codebook, self.mapping)
        if reference is not None:
            found = self._case_index().get(reference, set())
            if len(found) > 1:
                return WriteOutcome(record.record_id, "quarantined", quarantined=_quarantined(
                    record, [Problem("FR405", f"{len(found)} cases in the folder share the case "
                                     "reference the record quotes", f"record {record.record_id}",
                                     None, self.mapping.case_reference[0])]))
            case_name = next(iter(found), None)
        docs = documents_for_record(record, self.codebook, self.mapping, self.zone,
                                    case_name=case_name, allow_restricted=self.allow_restricted)
        if isinstance(docs, list):
            return WriteOutcome(record.record_id, "quarantined",
                                quarantined=_quarantined(record, docs))
        doctype = record_doctype(record, self.codebook, self.mapping) or ""
        statuses = [self._write_draft(draft) for draft in docs.drafts]
        own = next(s for d, s in zip(docs.drafts, statuses, strict=True)
                   if d.doctype == doctype and not d.update_only)
        status: FileStatus = own if own == "created" else \
            "updated" if "updated" in statuses or "created" in statuses else "unchanged"
        return WriteOutcome(record.record_id, status, platform_id=f"{doctype}/{record.record_id}")

    def _write_draft(self, draft: DocumentDraft) -> FileStatus:
        """The draft's fields set on the document (the others left alone), as the site does."""
        path = self.path_of(draft.doctype, draft.name)
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            existing = {}
        document = {**existing, "doctype": draft.doctype, "name": draft.name, **draft.values}
        status = write_json_if_changed(path, document)
        if draft.doctype == self.mapping.case_doctype and self._cases is not None:
            reference = document.get(self._case_reference_field())
            if isinstance(reference, str) and reference:
                self._cases.setdefault(reference, set()).add(draft.name)
        return status

    def _case_reference_field(self) -> str:
        case = self.mapping.doctypes[self.mapping.case_doctype]
        field = case.fields.get(self.mapping.case_reference[1])
        return field.fieldname if field is not None else self.mapping.case_reference[1]

    def _case_index(self) -> dict[str, set[str]]:
        """Case reference → names of the case documents in the folder (read once, then kept)."""
        if self._cases is None:
            self._cases = {}
            fieldname = self._case_reference_field()
            for path in sorted((self.folder / doctype_slug(self.mapping.case_doctype)).glob("*.json")):
                document = json.loads(path.read_text(encoding="utf-8"))
                reference = document.get(fieldname)
                if isinstance(reference, str) and reference:
                    self._cases.setdefault(reference, set()).add(str(document.get("name", path.stem)))
        return self._cases
