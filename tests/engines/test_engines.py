"""The engine harnesses run a real XLSForm in JavaRosa and ODK Web Forms and report its logic.

The probe form below has what tipdata's screening forms rely on: en + fr labels, a group shown on
consent, select_one and select_multiple with itemsets, an integer with a constraint, a calculate
that counts yes answers, a boolean calculate written as if(cond, 'true', 'false'), and a note
shown only when that boolean holds, displaying the computed count.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest
from pyxform.xls2xform import convert

from .runner import (
    ALL_ENGINES,
    ENGINES,
    AnswersRejected,
    EngineFailure,
    EngineResult,
    Violation,
    engines_available,
    fill_form,
    missing_engines_must_fail,
)

pytestmark = pytest.mark.engine

EN, FR = "English (en)", "Français (fr)"

# fmt: off
SURVEY = [
    ["type", "name", f"label::{EN}", f"label::{FR}", "relevant", "constraint",
     f"constraint_message::{EN}", f"constraint_message::{FR}", "calculation", "required"],
    ["select_one yes_no", "consent", "Do you consent?", "Consentez-vous ?",
     "", "", "", "", "", "yes"],
    ["begin_group", "screening", "Screening", "Dépistage",
     "${consent} = 'yes'", "", "", "", "", ""],
    ["select_one yes_no", "forced_work", "Were you forced to work?",
     "Avez-vous été forcé de travailler ?", "", "", "", "", "", ""],
    ["select_one yes_no", "documents_taken", "Were your documents taken?",
     "Vos papiers ont-ils été pris ?", "", "", "", "", "", ""],
    ["select_multiple control", "control_means", "How were you controlled?",
     "Comment étiez-vous contrôlé ?", "",
     "not(selected(., 'none') and count-selected(.) > 1)",
     "'None' excludes other answers", "'Aucun' exclut les autres réponses", "", ""],
    ["integer", "hours_per_day", "Hours worked per day", "Heures travaillées par jour", "",
     ". >= 0 and . <= 24", "Hours must be between 0 and 24",
     "Les heures doivent être entre 0 et 24", "", ""],
    ["end_group", "", "", "", "", "", "", "", "", ""],
    ["calculate", "yes_count", "", "", "", "", "", "",
     "if(${forced_work} = 'yes', 1, 0) + if(${documents_taken} = 'yes', 1, 0)", ""],
    ["calculate", "control_count", "", "", "", "", "", "",
     "count-selected(${control_means})", ""],
    ["calculate", "indicators_met", "", "", "", "", "", "",
     "if(${yes_count} >= 2, 'true', 'false')", ""],
    ["note", "high_risk_note", "High risk: ${yes_count} indicators",
     "Risque élevé : ${yes_count} indicateurs", "${indicators_met} = 'true'",
     "", "", "", "", ""],
]
CHOICES = [
    ["list_name", "name",        f"label::{EN}", f"label::{FR}"],
    ["yes_no",    "yes",         "Yes",          "Oui"],
    ["yes_no",    "no",          "No",           "Non"],
    ["control",   "threats",     "Threats",      "Menaces"],
    ["control",   "debt",        "Debt",         "Dette"],
    ["control",   "confinement", "Confinement",  "Enfermement"],
    ["control",   "none",        "None",         "Aucun"],
]
SETTINGS = [
    ["form_title",   "form_id",      "version", "default_language"],
    ["Engine probe", "engine_probe", "1",       EN],
]
# fmt: on

CONSENTED = [("consent", "yes")]
TWO_INDICATORS = [*CONSENTED, ("forced_work", "yes"), ("documents_taken", "yes")]
HOURS_CONSTRAINT = Violation("hours_per_day", "Hours must be between 0 and 24", "constraint")


def _missing_engine(reason: str) -> None:
    """Fail under CI, where every engine is installed; skip on a machine without it."""
    if missing_engines_must_fail():
        pytest.fail(reason)
    pytest.skip(reason)


def _xform_from_rows(directory: Path, sheets: dict[str, list[list[str]]]) -> str:
    """Write the rows to an .xlsx and compile it; ODK Validate checks it when Java is here."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    path = directory / "form.xlsx"
    workbook.save(path)
    return convert(str(path), validate=shutil.which("java") is not None).xform


