"""A screening that indicates a possible or presumed victim opens a case (pure).

Kobo screening forms (`tip_screening_adult`, `tip_screening_child`, level `screening`) compute
`screening_result` from the Palermo elements. When the routing policy's
`[screening_cases] open_for` lists the result, the engine derives, as the screening is stored,
a **case record** from it:

- its id is `record_id_for(<screening's source system>, "screening-case/<screening record id>")`,
  so every run, every re-delivery and every reconciliation of the same screening derives the
  same case: the ledger upsert and the targets' upserts (Frappe names documents by record id,
  DHIS2 UIDs derive from the references) never make two;
- it is filed as a case-level record (the codebook's case form), collected when the screening
  was, under the screening's consent envelope;
- its values are facts the screening states, nothing invented: a case reference and a
  pseudonymous person id derived from the screening record id (`SCR-…`, `SCRP-…`), opened on
  the screening date, status `active`, `consent_screening = yes`, identified on the screening
  date at stage `initial_screening` with the status `open_for` maps the result to;
- the screening record itself quotes the case (`svc_case_reference`), so Frappe files it under
  the case and DHIS2 puts its screening event on the case's enrollment.

Ownership then applies as to any record: the case level's owner (Frappe by default) may change
the case; a later edit of the screening re-derives the case, and a derived value that differs
from a value the owner holds is a conflict (the owner's value stands). A case once opened is not
closed when the screening is edited to a result that opens none; a caseworker closes it. The
screening keeps quoting it then (the engine passes the derived cases the ledger holds as
`opened`): without the quote DHIS2 would file the screening as a stand-alone negative one, its
enrollment COMPLETED, while the case stays open.

What may travel is `decide`'s call, as for every record; see `tipdata.policy.ScreeningCases` for
the screening consent (`[screening_cases.consent]`, empty by default).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Any

from tipdata.model import Codebook
from tipdata.policy import (
    CONSENT_SCREENING,
    QUOTED_CASE_REFERENCE,
    SCREENING_CASE_PREFIX,
    SCREENING_RESULT,
    ScreeningCases,
    screening_case_reference,
    screening_token,
)
from tipdata.records import CanonicalRecord, Envelope, record_id_for

SCREENING_LEVEL = "screening"
CASE_LEVEL = "case"
CASE_REFERENCE = "case_reference"
IDENTIFICATION_STAGE = "initial_screening"


def screening_case_id(screening: CanonicalRecord) -> str:
    """The record id of the case a screening opens (the same for every read of it)."""
    return record_id_for(screening.envelope.source_system,
                         f"{SCREENING_CASE_PREFIX}{screening.record_id}")


def case_reference_for(screening: CanonicalRecord) -> str:
    """`SCR-…`: the pseudonymous case reference of the case a screening opens."""
    return screening_case_reference(screening.record_id)


def person_id_for(screening: CanonicalRecord) -> str:
    """`SCRP-…`: a pseudonymous person id for the screened person (linkage may merge it later)."""
    return f"SCRP-{screening_token(screening.record_id)}"


def case_form(codebook: Codebook) -> str | None:
    """The codebook's case-level form (the intake): what the case is filed as."""
    return next((f for f, form in sorted(codebook.forms.items()) if form.level == CASE_LEVEL), None)


def is_screening(record: CanonicalRecord, codebook: Codebook) -> bool:
    """Whether `record` was collected on a screening-level form."""
    form = codebook.forms.get(record.envelope.form_id or "")
    return form is not None and form.level == SCREENING_LEVEL


def opens_case(record: CanonicalRecord, codebook: Codebook, rules: ScreeningCases) -> bool:
    """Whether `record` is a consented screening whose result opens a case."""
    return (is_screening(record, codebook)
            and record.values.get(CONSENT_SCREENING) == "yes"
            and record.values.get(SCREENING_RESULT) in rules.open_for)


def cases_to_look_up(records: Iterable[CanonicalRecord], codebook: Codebook,
                     rules: ScreeningCases) -> list[str]:
    """Ids of the cases that screenings opening none may have opened earlier.

    The engine asks the ledger which of these it holds, in one query per page, and passes them
    to `with_screening_cases` as `opened`.
    """
    return [screening_case_id(r) for r in records
            if is_screening(r, codebook) and not opens_case(r, codebook, rules)]


def case_from_screening(screening: CanonicalRecord, codebook: Codebook,
                        rules: ScreeningCases) -> CanonicalRecord | None:
    """The case a screening opens, or None when its result opens none.

    >>> case = case_from_screening(likely_screening, codebook, policy.screening_cases)
    >>> case.values["ident_trafficking_status"], case.envelope.form_id
    ('presumed', 'tip_case_intake')
    """
    if not opens_case(screening, codebook, rules):
        return None
    envelope = screening.envelope
    case_id = screening_case_id(screening)
    day: dt.date | None = screening.values.get("screening_date")
    values: dict[str, Any] = {
        CASE_REFERENCE: case_reference_for(screening),
        "person_pseudo_id": person_id_for(screening),
        "case_status": "active",
        CONSENT_SCREENING: "yes",
        "ident_stage": IDENTIFICATION_STAGE,
        "ident_trafficking_status": rules.open_for[screening.values[SCREENING_RESULT]],
    }
    if isinstance(day, dt.date):
        values["case_opened_date"] = day
        values["ident_date"] = day
    values = {code: value for code, value in values.items() if code in codebook.elements}
    return CanonicalRecord(
        envelope=Envelope(record_id=case_id, source_system=envelope.source_system,
                          source_id=f"{SCREENING_CASE_PREFIX}{screening.record_id}",
                          form_id=case_form(codebook), collected_at=envelope.collected_at,
                          updated_at=envelope.updated_at,
                          consent_purposes=envelope.consent_purposes, location=envelope.location),
        values=values)


def with_screening_cases(records: Iterable[CanonicalRecord], codebook: Codebook,
                         rules: ScreeningCases, *, opened: Collection[str] = ()
                         ) -> list[CanonicalRecord]:
    """The records of a page, each screening that opens a case quoting it, and the cases after.

    `opened`: ids of derived cases that exist already (`cases_to_look_up`). A screening whose
    case is among them quotes it even when its result now opens none; the case is not
    derived again (it stays as it is until a caseworker closes it).

    >>> [r.envelope.form_id for r in with_screening_cases([likely], codebook, rules)]
    ['tip_screening_adult', 'tip_case_intake']
    """
    out: list[CanonicalRecord] = []
    cases: list[CanonicalRecord] = []
    for record in records:
        case = case_from_screening(record, codebook, rules) if rules.open_for else None
        if case is None:
            if opened and is_screening(record, codebook) and screening_case_id(record) in opened:
                quoted = {**record.values, QUOTED_CASE_REFERENCE: case_reference_for(record)}
                record = CanonicalRecord(envelope=record.envelope, values=quoted)
            out.append(record)
            continue
        linked = {**record.values, QUOTED_CASE_REFERENCE: case.values[CASE_REFERENCE]}
        out.append(CanonicalRecord(envelope=record.envelope, values=linked))
        cases.append(case)
    return out + cases
