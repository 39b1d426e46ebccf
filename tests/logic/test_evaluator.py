"""The Python evaluator: values, functions and the empty-value rules of the compiled XPath."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal

import pytest

from tipdata.logic import LogicCompileError, Symbol, evaluate, parse

from .symbol_table import SYMBOLS

TODAY = date(2025, 5, 1)


def run(text: str, values: dict | None = None, *, typed: bool = True, **kwargs) -> object:
    extra = {"symbols": SYMBOLS} if typed else {}
    return evaluate(parse(text), values or {}, today=TODAY, **extra, **kwargs)


def is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


# ---- answered values -----------------------------------------------------------------------


def test_evaluate__conditions_over_answered_values():
    """should evaluate comparisons, and/or/not and selected() on canonical values"""
    values = {"age": 17, "consent": "yes", "means": ["debt", "threats"], "minor": True}
    assert run("age < 18 and consent = 'yes' and selected(means, 'threats')", values) is True
    assert run("not minor or count_selected(means) > 2", values) is False


def test_evaluate__arithmetic_gives_ints_for_whole_numbers():
    """should return 18 (int) for age + 1 and 2.5 (float) for a fraction"""
    assert run("age + 1", {"age": 17}) == 18 and isinstance(run("age + 1", {"age": 17}), int)
    assert run("weight / 2", {"weight": Decimal("5")}) == 2.5
    assert run("age mod 5", {"age": -7}) == -2
    assert run("-age", {"age": 3}) == -3


def test_evaluate__division_by_zero_is_infinity_or_nan():
    """should follow IEEE doubles: 1 div 0 is Infinity, 0 div 0 is NaN, x mod 0 is NaN"""
    assert run("age / 0", {"age": 1}) == math.inf
    assert run("age / 0", {"age": -1}) == -math.inf
    assert is_nan(run("age / 0", {"age": 0}))
    assert is_nan(run("age mod 0", {"age": 3}))


def test_evaluate__numbers_are_equal_within_a_tolerance():
    """should find 0.1 + 0.2 = 0.3 true, as JavaRosa compares within 1e-12"""
    assert run("weight + 0.2 = 0.3", {"weight": 0.1}) is True


def test_evaluate__select_multiple_accepts_lists_tuples_and_frozensets():
    """should treat any collection of codes as the ticked options"""
    for ticked in (["debt"], ("debt", "threats"), frozenset({"debt"})):
        assert run("selected(means, 'debt')", {"means": ticked}) is True
    assert run("selected(means, 'threats')", {"means": ["debt"]}) is False


def test_evaluate__selected_works_on_select_one_and_dot():
    """should test a select_one's single code, including through `.`"""
    assert run("selected(consent, 'yes')", {"consent": "yes"}) is True
    assert run("selected(., 'no')", {}, self_value="yes", self_symbol=SYMBOLS["consent"]) is False


def test_evaluate__dot_is_the_self_value():
    """should read `.` from self_value in a constraint"""
    assert run(". >= 0 and . <= 120", self_value=130, self_symbol=SYMBOLS["age"]) is False
    assert run(". >= 0 and . <= 120", self_value=30, typed=False) is True


# ---- functions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "years"),
    [
        (date(2007, 5, 1), 18),  # 18th birthday today
        (date(2007, 5, 2), 17),  # tomorrow
        (date(2007, 4, 30), 18),
        (date(2000, 2, 29), 25),
        (datetime(2007, 5, 1, 23, 59), 18),
    ],
)
def test_evaluate__age_in_years_counts_birthdays_on_the_day(born, years):
    """should count whole calendar years, turning 18 on the 18th birthday itself"""
    assert run("age_in_years(dob)", {"dob": born}, typed=False) == years


def test_evaluate__age_in_years_of_a_quoted_date():
    """should read a quoted date as a date"""
    assert run("age_in_years('2000-05-02')") == 24


