"""Canonical records ↔ documents of the tip_casework DocTypes, as pure functions.

Where a value is stored is decided by `doctypes.py` (`placement`): direct identifiers in
`TIP Identity`, restricted facts in `TIP Restricted Detail` (both one per case), everything else
in the DocType of the element's level. A canonical record holds what one form collected, so it
writes up to four documents:

- its own document, in the DocType of the form's level (`TIP Case` for the intake form,
  `TIP Referral` for a referral, ...), named by the record id (`autoname: field:external_id`);
- the case's `TIP Identity` and `TIP Restricted Detail`, named like the case, for the values the
  record holds of those kinds;
- for a record of another level, the values it holds that live on the case (the screening form
  asks `consent_screening`): a partial update of the case document, never an insert.

A case the sync engine opened from a screening is created with `intake_pending` ticked, so the
app accepts it before its intake (consent per purpose, risk level, ...) is recorded; updates
never touch that box again, so a case worker's unticking stands.

A record of another level finds its case through the case reference it quotes
(`svc_case_reference` = the case's `case_reference`); the connector looks that up and passes the
case's name in. Restricted elements are withheld unless the caller's policy names them.

Values travel as the DocType stores them: option codes in Select fields, `YYYY-MM-DD` dates,
numbers as text in Data fields (Frappe stores an empty Int as 0) or as numbers in Int/Float,
select_multiple answers as child rows `{option: code}`, date-times as naive site time.

Pure: no HTTP, no clock, no logging; the site's time zone is an argument.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from tipdata.erpnext_casework.doctypes import (
    CASE,
    IDENTITY,
    INTAKE_PENDING,
    LEVEL_DOCTYPES,
    RESTRICTED,
    SCREENING,
    DocTypeSet,
    build_doctypes,
)
from tipdata.model import Codebook, Element
from tipdata.policy import SCREENING_CASE_PREFIX
from tipdata.problems import Problem
from tipdata.records import CanonicalRecord, Envelope, coerce_value, record_id_for

FRAPPE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
#: Sensitivity classes withheld unless a policy names the element.
WITHHELD_CLASSES = frozenset({"restricted"})
NUMBER_TYPES = frozenset({"Int", "Check", "Float", "Currency", "Percent"})


# --- the mapping --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldMapping:
    """Where one element's value lives in a DocType and in which Frappe form."""

    fieldname: str
    fieldtype: str
    #: Table / Table MultiSelect: the child DocType and its field holding the option code
    child_doctype: str | None = None
    child_field: str = "option"

    @property
    def is_table(self) -> bool:
        return self.fieldtype in ("Table", "Table MultiSelect")


@dataclass(frozen=True)
class DocTypeMapping:
    """One record DocType: the elements it holds (code → field)."""

    doctype: str
    fields: Mapping[str, FieldMapping]
    #: Link to the case (every record DocType but the case itself)
    case_field: str | None = None

    def field_named(self, fieldname: str) -> FieldMapping | None:
        return self._by_fieldname.get(fieldname)

    @functools.cached_property
    def _by_fieldname(self) -> dict[str, FieldMapping]:
        """fieldname → mapping, built once: every value of every payload looks its field up."""
        found: dict[str, FieldMapping] = {}
        for fm in self.fields.values():
            found.setdefault(fm.fieldname, fm)  # the first, as a scan in order would find
        return found


@dataclass(frozen=True)
class CaseworkMapping:
    """Record DocTypes, where each element is stored, and how records find their case."""

    doctypes: Mapping[str, DocTypeMapping]
    #: element code → DocType it is stored in
    placement: Mapping[str, str]
    #: form level → DocType of the record's own document
    level_doctypes: Mapping[str, str]
    case_doctype: str = CASE
    #: one document per case, named like the case (identity, restricted detail)
    companion_doctypes: tuple[str, ...] = (IDENTITY, RESTRICTED)
    #: (element quoted by records of other levels, the case's element it equals; the case's
    #: field has the element's name, as every generated field does)
    case_reference: tuple[str, str] = ("svc_case_reference", "case_reference")
    external_id_field: str = "external_id"
    #: consent purpose → Check field on the case the app keeps from the consent answers
    consent_fields: Mapping[str, str] = field(default_factory=dict)
    #: Check field on the case: created ticked for a case opened from a screening (None: no such field)
    intake_pending_field: str | None = None

    @property
    def record_doctypes(self) -> tuple[str, ...]:
        """DocTypes a pull lists: one per level (companions join their case's record)."""
        return tuple(dict.fromkeys(self.level_doctypes.values()))


