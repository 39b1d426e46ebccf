"""The screening forms' Palermo logic, executed by real form engines (JavaRosa, ODK Web Forms).

Each scenario fills the generated XForm the way an enumerator would and asserts what the engine
computes (Palermo elements, screening result) and which questions it shows. A second test draws
random answer sets and checks that the engines agree with tipdata's own evaluator of the codebook
expressions, which DHIS2 and Frappe validation will reuse.
"""

from __future__ import annotations

import functools
import random

import pytest
from pyxform.xls2xform import convert

from tipdata.codebook import load_codebook
from tipdata.kobo_forms.xlsform import build_xlsform
from tipdata.logic import evaluate, parse
from tipdata.spreadsheet import write_xlsx
from tipdata.validation import symbols_of

from .engines.runner import ALL_ENGINES, engines_available, fill_form

pytestmark = pytest.mark.engine

ACT = ("scr_act_recruited", "scr_act_moved", "scr_act_housed")
MEANS = ("scr_means_deceived", "scr_means_threatened", "scr_means_force", "scr_means_debt",
         "scr_means_documents", "scr_means_not_free", "scr_means_abducted", "scr_means_vulnerability")
PURPOSE = ("scr_purpose_forced_work", "scr_purpose_sexual", "scr_purpose_domestic",
           "scr_purpose_marriage", "scr_purpose_crime", "scr_purpose_begging", "scr_purpose_armed_group",
           "scr_purpose_organ")


@functools.cache
def xform(form_id: str) -> str:
    data = write_xlsx(build_xlsform(load_codebook(), form_id).sheets(), escape_formulas=False)
    return convert(data).xform


def engine_or_skip(engine: str) -> str:
    reason = engines_available().get(engine)
    if reason is not None:
        pytest.skip(f"{engine}: {reason}")
    return engine


def answers(age: int | None, yes: tuple[str, ...] = (), no_rest: bool = True,
            consent: str = "yes") -> list[tuple[str, object]]:
    """Consent, date and age first, then every indicator: `yes` ones yes, the rest no."""
    result: list[tuple[str, object]] = [("screening_date", "2026-11-01"), ("consent_screening", consent)]
    if consent != "yes":
        return result
    result.append(("scr_safe_now", "yes"))
    if age is not None:
        result.append(("age_at_screening", age))
    for name in ACT + MEANS + PURPOSE:
        if name in yes:
            result.append((name, "yes"))
        elif no_rest:
            result.append((name, "no"))
    return result


@pytest.fixture(params=ALL_ENGINES)
def engine(request) -> str:
    return engine_or_skip(request.param)


def test_adult_deceived_and_forced_to_work__is_likely(engine):
    """should compute act + means + purpose met → likely, and show the likely note and referral"""
    result = fill_form(engine, xform("tip_screening_adult"), answers(
        34, yes=("scr_act_recruited", "scr_means_deceived", "scr_purpose_forced_work")))
    assert result.value("palermo_act_indicated") == "true"
    assert result.value("palermo_means_indicated") == "true"
    assert result.value("palermo_purpose_indicated") == "true"
    assert result.value("palermo_elements_met") == "true"
    assert result.value("screening_result") == "likely"
    assert result.relevant("note_result_likely")
    assert not result.relevant("note_result_possible")
    assert result.relevant("screening_referral_offered")


def test_child_recruited_into_sexual_exploitation_without_means__is_likely(engine):
    """should need no means for a child: act + purpose → likely"""
    result = fill_form(engine, xform("tip_screening_child"), answers(
        15, yes=("scr_act_recruited", "scr_purpose_sexual")))
    assert result.value("screening_is_child") == "true"
    assert result.value("palermo_means_indicated") == "false"
    assert result.value("palermo_elements_met") == "true"
    assert result.value("screening_result") == "likely"
    assert result.relevant("note_child_means")


def test_child_form_with_age_unknown__treats_person_as_child(engine):
    """should treat a person screened with the child form as a child even without an age"""
    result = fill_form(engine, xform("tip_screening_child"), answers(
        None, yes=("scr_act_moved", "scr_purpose_forced_work")))
    assert result.value("screening_is_child") == "true"
    assert result.value("screening_result") == "likely"


def test_nothing_reported__is_unlikely(engine):
    """should compute unlikely when every indicator is answered no, and offer no referral question"""
    result = fill_form(engine, xform("tip_screening_adult"), answers(40))
    assert result.value("screening_elements_count") == "0"
    assert result.value("screening_result") == "unlikely"
    assert result.relevant("note_result_unlikely")
    assert not result.relevant("screening_referral_offered")


