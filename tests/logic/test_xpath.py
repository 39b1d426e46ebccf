"""The XPath compiler: the exact XLSForm text each construct becomes."""

from __future__ import annotations

import pytest

from tipdata.logic import (
    FUNCTIONS,
    Call,
    Compare,
    LogicCompileError,
    Name,
    String,
    calculation_to_xpath,
    parse,
    to_xpath,
)

from .symbol_table import EXAMPLE_SYMBOLS, SYMBOLS


def xpath(text: str, self_name: str | None = None) -> str:
    self_symbol = SYMBOLS[self_name] if self_name else None
    return to_xpath(parse(text), SYMBOLS, self_symbol=self_symbol)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("age >= 18 and consent = 'yes'", "${age} >= 18 and ${consent} = 'yes'"),
        ("age < 5 or age > 60", "${age} < 5 or ${age} > 60"),
        ("not answered(name)", "not(string-length(${name}) > 0)"),
        ("age != 3", "${age} != 3"),
        ("weight / household > 1.5", "${weight} div ${household} > 1.5"),
        ("age mod 2 = 0", "${age} mod 2 = 0"),
        ("-age < 0", "-${age} < 0"),
        ("-(age + 1) * 2 > 0", "-(${age} + 1) * 2 > 0"),
        ("age - (household - 1) > 0", "${age} - (${household} - 1) > 0"),
        ("(age > 1) = (household > 1)", "(${age} > 1) = (${household} > 1)"),
        ('name = "it\'s"', '${name} = "it\'s"'),
        ("minor = true", "(${minor} = 'true') = true()"),
        ("false", "false()"),
    ],
)
def test_to_xpath__operators(text, expected):
    """should translate operators to XPath 1.0, with spaces and only the needed parentheses"""
    assert xpath(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("selected(means, 'debt')", "selected(${means}, 'debt')"),
        ("count_selected(means) > 1", "count-selected(${means}) > 1"),
        ("answered(location)", "string-length(${location}) > 0"),
        ("if(minor, age, household) > 1", "if((${minor} = 'true'), ${age}, ${household}) > 1"),
        ("dob <= today()", "${dob} <= today()"),
        (
            "age_in_years(dob) < 18",
            "format-date(today(), '%Y') - format-date(${dob}, '%Y') - "
            "if(format-date(today(), '%m%d') < format-date(${dob}, '%m%d'), 1, 0) < 18",
        ),
        (
            "days_between(dob, today()) > 30",
            "round(decimal-date-time(today()) - decimal-date-time(${dob})) > 30",
        ),
        (
            "days_between(seen_at, today()) > 30",
            "int(decimal-date-time(today()) - decimal-date-time(${seen_at})) > 30",
        ),
        (
            "count_true(minor, age > 5) >= 1",
            "(if((${minor} = 'true'), 1, 0) + if(${age} > 5, 1, 0)) >= 1",
        ),
        ("coalesce(age, household) > 1", "coalesce(${age}, ${household}) > 1"),
        ("int(weight) = 2", "int(${weight}) = 2"),
        (
            "round(weight, 2) > 1",
            "if(${weight} < 0, -(round(-${weight} * 100) div 100), "
            "round(${weight} * 100) div 100) > 1",
        ),
        (
            "round(weight, -1) > 1",
            "if(${weight} < 0, -(round(-${weight} div 10) * 10), round(${weight} div 10) * 10) > 1",
        ),
        ("round(weight, 0) > 1", "if(${weight} < 0, -(round(-${weight})), round(${weight})) > 1"),
        ("length(name) > 2", "string-length(${name}) > 2"),
        ("regex(name, '[a-z]+')", "regex(${name}, '^(?:[a-z]+)$')"),
    ],
)
def test_to_xpath__functions(text, expected):
    """should translate every function to JavaRosa/ODK XPath"""
    assert xpath(text) == expected


def test_to_xpath__every_catalogue_function_has_a_translation():
    """should compile the documented example of every function in the catalogue"""
    for spec in FUNCTIONS.values():
        assert to_xpath(parse(spec.example), EXAMPLE_SYMBOLS, self_symbol=SYMBOLS["name"])


def test_to_xpath__boolean_elements_read_the_stored_text():
    """should compare a boolean element with 'true', since XLSForm stores booleans as text"""
    assert xpath("minor and not minor") == "(${minor} = 'true') and not((${minor} = 'true'))"


def test_to_xpath__answered_reads_the_raw_value_even_for_booleans():
    """should test the stored value of a boolean, not its truth, in answered()"""
    assert xpath("answered(minor)") == "string-length(${minor}) > 0"


def test_to_xpath__answered_inside_a_comparison_is_parenthesized():
    """should keep `answered(a) = answered(b)` grouped after expansion"""
    assert xpath("answered(age) = answered(name)") == (
        "(string-length(${age}) > 0) = (string-length(${name}) > 0)"
    )


def test_to_xpath__date_literals_become_dates():
    """should wrap quoted dates in date() wherever a date is meant"""
    assert xpath("dob < '2020-01-31'") == "${dob} < date('2020-01-31')"
    assert xpath("'2020-01-31' = dob") == "date('2020-01-31') = ${dob}"
    assert xpath("coalesce(dob, '2020-01-01') < today()") == (
        "coalesce(${dob}, date('2020-01-01')) < today()"
    )
    assert xpath("age_in_years('2000-02-29') > 1").startswith(
        "format-date(today(), '%Y') - format-date(date('2000-02-29'), '%Y')"
    )


