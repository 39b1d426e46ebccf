"""The tipdata logic language: one expression, written once, compiled for every platform.

Relevance, constraints, required-if and calculations are written in the codebook in a small
target-neutral language (``docs/logic-language.md``). This package parses it into an immutable
tree, type-checks it against the codebook's elements, compiles it to XLSForm XPath, and
evaluates it in Python with the same results as ODK Collect.

Example::

    from tipdata.logic import Symbol, check_text, parse, to_xpath

    symbols = {"age": Symbol("age", "integer"),
               "means": Symbol("means", "select_multiple", frozenset({"debt", "threats"}))}
    assert check_text("age < 18 and selected(means, 'debt')", symbols, "relevant", None) == []
    to_xpath(parse("age < 18 and selected(means, 'debt')"), symbols)
    # "${age} < 18 and selected(${means}, 'debt')"
"""

from .checker import TypeMap, annotate, check, check_text
from .evaluator import evaluate
from .exprtypes import ExprType, TypeKind, describe
from .functions import FUNCTIONS, FunctionSpec
from .nodes import (
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
    SelfRef,
    String,
    children,
    references,
    walk,
)
from .parser import parse
from .problems import LogicCompileError, LogicProblem, LogicSyntaxError, ProblemKind
from .symbols import Context, ElementType, Symbol
from .unparse import to_text
from .xpath import calculation_to_xpath, to_xpath

__all__ = [
    "FUNCTIONS",
    "Arithmetic",
    "Boolean",
    "Call",
    "Compare",
    "Context",
    "ElementType",
    "Expr",
    "ExprType",
    "FunctionSpec",
    "Logical",
    "LogicCompileError",
    "LogicProblem",
    "LogicSyntaxError",
    "Name",
    "Negate",
    "Not",
    "Number",
    "ProblemKind",
    "SelfRef",
    "String",
    "Symbol",
    "TypeKind",
    "TypeMap",
    "annotate",
    "calculation_to_xpath",
    "check",
    "check_text",
    "children",
    "describe",
    "evaluate",
    "parse",
    "references",
    "to_text",
    "to_xpath",
    "walk",
]
