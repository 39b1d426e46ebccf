"""JavaRosa's value rules, as copied by the evaluator: conversions, comparisons, rounding."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest

from tipdata.logic import xpath_runtime as rt

NAN = float("nan")


@pytest.mark.parametrize(
    ("text", "number"),
    [("12", 12.0), (" 12 ", 12.0), ("-1.5", -1.5), ("1,5", 1.5), (".5", 0.5), ("5.", 5.0)],
)
def test_to_number__digit_text_becomes_a_number(text, number):
    """should read digits, '-', '.' (and ',' as '.') as a number"""
    assert rt.to_number(text) == number


@pytest.mark.parametrize("text", ["", "-", ".", "1e3", "Infinity", "NaN", "1-2", "ten", "1 2"])
def test_to_number__other_text_is_nan(text):
    """should read anything else, the empty string included, as NaN"""
    assert math.isnan(rt.to_number(text))


def test_to_number__booleans_and_dates():
    """should read true as 1 and a date (or date-time) as whole days since 1970-01-01"""
    assert rt.to_number(True) == 1.0 and rt.to_number(False) == 0.0
    assert rt.to_number(date(1970, 1, 3)) == 2.0
    assert rt.to_number(datetime(1970, 1, 3, 23, 0)) == 2.0


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (2.0, "2"),
        (-0.0, "0"),
        (1e-13, "0"),
        (2.5, "2.5"),
        (NAN, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (1e10, "1.0E10"),  # beyond Java's int range, so not printed as a whole number
        (1.5e-4, "1.5E-4"),
    ],
)
def test_to_string__numbers_print_as_javarosa_prints_them(number, text):
    """should print whole numbers without a point and the rest as Java's Double.toString"""
    assert rt.to_string(number) == text


def test_to_string__dates_and_booleans():
    """should print dates (and date-times) as YYYY-MM-DD and booleans as true/false"""
    assert rt.to_string(date(2024, 2, 29)) == "2024-02-29"
    assert rt.to_string(datetime(2024, 2, 29, 13, 5)) == "2024-02-29"
    assert rt.to_string(True) == "true"


def test_to_boolean__empty_zero_and_nan_are_false():
    """should make '', 0 and NaN false and any other text, number or date true"""
    assert [rt.to_boolean(v) for v in ("", 0.0, NAN, "false", 2.0, date(2000, 1, 1))] == [
        False,
        False,
        False,
        True,
        True,
        True,
    ]


def test_equals__booleans_win_then_numbers_then_text():
    """should compare as booleans if either side is one, else as numbers, else as text"""
    assert rt.equals(True, "x") is True
    assert rt.equals(False, "") is True
    assert rt.equals("5", 5.0) is True
    assert rt.equals("05", "5") is False
    assert rt.equals("", NAN) is False
    assert rt.equals(date(2024, 1, 1), "2024-01-01") is True


def test_equals__infinity_is_not_equal_to_itself():
    """should follow JavaRosa's |a - b| < 1e-12 test, which Infinity fails"""
    assert rt.equals(math.inf, math.inf) is False


def test_order__compares_numbers_only():
    """should order dates by day, and treat text as NaN (never ordered)"""
    assert rt.order("<", date(2024, 1, 1), date(2024, 1, 2)) is True
    assert rt.order("<", "a", "b") is False
    assert rt.order(">=", "", 0.0) is False


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (2.5, 0, 3.0),
        (-2.5, 0, -2.0),  # JavaRosa: half down for negatives
        (1.005, 2, 1.01),  # JavaRosa rounds the decimal text of the double
        (33.33, -1, 30.0),
        (5.0, 31, NAN),
    ],
)
def test_round_half__mirrors_javarosa(value, places, expected):
    """should round exactly as JavaRosa's round(x, n) does"""
    result = rt.round_half(value, float(places))
    assert result == expected or (math.isnan(result) and math.isnan(expected))


def test_to_int__truncates_and_keeps_nan():
    """should truncate towards zero and pass NaN and Infinity through"""
    assert rt.to_int(-2.7) == -2.0
    assert math.isnan(rt.to_int(""))
    assert rt.to_int(math.inf) == math.inf


def test_selected_and_count_selected__split_on_spaces():
    """should find codes between spaces only, and count none in an empty answer"""
    assert rt.selected("debt threats", "threats") is True
    assert rt.selected("debts", "debt") is False
    assert rt.count_selected("") == 0.0
    assert rt.count_selected("a  b") == 2.0


def test_decimal_date_time__days_with_a_time_fraction():
    """should give days since 1970-01-01 with the time of day as a fraction"""
    assert rt.decimal_date_time(datetime(1970, 1, 2, 12, 0)) == 1.5
    assert rt.decimal_date_time(date(1970, 1, 2)) == 1.0
    assert rt.decimal_date_time("") == ""


def test_format_date__year_month_day_fields():
    """should format %Y, %m and %d, and give '' for no date"""
    assert rt.format_date(date(2007, 5, 1), "%Y-%m%d") == "2007-0501"
    assert rt.format_date("", "%Y") == ""
