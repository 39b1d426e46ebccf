"""Expressions compiled once into Python closures: `evaluate` without the per-call analysis.

`evaluate()` type-checks and walks the tree on every call. That is right for one-off checks but
validating a record runs every constraint and relevance rule of a form, and a pull validates
hundreds of thousands of records against the same few hundred expressions. `compile_expression`
does the type-driven work once — the checker's annotations, the comparison modes, the quoted
dates, the regex patterns, the element types of references — and returns a function that only
computes. It makes exactly the choices `_Evaluator` makes (both read :mod:`lowering` and
:mod:`xpath_runtime`), so its results equal `evaluate(expr, values, ..., symbols=...)`
for every input; `tests/logic/test_compiled_evaluator.py` holds it to that.

Example::

    >>> check = compile_expression(parse("age >= 18 and selected(means, 'debt')"), symbols)
    >>> check({"age": 19, "means": ("debt",)})
    True
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime

from . import xpath_runtime as rt
from .checker import TypeMap, annotate
from .evaluator import _compiled, _require_evaluable, _to_python, _to_runtime
from .lowering import (
    anchored_pattern,
    comparison_mode,
    days_between_rounds,
    guards_empty_equality,
    is_date_valued,
    round_places,
    round_scale,
)
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
    walk,
)
from .problems import LogicCompileError, LogicProblem
from .symbols import ElementType, Symbol
from .xpath_runtime import XPathValue

#: one node: (values, self value, today) -> the XPath runtime value
Step = Callable[[Mapping[str, object], object, date], XPathValue]

_WHITESPACE = "".join(chr(code) for code in range(33))  # Java's String.trim(), as rt.selected
_TEXT_TYPES = frozenset({"text", "select_one"})
_NUMBER_TYPES = frozenset({"integer", "decimal"})


class CompiledExpression:
    """One expression ready to run: call it with a record's values (see the module doc).

    `values`, `self_value` and `today` mean what they mean for `evaluate`; the symbols were
    fixed at compile time.
    """

    __slots__ = ("expr", "_step", "_uses_today")

    def __init__(self, expr: Expr, step: Step, uses_today: bool) -> None:
        self.expr = expr
        self._step = step
        self._uses_today = uses_today

    def __repr__(self) -> str:
        return f"CompiledExpression({self.expr!r})"

    def __call__(self, values: Mapping[str, object], self_value: object = None,
                 today: date | None = None) -> object:
        if self._uses_today:
            today = today or date.today()
            if isinstance(today, datetime):
                today = today.date()
        return _to_python(self._step(values, self_value, today))  # type: ignore[arg-type]


def compile_expression(expr: Expr, symbols: Mapping[str, Symbol],
                       self_symbol: Symbol | None = None) -> CompiledExpression:
    """Compile ``expr`` for these symbols; raises LogicCompileError where `evaluate` would.

    ``self_symbol`` gives ``.`` its type. Unlike `evaluate`, nothing is guessed from the values:
    the symbols are the types (pass the codebook's, e.g. `tipdata.validation.symbols_of`).
    """
    types, problems = annotate(expr, symbols, self_symbol)
    _require_evaluable(expr, problems)
    compiler = _Compiler(types, symbols, self_symbol)
    uses_today = any(isinstance(node, Call) and node.function in ("today", "age_in_years")
                     for node in walk(expr))
    return CompiledExpression(expr, compiler.compile(expr), uses_today)


# ---- references ----------------------------------------------------------------------------


def _load_name(name: str, element_type: ElementType | None) -> Step:
    """The stored value of an element, with fast paths for the common exact types."""
    if element_type in _TEXT_TYPES:
        def load_text(values: Mapping[str, object], s: object, t: date) -> XPathValue:
            value = values.get(name)
            if value.__class__ is str:
                return value  # type: ignore[return-value]
            return _to_runtime(value, element_type)
        return load_text
    if element_type in _NUMBER_TYPES:
        def load_number(values: Mapping[str, object], s: object, t: date) -> XPathValue:
            value = values.get(name)
            if value.__class__ is int or value.__class__ is float:
                return float(value)  # type: ignore[arg-type]
            return _to_runtime(value, element_type)
        return load_number
    if element_type == "boolean":
        def load_boolean(values: Mapping[str, object], s: object, t: date) -> XPathValue:
            value = values.get(name)
            if value.__class__ is bool:
                return "true" if value else "false"
            return _to_runtime(value, element_type)
        return load_boolean

    def load(values: Mapping[str, object], s: object, t: date) -> XPathValue:
        return _to_runtime(values.get(name), element_type)
    return load


def _load_self(element_type: ElementType | None) -> Step:
    def load_self(values: Mapping[str, object], self_value: object, t: date) -> XPathValue:
        return _to_runtime(self_value, element_type)
    return load_self


def _equals_text(step: Step, text: str) -> Step:
    """``x = 'text'``: rt.equals with the text side fixed (text against text is a plain ==)."""
    def equals(values: Mapping[str, object], s: object, t: date) -> bool:
        value = step(values, s, t)
        if value.__class__ is str:
            return value == text
        return rt.equals(value, text)
    return equals


def _constant(value: XPathValue) -> Step:
    def constant(values: Mapping[str, object], s: object, t: date) -> XPathValue:
        return value
    return constant


# ---- the compiler --------------------------------------------------------------------------


class _Compiler:
    """Mirror of `evaluator._Evaluator`, one method per decision, made once per node."""

    def __init__(self, types: TypeMap, symbols: Mapping[str, Symbol],
                 self_symbol: Symbol | None) -> None:
        self.types = types
        self.symbols = symbols
        self.self_symbol = self_symbol

    def stored(self, node: Expr) -> Step:
        """The raw instance value of a reference (a boolean is the text 'true'/'false')."""
        if isinstance(node, Name):
            symbol = self.symbols.get(node.name)
            return _load_name(node.name, symbol.type if symbol else None)
        if isinstance(node, SelfRef):
            return _load_self(self.self_symbol.type if self.self_symbol else None)
        return self.compile(node)

    def as_date(self, node: Expr) -> Step:
        """Mirror of the compiler's ``date('...')`` for quoted dates."""
        if isinstance(node, String):
            return _constant(rt.to_date(node.value))
        return self.compile(node)

    def branch(self, call: Call, node: Expr) -> Step:
        if is_date_valued(self.types.of(call)):
            return self.as_date(node)
        return self.compile(node)

    def compile(self, node: Expr) -> Step:  # noqa: C901 - one case per node kind, as _Evaluator
        to_boolean, to_number = rt.to_boolean, rt.to_number
        match node:
            case Name() | SelfRef():
                load = self.stored(node)
                if self.types.of(node).kind == "boolean":
                    return _equals_text(load, "true")  # the compiled (${x} = 'true')
                return load
            case Number(value):
                return _constant(float(value))
            case String(value) | Boolean(value):
                return _constant(value)
            case Not(operand):
                inner = self.compile(operand)
                return lambda v, s, t: not to_boolean(inner(v, s, t))
            case Negate(operand):
                inner = self.compile(operand)
                return lambda v, s, t: -to_number(inner(v, s, t))
            case Logical(op, left, right):
                a, b = self.compile(left), self.compile(right)
                if op == "and":
                    return lambda v, s, t: to_boolean(a(v, s, t)) and to_boolean(b(v, s, t))
                return lambda v, s, t: to_boolean(a(v, s, t)) or to_boolean(b(v, s, t))
            case Arithmetic(op, left, right):
                a, b, arithmetic = self.compile(left), self.compile(right), rt.arithmetic
                return lambda v, s, t: arithmetic(op, a(v, s, t), b(v, s, t))
            case Compare():
                return self.compare(node)
            case Call(function, args):
                return getattr(self, f"_fn_{function}")(node, args)
        raise TypeError(f"not a logic expression node: {node!r}")

    def compare(self, node: Compare) -> Step:
        op, left, right = node.op, node.left, node.right
        mode = comparison_mode(self.types.of(left), self.types.of(right), left, right)
        if guards_empty_equality(op, mode, left, right):
            a, b = self.as_date(left), self.as_date(right)
            length, ddt = rt.string_length, rt.decimal_date_time

            def guarded(v: Mapping[str, object], s: object, t: date) -> bool:
                x, y = a(v, s, t), b(v, s, t)
                if length(x) > 0 and length(y) > 0:
                    equal = rt.equals(ddt(x), ddt(y))
                else:
                    equal = length(x) == 0 and length(y) == 0
                return equal if op == "=" else not equal
            return guarded
        if mode == "datetime":
            da, db, ddt = self.as_date(left), self.as_date(right), rt.decimal_date_time
            a: Step = lambda v, s, t: ddt(da(v, s, t))  # noqa: E731
            b: Step = lambda v, s, t: ddt(db(v, s, t))  # noqa: E731
        elif mode == "date":
            a, b = self.as_date(left), self.as_date(right)
        else:
            a, b = self.compile(left), self.compile(right)
            if op in ("=", "!=") and isinstance(right, String):
                equals = _equals_text(a, right.value)
                if op == "=":
                    return equals
                return lambda v, s, t: not equals(v, s, t)
        if op == "=":
            return lambda v, s, t: rt.equals(a(v, s, t), b(v, s, t))
        if op == "!=":
            return lambda v, s, t: not rt.equals(a(v, s, t), b(v, s, t))
        order = rt.order
        return lambda v, s, t: order(op, a(v, s, t), b(v, s, t))

    # -- functions (one method per entry of functions.FUNCTIONS, as _Evaluator)

    def _fn_selected(self, node: Call, args: tuple[Expr, ...]) -> Step:
        value = self.stored(args[0])
        if isinstance(args[1], String):
            needle = f" {args[1].value.strip(_WHITESPACE)} "

            def selected_code(v: Mapping[str, object], s: object, t: date) -> bool:
                held = value(v, s, t)
                return needle in f" {held if held.__class__ is str else rt.to_string(held)} "
            return selected_code
        code = self.compile(args[1])
        return lambda v, s, t: rt.selected(value(v, s, t), code(v, s, t))

    def _fn_count_selected(self, node: Call, args: tuple[Expr, ...]) -> Step:
        value = self.stored(args[0])
        return lambda v, s, t: rt.count_selected(value(v, s, t))

    def _fn_answered(self, node: Call, args: tuple[Expr, ...]) -> Step:
        value = self.stored(args[0])

        def answered(v: Mapping[str, object], s: object, t: date) -> bool:
            held = value(v, s, t)
            if held.__class__ is str:
                return held != ""  # string_length(text) > 0
            return rt.string_length(held) > 0
        return answered

    def _fn_if(self, node: Call, args: tuple[Expr, ...]) -> Step:
        condition = self.compile(args[0])
        then, otherwise = self.branch(node, args[1]), self.branch(node, args[2])
        to_boolean = rt.to_boolean
        return lambda v, s, t: then(v, s, t) if to_boolean(condition(v, s, t)) \
            else otherwise(v, s, t)

    def _fn_today(self, node: Call, args: tuple[Expr, ...]) -> Step:
        return lambda v, s, t: t

    def _fn_age_in_years(self, node: Call, args: tuple[Expr, ...]) -> Step:
        born_step = self.as_date(args[0])
        fmt, arithmetic = rt.format_date, rt.arithmetic

        def age_in_years(v: Mapping[str, object], s: object, t: date) -> XPathValue:
            born = born_step(v, s, t)
            years = arithmetic("-", fmt(t, "%Y"), fmt(born, "%Y"))
            before_birthday = rt.order("<", fmt(t, "%m%d"), fmt(born, "%m%d"))
            return arithmetic("-", years, 1.0 if before_birthday else 0.0)
        return age_in_years

    def _fn_days_between(self, node: Call, args: tuple[Expr, ...]) -> Step:
        first, second = self.as_date(args[0]), self.as_date(args[1])
        rounds = days_between_rounds(self.types.of(args[0]), self.types.of(args[1]))
        ddt = rt.decimal_date_time

        def days_between(v: Mapping[str, object], s: object, t: date) -> XPathValue:
            difference = rt.arithmetic("-", ddt(second(v, s, t)), ddt(first(v, s, t)))
            return rt.round_half(difference, 0.0) if rounds else rt.to_int(difference)
        return days_between

    def _fn_count_true(self, node: Call, args: tuple[Expr, ...]) -> Step:
        steps = tuple(self.compile(arg) for arg in args)
        to_boolean = rt.to_boolean
        return lambda v, s, t: float(sum(1 for step in steps if to_boolean(step(v, s, t))))

    def _fn_coalesce(self, node: Call, args: tuple[Expr, ...]) -> Step:
        first, second, is_empty = self.branch(node, args[0]), self.branch(node, args[1]), \
            rt.is_empty

        def coalesce(v: Mapping[str, object], s: object, t: date) -> XPathValue:
            value = first(v, s, t)
            return value if not is_empty(value) else second(v, s, t)
        return coalesce

    def _fn_int(self, node: Call, args: tuple[Expr, ...]) -> Step:
        inner = self.compile(args[0])
        return lambda v, s, t: rt.to_int(inner(v, s, t))

    def _fn_round(self, node: Call, args: tuple[Expr, ...]) -> Step:
        places = round_places(args[1])
        if places is None:
            error = LogicCompileError(
                [LogicProblem("type", "round() needs whole-number decimal places", node.column)])

            def unroundable(v: Mapping[str, object], s: object, t: date) -> XPathValue:
                raise error  # like _Evaluator: only when the call is evaluated
            return unroundable
        op, factor = round_scale(places)
        inner = self.compile(args[0])
        arithmetic, round_half = rt.arithmetic, rt.round_half
        scale, unscale = ("*", "/") if op == "*" else ("/", "*")
        scaled_factor = float(factor)

        def rounded(magnitude: XPathValue) -> float:
            if op == "":
                return round_half(magnitude, 0.0)
            scaled = arithmetic(scale, magnitude, scaled_factor)
            return arithmetic(unscale, round_half(scaled, 0.0), scaled_factor)

        def round_(v: Mapping[str, object], s: object, t: date) -> XPathValue:
            value = inner(v, s, t)
            if rt.order("<", value, 0.0):
                return -rounded(-rt.to_number(value))
            return rounded(value)
        return round_

    def _fn_length(self, node: Call, args: tuple[Expr, ...]) -> Step:
        inner = self.compile(args[0])
        return lambda v, s, t: rt.string_length(inner(v, s, t))

    def _fn_regex(self, node: Call, args: tuple[Expr, ...]) -> Step:
        text = self.compile(args[0])
        to_string = rt.to_string
        if isinstance(args[1], String):
            try:
                matcher = _compiled(anchored_pattern(args[1].value)).fullmatch
            except re.error:
                pass  # raised when evaluated, as _Evaluator does (the checker reports it)
            else:
                return lambda v, s, t: matcher(to_string(text(v, s, t))) is not None
        pattern = self.compile(args[1])
        return lambda v, s, t: _compiled(anchored_pattern(to_string(pattern(v, s, t)))).fullmatch(
            to_string(text(v, s, t))) is not None


def results_equal(a: object, b: object) -> bool:
    """Equality of evaluation results with NaN equal to NaN (for tests and cross-checks)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b
