"""The documentation and the function catalogue stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tipdata.logic import FUNCTIONS, annotate, check_text, parse

from .symbol_table import EXAMPLE_SYMBOLS, SYMBOLS

DOC = Path(__file__).resolve().parents[2] / "docs" / "logic-language.md"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_docs__every_function_is_documented_with_its_example(name):
    """should list each function's signature and example in docs/logic-language.md"""
    text = DOC.read_text(encoding="utf-8")
    spec = FUNCTIONS[name]
    assert f"`{spec.signature}`" in text
    assert f"`{spec.example}`" in text


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_catalogue__every_example_checks(name):
    """should type-check every catalogue example against realistic elements"""
    self_symbol = EXAMPLE_SYMBOLS["phone_number"]
    _, problems = annotate(parse(FUNCTIONS[name].example), EXAMPLE_SYMBOLS, self_symbol)
    assert problems == []


def test_docs__every_problem_kind_has_an_example():
    """should show an example of every problem kind in the error table"""
    text = DOC.read_text(encoding="utf-8")
    for kind in ("syntax", "unknown_name", "type", "unknown_option", "arity", "context"):
        assert f"| `{kind}` |" in text


ERROR_ROW = re.compile(
    r"^\| `(?P<kind>\w+)` \| `(?P<expr>[^`]+)`(?P<where>[^|]*)\| (?P<message>.+) \|$"
)


def error_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ERROR_ROW.match(line)
        if match and match["kind"] in {
            "syntax",
            "unknown_name",
            "type",
            "unknown_option",
            "arity",
            "context",
        }:
            rows.append((match["kind"], match["expr"], match["where"], match["message"]))
    return rows


def test_docs__error_table_has_rows():
    """should find the error table, so the check below cannot pass by reading nothing"""
    assert len(error_rows()) >= 10


@pytest.mark.parametrize(("kind", "expr", "where", "message"), error_rows())
def test_docs__error_table_matches_the_checker(kind, expr, where, message):
    """should report, for each documented example, a problem of that kind with that message"""
    context, self_symbol = "relevant", None
    if "calculation" in where:
        context, self_symbol = "calculation", SYMBOLS["age"]
    found = check_text(expr, SYMBOLS, context, self_symbol)
    prefix = message.split("...")[0].rstrip()
    assert any(p.kind == kind and p.message.startswith(prefix) for p in found), found
