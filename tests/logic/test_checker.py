"""The checker: every problem kind, all problems at once, contexts and calculation results."""

from __future__ import annotations

import pytest

from tipdata.logic import ExprType, LogicProblem, Symbol, check, check_text, parse

from .symbol_table import SYMBOLS


def problems(text: str, context: str = "relevant", self_name: str | None = None) -> list:
    self_symbol = SYMBOLS[self_name] if self_name else None
    return check_text(text, SYMBOLS, context, self_symbol)  # type: ignore[arg-type]


def kinds(text: str, context: str = "relevant", self_name: str | None = None) -> list[str]:
    return [p.kind for p in problems(text, context, self_name)]


def only(text: str, context: str = "relevant", self_name: str | None = None) -> LogicProblem:
    found = problems(text, context, self_name)
    assert len(found) == 1, found
    return found[0]


# ---- clean expressions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "age >= 18 and consent = 'yes'",
        "minor",
        "not minor or weight / household > 2.5",
        "selected(means, 'debt') and count_selected(means) >= 2",
        "answered(name) and length(name) > 1 and regex(name, '[a-z]+')",
        "dob < '2020-01-01' and dob <= today() and seen_at > dob",
        "age_in_years(dob) < 18 and days_between(dob, today()) > 30",
        "count_true(minor, answered(location), selected(consent, 'no')) = 2",
        "coalesce(age, household) + int(weight) - round(weight, 1) mod 2 > -1",
        "if(minor, 'yes', 'no') = consent",
        "name = 'x' or name != \"it's\"",
        "minor = true and answered(location)",
    ],
)
def test_check__well_typed_relevance_has_no_problems(text):
    """should accept well-typed conditions and report nothing"""
    assert problems(text) == []


def test_check__returns_the_expression_type():
    """should give if() with two option-code literals a text type that remembers the codes"""
    result, found = check(parse("if(minor, 'yes', 'no')"), SYMBOLS, "calculation", None)
    assert found == []
    assert result == ExprType("text", literals=frozenset({"yes", "no"}))


# ---- each kind of problem ------------------------------------------------------------------


def test_check_text__syntax_error_is_a_problem_not_an_exception():
    """should report a syntax problem with its column instead of raising"""
    problem = only("age >")
    assert problem.kind == "syntax" and problem.column == 6


def test_check__unknown_element_suggests_a_close_name():
    """should name the unknown element and suggest the closest known one"""
    problem = only("agee > 18")
    assert problem == LogicProblem(
        "unknown_name", "unknown element 'agee'; did you mean 'age'?", 1, "agee"
    )


def test_check__unknown_function_suggests_a_close_function():
    """should report an unknown function as unknown_name with a suggestion"""
    problem = only("selectd(means, 'debt')")
    assert problem.kind == "unknown_name" and problem.name == "selectd"
    assert "did you mean selected()?" in problem.message


def test_check__function_name_without_parentheses_is_explained():
    """should say `today` is a function to be written today()"""
    assert "write today()" in only("dob < today").message


def test_check__select_one_compared_with_an_unknown_code():
    """should report unknown_option naming the element and its valid codes"""
    problem = only("consent = 'maybe'")
    assert problem == LogicProblem(
        "unknown_option",
        "'maybe' is not an option of 'consent'; valid codes: no, yes",
        11,
        "consent",
    )


def test_check__selected_with_an_unknown_code():
    """should check the code given to selected() against the element's list"""
    problem = only("selected(means, 'debts')")
    assert problem.kind == "unknown_option" and problem.column == 17
    assert "valid codes: debt, documents, threats" in problem.message


def test_check__equals_on_select_multiple_points_to_selected():
    """should refuse `means = 'debt'` and tell the author to use selected()"""
    problem = only("means = 'debt'")
    assert problem.kind == "type" and "selected(means, 'code')" in problem.message


def test_check__arithmetic_needs_numbers():
    """should refuse text and dates in arithmetic, with a hint for dates"""
    assert only("name + 1 > 2").message == "'+' needs a number, but 'name' is text"
    assert "days_between" in only("dob - 1 > 2").message


def test_check__dates_compare_with_dates_or_iso_literals():
    """should accept a YYYY-MM-DD literal and refuse an impossible date"""
    assert problems("dob > '2024-02-29'") == []
    problem = only("dob > '2023-02-29'")
    assert problem.kind == "type" and "'YYYY-MM-DD'" in problem.message


def test_check__text_and_options_have_no_order():
    """should refuse `<` between texts and between option codes"""
    assert "no order" in only("name < 'b'").message
    assert "no order" in only("consent > 'no'").message


def test_check__number_compared_with_quoted_text_is_explained():
    """should tell the author numbers are written without quotes"""
    assert "without quotes" in only("age = '5'").message


def test_check__select_one_compared_with_a_number_is_explained():
    """should tell the author option codes are quoted"""
    assert "option codes are quoted" in only("consent = 1").message


def test_check__wrong_argument_count_is_arity():
    """should report arity with the function's signature"""
    problem = only("selected(means)")
    assert problem == LogicProblem(
        "arity",
        "selected() takes 2 arguments, selected(name, 'code'), but got 1",
        1,
        "selected",
    )
    assert kinds("count_true() = 0") == ["arity"]
    assert kinds("today(1) = dob") == ["arity"]


def test_check__boolean_elements_are_conditions_but_yes_no_selects_are_not():
    """should accept `minor` as a condition and explain how to test a select_one"""
    assert problems("minor and not minor") == []
    problem = only("consent")
    assert problem.kind == "type" and "consent = 'no'" in problem.message


def test_check__relevance_must_be_a_condition():
    """should refuse a number as a relevant expression"""
    problem = only("age + 1")
    assert problem.kind == "type"
    assert problem.message.startswith("a relevant expression must be a condition")


