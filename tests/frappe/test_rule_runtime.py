"""The app's vendored rule evaluator gives tipdata.logic.evaluate's answers on every codebook rule."""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
import random
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

from tipdata.codebook import load_codebook
from tipdata.erpnext_casework.doctypes import symbols_for
from tipdata.erpnext_casework.rule_lowering import lower
from tipdata.logic import evaluate, parse

APP = Path(__file__).resolve().parents[2] / "plugins/erpnext_casework/app/tip_casework"
TODAY = dt.date(2026, 3, 15)
SAMPLES_PER_RULE = 60


def load_app_module(name: str) -> ModuleType:
    """Import a frappe-free module of the app by path (the app is not on sys.path here)."""
    spec = importlib.util.spec_from_file_location(f"tip_casework_{name}", APP / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


runtime = load_app_module("rule_runtime")


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


def random_value(element, codebook, rng: random.Random) -> object:
    """A value of the element's type, unanswered one time in four, sometimes at an edge."""
    if rng.random() < 0.25:
        return None
    kind = element.type
    if kind == "text":
        return rng.choice(["", "abc", "A-12345", "x@y.zz", "12", "+33 1 23 45 67", "GBP", "ab cd", "é" * 3])
    if kind == "integer":
        return rng.choice([0, 1, 2, 17, 18, 30, 120, 121, -1, rng.randint(-5, 600)])
    if kind == "decimal":
        return rng.choice([Decimal("0"), Decimal("2.5"), Decimal("-2.5"), Decimal("1.005"), Decimal(rng.randint(1, 9999)) / 7])
    if kind == "date":
        return rng.choice([TODAY, TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1),
                           dt.date(2000, 3, 15), dt.date(2008, 3, 16), dt.date(rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28))])
    if kind == "datetime":
        return dt.datetime(rng.randint(2020, 2027), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), 30)
    codes = list(codebook.options_for(element).codes()) if element.options else ["a"]
    if kind == "select_one":
        return rng.choice(codes)
    if kind == "select_multiple":
        return rng.sample(codes, rng.randint(0, min(3, len(codes))))
    if kind == "boolean":
        return rng.choice([True, False])
    return None


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


def rules(codebook):
    for element in codebook.elements.values():
        for context, text in element.expressions():
            yield pytest.param(element.code, context, text, id=f"{element.code}-{context}")


@pytest.mark.parametrize(("code", "context", "text"), list(rules(load_codebook())))
def test_evaluate__agrees_with_tipdata_logic(codebook, code, context, text):
    """should give tipdata.logic.evaluate's value for the rule on random records."""
    symbols = symbols_for(codebook)
    types = {c: e.type for c, e in codebook.elements.items()}
    expr = parse(text)
    tree = lower(expr, symbols, symbols[code])
    rng = random.Random(f"{code}:{context}")
    for _ in range(SAMPLES_PER_RULE):
        values = {c: random_value(e, codebook, rng) for c, e in codebook.elements.items()}
        self_value = values[code]
        expected = evaluate(expr, values, self_value, TODAY, symbols=symbols, self_symbol=symbols[code])
        got = runtime.evaluate(tree, values, types, self_value, types[code], TODAY)
        assert same(got, expected), (values if len(str(values)) < 400 else "...", self_value, got, expected)


def test_evaluate__unknown_node_names_the_fix():
    """should refuse a tree it does not know, asking for a rebuild."""
    with pytest.raises(runtime.RuleError, match="rebuild rules.json"):
        runtime.evaluate(["bogus"], {}, {})


def test_holds__empty_number_is_never_in_range():
    """should treat an unanswered number as NaN: '<' false, '!=' true (the language's rule)."""
    less = ["cmp", "<", "value", ["raw", "n"], ["num", 5.0]]
    differs = ["cmp", "!=", "value", ["raw", "n"], ["num", 5.0]]
    assert runtime.holds(less, {"n": None}, {"n": "integer"}) is False
    assert runtime.holds(differs, {"n": None}, {"n": "integer"}) is True
    assert runtime.holds(less, {"n": "4"}, {"n": "integer"}) is True
