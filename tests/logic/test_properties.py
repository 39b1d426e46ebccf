"""Properties over random well-typed expressions: they check, print back, compile, evaluate
without raising, pass ODK Validate, and get the same value from the engines as from evaluate()."""

from __future__ import annotations

import functools
import math
import shutil
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipdata.logic import (
    Arithmetic,
    Boolean,
    Call,
    Compare,
    Expr,
    Logical,
    Name,
    Negate,
    Not,
    Number,
    String,
    check,
    evaluate,
    parse,
    to_text,
    to_xpath,
)

from ..engines import ENGINES, fill_form
from .forms import answers_for, build_xform, choice_rows, engine_text_matches, question_rows
from .symbol_table import SYMBOLS

MAX_DEPTH = 3
PATTERNS = ["[a-z]*", "a|b", ".*b.*", "[0-9]{1,3}", "it's", "", "[^ ]+( [^ ]+)?"]
TEXT_ALPHABET = "abAB01 'é😀"

# ---- expressions of each type --------------------------------------------------------------

numbers_literal = st.one_of(
    st.integers(0, 1000).map(Number),
    st.decimals(0, 100, places=2, allow_nan=False).map(lambda d: Number(Decimal(str(d)))),
)
text_literal = st.text(TEXT_ALPHABET, max_size=6).map(String)
iso_dates = st.dates(date(1950, 1, 1), date(2030, 12, 31)).map(lambda d: String(d.isoformat()))


def call(function: str, *args: Expr) -> Call:
    return Call(function, tuple(args))


@functools.cache
def exprs(kind: str, depth: int) -> st.SearchStrategy[Expr]:
    """Well-typed expressions of ``kind`` (number, boolean, text, date, choice), ``depth`` deep."""
    leaves = {
        "number": st.one_of(
            numbers_literal, st.sampled_from(["age", "household", "weight"]).map(Name)
        ),
        "boolean": st.one_of(st.booleans().map(Boolean), st.just(Name("minor"))),
        "text": st.one_of(text_literal, st.just(Name("name"))),
        "date": st.one_of(st.just(Name("dob")), st.just(call("today"))),
        "datetime": st.just(Name("seen_at")),
        "choice": st.just(Name("consent")),
    }[kind]
    if depth == 0:
        return leaves
    sub = functools.partial(exprs, depth=depth - 1)
    boolean, number, text = sub("boolean"), sub("number"), sub("text")
    date_like = st.one_of(sub("date"), sub("datetime"), iso_dates)
    composites = {
        "number": [
            st.builds(Arithmetic, st.sampled_from(["+", "-", "*", "/", "mod"]), number, number),
            st.builds(Negate, number),
            st.just(call("count_selected", Name("means"))),
            st.builds(lambda t: call("length", t), st.one_of(text, sub("choice"))),
            st.builds(lambda n: call("int", n), number),
            st.builds(
                lambda n, places: call(
                    "round", n, Number(places) if places >= 0 else Negate(Number(-places))
                ),
                number,
                st.integers(-2, 3),
            ),
            st.builds(lambda d: call("age_in_years", d), date_like),
            st.builds(lambda a, b: call("days_between", a, b), date_like, date_like),
            st.lists(boolean, min_size=1, max_size=3).map(lambda bs: call("count_true", *bs)),
            st.builds(lambda c, a, b: call("if", c, a, b), boolean, number, number),
            st.builds(lambda a, b: call("coalesce", a, b), number, number),
        ],
        "boolean": [
            st.builds(Compare, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), number, number),
            st.builds(Compare, st.sampled_from(["=", "!="]), text, text),
            st.builds(Compare, st.sampled_from(["=", "!="]), boolean, boolean),
            st.builds(
                Compare,
                st.sampled_from(["=", "!="]),
                sub("choice"),
                st.sampled_from(["yes", "no"]).map(String),
            ),
            st.builds(
                Compare,
                st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
                st.one_of(sub("date"), sub("datetime")),
                date_like,
            ),
            st.builds(Logical, st.sampled_from(["and", "or"]), boolean, boolean),
            st.builds(Not, boolean),
            st.builds(
                lambda code: call("selected", Name("means"), String(code)),
                st.sampled_from(["debt", "threats", "documents"]),
            ),
            st.builds(
                lambda code: call("selected", Name("consent"), String(code)),
                st.sampled_from(["yes", "no"]),
            ),
            st.builds(lambda name: call("answered", Name(name)), st.sampled_from(sorted(SYMBOLS))),
            st.builds(
                lambda t, p: call("regex", t, String(p)),
                st.one_of(text, sub("choice")),
                st.sampled_from(PATTERNS),
            ),
            st.builds(lambda c, a, b: call("if", c, a, b), boolean, boolean, boolean),
        ],
        "text": [
            st.builds(lambda c, a, b: call("if", c, a, b), boolean, text, text),
            st.builds(lambda a, b: call("coalesce", a, b), text, text),
        ],
        "date": [
            st.builds(lambda c, a, b: call("if", c, a, b), boolean, sub("date"), sub("date")),
            st.builds(lambda a, b: call("coalesce", a, b), sub("date"), iso_dates),
        ],
        "datetime": [],
        "choice": [
            st.builds(lambda c, a: call("if", c, a, String("no")), boolean, sub("choice")),
        ],
    }[kind]
    return st.one_of(leaves, *composites)


