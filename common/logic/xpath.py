"""Compile checked expressions to XLSForm XPath (names become ``${name}``).

The output targets JavaRosa (ODK Collect) and ODK Web Forms / Enketo as pyxform passes it
through. docs/logic-language.md lists every construct; the rules that shape it most are:

- booleans are stored as the text ``'true'``/``'false'`` in XLSForm, so a boolean element used
  as a condition reads ``(${x} = 'true')``, and a boolean calculation is wrapped in
  ``if(cond, 'true', 'false')``;
- dates and date-times compare only as ``date('...')`` values or ``decimal-date-time()`` days
  (see :mod:`lowering`), never as quoted text;
- where the engines disagree (rounding, regex, empty date-times) the output is written so that
  they cannot, and the Python evaluator follows the same spelling.

Binary operators always get spaces: in XPath ``${a}-1`` would become the path ``/data/a-1``.
"""

from __future__ import annotations

from collections.abc import Mapping

from .checker import TypeMap, annotate, check, literal_problems
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
)
from .problems import LogicCompileError, LogicProblem
from .symbols import Symbol
from .unparse import format_number, quote

# XPath 1.0 operator precedence, weakest first.
_OR, _AND, _EQUALITY, _RELATIONAL, _ADDITIVE, _MULTIPLICATIVE, _UNARY, _PRIMARY = range(1, 9)

Rendered = tuple[str, int]


def to_xpath(
    expr: Expr, symbols: Mapping[str, Symbol], *, self_symbol: Symbol | None = None
) -> str:
    """The XLSForm XPath of ``expr``, for relevant/constraint/required columns.

    Raises :class:`LogicCompileError` if the expression does not check (unknown names, type
    errors, ...): a form must never carry logic the checker rejected. Pass ``self_symbol``
    when the expression uses ``.`` so a boolean or date ``.`` is compiled correctly.

    Example::

        >>> to_xpath(parse("age < 18 and selected(means, 'debt')"), symbols)
        "${age} < 18 and selected(${means}, 'debt')"
    """
    types, problems = annotate(expr, symbols, self_symbol)
    if problems:
        raise LogicCompileError(problems)
    return _XPath(types).render(expr)[0]


def calculation_to_xpath(expr: Expr, symbols: Mapping[str, Symbol], result: Symbol) -> str:
    """The XLSForm ``calculation`` for element ``result``.

    A boolean result is wrapped as ``if(cond, 'true', 'false')`` because XLSForm stores booleans
    as that text; a quoted date for a date element becomes ``date('...')``.

    Example: for a boolean ``is_minor``, ``age < 18`` compiles to
    ``if(${age} < 18, 'true', 'false')``.
    """
    _, problems = check(expr, symbols, "calculation", result)
    if problems:
        raise LogicCompileError(problems)
    types, _ = annotate(expr, symbols, None)
    compiler = _XPath(types)
    if result.type == "boolean":
        return f"if({compiler.render(expr)[0]}, 'true', 'false')"
    if result.type in ("date", "datetime"):
        return compiler.as_date(expr)[0]
    return compiler.render(expr)[0]


def _quoted(node: String) -> str:
    """``node`` as an XPath literal that survives pyxform.

    pyxform collapses runs of spaces in a cell, even inside quotes, so ``'a  b'`` is written as
    ``concat('a ', ' b')``: no two spaces end up next to each other.
    """
    problems = literal_problems(node.value)
    if problems:
        raise LogicCompileError([LogicProblem("syntax", problems[0], node.column)])
    pieces: list[str] = [""]
    for char in node.value:
        if char == " " and pieces[-1].endswith(" "):
            pieces.append("")
        pieces[-1] += char
    quoted = [quote(piece) for piece in pieces]
    return quoted[0] if len(quoted) == 1 else f"concat({', '.join(quoted)})"


def _wrap(part: Rendered, minimum: int) -> str:
    text, strength = part
    return f"({text})" if strength < minimum else text