def test_evaluate__days_between_is_signed_whole_days():
    """should give d2 - d1 in days, negative when d2 is earlier"""
    assert run("days_between(dob, today())", {"dob": date(2025, 4, 1)}) == 30
    assert run("days_between(today(), dob)", {"dob": date(2025, 4, 1)}) == -30
    assert run("days_between('2024-02-28', '2024-03-01')") == 2


def test_evaluate__days_between_date_times_truncates_partial_days():
    """should count whole elapsed days when a date-time is involved"""
    values = {"seen_at": datetime(2025, 4, 29, 18, 0)}
    assert run("days_between(seen_at, today())", values) == 1


def test_evaluate__today_defaults_to_the_real_date():
    """should use date.today() when no date is given"""
    assert evaluate(parse("today()"), {}) == date.today()


def test_evaluate__count_true_counts_conditions_that_hold():
    """should count true arguments; an unanswered boolean is not true"""
    values = {"minor": True, "age": 3}
    assert run("count_true(minor, age > 5, answered(name), not minor)", values) == 1
    assert run("count_true(minor)", {}) == 0


def test_evaluate__coalesce_skips_empty_values():
    """should return the second value when the first is unanswered or NaN"""
    assert run("coalesce(age, household)", {"household": 4}) == 4
    assert run("coalesce(age, household)", {"age": 0, "household": 4}) == 0
    assert run("coalesce(age + 1, 7)", {}) == 7
    assert run("coalesce(name, 'none')", {"name": ""}) == "none"


def test_evaluate__int_truncates_towards_zero():
    """should drop the fraction: int(2.7) is 2 and int(-2.7) is -2"""
    assert run("int(weight)", {"weight": 2.7}) == 2
    assert run("int(weight)", {"weight": -2.7}) == -2


@pytest.mark.parametrize(
    ("text", "weight", "expected"),
    [
        ("round(weight, 0)", 2.5, 3),
        ("round(weight, 0)", -2.5, -3),
        ("round(weight, 1)", 0.25, 0.3),
        ("round(weight, 1)", -0.25, -0.3),
        ("round(weight, 2)", 1.005, 1.0),  # 1.005 is 1.00499999999999989... as a double
        ("round(weight, -1)", 15, 20),
        ("round(weight, -2)", -1250, -1300),
    ],
)
def test_evaluate__round_rounds_halves_away_from_zero(text, weight, expected):
    """should round halves away from zero, on the binary value, as the compiled form does"""
    assert run(text, {"weight": weight}) == expected


def test_evaluate__length_counts_utf16_units():
    """should count characters as Java and JavaScript do: an emoji is two"""
    assert run("length(name)", {"name": "Zoë"}) == 3
    assert run("length(name)", {"name": "ok\U0001f600"}) == 4


def test_evaluate__regex_matches_the_whole_text():
    """should match the whole text, not a part of it"""
    assert run("regex(name, '[a-z]+')", {"name": "abc"}) is True
    assert run("regex(name, '[a-z]+')", {"name": "abc1"}) is False
    assert run("regex(name, 'b')", {"name": "abc"}) is False
    assert run("regex(name, 'a|bc')", {"name": "bc"}) is True


def test_evaluate__if_evaluates_only_the_chosen_branch():
    """should never evaluate the branch not taken (here an invalid regex would raise)"""
    assert run("if(true, 1, if(regex(name, '['), 2, 3))") == 1
    with pytest.raises(re.error):
        run("if(false, 1, if(regex(name, '['), 2, 3))")


def test_evaluate__date_comparisons_use_dates():
    """should compare dates with quoted dates and date-times to the second"""
    assert run("dob < '2020-01-01'", {"dob": date(2019, 12, 31)}) is True
    assert run("dob = '2019-12-31'", {"dob": date(2019, 12, 31)}) is True
    later = {"seen_at": datetime(2024, 6, 1, 10, 0), "dob": date(2024, 6, 1)}
    assert run("seen_at > dob", later) is True
    assert run("seen_at > '2024-06-01'", later) is True


def test_evaluate__if_with_quoted_dates_gives_dates():
    """should read quoted branches of a date-valued coalesce() as dates"""
    assert run("coalesce(dob, '2020-01-01')") == date(2020, 1, 1)
    assert run("coalesce(dob, '2020-01-01') < today()") is True


