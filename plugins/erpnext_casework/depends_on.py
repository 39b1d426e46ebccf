"""Compile logic expressions to the `eval:` JavaScript of Frappe's `depends_on` properties.

Frappe evaluates `depends_on` / `mandatory_depends_on` strings in the desk only, with `doc` in
scope (`frappe.ui.form.Layout.evaluate_depends_on_value`). The browser is a convenience: the
controller enforces the same expressions on the server with the vendored rule evaluator. The
JavaScript therefore aims for the same answers as `tipdata.logic.evaluate` on the values the
desk holds, and stays self-contained (no helper bundle: the app ships no built assets):

- an unanswered value is `undefined`, `null` or `""`; as a number it is NaN, so `<` and `=` with
  it are false and `!=` is true, as in the logic language;
- optional numbers live in Data fields (Frappe stores an empty Int as 0), so every number read
  goes through `Number()` with the empty guard;
- select_multiple answers are child-table rows `{option: code}`;
- dates are `YYYY-MM-DD` text, compared as text once both sides are present.

Example::

    >>> to_depends_on(parse("consent = 'yes' and age >= 18"), symbols)
    'eval:(((doc.consent ?? "") === "yes") && (...))'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

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
from tipdata.logic.lowering import comparison_mode, round_places
from tipdata.logic.problems import LogicProblem

#: how a reference is written: element code -> JavaScript expression reading its raw value
FieldRef = Callable[[str], str]


def doc_field(code: str) -> str:
    """The default reference: the element is a field of the same document."""
    return f"doc.{code}"


def to_depends_on(
    expr: Expr,
    symbols: Mapping[str, Symbol],
    self_symbol: Symbol | None = None,
    field_ref: FieldRef = doc_field,
) -> str:
    """`eval:` text for a condition, ready for `depends_on` or `mandatory_depends_on`.

    Raises LogicCompileError when the expression does not type-check: a wrong `depends_on`
    would silently hide a question, which is worse than a failed build.
    """
    return "eval:" + to_javascript(expr, symbols, self_symbol, field_ref)


def to_javascript(
    expr: Expr,
    symbols: Mapping[str, Symbol],
    self_symbol: Symbol | None = None,
    field_ref: FieldRef = doc_field,
) -> str:
    """The JavaScript expression (without `eval:`) computing `expr` from `doc`."""
    types, problems = annotate(expr, symbols, self_symbol)
    if problems:
        raise LogicCompileError(problems)
    return _Compiler(types, symbols, self_symbol, field_ref).js(expr)


_EMPTY = '(v === undefined || v === null || v === "")'
_NUMBER = f"((v) => {_EMPTY} ? NaN : Number(v))"
_TEXT = "((v) => (v === undefined || v === null) ? \"\" : String(v))"
_ANSWERED = f"((v) => !({_EMPTY} || (Array.isArray(v) && v.length === 0) || Number.isNaN(v)))"


class _Compiler:
    def __init__(
        self,
        types: TypeMap,
        symbols: Mapping[str, Symbol],
        self_symbol: Symbol | None,
        field_ref: FieldRef,
    ) -> None:
        self.types = types
        self.symbols = symbols
        self.self_symbol = self_symbol
        self.field_ref = field_ref

    # -- references

    def raw(self, node: Expr) -> str:
        """The stored value of a reference as the desk holds it."""
        if isinstance(node, Name):
            return self.field_ref(node.name)
        if isinstance(node, SelfRef):
            if self.self_symbol is None:
                raise LogicCompileError([LogicProblem("context", "'.' needs the element it belongs to", node.column)])
            return self.field_ref(self.self_symbol.name)
        return self.js(node)

    def ref(self, node: Name | SelfRef) -> str:
        kind = self.types.of(node).kind
        raw = self.raw(node)
        if kind == "number":
            return f"{_NUMBER}({raw})"
        if kind == "boolean":
            return f"(Number({raw}) === 1)"
        if kind == "choices":
            return f"({raw} || [])"
        return f"{_TEXT}({raw})"

    # -- nodes

    def js(self, node: Expr) -> str:
        match node:
            case Name() | SelfRef():
                return self.ref(node)
            case Number(value):
                return str(value)
            case String(value):
                return json.dumps(value)
            case Boolean(value):
                return "true" if value else "false"
            case Not(operand):
                return f"!({self.js(operand)})"
            case Negate(operand):
                return f"(-({self.js(operand)}))"
            case Logical(op, left, right):
                joiner = "&&" if op == "and" else "||"
                return f"({self.js(left)} {joiner} {self.js(right)})"
            case Arithmetic(op, left, right):
                symbol = "%" if op == "mod" else op
                return f"({self.js(left)} {symbol} {self.js(right)})"
            case Compare(op, left, right):
                return self.compare(op, left, right)
            case Call(function, args):
                method = getattr(self, f"fn_{function}", None)
                if method is None:
                    raise LogicCompileError([LogicProblem("unknown_name", f"no JavaScript for {function}()", node.column)])
                return method(args)
        raise TypeError(f"not a logic expression node: {node!r}")

    def compare(self, op: str, left: Expr, right: Expr) -> str:
        mode = comparison_mode(self.types.of(left), self.types.of(right), left, right)
        a, b = self.js(left), self.js(right)
        if mode in ("date", "datetime"):
            # dates are ISO text: ordered as text once both sides exist; empty compares false
            test = {"=": "a === b", "!=": "a === b", "<": "a < b", "<=": "a <= b", ">": "a > b", ">=": "a >= b"}[op]
            guarded = f'((a, b) => a !== "" && b !== "" && {test})({a}, {b})'
            return f"!{guarded}" if op == "!=" else guarded
        if op == "=":
            return f"({a} === {b})"
        if op == "!=":
            return f"!({a} === {b})"
        return f"({a} {op} {b})"

    # -- functions: one per entry of tipdata.logic.FUNCTIONS

    def fn_selected(self, args: tuple[Expr, ...]) -> str:
        target, code = args
        if self.types.of(target).kind == "choices":
            return f"{self.js(target)}.some((r) => r.option === {self.js(code)})"
        return f"({self.js(target)} === {self.js(code)})"

    def fn_count_selected(self, args: tuple[Expr, ...]) -> str:
        return f"{self.js(args[0])}.length"

    def fn_answered(self, args: tuple[Expr, ...]) -> str:
        return f"{_ANSWERED}({self.raw(args[0])})"

    def fn_if(self, args: tuple[Expr, ...]) -> str:
        condition, then, otherwise = args
        return f"({self.js(condition)} ? {self.js(then)} : {self.js(otherwise)})"

    def fn_today(self, args: tuple[Expr, ...]) -> str:
        return "frappe.datetime.get_today()"

    def fn_age_in_years(self, args: tuple[Expr, ...]) -> str:
        return (
            '((v, t) => v === "" ? NaN : Number(t.slice(0, 4)) - Number(v.slice(0, 4))'
            f" - (t.slice(5, 10) < v.slice(5, 10) ? 1 : 0))({self.js(args[0])}, frappe.datetime.get_today())"
        )

    def fn_days_between(self, args: tuple[Expr, ...]) -> str:
        first, second = (self.js(a) for a in args)
        return (
            '((a, b) => a === "" || b === "" ? NaN : Math.round((Date.parse(b.slice(0, 10))'
            f" - Date.parse(a.slice(0, 10))) / 86400000))({first}, {second})"
        )

    def fn_count_true(self, args: tuple[Expr, ...]) -> str:
        return f"[{', '.join(self.js(a) for a in args)}].filter(Boolean).length"

    def fn_coalesce(self, args: tuple[Expr, ...]) -> str:
        first, second = args
        return f"((v) => {_EMPTY} || Number.isNaN(v) ? {self.js(second)} : v)({self.js(first)})"

    def fn_int(self, args: tuple[Expr, ...]) -> str:
        return f"Math.trunc({self.js(args[0])})"

    def fn_round(self, args: tuple[Expr, ...]) -> str:
        places = round_places(args[1])
        if places is None:
            raise LogicCompileError([LogicProblem("type", "round() needs whole-number decimal places", None)])
        value = self.js(args[0])
        if places > 0:
            scale = 10**places
            return f"((v) => Math.sign(v) * Math.round(Math.abs(v) * {scale}) / {scale})({value})"
        if places < 0:
            scale = 10**-places
            return f"((v) => Math.sign(v) * Math.round(Math.abs(v) / {scale}) * {scale})({value})"
        return f"((v) => Math.sign(v) * Math.round(Math.abs(v)))({value})"

    def fn_length(self, args: tuple[Expr, ...]) -> str:
        return f"{_TEXT}({self.js(args[0])}).length"

    def fn_regex(self, args: tuple[Expr, ...]) -> str:
        text, pattern = args
        if not isinstance(pattern, String):
            raise LogicCompileError([LogicProblem("type", "regex() needs a quoted pattern", None)])
        anchored = json.dumps(f"^(?:{pattern.value})$")
        return f"new RegExp({anchored}).test({_TEXT}({self.js(text)}))"
