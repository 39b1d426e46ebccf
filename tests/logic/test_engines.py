"""Compiled XPath in real engines: ODK Validate accepts it, and JavaRosa and ODK Web Forms
compute what the Python evaluator computes, empty values and quirks included."""

from __future__ import annotations

import functools
import shutil
from datetime import date, datetime

import pytest
from pyxform.errors import PyXFormError
from pyxform.validators.odk_validate import ODKValidateError

from tipdata.logic import FUNCTIONS, calculation_to_xpath, evaluate, parse, to_xpath

from ..engines import ENGINES, fill_form
from .forms import (
    LABEL,
    answers_for,
    build_xform,
    choice_rows,
    engine_text_matches,
    question_rows,
)
from .symbol_table import EXAMPLE_SYMBOLS, SYMBOLS

pytestmark = pytest.mark.engine

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="java is not on PATH")

# Conditions and values covering every operator and function, and each type-driven spelling.
CONDITIONS = [
    "age >= 18 and consent = 'yes'",
    "not minor or weight / household > 2.5",
    "minor = true",
    "selected(means, 'debt') and count_selected(means) >= 2",
    "answered(name) and length(name) > 1 and regex(name, '[a-z]+')",
    "regex(name, 'a|b')",
    "dob < '2020-01-01' and dob <= today()",
    "dob = '2007-05-01'",
    "dob != '2007-05-01'",
    "seen_at > dob",
    "seen_at = dob",
    "seen_at != seen_at",
    "seen_at >= '2024-03-10'",
    "age_in_years(dob) < 18",
    "count_true(minor, answered(location), selected(consent, 'no')) = 2",
    "answered(minor)",
    "age != 5",
    "age < 5",
    "name = ''",
    "name != 'ab'",
    "name = 'a  b'",
    "(age > 1) = (household > 1)",
    "answered(age) = answered(name)",
]
VALUES = [
    "age + 1",
    "-age",
    "age / 0",
    "age mod 3",
    "weight * 3",
    "int(weight)",
    "round(weight, 2)",
    "round(weight, 0)",
    "round(weight * 1000, -2)",
    "age_in_years(dob)",
    "age_in_years('2000-02-29')",
    "days_between(dob, today())",
    "days_between('2024-03-01', dob)",
    "days_between(seen_at, today())",
    "coalesce(age, household) + 1",
    "coalesce(dob, '2020-01-01') < today()",
    "if(age > 10, 'big', 'small')",
    "count_selected(means)",
    "length(name)",
    "count_true(minor, age > 5, selected(means, 'debt'))",
    "minor",
]
CONSTRAINTS = {
    "age": ". >= 0 and . <= 120",
    "name": "regex(., '[a-z ]*')",
    "dob": ". <= today() and . > '1900-01-01'",
    "seen_at": ". >= '2024-01-01'",
    "consent": "selected(., 'yes') or . = 'no'",
    "means": "count_selected(.) <= 2",
    "minor": ". or not .",
    "weight": "not answered(household) or . < household * 100",
}
VALUE_SETS = [
    {},
    {
        "age": 17,
        "household": 3,
        "weight": 2.45,
        "name": "ab",
        "dob": date(2007, 5, 1),
        "seen_at": datetime(2024, 1, 1, 10, 0),
        "consent": "yes",
        "means": ["debt"],
        "minor": True,
        "location": "12.5 -1.25 0 5",
    },
    {
        "age": 0,
        "household": 1,
        "weight": -2.5,
        "name": "a'b",
        "dob": date(2000, 2, 29),
        "seen_at": datetime(2024, 3, 10, 0, 0),
        "consent": "no",
        "means": ["debt", "threats"],
        "minor": False,
    },
    {
        "age": 130,
        "weight": 1.005,
        "name": "Zoë 😀",
        "dob": date(2024, 3, 31),
        "seen_at": datetime(2024, 3, 9, 23, 30),
        "means": ["debt", "threats", "documents"],
    },
    {"weight": -1.005, "dob": date.today(), "household": 0, "minor": False, "name": "a  b"},
]


@functools.cache
def differential_form() -> str:
    survey = question_rows(
        SYMBOLS,
        {
            name: to_xpath(parse(text), SYMBOLS, self_symbol=SYMBOLS[name])
            for name, text in CONSTRAINTS.items()
        },
    )
    for index, text in enumerate(CONDITIONS + VALUES):
        xpath = to_xpath(parse(text), SYMBOLS)
        survey.append(
            {"type": "calculate", "name": f"expr_{index}", "calculation": f"string({xpath})"}
        )
    return build_xform(survey, choice_rows(SYMBOLS), validate=False)


@functools.cache
def filled(engine: str, case: int):
    """The differential form filled with VALUE_SETS[case]; both agreement tests read it."""
    return fill_form(engine, differential_form(), answers_for(VALUE_SETS[case], SYMBOLS))


# ---- ODK Validate --------------------------------------------------------------------------