def mapping_from_doctypes(codebook: Codebook, doctype_set: DocTypeSet) -> CaseworkMapping:
    """The mapping the generated app implies: fields and fieldtypes read from its DocType JSON."""
    jsons = doctype_set.doctypes
    record_doctypes = {d for d in doctype_set.placement.values()} | set(LEVEL_DOCTYPES.values())
    doctypes: dict[str, DocTypeMapping] = {}
    for name in sorted(record_doctypes):
        data = jsons.get(name, {})
        by_name = {f["fieldname"]: f for f in data.get("fields", [])}
        fields: dict[str, FieldMapping] = {}
        for code, placed in doctype_set.placement.items():
            spec = by_name.get(code)
            if placed != name or spec is None:
                continue
            child = spec.get("options") if spec["fieldtype"] in ("Table", "Table MultiSelect") else None
            child_field = "option"
            if child and child in jsons:
                child_fields = [f["fieldname"] for f in jsons[child].get("fields", [])]
                child_field = child_fields[0] if child_fields else "option"
            fields[code] = FieldMapping(code, spec["fieldtype"], child, child_field)
        links = [f["fieldname"] for f in data.get("fields", [])
                 if f.get("fieldtype") == "Link" and f.get("options") == CASE]
        doctypes[name] = DocTypeMapping(name, fields, links[0] if links and name != CASE else None)
    case_fields = {f["fieldname"] for f in jsons.get(CASE, {}).get("fields", [])}
    consent = {p: f"consent_covers_{p}" for p in codebook.consent_purposes
               if f"consent_covers_{p}" in case_fields}
    return CaseworkMapping(doctypes, dict(doctype_set.placement), dict(LEVEL_DOCTYPES),
                           consent_fields=consent,
                           intake_pending_field=INTAKE_PENDING if INTAKE_PENDING in case_fields else None)


def casework_mapping(codebook: Codebook) -> CaseworkMapping:
    """The mapping of the app `tipdata build` generates from this codebook."""
    return mapping_from_doctypes(codebook, build_doctypes(codebook))


# --- site time ----------------------------------------------------------------------------------

def site_naive_to_utc(naive: dt.datetime, zone: ZoneInfo, *, later: bool = False) -> dt.datetime:
    """A Frappe timestamp (naive, site time) as an aware UTC instant.

    A local time repeated when clocks go back is read as its first occurrence, or with
    `later=True` its second.

    >>> site_naive_to_utc(dt.datetime(2026, 3, 1, 13, 30), ZoneInfo("Asia/Kolkata")).isoformat()
    '2026-03-01T08:00:00+00:00'
    """
    if naive.tzinfo is not None:
        raise ValueError("expected a naive site-time timestamp")
    return naive.replace(tzinfo=zone, fold=1 if later else 0).astimezone(dt.UTC)


