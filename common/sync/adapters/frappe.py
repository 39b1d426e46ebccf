"""A Frappe casework site as a sync target and source: `CaseworkSync` behind the ports.

Target: a batch of outbound records (already reduced to what the policy lets Frappe hold) goes
through `CaseworkSync.upsert`, which names every document by the record id, so writing a batch
again updates instead of duplicating. Only restricted elements the policy names for Frappe reach
the site (the records carry no others), and the site's restricted DocType is read back only then.

Source: caseworkers correct records in the desk. One stream per DocType the records live in
(`frappe:<host>/tip_case`, `…/tip_identity`, …), each listed with `list_modified_since` (keyset
on `modified, name`, never truncated) and its own watermark, the `modified` of the last document
stored: a listing is ordered by it, so each page's watermark covers everything before it. An
identity or restricted-detail document that changed brings its case's record. Documents are read
in bulk (`FrappeClient.documents`, a few list requests per page) and made records by the pure
`record_from_documents`; what does not fit the codebook, or has an `external_id` that is no
record id (typed in the desk), is quarantined (FR404), never dropped.
Reading back what tipdata wrote is expected and cheap: the engine sees nothing changed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

from tipdata.erpnext_casework.connector import CaseworkSync, ListedDocument
from tipdata.erpnext_casework.mapping import record_doctype, record_from_documents
from tipdata.ledger import Watermark
from tipdata.problems import Problem
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord
from tipdata.sync.ports import Outbound, SourcePage, WriteOutcome

DEFAULT_PAGE_SIZE = 500
#: what Frappe stores for an empty field of these types (frappe `get_valid_dict`)
_EMPTY_BY_FIELDTYPE: Mapping[str, Any] = {"Check": False, "Int": 0, "Float": 0, "Currency": 0,
                                          "Percent": 0}


def is_record_id(text: str) -> bool:
    """Whether `text` is a record id as the ledger keeps them: a UUID in its lowercase form.

    A case worker types a document's `external_id` in the desk; the ledger refuses anything
    but a record id there (it could be contents), which would stop the whole run.
    """
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def doctype_slug(doctype: str) -> str:
    """`TIP Restricted Detail` → `tip_restricted_detail` (stream names have no spaces)."""
    return re.sub(r"[^a-z0-9]+", "_", doctype.lower()).strip("_")


class FrappeCasework:
    """One Frappe site: push records to its casework DocTypes, pull caseworkers' edits.

    >>> site = FrappeCasework(CaseworkSync(FrappeClient.from_environment(), mapping, codebook))
    >>> site.streams()[:2]
    ['frappe:casework.example.org/tip_case', 'frappe:casework.example.org/tip_referral']
    """

    name = "frappe"
    platform = "frappe"
    #: FR405: the case is not on the site yet (pushed in a later run); FR401: edited meanwhile
    transient_reasons = frozenset({"FR405", "FR401"})

    def __init__(self, sync: CaseworkSync, *, batch_size: int = 200,
                 page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.sync = sync
        self.client = sync.client
        self.mapping = sync.mapping
        self.codebook = sync.codebook
        self.batch_size = batch_size
        self.page_size = max(1, page_size)
        self.host = urlsplit(self.client.config.base_url).netloc
        self.system = f"frappe:{self.host}"
        self.empty_values = {code: _EMPTY_BY_FIELDTYPE[fm.fieldtype]
                             for dm in self.mapping.doctypes.values()
                             for code, fm in dm.fields.items() if fm.fieldtype in _EMPTY_BY_FIELDTYPE}
        listed = list(self.mapping.record_doctypes) + self._companions()
        self._doctypes = {f"{self.system}/{doctype_slug(d)}": d for d in listed}

    def _companions(self) -> list[str]:
        """Companion DocTypes read back: the restricted one only when the policy sends it."""
        restricted = self.sync.allow_restricted
        return [d for d in self.mapping.companion_doctypes if d in self.mapping.doctypes and (
            restricted or not any(self.codebook.elements[c].sensitivity == "restricted"
                                  for c in self.mapping.doctypes[d].fields
                                  if c in self.codebook.elements))]

    # --- target -----------------------------------------------------------------------------

    def precheck(self, outbound: Outbound) -> WriteOutcome | None:
        return None  # the site's own rules decide; CaseworkSync quarantines what it refuses

    def write(self, batch: Sequence[Outbound]) -> list[WriteOutcome]:
        records = [o.record for o in batch]
        result = self.sync.upsert(records, batch_size=self.batch_size)
        doctypes = {r.record_id: record_doctype(r, self.codebook, self.mapping) or "" for r in records}
        outcomes = [WriteOutcome(q.record_id, "quarantined", quarantined=q)
                    for q in result.quarantined if q.record_id]
        for status, ids in (("created", result.created), ("updated", result.updated),
                            ("unchanged", result.unchanged)):
            outcomes += [WriteOutcome(rid, status, platform_id=f"{doctypes.get(rid, '')}/{rid}")  # type: ignore[arg-type]
                         for rid in ids]
        return outcomes

    # --- source -----------------------------------------------------------------------------

    def streams(self) -> Sequence[str]:
        return list(self._doctypes)

    def pages(self, stream: str, since: Watermark | None, *, dry_run: bool = False) -> Iterator[SourcePage]:
        doctype = self._doctypes[stream]
        companion = doctype in self.mapping.companion_doctypes
        link = self.mapping.doctypes[doctype].case_field if companion else None
        listing = self.client.list_modified_since(
            doctype, since.at if since is not None else None, fields=(link,) if link else (),
            page_size=self.page_size)
        while True:
            chunk = list(islice(listing, self.page_size))
            if not chunk:
                return
            last = chunk[-1]
            if companion:
                names = [str(d.values[link]) for d in chunk if link and d.values.get(link)]
                records, quarantined = self._read(self.mapping.case_doctype, names)
            else:
                records, quarantined = self._read(doctype, [d.name for d in chunk])
            yield SourcePage(tuple(records), tuple(quarantined), self._mark(last),
                             received=len(chunk))

    @staticmethod
    def _mark(last: ListedDocument) -> Watermark:
        return Watermark(at=last.modified_at, cursor=last.name)

    def _tables(self, doctype: str) -> dict[str, tuple[str, str]]:
        dm = self.mapping.doctypes[doctype]
        return {fm.fieldname: (fm.child_doctype, fm.child_field)
                for fm in dm.fields.values() if fm.is_table and fm.child_doctype}

    def _read(self, doctype: str, names: list[str]) -> tuple[list[CanonicalRecord], list[QuarantinedRecord]]:
        """The records of documents `names` of `doctype`, read in bulk."""
        wanted = sorted(set(names))
        docs = self.client.documents(doctype, wanted, self._tables(doctype))
        case_doctype = self.mapping.case_doctype
        link = self.mapping.doctypes[doctype].case_field
        if doctype == case_doctype:
            cases = docs
        else:
            case_names = sorted({str(d[link]) for d in docs.values() if link and d.get(link)})
            cases = self.client.documents(case_doctype, case_names) if case_names else {}
        companions: dict[str, dict[str, dict[str, Any]]] = {}
        if doctype == case_doctype:
            for companion in self._companions():
                companions[companion] = self.client.documents(companion, wanted, self._tables(companion))
        zone = self.client.site_time_zone()
        records: list[CanonicalRecord] = []
        quarantined: list[QuarantinedRecord] = []
        for name in wanted:
            doc = docs.get(name)
            if doc is None:
                continue  # deleted since it was listed
            case = doc if doctype == case_doctype else (cases.get(str(doc[link])) if link and doc.get(link) else None)
            own_companions = {c: found[name] for c, found in companions.items() if name in found}
            made = record_from_documents(doc, own_companions, case, self.codebook, self.mapping, zone,
                                         site_url=self.client.config.base_url,
                                         allow_restricted=self.sync.allow_restricted)
            if isinstance(made, CanonicalRecord) and not is_record_id(made.record_id):
                made = [Problem("FR404", f"the {self.mapping.external_id_field} is not a record id "
                                "(a lowercase UUID, as the sync writes), so the ledger cannot keep "
                                "the document; create it again with one (the field is set once)",
                                f"{doctype} {name}")]
            if isinstance(made, CanonicalRecord):
                records.append(made)
            else:
                external_id = str(doc.get(self.mapping.external_id_field) or "")
                quarantined.append(QuarantinedRecord.from_problems(
                    self.system, f"{doctype}/{name}", made,
                    payload={"doctype": doctype, "document": doc, "companions": own_companions},
                    record_id=external_id if is_record_id(external_id) else None))
        return records, quarantined

    def remap(self, quarantine_source: str, source_id: str,
              payload: bytes) -> CanonicalRecord | QuarantinedRecord | None:
        """Read a quarantined document again from the site (it was corrected in the desk)."""
        if quarantine_source != self.system or "/" not in source_id:
            return None
        doctype, name = source_id.split("/", 1)
        if doctype not in self.mapping.doctypes:
            return None
        records, quarantined = self._read(doctype, [name])
        return (records or quarantined or [None])[0]