@pytest.fixture(scope="session")
def probe_xform(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The probe form as XForm XML."""
    sheets = {"survey": SURVEY, "choices": CHOICES, "settings": SETTINGS}
    return _xform_from_rows(tmp_path_factory.mktemp("probe"), sheets)


def _fill(engine: str, xform: str, answers, language: str | None = None) -> EngineResult:
    return fill_form(engine, xform, answers, language=language)


# ---- availability -------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_engines_available__engine_runs_here(engine: str) -> None:
    """Should find every engine installed (a missing one fails under CI, is skipped locally)."""
    reason = engines_available()[engine]
    if reason is not None:
        _missing_engine(f"{engine}: {reason}")
    assert engine in ENGINES


# ---- each engine --------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__untouched_form_shows_only_consent(engine: str, probe_xform: str) -> None:
    """Should show consent alone, hide the group and its questions, and compute zero counts."""
    result = _fill(engine, probe_xform, [])

    assert result.relevant("consent") is True
    assert result.relevant("screening") is False
    assert result.relevant("forced_work") is False
    assert result.relevant("hours_per_day") is False
    assert result.relevant("high_risk_note") is False
    assert result.value("yes_count") == "0"
    assert result.value("control_count") == "0"
    assert result.value("indicators_met") == "false"
    assert result.violations == (Violation("consent", "", "required"),)


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__reports_every_node_with_its_kind(engine: str, probe_xform: str) -> None:
    """Should list every leaf, calculate, note and group in document order with its kind."""
    result = _fill(engine, probe_xform, [])

    assert {name: node.type for name, node in result.nodes.items()} == {
        "consent": "select_one",
        "screening": "group",
        "forced_work": "select_one",
        "documents_taken": "select_one",
        "control_means": "select_multiple",
        "hours_per_day": "integer",
        "yes_count": "calculate",
        "control_count": "calculate",
        "indicators_met": "calculate",
        "high_risk_note": "note",
        "meta": "group",
        "instanceID": "hidden",
    }
    assert result.value("instanceID").startswith("uuid:")


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__consent_opens_screening_group(engine: str, probe_xform: str) -> None:
    """Should make the group and the questions inside it relevant once consent is yes."""
    result = _fill(engine, probe_xform, CONSENTED)

    assert result.relevant("screening") is True
    assert result.relevant("forced_work") is True
    assert result.relevant("hours_per_day") is True
    assert result.relevant("high_risk_note") is False
    assert result.violations == ()


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__two_yes_answers_flag_high_risk(engine: str, probe_xform: str) -> None:
    """Should count both yes answers, set the boolean to 'true' and show the note with the count."""
    result = _fill(engine, probe_xform, TWO_INDICATORS)

    assert result.value("yes_count") == "2"
    assert result.value("indicators_met") == "true"
    assert result.relevant("high_risk_note") is True
    assert result.label("high_risk_note") == "High risk: 2 indicators"
    assert "<indicators_met>true</indicators_met>" in result.instance_xml


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__one_yes_answer_is_not_high_risk(engine: str, probe_xform: str) -> None:
    """Should count one yes answer, keep the boolean 'false' and the note hidden."""
    answers = [*CONSENTED, ("forced_work", "yes"), ("documents_taken", "no")]
    result = _fill(engine, probe_xform, answers)

    assert result.value("yes_count") == "1"
    assert result.value("indicators_met") == "false"
    assert result.relevant("high_risk_note") is False


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__select_multiple_counts_choices(engine: str, probe_xform: str) -> None:
    """Should store both chosen codes space-separated and count them."""
    result = _fill(engine, probe_xform, [*CONSENTED, ("control_means", ["threats", "debt"])])

    assert sorted(result.value("control_means").split()) == ["debt", "threats"]
    assert result.value("control_count") == "2"
    assert result.violations == ()


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__select_multiple_order_follows_engine(engine: str, probe_xform: str) -> None:
    """Should keep JavaRosa's answer order and Web Forms' choice-list order for the codes."""
    result = _fill(engine, probe_xform, [*CONSENTED, ("control_means", ["debt", "threats"])])

    expected = {"javarosa": "debt threats", "odk-web-forms": "threats debt"}[engine]
    assert result.value("control_means") == expected
    assert f"<control_means>{expected}</control_means>" in result.instance_xml


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__hours_out_of_range_violate_constraint(engine: str, probe_xform: str) -> None:
    """Should keep 30 hours but report the constraint with the form's message."""
    result = _fill(engine, probe_xform, [*CONSENTED, ("hours_per_day", 30)])

    assert result.value("hours_per_day") == "30"
    assert result.violations == (HOURS_CONSTRAINT,)


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__hours_in_range_satisfy_constraint(engine: str, probe_xform: str) -> None:
    """Should report no violation once the hours are corrected to 8."""
    answers = [*CONSENTED, ("hours_per_day", 30), ("hours_per_day", "8")]
    result = _fill(engine, probe_xform, answers)

    assert result.value("hours_per_day") == "8"
    assert result.violations == ()


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__none_with_other_means_violates_constraint(
    engine: str, probe_xform: str
) -> None:
    """Should flag 'none' chosen together with another means of control."""
    result = _fill(engine, probe_xform, [*CONSENTED, ("control_means", ["none", "debt"])])

    assert result.violations == (
        Violation("control_means", "'None' excludes other answers", "constraint"),
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__french_labels_and_messages(engine: str, probe_xform: str) -> None:
    """Should render labels, the computed note and the constraint message in French."""
    answers = [*TWO_INDICATORS, ("hours_per_day", "25")]
    result = _fill(engine, probe_xform, answers, language=FR)

    assert result.language == FR
    assert result.label("consent") == "Consentez-vous ?"
    assert result.label("screening") == "Dépistage"
    assert result.label("high_risk_note") == "Risque élevé : 2 indicateurs"
    assert result.violations == (
        Violation("hours_per_day", "Les heures doivent être entre 0 et 24", "constraint"),
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__default_language_is_english(engine: str, probe_xform: str) -> None:
    """Should use the form's default language when none is asked for."""
    result = _fill(engine, probe_xform, [])

    assert result.language == EN
    assert result.label("screening") == "Screening"


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__withdrawn_consent_hides_and_uncounts_answers(
    engine: str, probe_xform: str
) -> None:
    """Should hide the group again and stop counting its answers when consent turns to no."""
    result = _fill(engine, probe_xform, [*TWO_INDICATORS, ("consent", "no")])

    assert result.relevant("screening") is False
    assert result.relevant("forced_work") is False
    assert result.value("forced_work") == ""
    assert result.value("yes_count") == "0"
    assert result.value("indicators_met") == "false"
    assert "<screening>" not in result.instance_xml
    assert "<forced_work>" not in result.instance_xml


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__restored_consent_restores_answers(engine: str, probe_xform: str) -> None:
    """Should bring back the hidden answers, and their count, when consent turns to yes again."""
    answers = [*TWO_INDICATORS, ("consent", "no"), ("consent", "yes")]
    result = _fill(engine, probe_xform, answers)

    assert result.value("forced_work") == "yes"
    assert result.value("yes_count") == "2"


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__answer_to_hidden_question_is_rejected(engine: str, probe_xform: str) -> None:
    """Should refuse an answer to a question inside the non-relevant group, and say why."""
    with pytest.raises(AnswersRejected) as rejected:
        _fill(engine, probe_xform, [("forced_work", "yes")])

    (rejection,) = rejected.value.rejections
    assert rejection.name == "forced_work"
    assert "not relevant" in rejection.message
    assert rejected.value.result.value("yes_count") == "0"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (("consent", "maybe"), "not among the offered choices"),
        (("consent", ["yes", "no"]), "select_one takes one value"),
        (("hours_per_day", "7.5"), "not a valid integer"),
        (("yes_count", "3"), "not a question the harness can answer"),
        (("high_risk_note", "x"), "is read-only"),
        (("no_such_question", "x"), "no node named"),
    ],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__unusable_answer_is_rejected(
    engine: str, probe_xform: str, answer: tuple[str, object], reason: str
) -> None:
    """Should refuse answers the form cannot hold instead of dropping them silently."""
    with pytest.raises(AnswersRejected) as rejected:
        _fill(engine, probe_xform, [*CONSENTED, answer])

    (rejection,) = rejected.value.rejections
    assert rejection.name == answer[0]
    assert reason in rejection.message


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__unknown_language_fails(engine: str, probe_xform: str) -> None:
    """Should fail loudly, naming the form's languages, for a language the form lacks."""
    with pytest.raises(EngineFailure, match=r"Español \(es\).*Français \(fr\)"):
        _fill(engine, probe_xform, [], language="Español (es)")


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__repeat_is_refused(engine: str, tmp_path: Path) -> None:
    """Should refuse a form with a repeat, whose node names are not unique, instead of guessing."""
    xform = _xform_from_rows(
        tmp_path,
        {
            "survey": [
                ["type", "name", "label"],
                ["begin_repeat", "victim", "Victim"],
                ["text", "victim_name", "Name"],
                ["end_repeat", "", ""],
            ]
        },
    )

    with pytest.raises(EngineFailure, match="'victim' is a repeat"):
        _fill(engine, xform, [])


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_form__malformed_xform_fails(engine: str) -> None:
    """Should fail with the engine's complaint when the XForm cannot be loaded."""
    with pytest.raises(EngineFailure, match="exited with status 2"):
        _fill(engine, "<h:html xmlns:h='http://www.w3.org/1999/xhtml'><h:head/>", [])


# ---- across engines -----------------------------------------------------------------------


def _comparable(result: EngineResult) -> dict[str, tuple[str, bool, object, str | None]]:
    """Kind, relevance, value and label of each node, as both engines should agree on them.

    select_multiple codes are sorted (JavaRosa keeps answer order, Web Forms choice order);
    instanceID is random per fill.
    """
    comparable = {}
    for name, node in result.nodes.items():
        if name == "instanceID":
            continue
        value: object = node.value
        if node.type == "select_multiple":
            value = tuple(sorted(node.value.split()))
        comparable[name] = (node.type, node.relevant, value, node.label)
    return comparable


SCENARIOS = {
    "untouched": ([], None),
    "consented": (CONSENTED, None),
    "high risk": (TWO_INDICATORS, None),
    "high risk in French": ([*TWO_INDICATORS, ("hours_per_day", 40)], FR),
    "means in answer order": ([*CONSENTED, ("control_means", ["debt", "threats"])], None),
    "withdrawn": ([*TWO_INDICATORS, ("control_means", ["none"]), ("consent", "no")], None),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_engines_agree__on_values_relevance_and_violations(scenario: str, probe_xform: str) -> None:
    """Should give the same computed values, relevance, labels and violations on both engines."""
    for engine, reason in engines_available().items():
        if reason is not None:
            _missing_engine(f"cross-engine check needs {engine}: {reason}")
    answers, language = SCENARIOS[scenario]

    javarosa, web_forms = (_fill(e, probe_xform, answers, language) for e in ALL_ENGINES)

    assert _comparable(javarosa) == _comparable(web_forms)
    assert javarosa.violations == web_forms.violations
    assert javarosa.language == web_forms.language