def test_adult_with_act_and_purpose_but_no_means__is_possible(engine):
    """should compute possible for an adult with act and purpose but no means"""
    result = fill_form(engine, xform("tip_screening_adult"), answers(
        29, yes=("scr_act_moved", "scr_purpose_domestic")))
    assert result.value("palermo_elements_met") == "false"
    assert result.value("screening_elements_count") == "2"
    assert result.value("screening_result") == "possible"
    assert result.relevant("note_result_possible")
    assert result.relevant("screening_referral_offered")


def test_minor_screened_with_adult_form__needs_no_means(engine):
    """should apply the child rule when the adult form records an age under 18"""
    result = fill_form(engine, xform("tip_screening_adult"), answers(
        16, yes=("scr_act_recruited", "scr_purpose_crime")))
    assert result.value("screening_is_child") == "true"
    assert result.value("screening_result") == "likely"


def test_no_consent__hides_every_indicator_question(engine):
    """should show only the no-consent note and compute nothing when consent is refused"""
    result = fill_form(engine, xform("tip_screening_adult"), answers(None, consent="no"))
    assert result.relevant("note_no_consent")
    for name in ("grp_safety", "grp_act", "grp_means", "grp_purpose", "grp_result"):
        assert not result.relevant(name), name
    assert result.value("screening_result") == ""


def test_declined_answers__count_as_not_indicated(engine):
    """should let a person decline any question without it counting as an indicator"""
    declined = answers(25, no_rest=False) + [(n, "declined") for n in ACT + MEANS + PURPOSE]
    result = fill_form(engine, xform("tip_screening_adult"), declined)
    assert result.value("screening_result") == "unlikely"


@pytest.mark.parametrize(("answer", "shown"), [("no", True), ("dont_know", True), ("yes", False)])
def test_unsafe_person__is_shown_the_safety_note(engine, answer, shown):
    """should show the safety-protocol note when the person does not feel safe or is not sure"""
    filled = [("screening_date", "2026-11-01"), ("consent_screening", "yes"), ("scr_safe_now", answer)]
    result = fill_form(engine, xform("tip_screening_adult"), filled)
    assert result.relevant("note_unsafe") is shown


def test_age_constraint__is_enforced_by_the_engine(engine):
    """should report the age constraint when an impossible age is entered"""
    filled = [("screening_date", "2026-11-01"), ("consent_screening", "yes"), ("age_at_screening", 150)]
    result = fill_form(engine, xform("tip_screening_adult"), filled)
    assert any(v.name == "age_at_screening" for v in result.violations)


# --- the engines agree with tipdata's evaluator ----------------------------------------------

COMPUTED = ("screening_is_child", "palermo_act_indicated", "palermo_means_indicated",
            "palermo_purpose_indicated", "palermo_elements_met", "screening_elements_count",
            "screening_result")


def python_values(form_id: str, given: dict[str, object]) -> dict[str, object]:
    """Evaluate the codebook calculations in order, as the form does."""
    codebook = load_codebook()
    symbols = symbols_of(codebook)
    values: dict[str, object] = dict(given)
    values["screening_population"] = "child" if form_id.endswith("child") else "adult"
    for code in COMPUTED:
        values[code] = evaluate(parse(codebook.elements[code].calculation), values, symbols=symbols)
    return values


def as_engine_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


@pytest.mark.parametrize("seed", range(12))
def test_random_answers__engines_agree_with_the_codebook_evaluator(engine, seed):
    """should compute the same Palermo values in the engine as tipdata's evaluator does"""
    rng = random.Random(seed)
    form_id = rng.choice(["tip_screening_adult", "tip_screening_child"])
    age = rng.choice([None, 9, 15, 17, 18, 30, 65])
    filled = answers(age, no_rest=False)
    given: dict[str, object] = {"consent_screening": "yes", "age_at_screening": age}
    for name in ACT + MEANS + PURPOSE:
        choice = rng.choice(["yes", "no", "no", "dont_know", "declined", None])
        given[name] = choice
        if choice is not None:
            filled.append((name, choice))
    result = fill_form(engine, xform(form_id), filled)
    expected = python_values(form_id, given)
    for code in COMPUTED:
        assert result.value(code) == as_engine_text(expected[code]), (code, form_id, given)