def utc_to_site_naive(instant: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """An aware instant as the naive site time Frappe stores and filters on."""
    if instant.tzinfo is None:
        raise ValueError("expected an aware date-time")
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def dst_margin(instant: dt.datetime, zone: ZoneInfo,
               window: dt.timedelta = dt.timedelta(hours=48)) -> dt.timedelta:
    """How far site time ran backwards (clocks going back) within `window` of `instant`.

    Zero for zones without summer time (Asia/Kolkata, UTC); one hour around the autumn change
    in Europe/London.
    """
    step = dt.timedelta(minutes=30)
    moment = instant - window
    previous = moment.astimezone(zone).utcoffset()
    margin = dt.timedelta(0)
    while moment < instant + window:
        moment += step
        offset = moment.astimezone(zone).utcoffset()
        if previous is not None and offset is not None and offset < previous:
            margin = max(margin, previous - offset)
        previous = offset
    return margin


def parse_site_datetime(value: Any, zone: ZoneInfo) -> dt.datetime | None:
    """A Datetime value (naive site time text) as aware UTC, or None when empty."""
    if value in (None, ""):
        return None
    return site_naive_to_utc(dt.datetime.fromisoformat(str(value)), zone)


# --- records → documents ------------------------------------------------------------------------

@dataclass(frozen=True)
class DocumentDraft:
    """The fields one record sets on one document (only those; the others are left alone)."""

    doctype: str
    name: str
    values: Mapping[str, Any]
    #: the record may change this document but never create it (the case, from another level)
    update_only: bool = False
    #: fields set only when the document is created, never compared or updated afterwards
    #: (a case opened from a screening is created awaiting its intake; a case worker unticks it)
    insert_values: Mapping[str, Any] = field(default_factory=dict)

    def as_insert(self) -> dict[str, Any]:
        return {"doctype": self.doctype, **self.insert_values, **self.values}


@dataclass(frozen=True)
class RecordDocuments:
    """A record's documents, case first (the others link to it)."""

    record: CanonicalRecord
    drafts: tuple[DocumentDraft, ...]
    #: restricted elements left out because no policy named them (codes only)
    withheld: tuple[str, ...] = ()

    @property
    def record_id(self) -> str:
        return self.record.record_id

    @property
    def insertable(self) -> bool:
        return not any(d.update_only for d in self.drafts)


def record_level(record: CanonicalRecord, codebook: Codebook) -> str | None:
    """The level a record belongs to: its form's, else the one non-person level of its values."""
    form = codebook.forms.get(record.envelope.form_id or "")
    if form is not None:
        return form.level
    levels = {codebook.elements[c].level for c in record.values if c in codebook.elements}
    others = levels - {"person"}
    if len(others) == 1:
        return others.pop()
    return "person" if levels == {"person"} else None


def record_doctype(record: CanonicalRecord, codebook: Codebook,
                   mapping: CaseworkMapping) -> str | None:
    """The DocType of the record's own document, or None when its level has none."""
    return mapping.level_doctypes.get(record_level(record, codebook) or "")


def case_reference_of(record: CanonicalRecord, codebook: Codebook,
                      mapping: CaseworkMapping) -> str | None:
    """The case reference a record of another level quotes (None for case records)."""
    if record_doctype(record, codebook, mapping) == mapping.case_doctype:
        return None
    value = record.values.get(mapping.case_reference[0])
    return value if isinstance(value, str) and value else None


def opened_from_screening(record: CanonicalRecord) -> bool:
    """Whether a case record is one the sync engine opened from a screening (no intake yet).

    The engine files it under the source id `screening-case/<screening record id>`
    (`tipdata.sync.screening_cases`); an intake from any form or file does not look like that.
    """
    return record.envelope.source_id.startswith(SCREENING_CASE_PREFIX)


def to_frappe_value(fm: FieldMapping, element: Element, value: Any, zone: ZoneInfo) -> Any:
    """A canonical value in the form the field stores it. Raises ValueError on a wrong type."""
    if fm.is_table:
        if value is None:
            return []
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"expected a list of option codes, got {type(value).__name__}")
        return [{fm.child_field: code} for code in sorted(set(value))]
    if value is None:
        return 0 if fm.fieldtype == "Check" else None
    kind = element.type
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {type(value).__name__}")
        return int(value) if fm.fieldtype in ("Check", "Int") else ("true" if value else "false")
    if kind in ("integer", "decimal"):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValueError(f"expected a number, got {type(value).__name__}")
        if fm.fieldtype == "Int":
            return int(value)
        if fm.fieldtype in ("Float", "Currency", "Percent"):
            return float(value)
        return format(Decimal(str(value)).normalize(), "f") if kind == "decimal" else str(int(value))
    if kind == "datetime":
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError("expected a date-time with a time zone")
        return utc_to_site_naive(value, zone).strftime(FRAPPE_DATETIME)
    if kind == "date":
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise ValueError(f"expected a date, got {type(value).__name__}")
        return value.isoformat()
    if kind == "geopoint":
        return " ".join(str(v) for v in value)
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def documents_for_record(record: CanonicalRecord, codebook: Codebook, mapping: CaseworkMapping,
                         zone: ZoneInfo, *, case_name: str | None = None,
                         allow_restricted: Collection[str] = (),
                         ) -> RecordDocuments | list[Problem]:
    """The documents a record writes, or every problem that stops it (not only the first).

    `case_name` is the name of the case a record of another level belongs to (looked up from
    its case reference); a case record is its own case.

    Example::

        docs = documents_for_record(intake_record, codebook, mapping, ZoneInfo("UTC"))
        [d.doctype for d in docs.drafts]    # ['TIP Case', 'TIP Identity']
    """
    where = f"record {record.record_id}"
    level = record_level(record, codebook)
    own_doctype = mapping.level_doctypes.get(level or "")
    own = mapping.doctypes.get(own_doctype or "")
    if own is None:
        what = f"level {level!r}" if level else "no level (no known form; values of several levels)"
        return [Problem("FR403", f"the record has {what}, which has no DocType on the site", where)]
    is_case = own.doctype == mapping.case_doctype
    case = record.record_id if is_case else case_name
    problems: list[Problem] = []
    if case is None:
        reference = mapping.case_reference[0]
        quoted = record.values.get(reference)
        problems.append(Problem(
            "FR405", f"a {own.doctype} must belong to a case, and "
            + (f"no case on the site has the case reference the record quotes ({reference})"
               if quoted else f"the record quotes no case reference ({reference})"),
            where, None, reference))
    values: dict[str, dict[str, Any]] = {own.doctype: {}}
    withheld: list[str] = []
    for code in sorted(record.values):
        value = record.values[code]
        element = codebook.elements.get(code)
        if element is None:
            problems.append(Problem("RC200", f"{code!r} is not an element of codebook "
                                    f"{codebook.id} {codebook.version}", where, None, code))
            continue
        if element.sensitivity in WITHHELD_CLASSES and code not in allow_restricted:
            withheld.append(code)
            continue
        target = mapping.placement.get(code)
        if target != own.doctype and code == mapping.case_reference[0]:
            continue  # only how the record finds its case
        if target not in (own.doctype, mapping.case_doctype, *mapping.companion_doctypes):
            problems.append(Problem("FR403", f"the element is stored in {target or 'no DocType'}, "
                                    f"which a {own.doctype} record cannot write", where, None, code))
            continue
        fm = mapping.doctypes[target].fields.get(code) if target in mapping.doctypes else None
        if fm is None:
            problems.append(Problem("FR403", f"DocType {target!r} has no field for this element",
                                    where, None, code))
            continue
        try:
            values.setdefault(target, {})[fm.fieldname] = to_frappe_value(fm, element, value, zone)
        except (ValueError, TypeError) as exc:
            problems.append(Problem("RC201", f"{exc} for a {element.type} element", where, None,
                                    code))
    if problems:
        return problems
    assert case is not None
    id_field = mapping.external_id_field
    drafts = []
    if not is_case and values.get(mapping.case_doctype):
        drafts.append(DocumentDraft(mapping.case_doctype, case, values[mapping.case_doctype],
                                    update_only=True))
    own_values = {id_field: record.record_id, **values[own.doctype]}
    if own.case_field:
        own_values[own.case_field] = case
    on_insert = {mapping.intake_pending_field: 1} if (
        is_case and mapping.intake_pending_field and opened_from_screening(record)) else {}
    drafts.append(DocumentDraft(own.doctype, record.record_id, own_values, insert_values=on_insert))
    for companion in mapping.companion_doctypes:
        if values.get(companion):
            link = mapping.doctypes[companion].case_field
            extra = {link: case} if link else {}
            drafts.append(DocumentDraft(companion, case,
                                        {id_field: case, **extra, **values[companion]}))
    return RecordDocuments(record, tuple(drafts), tuple(withheld))