class _XPath:
    """Renders one expression; ``types`` decides the type-dependent spellings."""

    def __init__(self, types: TypeMap) -> None:
        self.types = types

    def render(self, node: Expr) -> Rendered:
        match node:
            case Name() | SelfRef():
                reference = self.reference(node)
                if self.types.of(node).kind == "boolean":
                    return f"({reference} = 'true')", _PRIMARY
                return reference, _PRIMARY
            case Number(value):
                return format_number(value), _PRIMARY
            case String():
                return _quoted(node), _PRIMARY
            case Boolean(value):
                return ("true()" if value else "false()"), _PRIMARY
            case Not(operand):
                return f"not({self.render(operand)[0]})", _PRIMARY
            case Negate(operand):
                return f"-{_wrap(self.render(operand), _PRIMARY)}", _UNARY
            case Logical(op, left, right):
                strength = _OR if op == "or" else _AND
                return (
                    f"{_wrap(self.render(left), strength)} {op} "
                    f"{_wrap(self.render(right), strength + 1)}",
                    strength,
                )
            case Arithmetic(op, left, right):
                strength = _ADDITIVE if op in ("+", "-") else _MULTIPLICATIVE
                operator = "div" if op == "/" else op
                return (
                    f"{_wrap(self.render(left), strength)} {operator} "
                    f"{_wrap(self.render(right), strength + 1)}",
                    strength,
                )
            case Compare():
                return self.compare(node)
            case Call():
                return getattr(self, f"_fn_{node.function}")(node, node.args)
        raise TypeError(f"not a logic expression node: {node!r}")

    # -- pieces

    @staticmethod
    def reference(node: Expr) -> str:
        """``${name}`` or ``.``, raw: no boolean conversion (for answered(), selected(), ...)."""
        if isinstance(node, Name):
            return "${" + node.name + "}"
        if isinstance(node, SelfRef):
            return "."
        raise TypeError(f"not a reference: {node!r}")

    def as_date(self, node: Expr) -> Rendered:
        """``node`` where a date is meant: a quoted literal becomes ``date('...')``."""
        if isinstance(node, String):
            return f"date({_quoted(node)})", _PRIMARY
        return self.render(node)

    def compare(self, node: Compare) -> Rendered:
        mode = comparison_mode(
            self.types.of(node.left), self.types.of(node.right), node.left, node.right
        )
        strength = _EQUALITY if node.op in ("=", "!=") else _RELATIONAL
        if guards_empty_equality(node.op, mode, node.left, node.right):
            return self.guarded_datetime_equality(node)
        sides = []
        for side in (node.left, node.right):
            if mode == "datetime":
                sides.append(f"decimal-date-time({self.as_date(side)[0]})")
            elif mode == "date":
                sides.append(_wrap(self.as_date(side), _ADDITIVE))
            else:
                sides.append(_wrap(self.render(side), _ADDITIVE))
        return f"{sides[0]} {node.op} {sides[1]}", strength

    def guarded_datetime_equality(self, node: Compare) -> Rendered:
        """``a = b`` for two date-times that may be empty; see lowering.guards_empty_equality."""
        a, b = self.as_date(node.left)[0], self.as_date(node.right)[0]
        equal = (
            f"if(string-length({a}) > 0 and string-length({b}) > 0, "
            f"decimal-date-time({a}) = decimal-date-time({b}), "
            f"string-length({a}) = 0 and string-length({b}) = 0)"
        )
        return (equal if node.op == "=" else f"not({equal})"), _PRIMARY

    def branch(self, call: Call, node: Expr) -> str:
        """An if()/coalesce() value, as a date when the call's value is a date."""
        if is_date_valued(self.types.of(call)):
            return self.as_date(node)[0]
        return self.render(node)[0]

    # -- functions (one method per entry of functions.FUNCTIONS)

    def _fn_selected(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        return f"selected({self.reference(args[0])}, {self.render(args[1])[0]})", _PRIMARY

    def _fn_count_selected(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        return f"count-selected({self.reference(args[0])})", _PRIMARY

    def _fn_answered(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        return f"string-length({self.reference(args[0])}) > 0", _RELATIONAL

    def _fn_if(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        condition, then, otherwise = args
        return (
            f"if({self.render(condition)[0]}, {self.branch(node, then)}, "
            f"{self.branch(node, otherwise)})",
            _PRIMARY,
        )

    def _fn_today(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        return "today()", _PRIMARY

    def _fn_age_in_years(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        # Calendar arithmetic, not days / 365.25: the latter says 17 on an 18th birthday.
        born = self.as_date(args[0])[0]
        return (
            f"format-date(today(), '%Y') - format-date({born}, '%Y') - "
            f"if(format-date(today(), '%m%d') < format-date({born}, '%m%d'), 1, 0)",
            _ADDITIVE,
        )

    def _fn_days_between(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        first, second = args
        difference = (
            f"decimal-date-time({self.as_date(second)[0]}) - "
            f"decimal-date-time({self.as_date(first)[0]})"
        )
        rounds = days_between_rounds(self.types.of(first), self.types.of(second))
        return (f"round({difference})" if rounds else f"int({difference})"), _PRIMARY

    def _fn_count_true(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        terms = " + ".join(f"if({self.render(arg)[0]}, 1, 0)" for arg in args)
        return f"({terms})", _PRIMARY

    def _fn_coalesce(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        first, second = args
        return f"coalesce({self.branch(node, first)}, {self.branch(node, second)})", _PRIMARY

    def _fn_int(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        return f"int({self.render(args[0])[0]})", _PRIMARY

    def _fn_round(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        value = self.render(args[0])
        places = round_places(args[1])
        assert places is not None  # the checker insists on a literal
        op, factor = round_scale(places)

        def rounded(magnitude: Rendered) -> str:
            if op == "*":
                return f"round({_wrap(magnitude, _MULTIPLICATIVE)} * {factor}) div {factor}"
            if op == "/":
                return f"round({_wrap(magnitude, _MULTIPLICATIVE)} div {factor}) * {factor}"
            return f"round({magnitude[0]})"

        negated = (f"-{_wrap(value, _PRIMARY)}", _UNARY)
        return (
            f"if({_wrap(value, _ADDITIVE)} < 0, -({rounded(negated)}), {rounded(value)})",
            _PRIMARY,
        )

    def _fn_length(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        return f"string-length({self.render(args[0])[0]})", _PRIMARY

    def _fn_regex(self, node: Call, args: tuple[Expr, ...]) -> Rendered:
        pattern = args[1]
        assert isinstance(pattern, String)  # the checker insists on a quoted pattern
        anchored = _quoted(String(anchored_pattern(pattern.value), column=pattern.column))
        return f"regex({self.render(args[0])[0]}, {anchored})", _PRIMARY
