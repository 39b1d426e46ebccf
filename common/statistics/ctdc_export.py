"""Canonical records → a CTDC-format microdata file (generation 1 or 2), k-anonymised.

Why: the Counter Trafficking Data Collaborative publishes victim-level data in two column sets
(gen-1: the 63-column global k-anonymised dataset; gen-2: the 27-column synthetic-data schema).
An agency that exports in the same shape can contribute to it and compare with it, and CTDC's own
release rule - no combination of quasi-identifiers shared by fewer than k = 11 people - is the
rule applied here before anything leaves.

What `ctdc_export` does:
1. takes victim case records only (the case intake; records found `not_victim` are left out) and
   only those whose person consented to `statistics`;
2. derives every column of the generation, in published order, from the codebook's crosswalk:
   a flag column is 1 when an option whose CTDC code names that column is selected (0 when the
   element is answered without it, empty when unanswered); `…Concatenated` and
   `RecruiterRelationship` join the selected flags' labels with `;`; the remaining columns have
   one rule each (`VALUE_RULES`): year of identification, CTDC gender / data source / age band
   from the option standards, Minor / Adult, citizenship and country of exploitation as the first
   recorded country (ISO alpha-2 in gen-1, alpha-3 in gen-2), duration bands;
3. generalises quasi-identifiers by construction (exact ages become CTDC ageBroad bands, dates
   become years, several citizenships become the first) and drops every record whose combination
   of quasi-identifiers is shared by fewer than k records (`microdata.k_anonymise`). The
   quasi-identifiers are the columns derived from elements the codebook declares
   `quasi_identifier`, plus `yearOfRegistration` and `gender` (`ALWAYS_QUASI_IDENTIFIERS`).

Never exported, whatever the crosswalk says: direct identifiers and restricted elements
(immigration status). `ctdc_export` refuses to produce a file that would read one
(`UnsafeExport`), and every file's column set is exactly the standard's.

UNVERIFIED against the CTDC data dictionary (see standards.md §3): the gen-2 composite means
columns (taken from the codebook's option standards), the `traffickMonths` bands
(`TRAFFICK_MONTH_BANDS`) and the label text inside the concatenated columns.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tipdata.crosswalk import Generation, ctdc_columns, ctdc_coverage
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord
from tipdata.spreadsheet import write_xlsx
from tipdata.statistics.disclosure import DEFAULT_K
from tipdata.statistics.microdata import CTDC_AGE_BANDS, MISSING_BAND, k_anonymise

STATISTICS = "statistics"
NOT_VICTIM = "not_victim"
#: sensitivity classes whose elements never reach an export
NEVER_EXPORTED: frozenset[str] = frozenset({"direct_identifier", "restricted"})
QUASI_IDENTIFIER = "quasi_identifier"
#: columns treated as quasi-identifiers whatever their source's class: a year and a gender
ALWAYS_QUASI_IDENTIFIERS: tuple[str, ...] = ("yearOfRegistration", "gender")
#: months → CTDC traffickMonths label (upper bound inclusive); UNVERIFIED band list
TRAFFICK_MONTH_BANDS: tuple[tuple[float, str], ...] = (
    (12, "0--12 (0-1 yr)"), (24, "13--24 (1-2 yrs)"), (math.inf, "25+ (2+ yrs)"),
)
MINOR, ADULT = "Minor", "Adult"
#: columns that join the labels of other flags (gen-1); the element's flags are joined
CONCATENATED_SUFFIX = "Concatenated"
RECRUITER_RELATIONSHIP = "RecruiterRelationship"
_FLAG_PREFIXES = ("meansOfControl", "means", "typeOfLabour", "typeOfSex", "recruiterRelation", "is")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
_CHILD_BANDS = frozenset(label for upper, label in CTDC_AGE_BANDS if upper < 18)

Values = Mapping[str, Any]


class UnsafeExport(RuntimeError):
    """The export would carry a direct identifier or a restricted element, or a wrong column set."""


# --- which columns come from where -------------------------------------------------------------------

@dataclass(frozen=True)
class ColumnPlan:
    """How one CTDC column is derived: its kind and the elements it reads."""

    column: str
    kind: str  # "flag" | "concatenated" | "value" | "gap"
    sources: tuple[str, ...] = ()
    #: flag: element -> option codes that set the flag
    flag_options: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: flag: boolean elements that set the flag when true
    flag_booleans: tuple[str, ...] = ()
    #: concatenated: the flag columns joined
    joins: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValueRule:
    """A non-flag column: the elements it reads and the function deriving it from a record."""

    sources: tuple[str, ...]
    derive: Callable[[Values, Codebook, Generation], Any]


def _option_standard(codebook: Codebook, element: str, code: Any, generation: Generation) -> str | None:
    options = codebook.options_for(codebook.elements[element])
    option = options.option(str(code)) if options is not None and code is not None else None
    return getattr(option.standards, f"ctdc_gen{generation}") if option is not None else None


def _first(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return value[0] if value else None
    return value


def _number(values: Values, *sources: str) -> float | None:
    for source in sources:
        value = values.get(source)
        if value is None or isinstance(value, bool):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isnan(number) and number >= 0:
            return number
    return None


def _age_band_label(age: float) -> str:
    return next(label for upper, label in CTDC_AGE_BANDS if age <= upper)


def _year(values: Values, codebook: Codebook, generation: Generation) -> int | None:
    date = values.get("ident_date")
    year = getattr(date, "year", None)
    if year is None and isinstance(date, str) and re.match(r"^\d{4}", date):
        year = int(date[:4])
    return year


def _data_source(values: Values, codebook: Codebook, generation: Generation) -> str | None:
    return _option_standard(codebook, "ident_data_source", values.get("ident_data_source"), generation)


def _gender(values: Values, codebook: Codebook, generation: Generation) -> str | None:
    """Gender identity through its CTDC code; sex (female / male) when identity was not asked."""
    gender = _option_standard(codebook, "person_gender_identity", values.get("person_gender_identity"), generation)
    if gender is None and values.get("person_gender_identity") is None:
        gender = _option_standard(codebook, "person_sex", values.get("person_sex"), generation)
    return gender


def _age_band(values: Values, codebook: Codebook, generation: Generation) -> str | None:
    """The recorded band, else the age (person, reported, at screening) cut into bands."""
    band = _option_standard(codebook, "person_age_band", values.get("person_age_band"), generation)
    if band is not None and band != MISSING_BAND:
        return band
    age = _number(values, "person_age", "person_age_reported", "age_at_screening")
    if age is not None:
        return _age_band_label(age)
    return MISSING_BAND if generation == 1 else None


def _majority(values: Values, codebook: Codebook, generation: Generation) -> str | None:
    """Minor when recorded so or younger than 18; Adult when recorded not a minor and an age (or
    band) is known; missing otherwise (the crosswalk note of person_is_minor)."""
    if values.get("person_is_minor") is True:
        return MINOR
    age = _number(values, "person_age", "person_age_reported", "age_at_screening")
    band = _option_standard(codebook, "person_age_band", values.get("person_age_band"), 1)
    if age is not None:
        return MINOR if age < 18 else ADULT
    if band is not None and band != MISSING_BAND:
        return MINOR if band in _CHILD_BANDS else ADULT
    return None


def _majority_at_entry(values: Values, codebook: Codebook, generation: Generation) -> str | None:
    age = _number(values, "ident_age_at_entry")
    return None if age is None else MINOR if age < 18 else ADULT


def _country(element: str) -> Callable[[Values, Codebook, Generation], str | None]:
    def derive(values: Values, codebook: Codebook, generation: Generation) -> str | None:
        code = _first(values.get(element))
        if code is None:
            return None
        if generation == 1:
            return str(code)
        options = codebook.options_for(codebook.elements[element])
        option = options.option(str(code)) if options is not None else None
        return option.standards.iso if option is not None else None

    return derive


def _traffick_months(values: Values, codebook: Codebook, generation: Generation) -> str | None:
    months = _number(values, "expl_duration_months")
    if months is None:
        return None
    return next(label for upper, label in TRAFFICK_MONTH_BANDS if months <= upper)


VALUE_RULES: dict[str, ValueRule] = {
    "yearOfRegistration": ValueRule(("ident_date",), _year),
    "Datasource": ValueRule(("ident_data_source",), _data_source),
    "gender": ValueRule(("person_gender_identity", "person_sex"), _gender),
    "ageBroad": ValueRule(("person_age_band", "person_age", "person_age_reported", "age_at_screening"), _age_band),
    "majorityStatus": ValueRule(("person_is_minor", "person_age", "person_age_reported", "age_at_screening",
                                 "person_age_band"), _majority),
    "majorityStatusAtExploit": ValueRule(("ident_age_at_entry",), _majority_at_entry),
    "majorityEntry": ValueRule(("ident_age_at_entry",), _majority_at_entry),
    "citizenship": ValueRule(("person_citizenship",), _country("person_citizenship")),
    "CountryOfExploitation": ValueRule(("expl_country",), _country("expl_country")),
    "traffickMonths": ValueRule(("expl_duration_months",), _traffick_months),
}
#: gen-1 `isSexAndLabour`: both flags set
BOTH_FLAGS: dict[str, tuple[str, str]] = {"isSexAndLabour": ("isSexualExploit", "isForcedLabour")}


def _usable(codebook: Codebook, code: str) -> bool:
    element = codebook.elements.get(code)
    return (element is not None and element.sensitivity not in NEVER_EXPORTED
            and STATISTICS in element.consent)


def column_plan(codebook: Codebook, generation: Generation) -> tuple[ColumnPlan, ...]:
    """Every column of the generation, in published order, with how it is derived.

    Flags come from the option standards of the elements whose crosswalk lists the column;
    elements that are direct identifiers, restricted, or not consented for statistics are never
    read (a column left with no source is a `gap`, exported empty).

    >>> [p.kind for p in column_plan(load_codebook(), 2)][:3]        # doctest: +SKIP
    ['value', 'value', 'value']
    """
    standard = f"ctdc_gen{generation}"
    plans: dict[str, ColumnPlan] = {}
    for coverage in ctdc_coverage(codebook, generation):
        column = coverage.column
        elements = [e for e in coverage.elements if _usable(codebook, e)]
        flag_options: dict[str, frozenset[str]] = {}
        booleans: list[str] = []
        for code in elements:
            element = codebook.elements[code]
            options = codebook.options_for(element)
            if options is not None:
                chosen = frozenset(o.code for o in options.options if getattr(o.standards, standard) == column)
                if chosen:
                    flag_options[code] = chosen
            elif element.type == "boolean":
                booleans.append(code)
        if column in VALUE_RULES:
            rule = VALUE_RULES[column]
            sources = tuple(s for s in rule.sources if _usable(codebook, s))
            plans[column] = ColumnPlan(column, "value" if sources else "gap", sources)
        elif flag_options or booleans:
            plans[column] = ColumnPlan(column, "flag", (*flag_options, *booleans), flag_options, tuple(booleans))
        else:
            plans[column] = ColumnPlan(column, "gap", tuple(elements))
    for column, plan in list(plans.items()):
        if column in BOTH_FLAGS:
            parts = BOTH_FLAGS[column]
            sources = tuple(dict.fromkeys(s for p in parts for s in plans[p].sources))
            plans[column] = ColumnPlan(column, "flag" if sources else "gap", sources, joins=parts)
        elif (column.endswith(CONCATENATED_SUFFIX) or column == RECRUITER_RELATIONSHIP) and plan.sources:
            joins = tuple(c for c, p in plans.items() if p.kind == "flag" and not p.joins and p.column != column
                          and set(p.sources) & set(plan.sources) and c not in BOTH_FLAGS)
            plans[column] = ColumnPlan(column, "concatenated" if joins else "gap", plan.sources, joins=joins)
    return tuple(plans[c] for c in ctdc_columns(generation))


def quasi_identifier_columns(codebook: Codebook, plan: Sequence[ColumnPlan]) -> tuple[str, ...]:
    """Columns derived from a quasi-identifier element, plus `ALWAYS_QUASI_IDENTIFIERS`."""
    declared = {p.column for p in plan if p.kind != "gap" and any(
        codebook.elements[s].sensitivity == QUASI_IDENTIFIER for s in p.sources)}
    return tuple(p.column for p in plan if p.column in declared or p.column in ALWAYS_QUASI_IDENTIFIERS)


def flag_label(column: str) -> str:
    """`meansOfControlDebtBondage` → `Debt Bondage`; `recruiterRelationIntimatePartner` →
    `Intimate Partner` (the text inside concatenated columns)."""
    for prefix in _FLAG_PREFIXES:
        if column.startswith(prefix) and column[len(prefix):][:1].isupper():
            column = column[len(prefix):]
            break
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column)


# --- records → rows -------------------------------------------------------------------------------

def _selected(value: Any) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, tuple | list | set | frozenset):
        return {str(v) for v in value}
    return set(str(value).split())


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


def _flag(plan: ColumnPlan, values: Values) -> int | None:
    answered = False
    for code, options in plan.flag_options.items():
        value = values.get(code)
        if value is None:
            continue
        answered = True
        if _selected(value) & options:
            return 1
    for code in plan.flag_booleans:
        value = values.get(code)
        if value is None:
            continue
        answered = True
        if _truthy(value):
            return 1
    return 0 if answered else None


def ctdc_row(values: Values, plan: Sequence[ColumnPlan], codebook: Codebook, generation: Generation) -> dict[str, Any]:
    """One record's CTDC columns (None where nothing was recorded), in the plan's order."""
    row: dict[str, Any] = dict.fromkeys(p.column for p in plan)
    for column in plan:  # values and flags read from the record
        if column.kind == "value":
            row[column.column] = VALUE_RULES[column.column].derive(values, codebook, generation)
        elif column.kind == "flag" and not column.joins:
            row[column.column] = _flag(column, values)
    for column in plan:  # columns made of other columns
        if column.kind == "flag" and column.joins:
            parts = [row[p] for p in column.joins]
            row[column.column] = None if any(p is None for p in parts) else int(all(parts))
        elif column.kind == "concatenated":
            row[column.column] = ";".join(flag_label(j) for j in column.joins if row[j] == 1) or None
    return row


def is_case_record(record: CanonicalRecord, codebook: Codebook) -> bool:
    """A case intake: its form's level is `case`, or (form unknown) it holds an identification date."""
    form = codebook.forms.get(record.envelope.form_id or "")
    if form is not None:
        return form.level == "case"
    return record.values.get("ident_date") is not None or record.values.get("case_reference") is not None


