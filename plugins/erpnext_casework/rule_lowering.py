"""Lower checked logic expressions into the JSON trees the app's rule evaluator walks.

The app (`tip_casework/rule_runtime.py`) evaluates rules on the Frappe server without tipdata.
Every decision that needs the type checker is taken here, at build time, with the same
`tipdata.logic.lowering` functions the XPath compiler and `tipdata.logic.evaluate` use: which
comparisons are on dates, which quoted texts become dates, whether `days_between` rounds, how
`round()` scales. The runtime is left with value rules only, so it stays small.

Tree nodes are JSON lists whose first item names the node, e.g.
`["cmp", "=", "value", ["raw", "consent"], ["str", "yes"]]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tipdata.logic import (
    Arithmetic,
    Boolean,
    Call,
    Compare,
    Expr,
    Logical,
    LogicCompileError,
    Name,
    Negate,
    Not,
    Number,
    SelfRef,
    String,
    Symbol,
    annotate,
)
from tipdata.logic.checker import TypeMap
from tipdata.logic.lowering import (
    comparison_mode,
    days_between_rounds,
    is_date_valued,
    round_places,
    round_scale,
)
from tipdata.logic.problems import LogicProblem

Node = list[Any]


def lower(expr: Expr, symbols: Mapping[str, Symbol], self_symbol: Symbol | None = None) -> Node:
    """The JSON tree of a checked expression.

    Example: ``lower(parse("answered(age)"), symbols)`` is ``["answered", ["raw", "age"]]``.
    Raises LogicCompileError when the expression does not type-check.
    """
    types, problems = annotate(expr, symbols, self_symbol)
    if problems:
        raise LogicCompileError(problems)
    return _Lowering(types).node(expr)


class _Lowering:
    def __init__(self, types: TypeMap) -> None:
        self.types = types

    def stored(self, node: Expr) -> Node:
        if isinstance(node, Name):
            return ["raw", node.name]
        if isinstance(node, SelfRef):
            return ["raw", "."]
        return self.node(node)

    def as_date(self, node: Expr) -> Node:
        if isinstance(node, String):
            return ["date", node.value]
        return self.node(node)

    def branch(self, call: Call, node: Expr) -> Node:
        return self.as_date(node) if is_date_valued(self.types.of(call)) else self.node(node)

    def node(self, node: Expr) -> Node:  # noqa: C901 - one branch per node kind
        match node:
            case Name() | SelfRef():
                code = node.name if isinstance(node, Name) else "."
                if self.types.of(node).kind == "boolean":
                    return ["bool_ref", code]
                return ["raw", code]
            case Number(value):
                return ["num", float(value)]
            case String(value):
                return ["str", value]
            case Boolean(value):
                return ["bool", value]
            case Not(operand):
                return ["not", self.node(operand)]
            case Negate(operand):
                return ["neg", self.node(operand)]
            case Logical(op, left, right):
                return [op, self.node(left), self.node(right)]
            case Arithmetic(op, left, right):
                return ["arith", op, self.node(left), self.node(right)]
            case Compare(op, left, right):
                mode = comparison_mode(self.types.of(left), self.types.of(right), left, right)
                if mode == "value":
                    return ["cmp", op, mode, self.node(left), self.node(right)]
                return ["cmp", op, mode, self.as_date(left), self.as_date(right)]
            case Call(function, args):
                return self.call(node, function, args)
        raise TypeError(f"not a logic expression node: {node!r}")

    def call(self, node: Call, function: str, args: tuple[Expr, ...]) -> Node:  # noqa: C901
        if function == "selected":
            return ["selected", self.stored(args[0]), self.node(args[1])]
        if function == "count_selected":
            return ["count_selected", self.stored(args[0])]
        if function == "answered":
            return ["answered", self.stored(args[0])]
        if function == "if":
            return ["if", self.node(args[0]), self.branch(node, args[1]), self.branch(node, args[2])]
        if function == "today":
            return ["today"]
        if function == "age_in_years":
            return ["age_in_years", self.as_date(args[0])]
        if function == "days_between":
            rounds = days_between_rounds(self.types.of(args[0]), self.types.of(args[1]))
            return ["days_between", rounds, self.as_date(args[0]), self.as_date(args[1])]
        if function == "count_true":
            return ["count_true", [self.node(arg) for arg in args]]
        if function == "coalesce":
            return ["coalesce", self.branch(node, args[0]), self.branch(node, args[1])]
        if function == "int":
            return ["int", self.node(args[0])]
        if function == "round":
            places = round_places(args[1])
            if places is None:
                raise LogicCompileError(
                    [LogicProblem("type", "round() needs whole-number decimal places", node.column)]
                )
            op, factor = round_scale(places)
            return ["round", op, factor, self.node(args[0])]
        if function == "length":
            return ["length", self.node(args[0])]
        if function == "regex":
            return ["regex", self.node(args[0]), self.node(args[1])]
        raise LogicCompileError(
            [LogicProblem("unknown_name", f"the Frappe rule evaluator has no {function}()", node.column)]
        )