def test_to_xpath__datetimes_compare_as_decimal_days():
    """should compare date-times through decimal-date-time(), not by calendar day"""
    assert xpath("seen_at > dob") == "decimal-date-time(${seen_at}) > decimal-date-time(${dob})"
    assert xpath("seen_at <= '2024-06-01'") == (
        "decimal-date-time(${seen_at}) <= decimal-date-time(date('2024-06-01'))"
    )


def test_to_xpath__dot_uses_the_attached_element():
    """should compile `.` as `.`, reading a boolean `.` as text and a date `.` as a date"""
    assert xpath(". >= 0 and . <= 120", "age") == ". >= 0 and . <= 120"
    assert xpath(".", "minor") == "(. = 'true')"
    assert xpath(". > '2000-01-01'", "dob") == ". > date('2000-01-01')"
    assert xpath(". > '2000-01-01'", "seen_at") == (
        "decimal-date-time(.) > decimal-date-time(date('2000-01-01'))"
    )


def test_to_xpath__dot_without_an_element_compared_with_a_date_is_a_date():
    """should still wrap a quoted date compared with an untyped `.` in date()"""
    assert to_xpath(parse(". <= today() and . > '2000-01-01'"), SYMBOLS) == (
        ". <= today() and . > date('2000-01-01')"
    )


def test_to_xpath__refuses_expressions_that_do_not_check():
    """should raise LogicCompileError carrying every problem"""
    with pytest.raises(LogicCompileError) as caught:
        xpath("agee > 1 and consent = 'maybe'")
    assert [p.kind for p in caught.value.problems] == ["unknown_name", "unknown_option"]


def test_to_xpath__refuses_text_with_both_quotes():
    """should refuse a literal that XPath cannot quote (only possible in a built tree)"""
    tree = Compare("=", Name("name"), String('it\'s "x"'))
    with pytest.raises(LogicCompileError):
        to_xpath(tree, SYMBOLS)


def test_to_xpath__unknown_functions_in_a_built_tree_are_refused():
    """should raise rather than emit a function no engine knows"""
    with pytest.raises(LogicCompileError):
        to_xpath(Call("frobnicate", ()), SYMBOLS)


# ---- calculations --------------------------------------------------------------------------


def test_calculation_to_xpath__wraps_booleans_as_text():
    """should store a boolean calculation as 'true'/'false'"""
    assert calculation_to_xpath(parse("age < 18"), SYMBOLS, SYMBOLS["minor"]) == (
        "if(${age} < 18, 'true', 'false')"
    )
    assert calculation_to_xpath(parse("minor"), SYMBOLS, SYMBOLS["minor"]) == (
        "if((${minor} = 'true'), 'true', 'false')"
    )


def test_calculation_to_xpath__other_types_are_plain():
    """should leave number, text and option-code calculations unwrapped"""
    assert calculation_to_xpath(parse("age + 1"), SYMBOLS, SYMBOLS["household"]) == "${age} + 1"
    assert calculation_to_xpath(parse("if(minor, 'yes', 'no')"), SYMBOLS, SYMBOLS["consent"]) == (
        "if((${minor} = 'true'), 'yes', 'no')"
    )


def test_calculation_to_xpath__quoted_date_for_a_date_element():
    """should compute a quoted date as a date"""
    assert calculation_to_xpath(parse("'2000-01-31'"), SYMBOLS, SYMBOLS["dob"]) == (
        "date('2000-01-31')"
    )


def test_calculation_to_xpath__refuses_dot_and_misfits():
    """should raise for `.` in a calculation and for a result that does not fit"""
    with pytest.raises(LogicCompileError) as caught:
        calculation_to_xpath(parse(". + 1"), SYMBOLS, SYMBOLS["age"])
    assert caught.value.problems[0].kind == "context"
    with pytest.raises(LogicCompileError):
        calculation_to_xpath(parse("name"), SYMBOLS, SYMBOLS["age"])


def test_to_xpath__runs_of_spaces_are_split_so_pyxform_keeps_them():
    """should write 'a  b' as concat('a ', ' b'), since pyxform collapses repeated spaces"""
    assert xpath("name = 'a  b   c'") == "${name} = concat('a ', ' b ', ' ', ' c')"
    assert xpath("name = ' a b '") == "${name} = ' a b '"


def test_to_xpath__datetime_equality_spells_out_empty_sides():
    """should compare two date-times that may be empty as 'equal only if both are empty',
    because decimal-date-time('') is '' in JavaRosa but NaN in ODK Web Forms"""
    assert xpath("seen_at = dob") == (
        "if(string-length(${seen_at}) > 0 and string-length(${dob}) > 0, "
        "decimal-date-time(${seen_at}) = decimal-date-time(${dob}), "
        "string-length(${seen_at}) = 0 and string-length(${dob}) = 0)"
    )
    assert xpath("seen_at != today()") == (
        "decimal-date-time(${seen_at}) != decimal-date-time(today())"
    )