@dataclass(frozen=True)
class CtdcExport:
    """A k-anonymised CTDC file and how it was made (counts only)."""

    generation: Generation
    data: pd.DataFrame
    k: int
    quasi_identifiers: tuple[str, ...]
    records_read: int
    excluded: Mapping[str, int]
    records_eligible: int
    records_suppressed: int
    smallest_group: int
    gaps: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.data.columns)

    def to_json(self) -> dict[str, Any]:
        return {"generation": self.generation, "k": self.k, "quasi_identifiers": list(self.quasi_identifiers),
                "records_read": self.records_read, "excluded": dict(self.excluded),
                "records_eligible": self.records_eligible, "records_suppressed": self.records_suppressed,
                "records_published": len(self.data), "smallest_group": self.smallest_group,
                "columns": len(self.data.columns), "gaps": list(self.gaps)}


def check_safe(plan: Sequence[ColumnPlan], columns: Sequence[str], codebook: Codebook,
               generation: Generation) -> None:
    """Refuse (UnsafeExport) a plan reading a never-exported element or a non-standard column set."""
    read = {s for p in plan for s in p.sources}
    forbidden = sorted(s for s in read if codebook.elements[s].sensitivity in NEVER_EXPORTED)
    if forbidden:
        raise UnsafeExport(f"the CTDC export would read {forbidden} (direct identifiers or restricted "
                           "elements never leave tipdata); fix the codebook crosswalk")
    named = sorted(c for c in columns if c in codebook.elements
                   and codebook.elements[c].sensitivity in NEVER_EXPORTED)
    if named or tuple(columns) != ctdc_columns(generation):
        raise UnsafeExport(f"the CTDC gen-{generation} export must have exactly the standard's "
                           f"{len(ctdc_columns(generation))} columns in order, and no identifier column")


