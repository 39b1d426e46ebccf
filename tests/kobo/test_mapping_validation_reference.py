"""Mapping with compiled validation gives what the interpreter gave: the same records, the same
quarantine reasons, the same warnings, for random submissions of every form, good and bad."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

import tipdata.kobo_forms.mapping as mapping
from tipdata.codebook import load_codebook
from tipdata.kobo_forms.mapping import FormLayout, canonical_to_kobo_json, kobo_text, map_submission
from tipdata.logic import LogicSyntaxError, evaluate, parse
from tipdata.model import Codebook, Element
from tipdata.problems import Problem
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord
from tipdata.validation import symbols_of

from .test_mapping_roundtrip import SCREENING_FORMS, screening_records, value_strategy

CODEBOOK = load_codebook()
SYMBOLS = symbols_of(CODEBOOK)
FORMS = sorted(CODEBOOK.forms)
NOT_CODES = ("maybe", "-3", "12.5", "abc", "2026-13-40", "yes no", "true")


def reference_validate_record(codebook: Codebook, record: CanonicalRecord, *,
                              today: dt.date | None = None, source: str | None = None) -> list[Problem]:
    """validate_record as it was before expressions were compiled: every expression parsed and
    interpreted by `evaluate` on every call. The oracle for the compiled one."""
    where = source or f"record {record.record_id}"
    problems: list[Problem] = []

    def add(code: str, message: str, element: str | None, severity: str = "error") -> None:
        problems.append(Problem(code, message, where, None, element, severity))  # type: ignore[arg-type]

    def holds(text: str, values: Mapping[str, Any], self_value: Any, self_code: str) -> bool | None:
        try:
            return bool(evaluate(parse(text), values, self_value=self_value, today=today,
                                 symbols=SYMBOLS, self_symbol=SYMBOLS.get(self_code)))
        except LogicSyntaxError:
            return None

    for purpose in sorted(record.envelope.consent_purposes - codebook.consent_purposes.keys()):
        add("RC206", f"consent purpose {purpose!r} is not one of "
            f"{', '.join(codebook.consent_purposes)}", None)
    form = codebook.forms.get(record.envelope.form_id or "")
    if record.envelope.form_id and form is None:
        add("RC206", f"form {record.envelope.form_id!r} is not in the codebook", None)
    values = record.values
    for code, value in values.items():
        element = codebook.elements.get(code)
        if element is None:
            add("RC200", f"{code!r} is not an element of codebook {codebook.id} {codebook.version}", code)
            continue
        if value is None:
            continue
        error = reference_type_error(element, value)
        if error:
            add("RC201", error, code)
            continue
        option_list = codebook.options_for(element)
        if option_list is not None:
            chosen = [value] if isinstance(value, str) else list(value)
            unknown = [c for c in chosen if option_list.option(c) is None]
            if unknown:
                sample = ", ".join(option_list.codes()[:12])
                more = " …" if len(option_list.options) > 12 else ""
                add("RC202", f"{', '.join(map(repr, unknown))} not in list {option_list.name!r} "
                    f"(expected one of {sample}{more})", code)
                continue
        if element.constraint and holds(element.constraint, values, value, code) is False:
            message = element.constraint_message or f"constraint `{element.constraint}` does not hold"
            add("RC204", f"{message} (value {value!r})", code)
    if form is not None:
        for code, conditions in form.form_conditions().items():
            element = codebook.elements[code]
            checks = ((element.relevant,) if element.relevant else ()) + conditions
            relevant = all(holds(text, values, None, code) is not False for text in checks)
            present = values.get(code) not in (None, "", (), [])
            if not relevant and present and not element.is_calculated:
                add("RC205", "a value is given but the element does not apply here "
                    "(its relevance, or its group's, is false)", code, "warning")
            if not relevant or present or element.is_calculated:
                continue
            required = element.required
            if isinstance(required, str):
                required = bool(holds(required, values, None, code))
            if required:
                add("RC203", "a value is required", code)
    return problems


def reference_type_error(element: Element, value: Any) -> str | None:
    kind = element.type
    ok = {
        "text": isinstance(value, str), "select_one": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "decimal": isinstance(value, int | float | Decimal) and not isinstance(value, bool)
        and (not isinstance(value, float) or math.isfinite(value)),
        "date": isinstance(value, dt.date) and not isinstance(value, dt.datetime),
        "datetime": isinstance(value, dt.datetime) and value.tzinfo is not None,
        "select_multiple": isinstance(value, tuple | list | frozenset)
        and all(isinstance(v, str) for v in value),
        "boolean": isinstance(value, bool),
        "geopoint": isinstance(value, tuple | list) and 2 <= len(value) <= 4
        and all(isinstance(v, int | float) for v in value),
    }[kind]
    if ok:
        return None
    expected = {
        "text": "text", "select_one": "an option code", "integer": "a whole number",
        "decimal": "a number", "date": "a date", "datetime": "a date-time with a time zone",
        "select_multiple": "a list of option codes", "boolean": "true or false",
        "geopoint": "(latitude, longitude[, altitude, accuracy])",
    }[kind]
    return f"expected {expected} for a {kind} element, got {type(value).__name__} {value!r}"


@st.composite
def submissions(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A Kobo submission of a random form: each answer absent, valid, or not what it should be."""
    form_id = draw(st.sampled_from(FORMS))
    layout = FormLayout.of(CODEBOOK, form_id)
    today = draw(st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)))
    row: dict[str, Any] = {"_id": draw(st.integers(1, 10**6)), "_uuid": "u",
                           "start": f"{today.isoformat()}T09:30:00.000+02:00",
                           "_submission_time": f"{today.isoformat()}T10:00:00"}
    complete = draw(st.booleans())  # every answer given and of its type: mostly records
    for code, path in layout.paths.items():
        element = CODEBOOK.elements[code]
        choice = draw(st.integers(3, 7) if complete else st.integers(0, 9))
        if choice < 3:
            continue
        if choice < 8:
            text = kobo_text(draw(value_strategy(element, today)))
        else:
            text = draw(st.sampled_from(NOT_CODES))
        if text is not None:
            row[path] = text
    if not complete and draw(st.booleans()):
        row["grp_unknown/not_an_element"] = "x"
    return form_id, row


