"""Evaluate expressions in Python exactly as the compiled XPath evaluates in ODK Collect.

Used for server-side checks (Frappe validation, re-checking synced submissions) and in tests,
where its answers are compared with real form engines. It therefore follows the compiled XPath,
quirks included (see :mod:`xpath_runtime`), and makes its type-driven choices through
:mod:`lowering`, the same functions the XPath compiler uses.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from . import xpath_runtime as rt
from .checker import TypeMap, annotate
from .functions import FUNCTIONS
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


def evaluate(
    expr: Expr,
    values: Mapping[str, object],
    self_value: object = None,
    today: date | None = None,
    *,
    symbols: Mapping[str, Symbol] | None = None,
    self_symbol: Symbol | None = None,
) -> object:
    """The value of ``expr`` for one record, as the compiled form would compute it.

    ``values`` maps element codes to canonical Python values (str, int, float, Decimal, date,
    datetime, bool, a list/tuple/frozenset of option codes, or None for unanswered); a missing
    code is unanswered. ``self_value`` is the value of ``.``. ``today`` defaults to the real date.

    Pass ``symbols`` (and ``self_symbol``) when you have them: without them types are guessed
    from the values, and an unanswered element then has no type, which matters in a few places
    (a quoted date in ``coalesce(d, '2024-01-01') < today()``, an unanswered boolean as the
    result: ``None`` instead of ``False``).

    Results: bool for conditions; int for whole numbers, float otherwise (NaN when a number was
    unanswered); str; date; None for an empty text result.

    Example::

        >>> evaluate(parse("age >= 18 and selected(means, 'debt')"),
        ...          {"age": 19, "means": ["debt", "threats"]})
        True
        >>> evaluate(parse("age + 1"), {"age": None})
        nan
    """
    if symbols is None:
        symbols = _symbols_from_values(values)
    if self_symbol is None:
        self_symbol = _symbol_from_value(".", self_value)
    types, problems = annotate(expr, symbols, self_symbol)
    _require_evaluable(expr, problems)
    evaluator = _Evaluator(types, values, self_value, today or date.today(), symbols, self_symbol)
    return _to_python(evaluator.eval(expr))


def _require_evaluable(expr: Expr, problems: list[LogicProblem]) -> None:
    """Unknown functions and wrong argument counts have no value at all; everything else does
    (an unknown element is unanswered, a type mismatch follows XPath's conversions)."""
    called = {node.function for node in walk(expr) if isinstance(node, Call)}
    blocking = [
        problem
        for problem in problems
        if problem.kind == "arity"
        or (problem.kind == "unknown_name" and problem.name in called - set(FUNCTIONS))
    ]
    if blocking:
        raise LogicCompileError(blocking)


# ---- values in, values out -----------------------------------------------------------------


def _symbol_from_value(name: str, value: object) -> Symbol | None:
    element_type: ElementType
    if value is None:
        return None
    if isinstance(value, bool):
        element_type = "boolean"
    elif isinstance(value, int):
        element_type = "integer"
    elif isinstance(value, (float, Decimal)):
        element_type = "decimal"
    elif isinstance(value, datetime):
        element_type = "datetime"
    elif isinstance(value, date):
        element_type = "date"
    elif isinstance(value, (list, tuple, set, frozenset)):
        element_type = "select_multiple"
    else:
        element_type = "text"
    return Symbol(name, element_type)


def _symbols_from_values(values: Mapping[str, object]) -> dict[str, Symbol]:
    guessed = {name: _symbol_from_value(name, value) for name, value in values.items()}
    return {name: symbol for name, symbol in guessed.items() if symbol is not None}


def _to_runtime(value: object, element_type: ElementType | None) -> XPathValue:
    """A canonical Python value as the form instance would hold it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set, frozenset)):
        codes = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        return " ".join(str(code) for code in codes)
    if isinstance(value, datetime):
        value = value.replace(tzinfo=None)
        return value.date() if element_type == "date" else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day) if element_type == "datetime" else value
    if isinstance(value, (int, float, Decimal)):
        if element_type in ("text", "select_one", "select_multiple", "geopoint"):
            return str(value)
        return float(value)
    text = str(value)
    if text == "":
        return ""
    if element_type in ("integer", "decimal"):
        return rt.to_number(text)
    if element_type in ("date", "datetime"):
        parsed = rt.parse_date(text)
        if parsed is None:
            return text
        return rt.to_date(parsed) if element_type == "date" else _as_datetime(parsed)
    return text


def _as_datetime(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)


def _to_python(value: XPathValue) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if value == "":
        return None
    return value


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# ---- the evaluator -------------------------------------------------------------------------


class _Evaluator:
    def __init__(
        self,
        types: TypeMap,
        values: Mapping[str, object],
        self_value: object,
        today: date,
        symbols: Mapping[str, Symbol],
        self_symbol: Symbol | None,
    ) -> None:
        self.types = types
        self.values = values
        self.self_value = self_value
        self.today = today.date() if isinstance(today, datetime) else today
        self.symbols = symbols
        self.self_symbol = self_symbol

    def stored(self, node: Expr) -> XPathValue:
        """The raw instance value of a reference (a boolean is the text 'true'/'false')."""
        if isinstance(node, Name):
            symbol = self.symbols.get(node.name)
            return _to_runtime(self.values.get(node.name), symbol.type if symbol else None)
        if isinstance(node, SelfRef):
            symbol = self.self_symbol
            return _to_runtime(self.self_value, symbol.type if symbol else None)
        return self.eval(node)

    def eval(self, node: Expr) -> XPathValue:
        match node:
            case Name() | SelfRef():
                value = self.stored(node)
                if self.types.of(node).kind == "boolean":
                    return rt.equals(value, "true")  # the compiled (${x} = 'true')
                return value
            case Number(value):
                return float(value)
            case String(value):
                return value
            case Boolean(value):
                return value
            case Not(operand):
                return not rt.to_boolean(self.eval(operand))
            case Negate(operand):
                return -rt.to_number(self.eval(operand))
            case Logical("and", left, right):
                return rt.to_boolean(self.eval(left)) and rt.to_boolean(self.eval(right))
            case Logical(_, left, right):
                return rt.to_boolean(self.eval(left)) or rt.to_boolean(self.eval(right))
            case Arithmetic(op, left, right):
                return rt.arithmetic(op, self.eval(left), self.eval(right))
            case Compare(op, left, right):
                mode = comparison_mode(self.types.of(left), self.types.of(right), left, right)
                if guards_empty_equality(op, mode, left, right):
                    equal = self.guarded_datetime_equality(left, right)
                    return equal if op == "=" else not equal
                if mode == "datetime":
                    a = rt.decimal_date_time(self.as_date(left))
                    b = rt.decimal_date_time(self.as_date(right))
                elif mode == "date":
                    a, b = self.as_date(left), self.as_date(right)
                else:
                    a, b = self.eval(left), self.eval(right)
                return rt.compare(op, a, b)
            case Call(function, args):
                return getattr(self, f"_fn_{function}")(node, args)
        raise TypeError(f"not a logic expression node: {node!r}")

    def guarded_datetime_equality(self, left: Expr, right: Expr) -> bool:
        """Mirror of the compiler's emptiness-guarded date-time ``=``."""
        a, b = self.as_date(left), self.as_date(right)
        if rt.string_length(a) > 0 and rt.string_length(b) > 0:
            return rt.equals(rt.decimal_date_time(a), rt.decimal_date_time(b))
        return rt.string_length(a) == 0 and rt.string_length(b) == 0

    def as_date(self, node: Expr) -> XPathValue:
        """Mirror of the compiler's ``date('...')`` for quoted dates."""
        if isinstance(node, String):
            return rt.to_date(node.value)
        return self.eval(node)

    def branch(self, call: Call, node: Expr) -> XPathValue:
        if is_date_valued(self.types.of(call)):
            return self.as_date(node)
        return self.eval(node)

    # -- functions (one method per entry of functions.FUNCTIONS)

    def _fn_selected(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        return rt.selected(self.stored(args[0]), self.eval(args[1]))

    def _fn_count_selected(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        return rt.count_selected(self.stored(args[0]))

    def _fn_answered(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        return rt.string_length(self.stored(args[0])) > 0

    def _fn_if(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        condition, then, otherwise = args
        chosen = then if rt.to_boolean(self.eval(condition)) else otherwise
        return self.branch(node, chosen)

    def _fn_today(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        return self.today

    def _fn_age_in_years(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        born = self.as_date(args[0])
        years = rt.arithmetic("-", rt.format_date(self.today, "%Y"), rt.format_date(born, "%Y"))
        before_birthday = rt.order(
            "<", rt.format_date(self.today, "%m%d"), rt.format_date(born, "%m%d")
        )
        return rt.arithmetic("-", years, 1.0 if before_birthday else 0.0)

    def _fn_days_between(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        first, second = args
        difference = rt.arithmetic(
            "-",
            rt.decimal_date_time(self.as_date(second)),
            rt.decimal_date_time(self.as_date(first)),
        )
        if days_between_rounds(self.types.of(first), self.types.of(second)):
            return rt.round_half(difference, 0.0)
        return rt.to_int(difference)

    def _fn_count_true(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        return float(sum(1 for arg in args if rt.to_boolean(self.eval(arg))))

    def _fn_coalesce(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        first = self.branch(node, args[0])
        return first if not rt.is_empty(first) else self.branch(node, args[1])

    def _fn_int(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        return rt.to_int(self.eval(args[0]))

    def _fn_round(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        # Mirrors if(x < 0, -(round(-x * F) div F), round(x * F) div F); see lowering.round_scale.
        places = round_places(args[1])
        if places is None:
            raise LogicCompileError(
                [LogicProblem("type", "round() needs whole-number decimal places", node.column)]
            )
        op, factor = round_scale(places)

        def rounded(magnitude: XPathValue) -> float:
            if op == "":
                return rt.round_half(magnitude, 0.0)
            scaled = rt.arithmetic("*" if op == "*" else "/", magnitude, float(factor))
            return rt.arithmetic(
                "/" if op == "*" else "*", rt.round_half(scaled, 0.0), float(factor)
            )

        value = self.eval(args[0])
        if rt.order("<", value, 0.0):
            return -rounded(-rt.to_number(value))
        return rounded(value)

    def _fn_length(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        return rt.string_length(self.eval(args[0]))

    def _fn_regex(self, node: Call, args: tuple[Expr, ...]) -> XPathValue:
        pattern = anchored_pattern(rt.to_string(self.eval(args[1])))
        return _compiled(pattern).fullmatch(rt.to_string(self.eval(args[0]))) is not None