def ctdc_export(records: Iterable[CanonicalRecord], codebook: Codebook, generation: Generation,
                *, k: int = DEFAULT_K, quasi_identifiers: Sequence[str] | None = None) -> CtdcExport:
    """Victim case records (consented to statistics) → the CTDC column set, k-anonymised.

    >>> export = ctdc_export(ledger.iter_records(), load_codebook(), 1)      # doctest: +SKIP
    >>> export.data.columns[0], export.records_suppressed                     # doctest: +SKIP
    ('yearOfRegistration', 12)
    """
    if generation not in (1, 2):
        raise ValueError(f"CTDC generation must be 1 or 2, not {generation!r}")
    plan = column_plan(codebook, generation)
    columns = tuple(p.column for p in plan)
    check_safe(plan, columns, codebook, generation)
    excluded: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    read = 0
    for record in records:
        read += 1
        if STATISTICS not in record.envelope.consent_purposes:
            excluded["without_consent"] += 1
        elif not is_case_record(record, codebook):
            excluded["not_a_case_record"] += 1
        elif record.values.get("ident_trafficking_status") == NOT_VICTIM:
            excluded["not_a_victim"] += 1
        else:
            rows.append(ctdc_row(record.values, plan, codebook, generation))
    # object columns from the start: a column of ints with gaps must not turn into floats
    frame = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=object) for c in columns},
                         columns=list(columns))
    chosen = tuple(quasi_identifiers) if quasi_identifiers is not None else quasi_identifier_columns(codebook, plan)
    unknown = [q for q in chosen if q not in columns]
    if unknown:
        raise ValueError(f"quasi-identifiers {unknown} are not CTDC gen-{generation} columns")
    anonymised = k_anonymise(frame, chosen, k, codebook=codebook)
    check_safe(plan, tuple(anonymised.data.columns), codebook, generation)
    return CtdcExport(generation, anonymised.data, anonymised.k, chosen, read, dict(excluded),
                      anonymised.records_in, anonymised.records_suppressed, anonymised.smallest_group,
                      tuple(p.column for p in plan if p.kind == "gap"))


