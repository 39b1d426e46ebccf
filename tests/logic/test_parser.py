"""The parser: precedence, literals, the tree it builds, and where it says a mistake is."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tipdata.logic import (
    Arithmetic,
    Boolean,
    Call,
    Compare,
    Logical,
    LogicSyntaxError,
    Name,
    Negate,
    Not,
    Number,
    SelfRef,
    String,
    parse,
    references,
    to_text,
)

a, b, c = Name("a"), Name("b"), Name("c")


def syntax_error(text: str) -> tuple[int | None, str]:
    with pytest.raises(LogicSyntaxError) as caught:
        parse(text)
    assert caught.value.problem.kind == "syntax"
    return caught.value.problem.column, caught.value.problem.message


# ---- precedence ----------------------------------------------------------------------------


def test_parse__and_binds_tighter_than_or():
    """should read `a or b and c` as `a or (b and c)`"""
    assert parse("a or b and c") == Logical("or", a, Logical("and", b, c))


def test_parse__not_binds_looser_than_comparison():
    """should read `not a = b` as `not (a = b)`"""
    assert parse("not a = b") == Not(Compare("=", a, b))


def test_parse__not_binds_tighter_than_and():
    """should read `not a and b` as `(not a) and b`"""
    assert parse("not a and b") == Logical("and", Not(a), b)


def test_parse__comparison_binds_looser_than_arithmetic():
    """should read `a + 1 > b * 2` as `(a + 1) > (b * 2)`"""
    assert parse("a + 1 > b * 2") == Compare(
        ">", Arithmetic("+", a, Number(1)), Arithmetic("*", b, Number(2))
    )


def test_parse__multiplication_binds_tighter_than_addition():
    """should read `a + b * c` as `a + (b * c)`"""
    assert parse("a + b * c") == Arithmetic("+", a, Arithmetic("*", b, c))


def test_parse__mod_is_a_multiplicative_operator():
    """should give `mod` the precedence of `*` and `/`"""
    assert parse("a + b mod c") == Arithmetic("+", a, Arithmetic("mod", b, c))


def test_parse__subtraction_groups_from_the_left():
    """should read `a - b - c` as `(a - b) - c`"""
    assert parse("a - b - c") == Arithmetic("-", Arithmetic("-", a, b), c)


def test_parse__unary_minus_binds_tightest():
    """should read `-a * b` as `(-a) * b` and `a - -1` as `a - (-1)`"""
    assert parse("-a * b") == Arithmetic("*", Negate(a), b)
    assert parse("a - -1") == Arithmetic("-", a, Negate(Number(1)))


def test_parse__parentheses_override_precedence():
    """should read `(a or b) and c` with the `or` inside"""
    assert parse("(a or b) and c") == Logical("and", Logical("or", a, b), c)


# ---- atoms ---------------------------------------------------------------------------------


def test_parse__literals():
    """should read integers, decimals, both quote styles, true, false and `.`"""
    assert parse("12") == Number(12)
    assert parse("1.50") == Number(Decimal("1.50"))
    assert parse("'it is'") == String("it is")
    assert parse('"it\'s"') == String("it's")
    assert parse("true") == Boolean(True)
    assert parse("false") == Boolean(False)
    assert parse(".") == SelfRef()


def test_parse__function_calls_with_zero_one_or_many_arguments():
    """should read calls generically, leaving the function name to the checker"""
    assert parse("today()") == Call("today", ())
    assert parse("selected(means, 'debt')") == Call("selected", (Name("means"), String("debt")))
    assert parse("count_true(a, b, c)") == Call("count_true", (a, b, c))
    assert parse("no_such(1)") == Call("no_such", (Number(1),))


def test_parse__names_that_start_with_keywords_are_names():
    """should read `orange`, `andy`, `notable`, `modulo` and `true_count` as element names"""
    assert parse("orange or andy") == Logical("or", Name("orange"), Name("andy"))
    assert parse("not notable") == Not(Name("notable"))
    assert parse("modulo mod true_count") == Arithmetic("mod", Name("modulo"), Name("true_count"))


def test_parse__columns_are_recorded_but_ignored_by_equality():
    """should keep 1-based start columns for messages without making trees unequal"""
    tree = parse("age >= 18 and  consent = 'yes'")
    assert tree.column == 1 and tree.op_column == 11
    assert tree.right.column == 16 and tree.right.right.column == 26
    assert tree == Logical(
        "and",
        Compare(">=", Name("age"), Number(18)),
        Compare("=", Name("consent"), String("yes")),
    )


def test_parse__whitespace_and_newlines_are_ignored():
    """should accept an expression spread over several lines as YAML block scalars give it"""
    assert parse("a\n  and\tb\n") == Logical("and", a, b)


def test_references__lists_element_names_but_not_dot_or_functions():
    """should return every element code read, for dependency and cycle checks"""
    tree = parse("selected(means, 'debt') and age_in_years(dob) < 18 and . > age")
    assert references(tree) == frozenset({"means", "dob", "age"})


def test_to_text__round_trips_with_minimal_parentheses():
    """should print a tree back as text that parses to the same tree"""
    for text in ("a - (b - c)", "not (a and b)", "-(a + 1) * 2 > b", "(a = b) = (c < 1)"):
        assert to_text(parse(text)) == text
        assert parse(to_text(parse(text))) == parse(text)


# ---- errors --------------------------------------------------------------------------------


def test_parse__double_equals_points_at_the_second_equals_sign():
    """should say to use a single '=' and point at the second '='"""
    column, message = syntax_error("age == 18")
    assert column == 6 and "single '='" in message


def test_parse__chained_comparison_is_an_error():
    """should reject `a < b < c` and suggest joining with 'and'"""
    column, message = syntax_error("a < b < c")
    assert column == 7 and "cannot be chained" in message


def test_parse__unclosed_quote_points_at_the_quote():
    """should point at the opening quote of an unterminated text"""
    column, message = syntax_error("name = 'abc")
    assert column == 8 and "no closing '" in message


def test_parse__missing_closing_parenthesis_points_past_the_end():
    """should say a ')' is missing and point just after the text"""
    column, message = syntax_error("(a or b")
    assert column == 8 and "')'" in message


def test_parse__dangling_operator_says_a_value_was_expected():
    """should point after `age +` and say a value was expected"""
    column, message = syntax_error("age +")
    assert column == 6 and "expected a value" in message


def test_parse__xlsform_references_are_explained():
    """should say element codes are written without ${...}"""
    column, message = syntax_error("${age} > 1")
    assert column == 1 and "without ${...}" in message


def test_parse__c_style_operators_are_explained():
    """should suggest 'and', 'or', 'not' and '!=' for &&, ||, ! and <>"""
    assert "use 'and'" in syntax_error("a && b")[1]
    assert "use 'or'" in syntax_error("a || b")[1]
    assert "not x" in syntax_error("!a")[1]
    assert "'!='" in syntax_error("a <> b")[1]


def test_parse__uppercase_is_rejected_with_a_reason():
    """should explain that names and keywords are lowercase"""
    column, message = syntax_error("age > 1 AND b")
    assert column == 9 and "lowercase" in message


def test_parse__keyword_where_a_value_belongs_is_an_error():
    """should reject `a and or b` at the 'or', not read 'or' as a name"""
    column, message = syntax_error("a and or b")
    assert column == 7 and "'or'" in message


def test_parse__leading_dot_decimal_is_explained():
    """should ask for digits on both sides of the decimal point"""
    assert "0.5" in syntax_error("x > .5")[1]


def test_parse__empty_expression_is_an_error():
    """should reject an empty or blank expression"""
    column, message = syntax_error("   ")
    assert column == 1 and "empty" in message


def test_parse__two_values_in_a_row_say_an_operator_was_expected():
    """should point at the second value and name what could have come instead"""
    column, message = syntax_error("age 18")
    assert column == 5 and "an operator" in message and "number 18" in message


def test_parse__positions_count_through_line_breaks():
    """should give positions in the whole text, so a multi-line expression stays unambiguous"""
    assert parse("a and\n  b").right.column == 9
    with pytest.raises(LogicSyntaxError) as caught:
        parse("a and\n  b ==  c")
    assert caught.value.problem.column == 12