# ---- empty values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'a'", False),
        ("name != 'a'", True),
        ("name = ''", True),
        ("consent = 'yes'", False),
        ("consent != 'yes'", True),
        ("age = 5", False),
        ("age != 5", True),
        ("age < 5", False),
        ("age >= 5", False),
        ("dob < '2024-01-01'", False),
        ("dob != '2024-01-01'", True),
        ("selected(means, 'debt')", False),
        ("count_selected(means)", 0),
        ("answered(name)", False),
        ("answered(minor)", False),
        ("length(name)", 0),
        ("regex(name, 'a*')", True),
        ("minor", False),
        ("not minor", True),
        ("coalesce(age, 3)", 3),
        ("name", None),
        ("if(answered(age), age, -1)", -1),
    ],
)
def test_evaluate__empty_values_follow_xpath(text, expected):
    """should treat an unanswered element as XPath's empty string"""
    assert run(text, {}) == expected


@pytest.mark.parametrize(
    "text",
    [
        "age + 1",
        "-age",
        "weight * 2",
        "int(weight)",
        "round(weight, 1)",
        "age_in_years(dob)",
        "days_between(dob, today())",
    ],
)
def test_evaluate__arithmetic_with_empty_values_is_nan(text):
    """should give NaN for any arithmetic on an unanswered number or date"""
    assert is_nan(run(text, {}))


def test_evaluate__empty_forms_of_values_are_all_unanswered():
    """should treat None, '', an empty list and a missing code alike"""
    for values in ({"name": None}, {"name": ""}, {}):
        assert run("answered(name)", values) is False
    assert run("answered(means)", {"means": []}) is False


def test_evaluate__false_boolean_counts_as_answered():
    """should see a stored 'false' as an answer, as string-length('false') > 0"""
    assert run("answered(minor)", {"minor": False}) is True
    assert run("minor", {"minor": False}) is False


def test_evaluate__without_symbols_an_unanswered_boolean_result_is_none():
    """should return None (not False) for an untyped, unanswered boolean used as the result"""
    assert run("minor", {}, typed=False) is None
    assert run("minor or false", {}, typed=False) is False


def test_evaluate__symbols_coerce_text_values_to_their_type():
    """should read '12' as a number and '2020-01-31' as a date when the symbols say so"""
    assert run("age + 1", {"age": "12"}) == 13
    assert run("dob < '2020-02-01'", {"dob": "2020-01-31"}) is True
    assert run("minor", {"minor": "true"}) is True


def test_evaluate__text_never_becomes_a_number_unless_it_is_digits():
    """should read '1e3' and 'ten' as NaN, and '1,5' as 1.5, as JavaRosa does"""
    loose = {"x": Symbol("x", "decimal")}
    assert is_nan(evaluate(parse("x + 0"), {"x": "1e3"}, symbols=loose))
    assert is_nan(evaluate(parse("x + 0"), {"x": "ten"}, symbols=loose))
    assert evaluate(parse("x + 0"), {"x": "1,5"}, symbols=loose) == 1.5


# ---- what cannot be evaluated --------------------------------------------------------------


def test_evaluate__unknown_functions_and_wrong_arity_raise():
    """should raise LogicCompileError for calls that have no value at all"""
    with pytest.raises(LogicCompileError):
        run("frob(age)")
    with pytest.raises(LogicCompileError):
        run("selected(means)")


def test_evaluate__unknown_elements_are_unanswered():
    """should evaluate a name without a value or symbol as empty"""
    assert run("answered(nowhere)", {}, typed=False) is False


def test_evaluate__two_empty_datetimes_are_equal():
    """should find two unanswered date-times equal, and one unanswered unequal to an answer"""
    assert run("seen_at = seen_at", {}) is True
    assert run("seen_at != dob", {"dob": date(2024, 1, 1)}) is True
    assert run("seen_at = dob", {"seen_at": datetime(2024, 1, 1), "dob": date(2024, 1, 1)}) is True