# --- writing ------------------------------------------------------------------------------------

Cell = str | int | float | None


def safe_cell(value: Any) -> Cell:
    """A cell no spreadsheet runs as a formula: text starting with = + - @ tab or CR gets a
    leading apostrophe, unless it is a plain number (`-99`, CTDC's missing age band, stays).

    >>> safe_cell("=HYPERLINK(\\"x\\")"), safe_cell("-99"), safe_cell(1)
    ('\\'=HYPERLINK("x")', '-99', 1)
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    text = str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def ctdc_rows(export: CtdcExport) -> list[list[Cell]]:
    """Header and rows, every cell made safe."""
    rows: list[list[Cell]] = [list(export.columns)]
    rows += [[safe_cell(v) for v in row] for row in export.data.itertuples(index=False, name=None)]
    return rows


def _private(path: Path, mode: str) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, mode, **({"newline": "", "encoding": "utf-8"} if "b" not in mode else {}))


def write_ctdc_csv(export: CtdcExport, path: Path) -> Path:
    """The export as CSV (UTF-8, header first), readable by its owner only."""
    with _private(path, "w") as handle:
        csv.writer(handle).writerows(["" if v is None else v for v in row] for row in ctdc_rows(export))
    return path


def write_ctdc_xlsx(export: CtdcExport, path: Path) -> Path:
    """The export as one XLSX sheet (`ctdc_gen1` / `ctdc_gen2`), readable by its owner only."""
    data = write_xlsx({f"ctdc_gen{export.generation}": ctdc_rows(export)}, escape_formulas=False)
    with _private(path, "wb") as handle:
        handle.write(data)
    return path