@needs_java
def test_odk_validate__accepts_every_construct_in_every_column():
    """should pass ODK Validate with each expression as relevant, constraint, required and
    calculation, which JavaRosa also evaluates once on the empty form"""
    survey = question_rows(SYMBOLS)
    for index, text in enumerate(CONDITIONS):
        xpath = to_xpath(parse(text), SYMBOLS)
        survey.append(
            {
                "type": "text",
                "name": f"cond_{index}",
                LABEL: "q",
                "relevant": xpath,
                "constraint": xpath,
                "required": xpath,
            }
        )
        survey.append(
            {
                "type": "calculate",
                "name": f"flag_{index}",
                "calculation": calculation_to_xpath(parse(text), SYMBOLS, SYMBOLS["minor"]),
            }
        )
    for index, text in enumerate(VALUES):
        survey.append(
            {
                "type": "calculate",
                "name": f"value_{index}",
                "calculation": to_xpath(parse(text), SYMBOLS),
            }
        )
    for name, text in CONSTRAINTS.items():
        survey.append(
            {
                "type": "text",
                "name": f"self_{name}",
                LABEL: "q",
                "constraint": to_xpath(parse(text), SYMBOLS, self_symbol=SYMBOLS[name]),
            }
        )
    assert "<h:html" in build_xform(survey, choice_rows(SYMBOLS), validate=True)


@needs_java
def test_odk_validate__accepts_the_catalogue_examples():
    """should pass ODK Validate with the example of every function in the catalogue"""
    survey = question_rows(EXAMPLE_SYMBOLS)
    for spec in FUNCTIONS.values():
        survey.append(
            {
                "type": "text",
                "name": f"example_{spec.name}",
                LABEL: "q",
                "constraint": to_xpath(
                    parse(spec.example),
                    EXAMPLE_SYMBOLS,
                    self_symbol=EXAMPLE_SYMBOLS["phone_number"],
                ),
            }
        )
    assert "<h:html" in build_xform(survey, choice_rows(EXAMPLE_SYMBOLS), validate=True)


@needs_java
def test_odk_validate__really_rejects_broken_xpath():
    """should fail on a malformed expression, proving the checks above are real"""
    survey = question_rows(SYMBOLS)
    survey.append({"type": "calculate", "name": "broken", "calculation": "${age} +* 1"})
    with pytest.raises((ODKValidateError, PyXFormError)):
        build_xform(survey, choice_rows(SYMBOLS), validate=True)


# ---- the engines agree with evaluate() -----------------------------------------------------


@pytest.mark.parametrize("case", range(len(VALUE_SETS)))
@pytest.mark.parametrize("engine", ENGINES)
def test_engines__compute_what_evaluate_computes(engine, case):
    """should give, for every expression and answer set, the value evaluate() gives"""
    values = VALUE_SETS[case]
    result = filled(engine, case)
    today = date.today()
    mismatches = []
    for index, text in enumerate(CONDITIONS + VALUES):
        expected = evaluate(parse(text), values, today=today, symbols=SYMBOLS)
        got = result.value(f"expr_{index}")
        if not engine_text_matches(expected, got):
            mismatches.append(f"{text}: evaluate={expected!r}, {engine}={got!r}")
    assert mismatches == []


@pytest.mark.parametrize("case", range(len(VALUE_SETS)))
@pytest.mark.parametrize("engine", ENGINES)
def test_engines__flag_the_constraints_evaluate_fails(engine, case):
    """should report a constraint violation exactly where evaluate() finds `.` invalid"""
    values = VALUE_SETS[case]
    result = filled(engine, case)
    flagged = {v.name for v in result.violations if v.condition == "constraint"}
    expected = {
        name
        for name, text in CONSTRAINTS.items()
        if values.get(name) not in (None, [])
        and not evaluate(
            parse(text), values, self_value=values[name], symbols=SYMBOLS, self_symbol=SYMBOLS[name]
        )
    }
    assert flagged == expected


DST_EXPRESSIONS = [
    "days_between('2024-03-01', dob)",  # across the US spring change (2024-03-10)
    "days_between(dob, '2024-11-30')",  # across the autumn change (2024-11-03)
    "seen_at > '2024-03-10'",
    "days_between(seen_at, '2024-03-12')",
]


@pytest.mark.parametrize("engine", ENGINES)
def test_engines__days_between_survives_daylight_saving(engine, monkeypatch):
    """should count calendar days across a daylight-saving change in the device's time zone"""
    monkeypatch.setenv("TZ", "America/New_York")
    survey = question_rows(SYMBOLS)
    for index, text in enumerate(DST_EXPRESSIONS):
        xpath = to_xpath(parse(text), SYMBOLS)
        survey.append(
            {"type": "calculate", "name": f"dst_{index}", "calculation": f"string({xpath})"}
        )
    values = {"dob": date(2024, 3, 31), "seen_at": datetime(2024, 3, 10, 0, 30)}
    result = fill_form(
        engine,
        build_xform(survey, choice_rows(SYMBOLS), validate=False),
        answers_for(values, SYMBOLS),
    )
    got = [result.value(f"dst_{index}") for index in range(len(DST_EXPRESSIONS))]
    expected = [evaluate(parse(text), values, symbols=SYMBOLS) for text in DST_EXPRESSIONS]
    assert expected == [30, 244, True, 1]
    assert all(engine_text_matches(e, g) for e, g in zip(expected, got, strict=True)), got