# The element each kind of expression can be the calculation of.
CALCULATED = {"number": "weight", "text": "name", "date": "dob", "choice": "consent"}
KINDS = ["boolean", "number", "text", "date", "choice"]
any_expr = st.sampled_from(KINDS).flatmap(
    lambda kind: st.tuples(st.just(kind), exprs(kind, MAX_DEPTH))
)

# ---- values --------------------------------------------------------------------------------


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


record_values = st.fixed_dictionaries(
    {
        "age": maybe(st.integers(-5, 200)),
        "household": maybe(st.integers(0, 12)),
        "weight": maybe(st.decimals(-1000, 1000, places=2, allow_nan=False).map(float)),
        "name": maybe(st.text(TEXT_ALPHABET, min_size=1, max_size=8).map(str.strip).filter(bool)),
        "dob": maybe(st.dates(date(1950, 1, 1), date(2030, 12, 31))),
        "seen_at": maybe(
            st.datetimes(datetime(2000, 1, 1), datetime(2030, 12, 31)).map(
                lambda moment: moment.replace(second=0, microsecond=0)
            )
        ),
        "consent": maybe(st.sampled_from(["yes", "no"])),
        "means": maybe(
            st.lists(st.sampled_from(["debt", "threats", "documents"]), min_size=1, unique=True)
        ),
        "minor": maybe(st.booleans()),
        "location": maybe(st.just("12.5 -1.25 0 5")),
    }
)

# ---- properties ----------------------------------------------------------------------------


def problems_for(kind: str, expr: Expr) -> list:
    if kind == "boolean":
        return check(expr, SYMBOLS, "relevant", None)[1]
    return check(expr, SYMBOLS, "calculation", SYMBOLS[CALCULATED[kind]])[1]


@given(any_expr)
@settings(max_examples=300)
def test_property__generated_expressions_type_check(kind_and_expr):
    """should find no problem in any well-typed expression"""
    kind, expr = kind_and_expr
    assert problems_for(kind, expr) == []


@given(any_expr)
@settings(max_examples=300)
def test_property__printed_text_parses_back_to_the_same_tree(kind_and_expr):
    """should print every tree as text that parses back to it"""
    _, expr = kind_and_expr
    assert parse(to_text(expr)) == expr


RESULT_TYPES = {
    "boolean": (bool,),
    "number": (int, float, type(None)),  # a bare unanswered number is empty
    "text": (str, type(None)),
    "date": (date, type(None)),
    "choice": (str, type(None)),
}


@given(any_expr, record_values)
@settings(max_examples=400)
def test_property__compiles_and_evaluates_on_any_values(kind_and_expr, values):
    """should compile to XPath and evaluate without raising, giving a value of the right type"""
    kind, expr = kind_and_expr
    assert to_xpath(expr, SYMBOLS).strip()
    result = evaluate(expr, values, today=date(2025, 5, 1), symbols=SYMBOLS)
    assert isinstance(result, RESULT_TYPES[kind]), (to_text(expr), result)
    untyped = evaluate(expr, values, today=date(2025, 5, 1))  # types guessed from values
    assert untyped is None or isinstance(untyped, (bool, int, float, str, date))


# ---- with the engines ----------------------------------------------------------------------

engine_batches = st.lists(any_expr, min_size=6, max_size=6)
SLOW = settings(
    max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def form_with(batch: list[tuple[str, Expr]], *, validate: bool) -> str:
    survey = question_rows(SYMBOLS)
    for index, (_, expr) in enumerate(batch):
        survey.append(
            {
                "type": "calculate",
                "name": f"expr_{index}",
                "calculation": f"string({to_xpath(expr, SYMBOLS)})",
            }
        )
    return build_xform(survey, choice_rows(SYMBOLS), validate=validate)


@pytest.mark.engine
@pytest.mark.skipif(shutil.which("java") is None, reason="java is not on PATH")
@given(engine_batches)
@SLOW
def test_property__odk_validate_accepts_random_expressions(batch):
    """should pass pyxform and ODK Validate with a sample of random expressions"""
    assert "<h:html" in form_with(batch, validate=True)


@pytest.mark.engine
@pytest.mark.parametrize("engine", ENGINES)
@given(batch=engine_batches, values=record_values)
@SLOW
def test_property__engines_agree_with_evaluate_on_random_answers(engine, batch, values):
    """should compute in the engine the value evaluate() computes, for random answers"""
    result = fill_form(engine, form_with(batch, validate=False), answers_for(values, SYMBOLS))
    today = date.today()
    for index, (_, expr) in enumerate(batch):
        expected = evaluate(expr, values, today=today, symbols=SYMBOLS)
        got = result.value(f"expr_{index}")
        assert engine_text_matches(expected, got), (to_text(expr), values, expected, got)


def test_engine_text_matches__is_strict():
    """should refuse near misses, so the agreement properties above can fail"""
    assert not engine_text_matches(2, "3")
    assert not engine_text_matches(True, "false")
    assert not engine_text_matches(None, "0")
    assert not engine_text_matches(math.inf, "NaN")
    assert engine_text_matches(float("nan"), "")