def test_check__geopoint_can_only_be_answered():
    """should accept answered(location) and refuse comparing it"""
    assert problems("answered(location)") == []
    assert "answered(location)" in only("location = '1 2 3 4'").message


def test_check__coalesce_refuses_conditions():
    """should refuse coalesce() of conditions, which are never empty"""
    found = problems("coalesce(minor, false)", "calculation", "minor")
    assert [p.column for p in found] == [10, 17]
    assert all("a condition is never empty" in p.message for p in found)


def test_check__if_branches_must_agree():
    """should refuse if() whose branches have different types"""
    problem = only("if(minor, age, name) = 1")
    assert problem.kind == "type" and "one type" in problem.message


def test_check__selected_needs_an_element_and_a_quoted_code():
    """should refuse an expression as the element and a name as the code"""
    assert "element name" in only("selected(if(minor, consent, consent), 'yes')").message
    assert "quoted option code" in only("selected(means, name)").message


def test_check__round_needs_literal_decimal_places():
    """should require a whole-number literal for round()'s decimal places"""
    assert problems("round(weight, -2) > 0") == []
    assert "whole number of decimal places" in only("round(weight, age) > 0").message
    assert "whole number of decimal places" in only("round(weight, 1.5) > 0").message


def test_check__invalid_regex_is_a_syntax_problem():
    """should compile the pattern and report it as a syntax problem at the pattern"""
    problem = only("regex(name, '[a-z')")
    assert problem.kind == "syntax" and problem.column == 13


def test_check__quoted_xlsform_reference_is_refused():
    """should refuse quoted text containing ${, which pyxform would substitute"""
    assert only("name = '${age}'").kind == "syntax"


# ---- contexts ------------------------------------------------------------------------------


def test_check__dot_in_a_calculation_is_a_context_problem():
    """should refuse `.` in a calculation"""
    problem = only(". + 1", "calculation", "age")
    assert problem.kind == "context" and problem.column == 1


def test_check__dot_takes_the_type_of_the_element_it_is_attached_to():
    """should type `.` as the element of a constraint"""
    assert problems(". >= 0 and . <= 120", "constraint", "age") == []
    assert problems("selected(., 'debt')", "constraint", "means") == []
    assert problems("regex(., '[a-z]+')", "constraint", "name") == []
    assert kinds(". = 'x'", "constraint", "age") == ["type"]


def test_check__dot_without_an_element_is_a_context_problem():
    """should refuse `.` when no element is given"""
    assert kinds(". > 1", "constraint") == ["context"]


@pytest.mark.parametrize("context", ["relevant", "constraint", "required"])
def test_check__conditions_are_required_outside_calculations(context):
    """should refuse a text value as relevant, constraint or required"""
    problem = only("name", context, "name")
    assert problem.kind == "type" and problem.message.startswith(f"a {context} expression")


# ---- calculation results -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "text"),
    [
        ("age", "coalesce(household, 0) + 1"),
        ("weight", "age / 2"),
        ("minor", "age < 18"),
        ("consent", "if(minor, 'yes', 'no')"),
        ("consent", "consent"),
        ("means", "'debt threats'"),
        ("name", "age"),
        ("name", "if(minor, 'child', 'adult')"),
        ("dob", "'2000-01-31'"),
        ("seen_at", "dob"),
    ],
)
def test_check__calculation_results_that_fit_their_element(element, text):
    """should accept a calculation whose value fits the element's type"""
    assert problems(text, "calculation", element) == []


@pytest.mark.parametrize(
    ("element", "text", "kind"),
    [
        ("age", "name", "type"),
        ("minor", "age", "type"),
        ("consent", "if(minor, 'yes', 'perhaps')", "unknown_option"),
        ("means", "'debt bribes'", "unknown_option"),
        ("dob", "'31/01/2000'", "type"),
        ("location", "name", "type"),
    ],
)
def test_check__calculation_results_that_do_not_fit_their_element(element, text, kind):
    """should refuse a calculation whose value cannot be stored in the element"""
    assert kinds(text, "calculation", element) == [kind]


def test_check__calculation_message_names_the_element_and_what_it_needs():
    """should say which element the calculation is for and what it must produce"""
    assert only("age < 18", "calculation", "age").message == (
        "the calculation of 'age' (integer) must produce a number, but 'age < 18' is a "
        "condition (true or false)"
    )


# ---- collecting ----------------------------------------------------------------------------


def test_check__collects_every_problem_in_source_order():
    """should report all problems of one expression at once, left to right"""
    found = problems("agee > 1 and frob(1) and selected(means, 'debtt') and name + 1")
    assert [(p.kind, p.column) for p in found] == [
        ("unknown_name", 1),
        ("unknown_name", 14),
        ("unknown_option", 42),
        ("type", 55),
        ("type", 55),
    ]


def test_check__an_unknown_name_does_not_cascade_into_type_errors():
    """should report only the unknown name, not the comparison it sits in"""
    assert kinds("nme = 'x' and nme + 1 > 2") == ["unknown_name", "unknown_name"]


def test_check__symbols_without_options_skip_option_checks():
    """should not invent option problems when the option list is not known"""
    loose = {"status": Symbol("status", "select_one")}
    assert check_text("status = 'anything'", loose, "relevant", None) == []


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        ("'l\u2019enfant'", "curly quotes"),
        ("'a\tb'", "tabs or line breaks"),
        ("'line\nbreak'", "tabs or line breaks"),
    ],
)
def test_check__text_that_cannot_reach_the_form_intact_is_refused(literal, reason):
    """should refuse quoted text that pyxform or XML would alter"""
    problem = only(f"name = {literal}")
    assert problem.kind == "syntax" and reason in problem.message
