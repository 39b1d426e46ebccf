"""Type checking: every problem in an expression, found in one pass, in words an author can fix.

The checker also produces a :class:`TypeMap` (the type of every node). The XPath compiler and
the evaluator read it to make the same decisions (wrap a date literal in ``date()``, compare
date-times through ``decimal-date-time()``, read a boolean element as ``= 'true'``), which is
what keeps the Python evaluator and the compiled form in agreement.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .exprtypes import (
    BOOLEAN,
    DATE,
    NUMBER,
    UNKNOWN,
    ExprType,
    describe,
    type_of_symbol,
)
from .functions import FUNCTIONS
from .lowering import MAX_ROUND_PLACES, anchored_pattern, is_iso_date, round_places
from .nodes import (
    ORDERING_OPS,
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
)
from .parser import parse
from .problems import LogicProblem, LogicSyntaxError, ProblemKind
from .symbols import Context, Symbol
from .unparse import shorten, to_text

_DATE_KINDS = frozenset({"date", "datetime"})
_CURLY_QUOTES = "\u2018\u2019\u201c\u201d"


@dataclass(frozen=True)
class TypeMap:
    """The type of every node of one expression (keyed by node identity).

    Holds the root so the nodes, and therefore their identities, stay alive with the map.
    """

    root: Expr
    types: Mapping[int, ExprType] = field(repr=False)

    def of(self, node: Expr) -> ExprType:
        """The type of ``node`` (a node of ``root``); ``unknown`` for foreign nodes."""
        return self.types.get(id(node), UNKNOWN)


def check(
    expr: Expr,
    symbols: Mapping[str, Symbol],
    context: Context,
    self_symbol: Symbol | None,
) -> tuple[ExprType, list[LogicProblem]]:
    """Type-check ``expr`` for use in ``context``; return its type and ALL problems found.

    Why collect rather than raise: a codebook author fixes a list of problems in one sitting;
    stopping at the first would make them rerun the check once per mistake.

    ``self_symbol`` is the element the expression is attached to: it gives ``.`` its type, and
    a calculation's result must fit it. relevant/constraint/required must be conditions.

    Example::

        >>> check(parse("consent = 'maybe'"), symbols, "relevant", None)
        (ExprType(kind='boolean'), [LogicProblem(kind='unknown_option', message="'maybe' is not
        an option of 'consent'; valid codes: no, yes", column=11, name='consent')])
    """
    checker = _Checker(symbols, self_symbol, context)
    result = checker.infer(expr)
    checker.require_result(expr, result)
    return result, checker.sorted_problems()


def check_text(
    text: str,
    symbols: Mapping[str, Symbol],
    context: Context,
    self_symbol: Symbol | None,
) -> list[LogicProblem]:
    """Parse and check ``text``; a syntax error comes back as a problem instead of raising.

    Example: ``check_text("age >", symbols, "relevant", None)`` is one ``syntax`` problem at
    column 6.
    """
    try:
        expr = parse(text)
    except LogicSyntaxError as error:
        return [error.problem]
    return check(expr, symbols, context, self_symbol)[1]


def annotate(
    expr: Expr, symbols: Mapping[str, Symbol], self_symbol: Symbol | None = None
) -> tuple[TypeMap, list[LogicProblem]]:
    """Types of every node, with the problems that do not depend on where ``expr`` is used.

    For compilers and the evaluator: ``.`` without ``self_symbol`` is simply of unknown type,
    and no result type is required.
    """
    checker = _Checker(symbols, self_symbol, None)
    checker.infer(expr)
    return TypeMap(expr, dict(checker.types)), checker.sorted_problems()


# ---- helpers -------------------------------------------------------------------------------


def literal_problems(value: str) -> list[str]:
    """Why quoted text ``value`` cannot be carried intact into every target ([] if it can).

    XPath has no escapes; pyxform turns curly quotes into straight ones and ``${x}`` into a
    path; XML turns tabs and line breaks in attributes into spaces.
    """
    found = []
    if "'" in value and '"' in value:
        found.append("quoted text cannot contain both ' and \" (XPath has no escapes)")
    if "${" in value:
        found.append("quoted text cannot contain '${': XLSForm would read it as a reference")
    if any(quote in value for quote in _CURLY_QUOTES):
        found.append(
            "quoted text cannot contain curly quotes (\u2018 \u2019 \u201c \u201d): XLSForm "
            "turns them into straight quotes; use ' or \" instead"
        )
    if any(ord(char) < 32 for char in value):
        found.append("quoted text cannot contain tabs or line breaks")
    return found


def _what(node: Expr) -> str:
    """How a message names a part of the expression: ``'age'``, ``'a + 1'``."""
    try:
        return f"'{shorten(to_text(node))}'" if not isinstance(node, String) else to_text(node)
    except ValueError:
        return "this part"


def _reference_name(node: Expr) -> str | None:
    if isinstance(node, Name):
        return node.name
    if isinstance(node, SelfRef):
        return "."
    return None


def _codes(options: Iterable[str]) -> str:
    codes = sorted(options)
    shown = ", ".join(codes[:20])
    return shown + (f", ... ({len(codes)} in all)" if len(codes) > 20 else "")


# ---- the checker ---------------------------------------------------------------------------


class _Checker:
    """One pass over one expression; ``problems`` fills up in source order."""

    def __init__(
        self,
        symbols: Mapping[str, Symbol],
        self_symbol: Symbol | None,
        context: Context | None,
    ) -> None:
        self.symbols = symbols
        self.self_symbol = self_symbol
        self.context = context  # None: compiling/evaluating, no context rules
        self.problems: list[LogicProblem] = []
        self.types: dict[int, ExprType] = {}

    # -- reporting

    def sorted_problems(self) -> list[LogicProblem]:
        """Problems in source order (arguments are checked before their function's name)."""
        return sorted(self.problems, key=lambda problem: problem.column or 0)

    def problem(
        self,
        kind: ProblemKind,
        message: str,
        node: Expr | _AtColumn | None,
        name: str | None = None,
    ) -> None:
        column = node.column if node is not None else None
        self.problems.append(LogicProblem(kind, message, column, name))

    # -- inference

    def infer(self, node: Expr) -> ExprType:
        result = self._infer(node)
        self.types[id(node)] = result
        return result

    def _infer(self, node: Expr) -> ExprType:
        match node:
            case Number():
                return NUMBER
            case String(value):
                self._check_literal(node, value)
                return ExprType("text", literals=frozenset({value}))
            case Boolean():
                return BOOLEAN
            case Name():
                return self._name(node)
            case SelfRef():
                return self._self(node)
            case Not(operand):
                self.expect_condition(operand, self.infer(operand), "'not'")
                return BOOLEAN
            case Negate(operand):
                self.expect_number(operand, self.infer(operand), "'-'")
                return NUMBER
            case Logical(op, left, right):
                for side in (left, right):
                    self.expect_condition(side, self.infer(side), f"'{op}'")
                return BOOLEAN
            case Arithmetic(op, left, right):
                for side in (left, right):
                    self.expect_number(side, self.infer(side), f"'{op}'")
                return NUMBER
            case Compare():
                self._compare(node, self.infer(node.left), self.infer(node.right))
                return BOOLEAN
            case Call():
                return self._call(node)
        raise TypeError(f"not a logic expression node: {node!r}")

    def _check_literal(self, node: String, value: str) -> None:
        for message in literal_problems(value):
            self.problem("syntax", message, node)

    def _name(self, node: Name) -> ExprType:
        symbol = self.symbols.get(node.name)
        if symbol is not None:
            return type_of_symbol(symbol)
        hint = ""
        if node.name in FUNCTIONS:
            hint = f"; {node.name} is a function, write {FUNCTIONS[node.name].signature}"
        else:
            close = difflib.get_close_matches(node.name, list(self.symbols), n=1, cutoff=0.6)
            if close:
                hint = f"; did you mean '{close[0]}'?"
        self.problem("unknown_name", f"unknown element '{node.name}'{hint}", node, node.name)
        return UNKNOWN

    def _self(self, node: SelfRef) -> ExprType:
        if self.context == "calculation":
            self.problem(
                "context",
                "'.' (the element's own value) cannot be used in a calculation, which is what "
                "produces that value; name the elements the calculation reads instead",
                node,
            )
            return UNKNOWN
        if self.self_symbol is None:
            if self.context is not None:
                self.problem(
                    "context",
                    "'.' stands for the value of the element the expression is attached to, "
                    "but no element was given",
                    node,
                )
            return UNKNOWN
        return type_of_symbol(self.self_symbol)

    # -- expectations shared by operators and functions

    def expect_condition(self, node: Expr, actual: ExprType, where: str) -> None:
        if actual.kind in ("boolean", "unknown"):
            return
        message = (
            f"{where} needs a condition (true or false), but {_what(node)} is {describe(actual)}"
        )
        self.problem(
            "type", message + self._condition_hint(node, actual), node, _reference_name(node)
        )

    def _condition_hint(self, node: Expr, actual: ExprType) -> str:
        name = _reference_name(node) or "x"
        if actual.kind == "choice":
            example = sorted(actual.options)[0] if actual.options else "yes"
            return f"; compare it with an option code, e.g. {name} = '{example}'"
        if actual.kind == "choices":
            return f"; use selected({name}, 'code')"
        if actual.kind in ("text", "number", "date", "datetime", "geopoint") and isinstance(
            node, (Name, SelfRef)
        ):
            return f"; use answered({name}) to test that it has a value"
        return ""

    def expect_number(self, node: Expr, actual: ExprType, where: str) -> None:
        if actual.kind in ("number", "unknown"):
            return
        hint = ""
        if actual.kind in _DATE_KINDS:
            hint = "; use days_between(d1, d2) for the days from one date to another"
        elif actual.kind == "boolean":
            hint = "; use count_true(...) to count conditions that hold"
        elif actual.kind == "choices":
            hint = (
                f"; use count_selected({_reference_name(node) or 'x'}) to count the options ticked"
            )
        elif actual.kind == "text" and isinstance(node, String):
            hint = "; numbers are written without quotes"
        self.problem(
            "type",
            f"{where} needs a number, but {_what(node)} is {describe(actual)}{hint}",
            node,
            _reference_name(node),
        )

    def expect_date(self, node: Expr, actual: ExprType, where: str) -> None:
        if actual.kind in ("date", "datetime", "unknown"):
            return
        if isinstance(node, String):
            if not is_iso_date(node.value):
                self.problem(
                    "type",
                    f"{where} needs a date, and {_what(node)} is not one; write dates as "
                    "'YYYY-MM-DD', e.g. '2024-03-31'",
                    node,
                )
            return
        self.problem(
            "type",
            f"{where} needs a date, but {_what(node)} is {describe(actual)}",
            node,
            _reference_name(node),
        )

    def expect_text(self, node: Expr, actual: ExprType, where: str) -> None:
        if actual.kind in ("text", "choice", "unknown"):
            return
        self.problem(
            "type",
            f"{where} needs text, but {_what(node)} is {describe(actual)}",
            node,
            _reference_name(node),
        )

    def check_options(
        self, node: Expr, codes: Iterable[str], options: frozenset[str] | None, element: str | None
    ) -> None:
        """Report each code in ``codes`` that is not in ``options`` (when options are known)."""
        if options is None:
            return
        for code in sorted(set(codes) - options):
            owner = f"'{element}'" if element else "this select"
            self.problem(
                "unknown_option",
                f"'{code}' is not an option of {owner}; valid codes: {_codes(options)}",
                node,
                element,
            )

    # -- comparisons

    def _compare(self, node: Compare, left: ExprType, right: ExprType) -> None:
        op = node.op
        sides = ((node.left, left), (node.right, right))
        if "unknown" in (left.kind, right.kind):
            return
        for side, side_type in sides:
            name = _reference_name(side) or "x"
            if side_type.kind == "choices":
                self.problem(
                    "type",
                    f"'{op}' cannot compare the select_multiple {_what(side)}; use "
                    f"selected({name}, 'code') to test one option, or count_selected({name}) "
                    "to count the options ticked",
                    side,
                    _reference_name(side),
                )
                return
            if side_type.kind == "geopoint":
                self.problem(
                    "type",
                    f"'{op}' cannot compare the geopoint {_what(side)}; a geopoint can only be "
                    f"tested with answered({name})",
                    side,
                    _reference_name(side),
                )
                return
        kinds = {left.kind, right.kind}
        ordering = op in ORDERING_OPS
        if kinds == {"number"} or kinds <= _DATE_KINDS:
            return
        if len(kinds & _DATE_KINDS) == 1 and "text" in kinds:
            self._compare_date_with_text(node, sides)
            return
        if kinds == {"choice", "text"} or kinds == {"choice"}:
            if ordering:
                self._no_order(node, "option codes")
                return
            self._compare_choice(sides)
            return
        if kinds == {"text"} or kinds == {"boolean"}:
            if ordering:
                self._no_order(node, "text" if "text" in kinds else "conditions")
            return
        self._incomparable(node, sides)

    def _compare_date_with_text(self, node: Compare, sides: tuple) -> None:
        for side, side_type in sides:
            if side_type.kind != "text":
                continue
            if isinstance(side, String):
                if not is_iso_date(side.value):
                    self.problem(
                        "type",
                        f"{_what(side)} is not a date; write dates as 'YYYY-MM-DD', e.g. "
                        "'2024-03-31'",
                        side,
                    )
            else:
                self.problem(
                    "type",
                    f"'{node.op}' cannot compare a date with {_what(side)}, which is text; "
                    "compare dates with dates or with a literal 'YYYY-MM-DD'",
                    side,
                    _reference_name(side),
                )

    def _compare_choice(self, sides: tuple) -> None:
        (left_node, left), (right_node, right) = sides
        for choice_node, choice, other_node, other in (
            (left_node, left, right_node, right),
            (right_node, right, left_node, left),
        ):
            if choice.kind == "choice" and other.kind == "text" and other.literals is not None:
                self.check_options(
                    other_node, other.literals, choice.options, _reference_name(choice_node)
                )

    def _no_order(self, node: Compare, what: str) -> None:
        self.problem(
            "type",
            f"'{node.op}' orders numbers and dates only; {what} can be compared with = or != "
            "but have no order",
            node if node.op_column is None else _AtColumn(node.op_column),
        )

    def _incomparable(self, node: Compare, sides: tuple) -> None:
        (left_node, left), (right_node, right) = sides
        kinds = {left.kind, right.kind}
        hint = ""
        if kinds == {"number", "text"}:
            hint = "; numbers are written without quotes, e.g. age = 5"
        elif kinds == {"number", "choice"}:
            hint = "; option codes are quoted, e.g. x = '1'"
        elif "boolean" in kinds:
            hint = "; compare conditions with conditions, e.g. b = true"
        self.problem(
            "type",
            f"'{node.op}' cannot compare {_what(left_node)} ({describe(left)}) with "
            f"{_what(right_node)} ({describe(right)}){hint}",
            node if node.op_column is None else _AtColumn(node.op_column),
            _reference_name(left_node) or _reference_name(right_node),
        )

    # -- functions

    def _call(self, node: Call) -> ExprType:
        arg_types = [self.infer(arg) for arg in node.args]
        spec = FUNCTIONS.get(node.function)
        if spec is None:
            close = difflib.get_close_matches(node.function, list(FUNCTIONS), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]}()?" if close else ""
            known = ", ".join(f"{name}()" for name in FUNCTIONS)
            self.problem(
                "unknown_name",
                f"unknown function '{node.function}()'{hint} (the functions are {known})",
                node,
                node.function,
            )
            return UNKNOWN
        if not spec.accepts(len(node.args)):
            self.problem(
                "arity",
                f"{spec.name}() takes {spec.expected_count()}, {spec.signature}, but got "
                f"{len(node.args)}",
                node,
                spec.name,
            )
        typer = getattr(self, f"_fn_{spec.name}")
        return typer(node, list(node.args), arg_types)

    def _reference_arg(
        self, node: Call, arg: Expr, actual: ExprType, kinds: frozenset[str], wanted: str
    ) -> bool:
        if not isinstance(arg, (Name, SelfRef)):
            self.problem(
                "type",
                f"{node.function}() needs {wanted} element name (or '.') as its first argument, "
                f"not {_what(arg)}",
                arg,
            )
            return False
        if actual.kind not in kinds | {"unknown"}:
            hint = ""
            if node.function == "count_selected" and actual.kind == "choice":
                hint = f"; for a select_one use answered({_reference_name(arg)})"
            self.problem(
                "type",
                f"{node.function}() needs {wanted} element, but {_what(arg)} is "
                f"{describe(actual)}{hint}",
                arg,
                _reference_name(arg),
            )
            return False
        return True

    def _fn_selected(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        if (
            args
            and self._reference_arg(
                node,
                args[0],
                types[0],
                frozenset({"choice", "choices"}),
                "a select_one or select_multiple",
            )
            and len(args) > 1
        ):
            code = args[1]
            if isinstance(code, String):
                self.check_options(code, [code.value], types[0].options, _reference_name(args[0]))
            else:
                self.problem(
                    "type",
                    f"selected() needs a quoted option code as its second argument, e.g. "
                    f"selected({_reference_name(args[0])}, 'code'), not {_what(code)}",
                    code,
                )
        return BOOLEAN

    def _fn_count_selected(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        if args:
            self._reference_arg(
                node, args[0], types[0], frozenset({"choices"}), "a select_multiple"
            )
        return NUMBER

    def _fn_answered(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        if args and not isinstance(args[0], (Name, SelfRef)):
            self.problem(
                "type",
                f"answered() takes an element name or '.', e.g. answered(phone_number), not "
                f"{_what(args[0])}",
                args[0],
            )
        return BOOLEAN

    def _fn_if(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        if args:
            self.expect_condition(args[0], types[0], "the first argument of if()")
        if len(args) >= 3:
            return self.unify(node, args[1], types[1], args[2], types[2])
        return UNKNOWN

    def _fn_today(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        return DATE

    def _fn_age_in_years(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        for arg, actual in zip(args, types, strict=True):
            self.expect_date(arg, actual, "age_in_years()")
        return NUMBER

    def _fn_days_between(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        for arg, actual in zip(args, types, strict=True):
            self.expect_date(arg, actual, "days_between()")
        return NUMBER

    def _fn_count_true(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        for arg, actual in zip(args, types, strict=True):
            self.expect_condition(arg, actual, "count_true()")
        return NUMBER

    def _fn_coalesce(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        usable = True
        for arg, actual in zip(args, types, strict=True):
            if actual.kind == "boolean":
                usable = False
                self.problem(
                    "type",
                    f"coalesce() cannot take the condition {_what(arg)}: a condition is never "
                    "empty; write if(answered(x), x, y) instead",
                    arg,
                    _reference_name(arg),
                )
        if usable and len(args) == 2:
            return self.unify(node, args[0], types[0], args[1], types[1])
        return UNKNOWN

    def _fn_int(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        for arg, actual in zip(args, types, strict=True):
            self.expect_number(arg, actual, "int()")
        return NUMBER

    def _fn_round(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        if args:
            self.expect_number(args[0], types[0], "round()")
        if len(args) > 1 and round_places(args[1]) is None:
            self.problem(
                "type",
                "round() needs a whole number of decimal places as its second argument, "
                f"from -{MAX_ROUND_PLACES} to {MAX_ROUND_PLACES}, e.g. round(x, 2); "
                f"not {_what(args[1])}",
                args[1],
            )
        return NUMBER

    def _fn_length(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        for arg, actual in zip(args, types, strict=True):
            self.expect_text(arg, actual, "length()")
        return NUMBER

    def _fn_regex(self, node: Call, args: list[Expr], types: list[ExprType]) -> ExprType:
        if args:
            self.expect_text(args[0], types[0], "regex()")
        if len(args) > 1:
            pattern = args[1]
            if not isinstance(pattern, String):
                self.problem(
                    "type",
                    f"regex() needs a quoted pattern as its second argument, not {_what(pattern)}",
                    pattern,
                )
            else:
                try:
                    re.compile(anchored_pattern(pattern.value))
                except re.error as error:
                    self.problem(
                        "syntax",
                        f"the pattern {_what(pattern)} of regex() is not a valid regular "
                        f"expression: {error}",
                        pattern,
                    )
        return BOOLEAN

    # -- if()/coalesce() results

    def unify(self, node: Call, first: Expr, a: ExprType, second: Expr, b: ExprType) -> ExprType:
        """The type of a value that is either ``a`` or ``b`` (if/coalesce branches)."""
        if a.kind == "unknown":
            return b
        if b.kind == "unknown":
            return a
        if a.kind == b.kind:
            if a.kind == "text":
                both = a.literals is not None and b.literals is not None
                return ExprType("text", literals=(a.literals | b.literals) if both else None)  # type: ignore[operator]
            if a.kind in ("choice", "choices"):
                both = a.options is not None and b.options is not None
                return ExprType(a.kind, options=(a.options | b.options) if both else None)  # type: ignore[operator]
            return a
        kinds = {a.kind, b.kind}
        if kinds == {"choice", "text"}:
            choice, text = (a, b) if a.kind == "choice" else (b, a)
            if text.literals is not None and choice.options is not None:
                return ExprType("choice", options=choice.options | text.literals)
            return ExprType("text")
        if kinds == {"date", "datetime"}:
            return ExprType("datetime")
        if len(kinds & _DATE_KINDS) == 1 and "text" in kinds:
            dated, text = (a, b) if a.kind in _DATE_KINDS else (b, a)
            if text.literals is not None and all(is_iso_date(value) for value in text.literals):
                return dated
        self.problem(
            "type",
            f"{node.function}() must give values of one type, but {_what(first)} is "
            f"{describe(a)} and {_what(second)} is {describe(b)}",
            second,
            _reference_name(second),
        )
        return UNKNOWN

    # -- the result, by context

    def require_result(self, expr: Expr, result: ExprType) -> None:
        if self.context is None or result.kind == "unknown":
            return
        if self.context != "calculation":
            if result.kind != "boolean":
                self.problem(
                    "type",
                    f"a {self.context} expression must be a condition (true or false), but "
                    f"{_what(expr)} is {describe(result)}{self._condition_hint(expr, result)}",
                    expr,
                    _reference_name(expr),
                )
            return
        if self.self_symbol is not None:
            self._require_calculation(expr, result, self.self_symbol)

    def _require_calculation(self, expr: Expr, result: ExprType, target: Symbol) -> None:
        kind = result.kind
        fits = {
            "integer": kind == "number",
            "decimal": kind == "number",
            "text": kind in ("text", "choice", "number", "date", "datetime"),
            "date": kind == "date"
            or (
                kind == "text"
                and result.literals is not None
                and all(is_iso_date(value) for value in result.literals)
            ),
            "datetime": kind in _DATE_KINDS,
            "boolean": kind == "boolean",
            "geopoint": kind == "geopoint",
            "select_one": kind == "choice" or (kind == "text" and result.literals is not None),
            "select_multiple": kind == "choices"
            or (kind == "text" and result.literals is not None),
        }[target.type]
        if not fits:
            wanted = {
                "integer": "a number",
                "decimal": "a number",
                "text": "text, a number or a date",
                "date": "a date",
                "datetime": "a date or a date and time",
                "boolean": "a condition (true or false)",
                "geopoint": "a geopoint",
                "select_one": "one of its option codes",
                "select_multiple": "a set of its option codes",
            }[target.type]
            self.problem(
                "type",
                f"the calculation of '{target.name}' ({target.type}) must produce {wanted}, "
                f"but {_what(expr)} is {describe(result)}",
                expr,
                target.name,
            )
            return
        if target.type == "select_one":
            codes = result.options if kind == "choice" else result.literals
            if codes is not None:
                self.check_options(expr, codes, target.options, target.name)
        elif target.type == "select_multiple":
            if kind == "choices":
                codes = result.options
            else:
                codes = {code for value in result.literals or () for code in value.split()}
            if codes is not None:
                self.check_options(expr, codes, target.options, target.name)


@dataclass(frozen=True)
class _AtColumn:
    """A stand-in node for problems that point at an operator rather than an operand."""

    column: int | None