# --- comparing with what the site holds --------------------------------------------------------

def comparable(fm: FieldMapping | None, value: Any) -> Any:
    """A value in one form whatever its source (request or response), for change detection."""
    if fm is not None and fm.is_table:
        rows = value or []
        return tuple(sorted(str(r.get(fm.child_field)) for r in rows if isinstance(r, Mapping)))
    kind = fm.fieldtype if fm is not None else "Data"
    if kind in NUMBER_TYPES and value in (None, ""):
        value = 0  # what Frappe stores for an empty number
    if value is None or value == "":
        return None
    if kind in ("Int", "Check"):
        return int(float(value))
    if kind in ("Float", "Currency", "Percent"):
        try:
            return Decimal(str(value)).normalize()
        except InvalidOperation:
            return str(value)
    if kind == "Datetime":
        try:
            return dt.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if kind == "Date":
        return str(value)[:10]
    return str(value)


def changed_fields(existing: Mapping[str, Any], draft: DocumentDraft, mapping: CaseworkMapping,
                   ) -> dict[str, Any]:
    """The draft's fields whose value differs from the document's: what a PUT must send."""
    dm = mapping.doctypes[draft.doctype]
    changes = {}
    for fieldname, value in draft.values.items():
        fm = dm.field_named(fieldname)
        if comparable(fm, existing.get(fieldname)) != comparable(fm, value):
            changes[fieldname] = value
    return changes