def outcome_of(mapped: Any) -> Any:
    outcome = mapped.outcome
    problems = [(p.code, p.message, p.element, p.severity) for p in getattr(outcome, "problems", ())]
    record = outcome.to_json() if isinstance(outcome, CanonicalRecord) else None
    warnings = [(p.code, p.message, p.element) for p in mapped.warnings]
    return type(outcome).__name__, record, problems, warnings


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(submissions())
def test_map_submission__compiled_validation_equals_the_interpreter(drawn):
    """should map every submission exactly as the interpreted validation did"""
    form_id, row = drawn
    layout = FormLayout.of(CODEBOOK, form_id)
    compiled = map_submission(CODEBOOK, layout, "aTestAsset", row)
    with mock.patch.object(mapping, "validate_record", reference_validate_record):
        interpreted = map_submission(CODEBOOK, layout, "aTestAsset", row)
    assert outcome_of(compiled) == outcome_of(interpreted)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SCREENING_FORMS).flatmap(lambda form: st.tuples(
    st.just(form), screening_records(form))))
def test_map_submission__valid_records_equal_the_interpreter(drawn):
    """should map valid screenings to the same records (and warnings) as the interpreter did"""
    form_id, record = drawn
    layout = FormLayout.of(CODEBOOK, form_id)
    row = canonical_to_kobo_json(CODEBOOK, layout, record)
    compiled = map_submission(CODEBOOK, layout, "aTestAsset", row)
    with mock.patch.object(mapping, "validate_record", reference_validate_record):
        interpreted = map_submission(CODEBOOK, layout, "aTestAsset", row)
    assert outcome_of(compiled) == outcome_of(interpreted)
    assert isinstance(compiled.outcome, CanonicalRecord)


@pytest.mark.parametrize(("form_id", "wanted"),
                         [(form, QuarantinedRecord) for form in FORMS]
                         + [(form, CanonicalRecord) for form in SCREENING_FORMS])
def test_submissions__reach_both_outcomes(form_id, wanted):
    """should generate quarantines for every form and records for the screenings, or the
    property above tests little"""
    def gives(drawn: tuple[str, dict[str, Any]]) -> bool:
        form, row = drawn
        outcome = map_submission(CODEBOOK, FormLayout.of(CODEBOOK, form), "aTestAsset", row).outcome
        return form == form_id and isinstance(outcome, wanted)

    find(submissions(), gives, settings=settings(max_examples=1000, deadline=None,
                                                 database=None, phases=[Phase.generate]))


@settings(max_examples=500, deadline=None)
@given(st.text(min_size=1), st.text(min_size=1))
def test_record_id_for__is_uuid5_of_system_and_id(system, source_id):
    """should give exactly uuid5(namespace, "<system>:<id>") as text, as ids always were"""
    import uuid

    from tipdata.records import RECORD_NAMESPACE, record_id_for

    try:
        expected = str(uuid.uuid5(RECORD_NAMESPACE, f"{system}:{source_id}"))
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            record_id_for(system, source_id)
        return
    assert record_id_for(system, source_id) == expected
