"""Codebook → Frappe v15 DocType definitions for the `tip_casework` app.

One pure function, `build_doctypes(codebook)`, returns every DocType as the dict bench would
write to `<doctype>.json`; `dump_doctype_json` gives the bytes. Where things go:

- **Placement.** An element's level picks its DocType (person, case and identification facts
  live on the pseudonymous `TIP Case`; screening, referral, service, outcome, investigation and
  prosecution each get their own). Sensitivity overrides the level: direct identifiers go to
  `TIP Identity` and restricted facts (immigration status) to `TIP Restricted Detail`, each a
  separate DocType with its own permissions, linked 1:1 to the case. Field permlevels are not a
  confidentiality boundary over REST in Frappe 15.50.0 (the PUT response and list filters leak
  them), so the hardest boundaries are DocType boundaries.
- **Consent inside a DocType.** A field's permlevel says which consent purposes its element
  lists: bit 1 set = not for statistics, bit 2 set = not for law enforcement. The Data Analyst
  reads levels 0 and 2, the Law Enforcement Liaison levels 0 and 1; case workers and supervisors
  read all. The app's response guard closes the two permlevel leaks for these roles.
- **Types.** See `fieldtype_for`. Frappe stores an empty Int/Float as 0 (NOT NULL DEFAULT 0), so a
  number that may be unanswered is a Data field the controller validates; only numbers required
  without condition are Int/Float.
- **select_multiple** elements are `Table` fields whose child DocType (one per option list,
  `TIP <List> Option`) holds one `option` Select per ticked code. v15's `Table MultiSelect`
  needs a Link field in the child and one record per option; a Select child keeps the codes
  themselves in the data, validated by Frappe, with no option records to install.
- **Naming.** Every record DocType is named by its stable `external_id`
  (`autoname: field:external_id`), so a second insert of the same id is refused with
  409 DuplicateEntryError.
- **Cases at the screening stage.** A case opened from a screening has no intake yet: its
  `intake_pending` box is ticked, and the case fields the intake requires (`required_at_intake`)
  carry `mandatory_depends_on: eval:!doc.intake_pending` instead of `reqd`; the controller
  enforces the same rule on every save (HTTP 417), since the desk alone runs that property.
- **Permissions.** Every DocPerm row writes every flag: a row created at runtime takes
  Frappe's defaults (1 for delete, export, share, ...) for omitted flags.

Example::

    >>> doctypes = build_doctypes(load_codebook())
    >>> doctypes["TIP Case"]["autoname"]
    'field:external_id'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tipdata.logic import LogicCompileError, Symbol, parse, references
from tipdata.model import Codebook, Element

from .depends_on import FieldRef, to_depends_on

APP_NAME = "tip_casework"
MODULE = "TIP Casework"
#: creation/modified of every generated DocType: fixed so the JSON is byte-stable. Frappe
#: re-imports a DocType whenever the file's md5 differs from the stored migration_hash.
FIXED_TIMESTAMP = "2026-01-01 00:00:00.000000"

#: The `fieldtype` options of frappe/core/doctype/docfield/docfield.json in Frappe 15.50.0.
FRAPPE_V15_FIELDTYPES: frozenset[str] = frozenset(
    {
        "Autocomplete",
        "Attach",
        "Attach Image",
        "Barcode",
        "Button",
        "Check",
        "Code",
        "Color",
        "Column Break",
        "Currency",
        "Data",
        "Date",
        "Datetime",
        "Duration",
        "Dynamic Link",
        "Float",
        "Fold",
        "Geolocation",
        "Heading",
        "HTML",
        "HTML Editor",
        "Icon",
        "Image",
        "Int",
        "JSON",
        "Link",
        "Long Text",
        "Markdown Editor",
        "Password",
        "Percent",
        "Phone",
        "Read Only",
        "Rating",
        "Section Break",
        "Select",
        "Signature",
        "Small Text",
        "Tab Break",
        "Table",
        "Table MultiSelect",
        "Text",
        "Text Editor",
        "Time",
    }
)

CASE = "TIP Case"
IDENTITY = "TIP Identity"
RESTRICTED = "TIP Restricted Detail"
SCREENING = "TIP Screening"
REFERRAL = "TIP Referral"
SERVICE = "TIP Service"
OUTCOME = "TIP Outcome Assessment"
INVESTIGATION = "TIP Investigation"
PROSECUTION = "TIP Prosecution"
PROVIDER = "TIP Service Provider"
SETTINGS = "TIP Settings"
#: the referral's status element: the referral follow-up watches its changes
REFERRAL_STATUS = "ref_status"

LEVEL_DOCTYPES: Mapping[str, str] = {
    "person": CASE,
    "case": CASE,
    "identification": CASE,
    "screening": SCREENING,
    "referral": REFERRAL,
    "service": SERVICE,
    "outcome": OUTCOME,
    "investigation": INVESTIGATION,
    "prosecution": PROSECUTION,
}
#: sensitivity classes that never share a DocType with pseudonymous case data
SENSITIVITY_DOCTYPES: Mapping[str, str] = {"direct_identifier": IDENTITY, "restricted": RESTRICTED}
#: DocTypes holding one record per case (a direct identifier of a repeatable level has no home)
CASE_SCOPED: frozenset[str] = frozenset({CASE, IDENTITY, RESTRICTED})
#: the Link field from every other record DocType to its TIP Case
#: (not `case`: Frappe writes group_by/order_by SQL unquoted, and CASE is an SQL keyword)
CASE_LINK = "tip_case"
RECORD_DOCTYPES: tuple[str, ...] = (
    CASE,
    IDENTITY,
    RESTRICTED,
    SCREENING,
    REFERRAL,
    SERVICE,
    OUTCOME,
    INVESTIGATION,
    PROSECUTION,
)
DOCTYPE_DESCRIPTIONS: Mapping[str, str] = {
    CASE: "One trafficking case, pseudonymous: no names or contacts (those are in TIP Identity).",
    IDENTITY: "Direct identifiers of the person in a case (names, contacts, document numbers).",
    RESTRICTED: "Facts that can expose the person to legal or physical harm (immigration status).",
    SCREENING: "A screening interview for trafficking indicators.",
    REFERRAL: "A referral to a service provider.",
    SERVICE: "A service received or a follow-up contact.",
    OUTCOME: "A survivor outcome assessment.",
    INVESTIGATION: "The investigation of a suspected trafficker.",
    PROSECUTION: "The prosecution of a suspected trafficker and its result.",
    PROVIDER: "Referral directory: a service provider, the services it offers and where.",
    SETTINGS: "Settings of the casework app.",
}

# ---- roles and permissions -------------------------------------------------------------------

CASE_WORKER = "TIP Case Worker"
SUPERVISOR = "TIP Supervisor"
DATA_ANALYST = "TIP Data Analyst"
LAW_ENFORCEMENT = "TIP Law Enforcement Liaison"
ROLES: tuple[str, ...] = (CASE_WORKER, SUPERVISOR, DATA_ANALYST, LAW_ENFORCEMENT)

#: every DocPerm flag (frappe/core/doctype/docperm/docperm.json), all written on every row
PERM_FLAGS: tuple[str, ...] = (
    "amend",
    "cancel",
    "create",
    "delete",
    "email",
    "export",
    "if_owner",
    "import",
    "print",
    "read",
    "report",
    "select",
    "share",
    "submit",
    "write",
)
#: consent purpose -> the permlevel bit set on fields whose element does NOT list it
PURPOSE_BITS: Mapping[str, int] = {"statistics": 1, "law_enforcement": 2}


@dataclass(frozen=True)
class RoleSpec:
    """What a role may do on record DocTypes, and which consent purpose gates what it reads.

    `purpose`: None for roles that work with the whole case; otherwise the role reads only the
    fields whose elements list that purpose, only in cases whose consent covers it (enforced
    per record by the app's permission hooks), and never the sensitivity classes in `never`.
    """

    role: str
    purpose: str | None
    grants: frozenset[str]
    never: frozenset[str] = frozenset()
    #: record DocTypes where the role also writes (a liaison records the justice steps)
    writes: frozenset[str] = frozenset()


ROLE_SPECS: tuple[RoleSpec, ...] = (
    RoleSpec(
        CASE_WORKER, None, frozenset({"read", "write", "create", "report", "print", "select"})
    ),
    RoleSpec(
        SUPERVISOR,
        None,
        frozenset({"read", "write", "create", "delete", "report", "export", "print", "select"}),
    ),
    RoleSpec(
        DATA_ANALYST,
        "statistics",
        frozenset({"read", "report", "export", "select"}),
        never=frozenset({"direct_identifier", "restricted"}),
    ),
    RoleSpec(
        LAW_ENFORCEMENT,
        "law_enforcement",
        frozenset({"read", "select"}),
        never=frozenset({"restricted"}),
        writes=frozenset({INVESTIGATION, PROSECUTION}),
    ),
)
DIRECTORY_GRANTS: Mapping[str, frozenset[str]] = {
    CASE_WORKER: frozenset({"read", "report", "print", "select"}),
    SUPERVISOR: frozenset(
        {"read", "write", "create", "delete", "report", "export", "print", "select"}
    ),
    DATA_ANALYST: frozenset({"read", "report", "select"}),
    LAW_ENFORCEMENT: frozenset({"read", "select"}),
}
SETTINGS_GRANTS: Mapping[str, frozenset[str]] = {
    SUPERVISOR: frozenset({"read", "write"}),
    CASE_WORKER: frozenset({"read"}),
}


class FrappeBuildError(ValueError):
    """The codebook cannot be rendered as DocTypes; the message lists every reason."""


def scrub(name: str) -> str:
    """Frappe's folder and module name for a DocType: `TIP Case` -> `tip_case`."""
    return name.replace(" ", "_").replace("-", "_").lower()


def option_doctype(list_name: str) -> str:
    """The child DocType holding the ticked codes of one option list: `TIP Country Option`."""
    return f"TIP {list_name.replace('_', ' ').title()} Option"


def doctype_for_element(element: Element) -> str:
    """Where an element is stored: its sensitivity's DocType, else its level's."""
    return SENSITIVITY_DOCTYPES.get(element.sensitivity) or LEVEL_DOCTYPES[element.level]


def permlevel_for(element: Element) -> int:
    """0 when the element may be shared for every gated purpose; bits for those it may not."""
    return sum(bit for purpose, bit in PURPOSE_BITS.items() if purpose not in element.consent)


def readable_levels(purpose: str | None) -> frozenset[int]:
    """The permlevels a role gated by `purpose` reads (all four for ungated roles)."""
    every = frozenset(range(2 ** len(PURPOSE_BITS)))
    if purpose is None:
        return every
    bit = PURPOSE_BITS[purpose]
    return frozenset(level for level in every if not level & bit)


def placement(codebook: Codebook) -> dict[str, str]:
    """Element code -> DocType, after checking every element has a home.

    Raises FrappeBuildError naming each element that has none (an unknown level, or a direct
    identifier / restricted fact at a repeatable level).
    """
    placed: dict[str, str] = {}
    problems: list[str] = []
    for element in codebook.elements.values():
        if element.level not in LEVEL_DOCTYPES:
            problems.append(
                f"element {element.code!r}: level {element.level!r} has no DocType; add it to LEVEL_DOCTYPES"
            )
            continue
        doctype = doctype_for_element(element)
        if (
            element.sensitivity in SENSITIVITY_DOCTYPES
            and LEVEL_DOCTYPES[element.level] not in CASE_SCOPED
        ):
            problems.append(
                f"element {element.code!r}: a {element.sensitivity} at the repeatable level {element.level!r} "
                "has no DocType; keep identifiers at the person or case level"
            )
            continue
        placed[element.code] = doctype
    if problems:
        raise FrappeBuildError("cannot place elements in DocTypes:\n" + "\n".join(problems))
    return placed


# ---- field types -----------------------------------------------------------------------------

SHORT_TEXT = 140  # Frappe's varchar length for Data
MEDIUM_TEXT = 1000


#: TIP Case's Check field ticked on a case opened from a screening, until its intake is recorded
INTAKE_PENDING = "intake_pending"
#: case elements required even while the intake is pending: what identifies the case and
#: decides its status, all of which a case opened from a screening states
SCREENING_STAGE_REQUIRED: frozenset[str] = frozenset(
    {
        "case_reference",
        "person_pseudo_id",
        "case_opened_date",
        "case_status",
        "consent_screening",
        "ident_date",
        "ident_stage",
        "ident_trafficking_status",
    }
)


def unconditionally_required(element: Element) -> bool:
    """Required without condition and not calculated."""
    return element.required is True and element.relevant is None and element.calculation is None


def required_at_intake(element: Element) -> bool:
    """Required on TIP Case only once the case's intake is recorded (`intake_pending` unticked).

    A case opened from a screening lands before anyone asked the intake's questions (consent per
    purpose, risk level, country of identification, ...); a case worker completes them at
    intake. Every other unconditionally required case field is one of these, so a new required
    intake element needs no change here.
    """
    return (
        unconditionally_required(element)
        and element.code not in SCREENING_STAGE_REQUIRED
        and element.level in LEVEL_DOCTYPES
        and doctype_for_element(element) == CASE
    )


def always_answered(element: Element) -> bool:
    """Required without condition, at every stage, and not calculated: an empty value never
    gets stored."""
    return unconditionally_required(element) and not required_at_intake(element)


def fieldtype_for(element: Element) -> tuple[str, dict[str, Any]]:
    """The v15 fieldtype of an element and the properties that go with it.

    Example: ``fieldtype_for(text element with max_length 1000)`` is ``("Small Text", {})``.
    """
    kind = element.type
    if kind == "text":
        if element.max_length is None or element.max_length <= SHORT_TEXT:
            return "Data", ({"length": element.max_length} if element.max_length else {})
        return ("Small Text" if element.max_length <= MEDIUM_TEXT else "Text"), {}
    if kind == "integer":
        return ("Int", {}) if always_answered(element) else ("Data", {"length": 32})
    if kind == "decimal":
        return ("Float", {}) if always_answered(element) else ("Data", {"length": 32})
    if kind == "date":
        return "Date", {}
    if kind == "datetime":
        return "Datetime", {}
    if kind == "select_one":
        return "Select", {}
    if kind == "select_multiple":
        return "Table", {"options": option_doctype(element.options or "")}
    if kind == "boolean":
        return "Check", {}
    if kind == "geopoint":
        return "Data", {"length": 100}  # 'latitude longitude [altitude accuracy]', as canonical
    raise FrappeBuildError(f"element {element.code!r}: type {kind!r} has no Frappe fieldtype")


LABEL_LENGTH = 140  # DocField.label is a Data field: varchar(140)


def field_label(text: str) -> str:
    """A label that fits DocField.label; a longer question is cut at a word, with an ellipsis
    (the whole wording then goes to the description)."""
    if len(text) <= LABEL_LENGTH:
        return text
    return text[: LABEL_LENGTH - 1].rsplit(" ", 1)[0] + "…"


def select_options(codes: Iterable[str]) -> str:
    """Select options: a blank first line, so a new record does not default to the first code."""
    return "\n" + "\n".join(codes)


# ---- building --------------------------------------------------------------------------------


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty values, as bench's DocType.before_export does (lists stay)."""
    return {k: v for k, v in values.items() if isinstance(v, list) or v}


def _perm_row(role: str, permlevel: int, grants: Iterable[str]) -> dict[str, Any]:
    granted = set(grants)
    row: dict[str, Any] = {flag: int(flag in granted) for flag in PERM_FLAGS}
    row["role"] = role
    row["permlevel"] = permlevel
    return row


def symbols_for(codebook: Codebook) -> dict[str, Symbol]:
    """The logic language's view of every element (type and option codes)."""
    symbols = {}
    for element in codebook.elements.values():
        options = codebook.options_for(element)
        symbols[element.code] = Symbol(
            element.code, element.type, frozenset(options.codes()) if options is not None else None
        )
    return symbols


def mirror_field(code: str) -> str:
    """A hidden copy of a TIP Case field on another DocType, for the desk's depends_on."""
    return f"linked_{code}"


@dataclass(frozen=True)
class DocTypeSet:
    """Every generated DocType (name -> JSON dict) and where each element went."""

    doctypes: dict[str, dict[str, Any]]
    placement: dict[str, str]
    option_doctypes: dict[str, str]  # option list name -> child DocType


class _Builder:
    def __init__(self, codebook: Codebook) -> None:
        self.codebook = codebook
        self.placement = placement(codebook)
        self.symbols = symbols_for(codebook)
        self.problems: list[str] = []
        self.option_lists: set[str] = set()

    # -- fields of one element

    def field_ref(self, doctype: str) -> FieldRef:
        def ref(code: str) -> str:
            if self.placement.get(code) == doctype:
                return f"doc.{code}"
            return f"doc.{mirror_field(code)}"

        return ref

    def compile_condition(self, element: Element, text: str, doctype: str, what: str) -> str | None:
        try:
            return to_depends_on(
                parse(text), self.symbols, self.symbols[element.code], self.field_ref(doctype)
            )
        except (LogicCompileError, ValueError) as error:
            self.problems.append(
                f"element {element.code!r}: {what} {text!r} cannot become depends_on: {error}"
            )
            return None

    def element_field(self, element: Element, doctype: str) -> dict[str, Any]:
        fieldtype, extra = fieldtype_for(element)
        field: dict[str, Any] = {
            "fieldname": element.code,
            "fieldtype": fieldtype,
            "label": field_label(element.label),
            "description": element.hint
            if field_label(element.label) == element.label
            else "\n\n".join(t for t in (element.label, element.hint) if t),
            "permlevel": permlevel_for(element),
            **extra,
        }
        options = self.codebook.options_for(element)
        if element.type == "select_one" and options is not None:
            field["options"] = select_options(options.codes())
        if element.type == "select_multiple" and options is not None:
            self.option_lists.add(options.name)
        if element.default is not None:
            field["default"] = element.default
        if element.is_calculated:
            field["read_only"] = 1
        if element.relevant:
            field["depends_on"] = self.compile_condition(
                element, element.relevant, doctype, "relevant"
            )
        if always_answered(element):
            field["reqd"] = 1
        elif required_at_intake(element):
            field["mandatory_depends_on"] = f"eval:!doc.{INTAKE_PENDING}"
        elif not element.is_calculated and element.required:
            parts = [t for t in (element.relevant, element.required) if isinstance(t, str)]
            condition = " and ".join(f"({part})" for part in parts)
            field["mandatory_depends_on"] = self.compile_condition(
                element, condition, doctype, "required"
            )
        return _clean(field)

    def mirror_fields(self, doctype: str, codes: Iterable[str]) -> list[dict[str, Any]]:
        """Hidden read-only copies of TIP Case fields that this DocType's rules read."""
        outside = sorted(
            {
                ref
                for code in codes
                for _, text in self.codebook.elements[code].expressions()
                for ref in references(parse(text))
                if self.placement.get(ref) not in (doctype, None)
            },
            key=list(self.codebook.elements).index,
        )
        fields = []
        for ref in outside:
            source = self.codebook.elements[ref]
            if self.placement[ref] != CASE:
                self.problems.append(
                    f"{doctype}: rules read {ref!r} from {self.placement[ref]}, which it does not link to; "
                    "only TIP Case fields can be read across DocTypes"
                )
                continue
            fieldtype, extra = fieldtype_for(source)
            if fieldtype == "Table":
                self.problems.append(
                    f"{doctype}: rules read the select_multiple {ref!r} of TIP Case; not supported"
                )
                continue
            options = self.codebook.options_for(source)
            fields.append(
                _clean(
                    {
                        "fieldname": mirror_field(ref),
                        "fieldtype": fieldtype,
                        "label": field_label(f"{source.label} (from the case)"),
                        "fetch_from": f"{CASE_LINK}.{ref}",
                        "hidden": 1,
                        "read_only": 1,
                        "permlevel": permlevel_for(source),
                        "options": select_options(options.codes())
                        if options is not None and source.type == "select_one"
                        else None,
                        **{k: v for k, v in extra.items() if k == "length"},
                    }
                )
            )
        return fields

    # -- DocTypes

    def record_fields(self, doctype: str) -> list[dict[str, Any]]:
        """The fixed fields every record DocType starts with, then its own."""
        fields: list[dict[str, Any]] = [
            {"fieldname": "section_record", "fieldtype": "Section Break", "label": "Record"},
            {
                "fieldname": "external_id",
                "fieldtype": "Data",
                "label": "External ID",
                "reqd": 1,
                "unique": 1,
                "in_list_view": 1,
                "set_only_once": 1,
                "no_copy": 1,
                "bold": 1,
                "description": "Stable id shared with the other platforms; it is the record's name.",
            },
        ]
        if doctype != CASE:
            fields.append(
                {
                    "fieldname": CASE_LINK,
                    "fieldtype": "Link",
                    "options": CASE,
                    "label": "Case",
                    "reqd": 1,
                    "in_list_view": 1,
                    "in_standard_filter": 1,
                    "search_index": 1,
                    "unique": 1 if doctype in CASE_SCOPED else 0,
                    "set_only_once": 1,
                }
            )
        if doctype == CASE:
            fields.extend(self.case_state_fields())
        if doctype == REFERRAL:
            fields.append(
                {
                    "fieldname": "service_provider",
                    "fieldtype": "Link",
                    "options": PROVIDER,
                    "label": "Service provider",
                }
            )
            fields.extend(self.referral_state_fields())
        if doctype == PROSECUTION:
            fields.append(
                {
                    "fieldname": "investigation",
                    "fieldtype": "Link",
                    "options": INVESTIGATION,
                    "label": "Investigation",
                }
            )
        return [_clean(f) for f in fields]

    def case_state_fields(self) -> list[dict[str, Any]]:
        """Status, decision stamp, consent coverage and follow-up state, kept by the controller."""
        status_codes = (
            [*self.codebook.option_lists["trafficking_status"].codes(), "closed"]
            if "trafficking_status" in self.codebook.option_lists
            else ["closed"]
        )
        fields: list[dict[str, Any]] = [
            {"fieldname": "column_break_state", "fieldtype": "Column Break"},
            {
                "fieldname": "tip_status",
                "fieldtype": "Select",
                "label": "Status",
                "read_only": 1,
                "options": select_options(status_codes),
                "in_list_view": 1,
                "in_standard_filter": 1,
                "description": "Derived: the trafficking status decision, or closed when the case is closed.",
            },
            {
                "fieldname": "status_decided_by_user",
                "fieldtype": "Link",
                "options": "User",
                "read_only": 1,
                "label": "Status decided by (user)",
            },
            {
                "fieldname": "status_decided_on",
                "fieldtype": "Datetime",
                "read_only": 1,
                "label": "Status decided on",
            },
            {
                "fieldname": "status_pin_set",
                "fieldtype": "Check",
                "read_only": 1,
                "label": "Status page PIN issued",
            },
            {
                "fieldname": "follow_up_due_since",
                "fieldtype": "Date",
                "read_only": 1,
                "label": "Follow-up due since",
            },
            {
                "fieldname": INTAKE_PENDING,
                "fieldtype": "Check",
                "label": "Awaiting intake",
                "in_standard_filter": 1,
                "description": "Ticked on a case opened from a screening. The intake's fields (consent per "
                "purpose, risk level, country of identification, ...) become required once "
                "a case worker records the intake and unticks it; it cannot be ticked again.",
            },
        ]
        for purpose in self.codebook.consent_purposes:
            fields.append(
                {
                    "fieldname": f"consent_covers_{purpose}",
                    "fieldtype": "Check",
                    "read_only": 1,
                    "label": f"Consent covers {purpose.replace('_', ' ')}",
                }
            )
        return fields

    def referral_state_fields(self) -> list[dict[str, Any]]:
        """When the referral's status last changed and since when its follow-up is due, kept by the
        controller and the daily referral check. They say as much as the status itself, so they
        share its permlevel (its consent purposes)."""
        status = self.codebook.elements.get(REFERRAL_STATUS)
        if status is None or self.placement.get(REFERRAL_STATUS) != REFERRAL:
            self.problems.append(
                f"{REFERRAL}: the referral follow-up needs the element {REFERRAL_STATUS!r} there"
            )
            return []
        level = permlevel_for(status)
        return [
            {"fieldname": "column_break_follow_up", "fieldtype": "Column Break"},
            {
                "fieldname": "status_changed_on",
                "fieldtype": "Datetime",
                "read_only": 1,
                "no_copy": 1,
                "permlevel": level,
                "label": "Status last changed on",
                "description": "Set on every change of the referral status; the daily referral check "
                "counts the days from here.",
            },
            {
                "fieldname": "follow_up_due_since",
                "fieldtype": "Date",
                "read_only": 1,
                "no_copy": 1,
                "permlevel": level,
                "label": "Follow-up due since",
                "in_list_view": 1,
                "in_standard_filter": 1,
                "description": "Set by the daily referral check when the status is still open and has not "
                "changed for the period in TIP Settings; cleared when the status changes.",
            },
        ]

    def section_fields(self, doctype: str) -> list[dict[str, Any]]:
        codes = [code for code, placed in self.placement.items() if placed == doctype]
        fields: list[dict[str, Any]] = []
        section = None
        for code in codes:
            element = self.codebook.elements[code]
            if element.section != section:
                section = element.section
                fields.append(
                    {
                        "fieldname": f"section_{section}",
                        "fieldtype": "Section Break",
                        "label": section.replace("_", " ").capitalize(),
                    }
                )
            fields.append(self.element_field(element, doctype))
        mirrors = self.mirror_fields(doctype, codes)
        if mirrors:
            fields.append(
                {
                    "fieldname": "section_linked",
                    "fieldtype": "Section Break",
                    "label": "From the case",
                    "hidden": 1,
                }
            )
            fields.extend(mirrors)
        return fields

    def permissions(self, doctype: str, fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
        levels = sorted({0} | {f.get("permlevel", 0) for f in fields})
        element_codes = [c for c, d in self.placement.items() if d == doctype]
        sensitivity = next((s for s, d in SENSITIVITY_DOCTYPES.items() if d == doctype), None)
        rows = []
        for spec in ROLE_SPECS:
            if spec.purpose is not None:
                if sensitivity in spec.never:
                    continue
                if not any(
                    spec.purpose in self.codebook.elements[c].consent for c in element_codes
                ):
                    continue
            grants = set(spec.grants)
            if doctype in spec.writes:
                grants |= {"write", "create"}
            readable = readable_levels(spec.purpose)
            for level in levels:
                if level == 0:
                    rows.append(_perm_row(spec.role, 0, grants))
                elif level in readable:
                    rows.append(_perm_row(spec.role, level, {"read"} | ({"write"} & grants)))
        return rows

    def doctype(
        self,
        name: str,
        fields: list[dict[str, Any]],
        permissions: list[dict[str, Any]],
        **properties: Any,
    ) -> dict[str, Any]:
        names = [f["fieldname"] for f in fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            self.problems.append(f"{name}: field names used twice: {', '.join(duplicates)}")
        for field in fields:
            if field["fieldtype"] not in FRAPPE_V15_FIELDTYPES:
                self.problems.append(
                    f"{name}.{field['fieldname']}: {field['fieldtype']!r} is not a v15 fieldtype"
                )
        doc: dict[str, Any] = {
            "actions": [],
            "creation": FIXED_TIMESTAMP,
            "doctype": "DocType",
            "engine": "InnoDB",
            "field_order": names,
            "fields": fields,
            "links": [],
            "modified": FIXED_TIMESTAMP,
            "modified_by": "Administrator",
            "module": MODULE,
            "name": name,
            "owner": "Administrator",
            "permissions": permissions,
            "sort_field": "modified",
            "sort_order": "DESC",
            "states": [],
            "description": DOCTYPE_DESCRIPTIONS.get(name),
            **properties,
        }
        return _clean(doc)

    def record_doctype(self, name: str) -> dict[str, Any]:
        fields = self.record_fields(name) + self.section_fields(name)
        return self.doctype(
            name,
            fields,
            self.permissions(name, fields),
            autoname="field:external_id",
            naming_rule="By fieldname",
            title_field="external_id",
            track_changes=1,
            search_fields="external_id",
        )

    def option_child(self, list_name: str) -> dict[str, Any]:
        options = self.codebook.option_lists[list_name]
        field = {
            "fieldname": "option",
            "fieldtype": "Select",
            "label": "Option",
            "reqd": 1,
            "in_list_view": 1,
            "options": select_options(options.codes()),
        }
        return self.doctype(
            option_doctype(list_name),
            [field],
            [],
            istable=1,
            editable_grid=1,
            description=f"A ticked code of the option list '{list_name}'.",
        )

    def provider_doctype(self) -> dict[str, Any]:
        lists = self.codebook.option_lists
        for needed in ("support_service", "provider_org_type", "country"):
            if needed not in lists:
                self.problems.append(f"{PROVIDER}: needs the option list {needed!r}")
                return {}
        self.option_lists.add("support_service")
        fields = [
            {"fieldname": "section_record", "fieldtype": "Section Break", "label": "Provider"},
            {
                "fieldname": "external_id",
                "fieldtype": "Data",
                "label": "External ID",
                "reqd": 1,
                "unique": 1,
                "set_only_once": 1,
                "no_copy": 1,
            },
            {
                "fieldname": "provider_name",
                "fieldtype": "Data",
                "label": "Provider name",
                "reqd": 1,
                "in_list_view": 1,
                "bold": 1,
            },
            {
                "fieldname": "provider_org_type",
                "fieldtype": "Select",
                "label": "Type of organisation",
                "options": select_options(lists["provider_org_type"].codes()),
                "in_standard_filter": 1,
            },
            {
                "fieldname": "services_offered",
                "fieldtype": "Table",
                "label": "Services offered",
                "options": option_doctype("support_service"),
            },
            {
                "fieldname": "section_area",
                "fieldtype": "Section Break",
                "label": "Area and contacts",
            },
            {
                "fieldname": "provider_country",
                "fieldtype": "Select",
                "label": "Country",
                "options": select_options(lists["country"].codes()),
                "in_standard_filter": 1,
            },
            {"fieldname": "area_served", "fieldtype": "Small Text", "label": "Area served"},
            {"fieldname": "column_break_contacts", "fieldtype": "Column Break"},
            {
                "fieldname": "contact_phone",
                "fieldtype": "Data",
                "options": "Phone",
                "label": "Organisation phone",
            },
            {
                "fieldname": "contact_email",
                "fieldtype": "Data",
                "options": "Email",
                "label": "Organisation email",
            },
            {
                "fieldname": "contact_website",
                "fieldtype": "Data",
                "options": "URL",
                "label": "Website",
            },
            {"fieldname": "section_vetting", "fieldtype": "Section Break", "label": "Vetting"},
            {
                "fieldname": "vetted",
                "fieldtype": "Check",
                "label": "Vetted",
                "in_list_view": 1,
                "in_standard_filter": 1,
                "description": "Checked by a supervisor: safe to refer survivors to.",
            },
            {
                "fieldname": "vetted_on",
                "fieldtype": "Date",
                "label": "Vetted on",
                "depends_on": "eval:doc.vetted",
                "read_only": 1,
            },
            {
                "fieldname": "vetted_by",
                "fieldtype": "Link",
                "options": "User",
                "label": "Vetted by",
                "depends_on": "eval:doc.vetted",
                "read_only": 1,
            },
            {"fieldname": "notes", "fieldtype": "Small Text", "label": "Notes"},
        ]
        fields = [_clean(f) for f in fields]
        permissions = [_perm_row(role, 0, grants) for role, grants in DIRECTORY_GRANTS.items()]
        return self.doctype(
            PROVIDER,
            fields,
            permissions,
            autoname="field:external_id",
            naming_rule="By fieldname",
            title_field="provider_name",
            track_changes=1,
            search_fields="provider_name",
        )

    def settings_doctype(self) -> dict[str, Any]:
        fields = [
            _clean(f)
            for f in (
                {
                    "fieldname": "follow_up_days",
                    "fieldtype": "Int",
                    "label": "Case follow-up after (days)",
                    "default": "30",
                    "reqd": 1,
                    "non_negative": 1,
                    "description": "An open case whose person consented to follow-up contact and that had no service "
                    "or follow-up for this many days is flagged, and a ToDo goes to the case workers.",
                },
                {
                    "fieldname": "referral_follow_up_days",
                    "fieldtype": "Int",
                    "label": "Referral follow-up after (days)",
                    "default": "14",
                    "reqd": 1,
                    "non_negative": 1,
                    "description": "A referral whose status is still open (not completed, declined or closed) and has "
                    "not changed for this many days is flagged, and a ToDo goes to the case's worker.",
                },
                {
                    "fieldname": "follow_up_enabled",
                    "fieldtype": "Check",
                    "label": "Run the daily follow-up checks",
                    "default": "1",
                },
                {
                    "fieldname": "status_page_enabled",
                    "fieldtype": "Check",
                    "label": "Survivor status page enabled",
                    "default": "1",
                },
                {
                    "fieldname": "status_page_attempts_per_hour",
                    "fieldtype": "Int",
                    "default": "5",
                    "non_negative": 1,
                    "label": "Status page attempts per hour and address",
                },
            )
        ]
        permissions = [_perm_row(role, 0, grants) for role, grants in SETTINGS_GRANTS.items()]
        return self.doctype(SETTINGS, fields, permissions, issingle=1, track_changes=1)

    def build(self) -> DocTypeSet:
        doctypes: dict[str, dict[str, Any]] = {}
        for name in RECORD_DOCTYPES:
            doctypes[name] = self.record_doctype(name)
        doctypes[PROVIDER] = self.provider_doctype()
        doctypes[SETTINGS] = self.settings_doctype()
        option_doctypes = {}
        for list_name in sorted(self.option_lists):
            child = self.option_child(list_name)
            option_doctypes[list_name] = child["name"]
            if child["name"] in doctypes:
                self.problems.append(
                    f"option list {list_name!r}: its DocType name {child['name']!r} is taken"
                )
            if len(child["name"]) > 61:
                self.problems.append(
                    f"option list {list_name!r}: DocType name {child['name']!r} is over 61 characters"
                )
            doctypes[child["name"]] = child
        if self.problems:
            raise FrappeBuildError(
                "the codebook cannot be rendered as Frappe DocTypes:\n" + "\n".join(self.problems)
            )
        return DocTypeSet(
            doctypes=dict(sorted(doctypes.items())),
            placement=self.placement,
            option_doctypes=option_doctypes,
        )


def build_doctypes(codebook: Codebook) -> DocTypeSet:
    """Every DocType of the app, as bench would write its JSON (see module docstring).

    Raises FrappeBuildError listing every problem at once.
    """
    return _Builder(codebook).build()


def dump_doctype_json(doctype: dict[str, Any]) -> bytes:
    """The file bytes, formatted as bench writes DocType JSON: `frappe.as_json` (indent 1,
    sorted keys, `(",", ": ")` separators, ASCII escapes) plus the final newline of Frappe's
    own files. Unlike bench, permission rows keep their zero flags (see module docstring)."""
    return (
        json.dumps(doctype, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=True)
        + "\n"
    ).encode("ascii")