# --- documents → records ------------------------------------------------------------------------

def from_frappe_value(fm: FieldMapping, element: Element, raw: Any, codebook: Codebook,
                      zone: ZoneInfo) -> Any:
    """A stored value as the canonical value. Raises ValueError naming what was expected."""
    if raw is None or raw == "":  # most fields of a document are empty: answer them first
        return None
    if fm.is_table:
        codes = [str(row.get(fm.child_field)) for row in raw or [] if row.get(fm.child_field)]
        value: Any = coerce_value(element, codes) if codes else None
    elif element.type == "datetime":
        value = site_naive_to_utc(dt.datetime.fromisoformat(str(raw)), zone)
    elif element.type == "boolean":
        value = bool(int(raw)) if fm.fieldtype in ("Check", "Int") else coerce_value(element, raw)
    else:
        value = coerce_value(element, raw)
    option_list = codebook.options_for(element)
    if option_list is not None and value is not None:
        chosen = [value] if isinstance(value, str) else list(value)
        unknown = [c for c in chosen if option_list.option(c) is None]
        if unknown:
            raise ValueError(f"{', '.join(map(repr, unknown))} is not in option list "
                             f"{option_list.name!r}")
    return value


def doctype_form(doctype: str, codebook: Codebook, mapping: CaseworkMapping) -> str | None:
    """The codebook form a document of `doctype` records, for a document made in the desk.

    A document the sync wrote came from a form, and the ledger keeps that form; one a case
    worker created in the desk came from none, yet targets file a record by its form (DHIS2
    refuses a referral without one). Every form whose level the DocType stores qualifies; where
    several do, they share the level, so any files the record the same way, and the lowest id
    is taken so that every read of the document gives the same record.

    `TIP Screening` has none: a screening in the desk is always filed under a case (its case
    link is mandatory) and travels by that case's reference, whereas a screening form would
    make the sync derive a case from it (`tipdata.sync.screening_cases`, keyed by the source
    system) and so open a second case for every Kobo screening read back from the site.

    >>> doctype_form("TIP Referral", codebook, mapping)
    'tip_referral'
    """
    if doctype == SCREENING:
        return None
    levels = {level for level, placed in mapping.level_doctypes.items() if placed == doctype}
    forms = sorted(form_id for form_id, form in codebook.forms.items() if form.level in levels)
    return forms[0] if forms else None


def case_answers_of(doctype: str, codebook: Codebook, mapping: CaseworkMapping) -> list[str]:
    """Elements the forms filed as `doctype` ask whose values live on the case document.

    >>> case_answers_of("TIP Screening", codebook, mapping)
    ['consent_screening']
    """
    levels = {level for level, placed in mapping.level_doctypes.items() if placed == doctype}
    if doctype == mapping.case_doctype or not levels:
        return []
    asked = {code for form in codebook.forms.values() if form.level in levels
             for code in form.element_codes()}
    return [code for code, placed in mapping.placement.items()
            if placed == mapping.case_doctype and code in asked]


