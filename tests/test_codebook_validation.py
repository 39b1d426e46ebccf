"""A malformed codebook never produces artifacts: every problem is reported with file, line, code."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tipdata.cli.main import app
from tipdata.codebook import check_codebook, load_codebook
from tipdata.problems import CATALOGUE, CodebookInvalid
from tipdata.validation import translation_coverage


def errors_of(root):
    _, problems = check_codebook(root)
    return [p for p in problems if p.severity == "error"]


def only_error(root, code):
    errors = errors_of(root)
    assert [e.code for e in errors] == [code], [e.render() for e in errors]
    return errors[0]


def test_mini_codebook__is_valid(mini_codebook):
    """should load the reference mini codebook with no problem at all"""
    codebook, problems = check_codebook(mini_codebook())
    assert problems == []
    assert list(codebook.elements) == ["person_name", "person_age", "person_sex", "scr_forced",
                                       "scr_is_child"]
    assert codebook.languages == ("en", "fr")


def test_duplicate_element_code__names_both_places(mini_codebook):
    """should report a duplicate code at the second definition and point to the first"""
    root = mini_codebook(edit={"elements/screening.yaml": (
        "  - code: scr_is_child",
        "  - code: person_age\n    type: text\n    label: X\n    level: person\n"
        "    sensitivity: operational\n  - code: scr_is_child")})
    error = only_error(root, "CB110")
    assert error.file == "elements/screening.yaml"
    assert error.line == 10
    assert error.element == "person_age"
    assert "elements/person.yaml:" in error.message


def test_unknown_option_list__is_reported(mini_codebook):
    """should report a select element naming a list that does not exist"""
    root = mini_codebook(edit={"elements/person.yaml": ("options: sex", "options: gender")})
    error = only_error(root, "CB112")
    assert (error.file, error.element) == ("elements/person.yaml", "person_sex")
    assert "'gender'" in error.message


def test_option_code_clash__points_to_the_repeat(mini_codebook):
    """should report an option code that appears twice in one list, at the second one"""
    root = mini_codebook(edit={"options/common.yaml": ("{code: male, label: Male}",
                                                      "{code: female, label: Male}")})
    error = only_error(root, "CB113")
    assert error.file == "options/common.yaml"
    assert error.line == 9
    assert "'female'" in error.message


@pytest.mark.parametrize(
    ("expression", "needle"),
    [
        ('". >= 0 and and . <= 120"', "column"),  # syntax
        ('". >= 0 and person_agee < 3"', "person_age"),  # unknown name, with a suggestion
        ("\"person_sex = 'femal'\"", "female"),  # unknown option code, valid codes listed
        ("\". + 'x' > 1\"", ""),  # type mismatch
    ],
)
def test_bad_expression__is_located(mini_codebook, expression, needle):
    """should report a bad expression with the element, its line and what was expected"""
    root = mini_codebook(edit={"elements/person.yaml": ('". >= 0 and . <= 120"', expression)})
    error = only_error(root, "CB130")
    assert (error.file, error.line, error.element) == ("elements/person.yaml", 9, "person_age")
    assert needle in error.message


def test_expression_cycle__is_reported_once(mini_codebook):
    """should report calculations that depend on each other"""
    root = mini_codebook(edit={"elements/person.yaml": (
        "    constraint_message: Age between 0 and 120.",
        "    constraint_message: Age between 0 and 120.\n    relevant: \"scr_is_child\"")})
    error = only_error(root, "CB131")
    assert "person_age" in error.message and "scr_is_child" in error.message


def test_missing_label__is_required(mini_codebook):
    """should report an element without a label"""
    root = mini_codebook(edit={"elements/person.yaml": ("    label: Name\n", "")})
    error = only_error(root, "CB101")
    assert (error.element, error.line) == ("person_name", 3)
    assert "label" in error.message


def test_empty_label__is_reported(mini_codebook):
    """should report an element whose label is blank"""
    root = mini_codebook(edit={"elements/person.yaml": ("label: Name", 'label: "  "')})
    assert only_error(root, "CB140").element == "person_name"


def test_missing_sensitivity__is_required(mini_codebook):
    """should refuse an element with no sensitivity class"""
    root = mini_codebook(edit={"elements/person.yaml": ("    sensitivity: direct_identifier\n", "")})
    error = only_error(root, "CB101")
    assert "sensitivity" in error.message and error.element == "person_name"


def test_unknown_sensitivity__lists_the_classes(mini_codebook):
    """should refuse a sensitivity class codebook.yaml does not declare"""
    root = mini_codebook(edit={"elements/person.yaml": ("sensitivity: direct_identifier", "sensitivity: secret")})
    error = only_error(root, "CB121")
    assert "direct_identifier" in error.message


def test_unknown_level_and_purpose__are_reported(mini_codebook):
    """should refuse undeclared levels and consent purposes"""
    root = mini_codebook(edit={"elements/person.yaml": (
        "level: person\n    sensitivity: direct_identifier\n    consent: [service_referral]",
        "level: household\n    sensitivity: direct_identifier\n    consent: [marketing]")})
    assert sorted(e.code for e in errors_of(root)) == ["CB120", "CB122"]


def test_unknown_language__is_reported(mini_codebook):
    """should refuse a translation file that is not an ISO 639-1 language"""
    root = mini_codebook(replace={"translations/xx.yaml": "language: xx\nname: Nowhere\n"})
    error = only_error(root, "CB141")
    assert error.file == "translations/xx.yaml"


def test_translation_file_name__must_match_language(mini_codebook):
    """should refuse fr.yaml that declares another language"""
    root = mini_codebook(edit={"translations/fr.yaml": ("language: fr", "language: es")})
    assert only_error(root, "CB141").line == 1


def test_unknown_key__suggests_the_right_one(mini_codebook):
    """should name a misspelt key and suggest the intended one"""
    root = mini_codebook(edit={"elements/person.yaml": ("constraint_message:", "constraint_mesage:")})
    errors = errors_of(root)
    assert [e.code for e in errors] == ["CB103"]
    assert "constraint_message" in errors[0].message and errors[0].line == 16


def test_yaml_syntax_error__names_the_line(mini_codebook):
    """should report a YAML error with its file and line instead of a traceback"""
    root = mini_codebook(edit={"options/common.yaml": ("description: Sex", "description: [Sex")})
    error = only_error(root, "CB100")
    assert error.file == "options/common.yaml" and error.line is not None


def test_form_problems__are_reported(mini_codebook):
    """should report unknown elements, references outside the form and bad fixed values"""
    root = mini_codebook(edit={"forms/mini_form.yaml": (
        "  - element: scr_is_child\n",
        "  - element: scr_missing\n  - element: person_sex\n    fixed: other\n")})
    codes = sorted(e.code for e in errors_of(root))
    # scr_is_child gone: nothing refers to it; person_sex twice (CB151); fixed 'other' (CB153)
    assert codes == ["CB150", "CB151", "CB153"]


def test_reference_outside_form__is_reported(mini_codebook):
    """should report a form element whose logic needs an element the form lacks"""
    root = mini_codebook(edit={"forms/mini_form.yaml": ("      - element: person_age\n", "")})
    codes = [e.code for e in errors_of(root)]
    assert codes.count("CB152") >= 1


def test_unknown_standard_column__is_reported(mini_codebook):
    """should refuse a crosswalk naming a CTDC column that does not exist"""
    root = mini_codebook(edit={"elements/person.yaml": (
        "    required: true", "    required: true\n    crosswalk: {ctdc_gen1: [sexe]}")})
    assert only_error(root, "CB160").element == "person_sex"


def test_all_problems__are_reported_at_once(mini_codebook):
    """should collect every problem in one run rather than stopping at the first"""
    root = mini_codebook(edit={
        "elements/person.yaml": ("options: sex", "options: gender"),
        "elements/screening.yaml": ("level: screening", "level: nowhere"),
        "options/common.yaml": ("{code: male, label: Male}", "{code: female, label: Male}"),
    })
    assert sorted(e.code for e in errors_of(root)) == ["CB112", "CB113", "CB120"]
    with pytest.raises(CodebookInvalid) as caught:
        load_codebook(root)
    assert len([p for p in caught.value.problems if p.severity == "error"]) == 3


def test_missing_translation__lowers_coverage_and_warns(mini_codebook):
    """should count untranslated texts per language and warn, not fail"""
    root = mini_codebook(edit={"translations/fr.yaml": ("  person_name: {label: Nom}\n", "")})
    codebook, problems = check_codebook(root)
    coverage = translation_coverage(codebook)["fr"]
    assert (coverage.translated, coverage.total) == (coverage.total - 1, coverage.total)
    assert [p.code for p in problems] == ["CB143"]


def test_stale_translation__warns(mini_codebook):
    """should warn about a translation for an element that no longer exists"""
    root = mini_codebook(edit={"translations/fr.yaml": ("  person_name: {label: Nom}\n",
                                                       "  person_name: {label: Nom}\n  gone: {label: X}\n")})
    _, problems = check_codebook(root)
    assert [(p.code, p.severity) for p in problems] == [("CB142", "warning")]


def test_cli_validate__exits_1_and_prints_locations(mini_codebook):
    """should exit 1 and print file:line and the problem code for a bad codebook"""
    root = mini_codebook(edit={"elements/person.yaml": ("options: sex", "options: gender")})
    result = CliRunner().invoke(app, ["codebook", "validate", "--codebook", str(root)])
    assert result.exit_code == 1
    assert "elements/person.yaml:" in result.output and "CB112" in result.output


def test_cli_validate__reports_coverage(mini_codebook):
    """should print translation coverage per language for a valid codebook"""
    result = CliRunner().invoke(app, ["codebook", "validate", "--codebook", str(mini_codebook())])
    assert result.exit_code == 0, result.output
    assert "fr (Français)" in result.output and "100.0%" in result.output


def test_catalogue__every_code_has_a_fix():
    """should give every catalogued problem a name and a fix hint"""
    assert all(name and fix for name, fix in CATALOGUE.values())
