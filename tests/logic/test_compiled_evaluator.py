"""The compiled evaluator gives exactly what evaluate() gives: on random expressions, on every
expression of the codebook, and on values of the wrong type."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipdata.codebook import load_codebook
from tipdata.logic import LogicCompileError, Symbol, evaluate, parse, references, to_text
from tipdata.logic.compiled import compile_expression, results_equal
from tipdata.validation import symbols_of

from .symbol_table import SYMBOLS
from .test_properties import any_expr, record_values

TODAY = dt.date(2025, 5, 1)

any_value = st.one_of(
    st.none(),
    st.text("ab 01-.:T,yes", max_size=12),
    st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(-10**4, 10**4, places=3, allow_nan=False),
    st.booleans(),
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)),
    st.datetimes(dt.datetime(1950, 1, 1), dt.datetime(2080, 1, 1),
                 timezones=st.sampled_from([None, dt.UTC])),
    st.lists(st.sampled_from(["yes", "no", "debt", "threats", "x y"]), max_size=3),
    st.frozensets(st.sampled_from(["debt", "threats", "documents"])).map(frozenset),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
)


def assert_same(expr, values, self_value=None, *, symbols, self_symbol=None):
    try:
        expected = evaluate(expr, values, self_value, TODAY, symbols=symbols,
                            self_symbol=self_symbol)
    except Exception as exc:  # the compiled form must fail the same way
        with pytest.raises(type(exc)):
            compile_expression(expr, symbols, self_symbol)(values, self_value, TODAY)
        return
    got = compile_expression(expr, symbols, self_symbol)(values, self_value, TODAY)
    assert results_equal(got, expected), (to_text(expr), values, self_value, got, expected)


@given(any_expr, record_values)
@settings(max_examples=600, deadline=None)
def test_compile_expression__equals_evaluate_on_random_expressions(kind_and_expr, values):
    """should give evaluate()'s value for random well-typed expressions and answers"""
    _, expr = kind_and_expr
    assert_same(expr, values, symbols=SYMBOLS)


@given(any_expr, st.dictionaries(st.sampled_from(sorted(SYMBOLS)), any_value))
@settings(max_examples=600, deadline=None)
def test_compile_expression__equals_evaluate_on_values_of_any_type(kind_and_expr, values):
    """should give evaluate()'s value (or its error) when answers have unexpected types"""
    _, expr = kind_and_expr
    assert_same(expr, values, symbols=SYMBOLS)


SELF_EXPRESSIONS = [
    (". >= 0 and . <= 120", "age"), ("regex(., '[0-9]{7,15}')", "name"),
    (". <= today()", "dob"), ("answered(.)", "seen_at"), (". = '2024-01-31'", "dob"),
    ("selected(., 'debt') or count_selected(.) > 1", "means"), (". = 'yes'", "consent"),
    (". != seen_at", "seen_at"), ("not(.)", "minor"), ("round(., 1) = weight", "weight"),
    ("age_in_years(.) >= 18", "dob"), ("days_between(., today()) < 30", "seen_at"),
]


@pytest.mark.parametrize(("text", "owner"), SELF_EXPRESSIONS)
@given(self_value=any_value, values=st.dictionaries(st.sampled_from(sorted(SYMBOLS)), any_value))
@settings(max_examples=60, deadline=None)
def test_compile_expression__dot_reads_the_self_value(text, owner, self_value, values):
    """should read `.` with the owner's type exactly as evaluate() does"""
    assert_same(parse(text), values, self_value, symbols=SYMBOLS, self_symbol=SYMBOLS[owner])


@functools.cache
def codebook_corpus() -> tuple[tuple[str, str | None], ...]:
    """Every expression the codebook holds, with the element it belongs to."""
    codebook = load_codebook()
    found: set[tuple[str, str | None]] = set()
    for element in codebook.elements.values():
        for _context, text in element.expressions():
            found.add((text, element.code))
    for form in codebook.forms.values():
        for code, conditions in form.form_conditions().items():
            found.update((text, code) for text in conditions)
    return tuple(sorted(found, key=lambda pair: (pair[0], pair[1] or "")))


def typed_value(symbol: Symbol) -> st.SearchStrategy[object]:
    options = sorted(symbol.options or {"a", "b"})
    return {
        "text": st.text("ab 01", max_size=5),
        "select_one": st.sampled_from(options),
        "select_multiple": st.lists(st.sampled_from(options), unique=True).map(tuple),
        "integer": st.integers(-5, 130),
        "decimal": st.decimals(-100, 100, places=2, allow_nan=False),
        "date": st.dates(dt.date(1950, 1, 1), dt.date(2030, 12, 31)),
        "datetime": st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1),
                                 timezones=st.just(dt.UTC)),
        "boolean": st.booleans(),
        "geopoint": st.just((12.5, -1.25)),
    }[symbol.type]


def test_codebook_corpus__is_not_empty():
    """should find the codebook's expressions (or the property below would test nothing)"""
    assert len(codebook_corpus()) > 50


@given(st.data())
@settings(max_examples=400, deadline=None)
def test_compile_expression__equals_evaluate_on_the_codebook(data):
    """should agree with evaluate() on every codebook expression, typed or mistyped answers"""
    symbols = _codebook_symbols()
    text, owner = data.draw(st.sampled_from(codebook_corpus()))
    expr = parse(text)
    names = sorted(references(expr) & symbols.keys())
    values = {}
    for name in names:
        values[name] = data.draw(st.one_of(st.none(), typed_value(symbols[name]),
                                           any_value if data.draw(st.booleans()) else st.nothing()))
    self_symbol = symbols.get(owner) if owner else None
    self_value = data.draw(st.one_of(st.none(), typed_value(self_symbol))) if self_symbol else None
    assert_same(expr, values, self_value, symbols=symbols, self_symbol=self_symbol)


@functools.cache
def _codebook_symbols() -> dict[str, Symbol]:
    return symbols_of(load_codebook())


def test_compile_expression__refuses_what_evaluate_refuses():
    """should raise LogicCompileError for unknown functions and wrong argument counts"""
    for text in ("nosuch(age)", "selected(means)", "today(1)"):
        with pytest.raises(LogicCompileError):
            compile_expression(parse(text), SYMBOLS)


def test_compile_expression__decimal_answers_read_as_numbers():
    """should read Decimal answers as evaluate() does (float of the value)"""
    expr = parse("weight * 2 > 3")
    assert compile_expression(expr, SYMBOLS)({"weight": Decimal("1.6")}) is True
    assert evaluate(expr, {"weight": Decimal("1.6")}, symbols=SYMBOLS) is True