def record_from_documents(doc: Mapping[str, Any], companions: Mapping[str, Mapping[str, Any]],
                          case: Mapping[str, Any] | None, codebook: Codebook,
                          mapping: CaseworkMapping, zone: ZoneInfo, *, site_url: str,
                          allow_restricted: Collection[str] = (),
                          ) -> CanonicalRecord | list[Problem]:
    """A record's document, with its case's companion documents, as a canonical record.

    `case` is the case document (the record's own for a case record): it gives a record of
    another level its case reference and every record its consent purposes (the app keeps
    `consent_covers_<purpose>` from the consent answers). The source is the site
    (`frappe:<host>`, `<DocType>/<name>`); the record id is the document's `external_id`, the id
    shared by every platform; the form is the DocType's (`doctype_form`), which is what a
    document created in the desk has. `updated_at` is the document's last save on the site.
    """
    doctype = str(doc.get("doctype"))
    own = mapping.doctypes.get(doctype)
    name = str(doc.get("name"))
    where = f"{doctype} {name}"
    if own is None:
        return [Problem("FR403", f"DocType {doctype!r} is not a casework DocType", where)]
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    sources = [(own, doc)] + [(mapping.doctypes[d], companions[d]) for d in companions
                              if d in mapping.doctypes]
    for source_dm, source in sources:
        for code, fm in source_dm.fields.items():
            element = codebook.elements.get(code)
            if element is None or fm.fieldname not in source:
                continue
            if element.sensitivity in WITHHELD_CLASSES and code not in allow_restricted:
                continue
            try:
                value = from_frappe_value(fm, element, source[fm.fieldname], codebook, zone)
            except (ValueError, TypeError) as exc:
                problems.append(Problem("FR404", str(exc), where, None, code))
                continue
            if value is not None:
                values[code] = value
    reference_element, reference_field = mapping.case_reference
    if doctype != mapping.case_doctype and case is not None and case.get(reference_field) \
            and reference_element in codebook.elements:
        values.setdefault(reference_element, str(case[reference_field]))
    if doctype != mapping.case_doctype and case is not None:
        # what the record's form asks but the case holds (a screening's consent_screening):
        # read back what documents_for_record wrote there, so the record comes back whole
        case_dm = mapping.doctypes[mapping.case_doctype]
        for code in case_answers_of(doctype, codebook, mapping):
            fm = case_dm.fields.get(code)
            if fm is None or fm.fieldname not in case or code in values:
                continue
            try:
                value = from_frappe_value(fm, codebook.elements[code], case[fm.fieldname], codebook, zone)
            except (ValueError, TypeError) as exc:
                problems.append(Problem("FR404", str(exc), where, None, code))
                continue
            if value is not None:
                values[code] = value
    try:
        modified = parse_site_datetime(doc.get("modified"), zone)
        created = parse_site_datetime(doc.get("creation"), zone) or modified
    except ValueError as exc:
        problems.append(Problem("FR404", f"unreadable timestamp: {exc}", where))
        modified = created = None
    if problems:
        return problems
    host = urlsplit(site_url).netloc or site_url
    purposes = frozenset(p for p, f in mapping.consent_fields.items()
                         if case is not None and str(case.get(f) or 0) not in ("0", ""))
    record_id = doc.get(mapping.external_id_field) or record_id_for(f"frappe:{host}",
                                                                     f"{doctype}/{name}")
    try:
        envelope = Envelope(record_id=str(record_id), source_system=f"frappe:{host}",
                            source_id=f"{doctype}/{name}",
                            form_id=doctype_form(doctype, codebook, mapping), collected_at=created,
                            updated_at=modified, consent_purposes=purposes)
    except ValueError as exc:
        return [Problem("FR404", f"the document does not make a record envelope: {exc}", where)]
    return CanonicalRecord(envelope=envelope, values=values)
