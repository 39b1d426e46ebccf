"""Compile codebook expressions into DHIS2 program rules and the variables they read.

The logic tree (``tipdata.logic``) is rewritten (:mod:`logic_rewrites`: calculated elements
inlined, ``if()`` lifted, emptiness made explicit) and then spelt in DHIS2's program-rule
expression language: ``#{variable}``, ``V{current_date}``, ``&&``, ``||``, ``!``, ``==``,
``d2:hasValue('variable')``, ``d2:containsItems``, ``d2:condition``, ``d2:daysBetween``,
``d2:yearsBetween``, ``d2:round``, ``d2:length``, ``d2:validatePattern``.

Per element:

- ``relevant`` → a HIDEFIELD rule on NOT(relevant);
- ``constraint`` → a SHOWERROR rule (the constraint message) when the element is relevant,
  answered, and the constraint fails: constraints, like XLSForm's, apply to answered values only;
- ``required`` → SETMANDATORYFIELD when the element is required only sometimes (an expression, or
  ``true`` on an element that is not always relevant); plain ``true`` is the stage's
  ``compulsory`` flag instead;
- ``calculation`` → ASSIGN rules, one per branch of the calculation's ``if()`` tree, and one
  that empties the element when it is not relevant or its value does not exist.

Semantics followed: the DHIS2 expression parser and rule engine (dhis2/expression-parser,
dhis2/dhis2-rule-engine), which the server's tracker importer, the Android app and the current
Capture web app share. Points that shaped the output:

- operators are grouped one operator at a time in the order ``^ * / % + - < > <= >= == != && ||``
  (``a - b + c`` is read ``a - (b + c)``), so every mixed arithmetic is parenthesised;
- a variable without a value reads 0 (number), '' (text), false (boolean), null (date); numeric
  and date comparisons are therefore guarded by ``d2:hasValue`` (see ``logic_rewrites.defined``);
- string literals decode backslash escapes, and ``d2:condition``'s condition is a string that is
  parsed again, so quotes alternate ``'`` then ``"``; a third level does not exist and makes the
  expression untranslatable;
- ``d2:yearsBetween`` counts whole years like ``age_in_years`` for dates up to today; for a date
  after today it truncates towards zero where XPath subtracts calendar years (the codebook's
  constraints reject such dates);
- ``d2:round`` rounds the decimal text of the number (``1.005`` → ``1.01``) where the logic
  language rounds the binary value (``1.005`` → ``1``): results can differ by one unit in the
  last place at exact decimal halves (reported as a warning, not skipped);
- ``mod`` and date-time comparisons are not compiled: ``%`` gives ``7 % -5 = -3`` where XPath
  gives 2, and the d2 date functions ignore the time of day.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from tipdata.logic import (
    Arithmetic,
    Boolean,
    Call,
    Compare,
    Expr,
    LogicSyntaxError,
    Name,
    Negate,
    Not,
    Number,
    String,
    Symbol,
    annotate,
    parse,
    walk,
)
from tipdata.logic import Logical as LogicalNode
from tipdata.model import Codebook, Element
from tipdata.validation import symbols_of

from .logic_rewrites import (
    FALSE,
    STORED,
    TRUE,
    Calculation,
    Inliner,
    Untranslatable,
    branches,
    conjunction,
    defined,
    disjunction,
    empty_kind,
    empty_name,
    facts_of,
    flatten,
    kind_of,
    lift_ifs,
    negate,
    reads_empty,
    remove_coalesce,
    replace_self,
    simplify,
)

__all__ = [
    "D2Compiler",
    "D2Renderer",
    "RulePlan",
    "RuleSpec",
    "SkippedRule",
    "Untranslatable",
    "VariableSpec",
    "compile_condition",
    "compile_value",
    "plan_program_rules",
    "variable_name",
]

SourceType = Literal["TEI_ATTRIBUTE", "DATAELEMENT_CURRENT_EVENT", "DATAELEMENT_NEWEST_EVENT_PROGRAM"]
ActionType = Literal["HIDEFIELD", "SHOWERROR", "ASSIGN", "SETMANDATORYFIELD"]

_OR, _AND, _COMPARE, _ARITHMETIC, _UNARY, _PRIMARY = range(1, 7)
_QUOTES = ("'", '"')
_D2_OPERATORS = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_INVERSE = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_UID_LIKE = re.compile(r"^[a-zA-Z][a-zA-Z0-9]{10}$")
#: suffix of the variable reading an element from another stage; '-' cannot occur in a code
NEWEST_SUFFIX = "-newest"

Rendered = tuple[str, int]
VariableOf = Callable[[str], str]


def variable_name(code: str, newest: bool = False) -> str:
    """The program rule variable name for element ``code``.

    A name that looks like a UID (11 letters and digits) would be read as a data element UID
    inside ``#{...}``, so it gets a suffix.
    """
    name = code + NEWEST_SUFFIX if newest else code
    return name + "-value" if _UID_LIKE.match(name) else name


# ---- rendering ----------------------------------------------------------------------------------


def _quote(value: str, depth: int) -> str:
    if depth >= len(_QUOTES):
        raise Untranslatable(
            "it needs three levels of nested quotes (a condition inside a condition string "
            "inside another), which DHIS2 expressions cannot write"
        )
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')
    return f"{_QUOTES[depth]}{escaped}{_QUOTES[depth]}"


def _number(value: int | Decimal) -> str:
    return str(value) if isinstance(value, int) else format(value, "f")


def _wrap(part: Rendered, minimum: int) -> str:
    text, strength = part
    return f"({text})" if strength < minimum else text


class D2Renderer:
    """Spells one rewritten logic tree in DHIS2 program-rule syntax.

    ``variable`` maps an element code to the program rule variable to read (and may raise
    :class:`Untranslatable`, e.g. for an element the package leaves out).
    """

    def __init__(self, symbols: Mapping[str, Symbol], variable: VariableOf) -> None:
        self.symbols = symbols
        self.variable = variable

    # -- entry points

    def condition(self, node: Expr, facts: frozenset[Expr] = frozenset(), depth: int = 0) -> str:
        """A condition; ``facts`` are conditions known to hold where it is evaluated."""
        return self.render(simplify(node, facts), depth, facts)[0]

    def value(self, node: Expr, facts: frozenset[Expr] = frozenset(), depth: int = 0) -> str:
        return self.render(simplify(node, facts), depth, facts)[0]

    # -- nodes

    def render(self, node: Expr, depth: int, facts: frozenset[Expr]) -> Rendered:
        if isinstance(node, _ItemExists):
            reference = self.render(node.name, depth, facts)[0]
            return f"d2:split({reference}, {_quote(',', depth)}, {node.index}) != {_quote('', depth)}", _COMPARE
        kind = empty_kind(node)
        if kind is not None:
            if kind == "boolean":
                return "false", _PRIMARY
            if kind in ("text", "choice"):
                return _quote("", depth), _PRIMARY
            raise Untranslatable("an empty number or date reached a value position")
        match node:
            case Name(name):
                return "#{" + self.variable(name) + "}", _PRIMARY
            case Number(value):
                return _number(value), _PRIMARY
            case String(value):
                return _quote(value, depth), _PRIMARY
            case Boolean(value):
                return ("true" if value else "false"), _PRIMARY
            case Not(operand) if isinstance(operand, Compare):
                return self.compare(operand, depth, facts, negated=True)
            case Not(operand):
                return "!" + _wrap(self.render(operand, depth, facts), _PRIMARY), _UNARY
            case Negate(operand):
                return "-" + _wrap(self.render(operand, depth, facts), _PRIMARY), _UNARY
            case LogicalNode():
                return self.logical(node, depth, facts)
            case Compare():
                return self.compare(node, depth, facts)
            case Arithmetic(op, left, right):
                return self.arithmetic(op, left, right, depth, facts)
            case Call(function, (inner,)) if function == STORED:
                return self.render(inner, depth, facts)
            case Call(function, args):
                method = getattr(self, f"_fn_{function}", None)
                if method is None:
                    raise Untranslatable(f"{function}() has no DHIS2 program-rule equivalent")
                return method(args, depth, facts)
        raise TypeError(f"not a logic expression node: {node!r}")

    def logical(self, node: LogicalNode, depth: int, facts: frozenset[Expr]) -> Rendered:
        op = node.op
        strength = _AND if op == "and" else _OR
        texts = []
        known = facts
        for part in flatten(node, op):
            part = simplify(part, known)
            text, part_strength = self.render(part, depth, known)
            # and inside or gets brackets for the reader; or inside and needs them
            if part_strength < strength or (op == "or" and part_strength == _AND):
                text = f"({text})"
            texts.append(text)
            if op == "and":
                # a && b evaluates b only when a holds, so b may rely on a
                known = known | facts_of(part)
        return (" && " if op == "and" else " || ").join(texts), strength

    def arithmetic(self, op: str, left: Expr, right: Expr, depth: int,
                   facts: frozenset[Expr]) -> Rendered:
        if op == "mod":
            raise Untranslatable(
                "mod: DHIS2's % differs from XPath's mod for negative numbers "
                "(d2:modulus(7, -5) is -3, 7 mod -5 is 2 in XPath)"
            )
        left_part = self.render(left, depth, facts)
        same_chain = isinstance(left, Arithmetic) and left.op == op
        left_text = left_part[0] if same_chain else _wrap(left_part, _ARITHMETIC + 1)
        right_text = _wrap(self.render(right, depth, facts), _ARITHMETIC + 1)
        return f"{left_text} {op} {right_text}", _ARITHMETIC

    def compare(self, node: Compare, depth: int, facts: frozenset[Expr],
                negated: bool = False) -> Rendered:
        """A comparison (or its negation), guarded so that an empty number or date behaves as in
        XPath: NaN, which compares false except with ``!=``, or '' where both sides read ''."""
        threshold = self.count_threshold(node, depth, facts)
        if threshold is not None:
            return self.render(simplify(negate(threshold) if negated else threshold, facts),
                               depth, facts)
        op, left, right = node.op, node.left, node.right
        kinds = {kind_of(left, self.symbols), kind_of(right, self.symbols)}
        if "datetime" in kinds:
            raise Untranslatable(
                "it compares date-times, and the d2 date functions only see calendar dates"
            )
        if kinds & {"choices", "geopoint"}:
            raise Untranslatable("it compares a select_multiple or geopoint value")
        effective = _INVERSE[op] if negated else op
        if not kinds & {"date", "number"}:
            # text, option codes, conditions: '' and false read the same in both languages
            return (f"{_wrap(self.render(left, depth, facts), _PRIMARY)} {_D2_OPERATORS[effective]} "
                    f"{_wrap(self.render(right, depth, facts), _PRIMARY)}"), _COMPARE
        if "date" in kinds:
            first, second = self.date(right, depth, facts), self.date(left, depth, facts)

            def core(operator: str) -> str:
                return f"d2:daysBetween({first}, {second}) {_D2_OPERATORS[operator]} 0"
        else:
            left_text = _wrap(self.render(left, depth, facts), _ARITHMETIC)
            right_text = _wrap(self.render(right, depth, facts), _ARITHMETIC)

            def core(operator: str) -> str:
                return f"{left_text} {_D2_OPERATORS[operator]} {right_text}"
        guard = simplify(
            conjunction([defined(left, self.symbols), defined(right, self.symbols)]), facts
        )
        if op in ("=", "!="):
            both_empty = simplify(conjunction([reads_empty(left, self.symbols),
                                               reads_empty(right, self.symbols)]), facts)
            if both_empty != FALSE:
                return self.equality(guard, core, both_empty, effective == "=", depth, facts)
        # with both sides present the comparison decides; with one missing XPath says false,
        # except for != (and so the negation of = and of the orderings says true)
        missing_is_true = effective == "!=" or (negated and op not in ("=", "!="))
        if guard == TRUE:
            return core(effective), _COMPARE
        if guard == FALSE:
            return ("true" if missing_is_true else "false"), _PRIMARY
        if missing_is_true:
            missing = simplify(disjunction(negate(part) for part in flatten(guard, "and")))
            return f"{self.render(missing, depth, facts)[0]} || {core(effective)}", _OR
        return f"{self.render(guard, depth, facts)[0]} && {core(effective)}", _AND

    def equality(self, guard: Expr, core: Callable[[str], str], both_empty: Expr, equal: bool,
                 depth: int, facts: frozenset[Expr]) -> Rendered:
        """``=`` or ``!=`` where both sides may read '': XPath finds '' equal to '', so "equal"
        means (both present and equal) or (both empty), and "different" its negation."""
        if equal:
            parts: list[Rendered] = []
            if guard == TRUE:
                parts.append((core("="), _COMPARE))
            elif guard != FALSE:
                parts.append((f"{self.render(guard, depth, facts)[0]} && {core('=')}", _AND))
            parts.append(self.render(both_empty, depth, facts))
            if len(parts) == 1:
                return parts[0]
            return " || ".join(_wrap(part, _AND + 1) for part in parts), _OR
        not_empty = self.render(simplify(negate(both_empty), facts), depth, facts)
        if guard == FALSE:
            return not_empty
        if guard == TRUE:
            differs: Rendered = (core("!="), _COMPARE)
        else:
            missing = simplify(disjunction(negate(part) for part in flatten(guard, "and")))
            differs = (f"{self.render(missing, depth, facts)[0]} || {core('!=')}", _OR)
        return f"{_wrap(differs, _AND)} && {_wrap(not_empty, _AND)}", _AND

    def date(self, node: Expr, depth: int, facts: frozenset[Expr]) -> str:
        """A date operand of a d2 date function: a variable, a quoted date or today."""
        if isinstance(node, Name | String) or (isinstance(node, Call) and node.function == "today"):
            return self.render(node, depth, facts)[0]
        raise Untranslatable("a computed date where DHIS2 needs a date variable or literal")

    def _nested(self, node: Expr, depth: int, facts: frozenset[Expr]) -> str:
        """``node`` as the quoted condition string of ``d2:condition``."""
        inner = self.render(simplify(node, facts), depth + 1, facts)[0]
        return _quote_raw(inner, depth)

    # -- functions (one per entry of tipdata.logic.FUNCTIONS)

    def _fn_selected(self, args: tuple[Expr, ...], depth: int, facts: frozenset[Expr]) -> Rendered:
        name, code = args
        if not isinstance(name, Name):
            raise Untranslatable("selected() of something other than an element")
        reference = self.render(name, depth, facts)[0]
        if kind_of(name, self.symbols) == "choices":
            return f"d2:containsItems({reference}, {self.render(code, depth, facts)[0]})", _PRIMARY
        return f"{reference} == {_wrap(self.render(code, depth, facts), _PRIMARY)}", _COMPARE

    def _fn_count_selected(self, args: tuple[Expr, ...], depth: int,
                           facts: frozenset[Expr]) -> Rendered:
        (name,) = args
        if not isinstance(name, Name):
            raise Untranslatable("count_selected() of something other than an element")
        symbol = self.symbols[name.name]
        if symbol.type == "select_one":
            flags = [Call("answered", (name,))]
        else:
            flags = [Call("selected", (name, String(code))) for code in sorted(symbol.options or ())]
        if not flags:
            return "0", _PRIMARY
        return self._count(flags, depth, facts)

    def _count(self, flags: list[Expr], depth: int, facts: frozenset[Expr]) -> Rendered:
        terms, constant = [], 0
        for flag in flags:
            flag = simplify(flag, facts)
            if isinstance(flag, Boolean):
                constant += flag.value
            else:
                terms.append(f"d2:condition({self._nested(flag, depth, facts)}, 1, 0)")
        if constant or not terms:
            terms.append(str(constant))
        return " + ".join(terms), (_PRIMARY if len(terms) == 1 else _ARITHMETIC)

    def count_threshold(self, node: Compare, depth: int, facts: frozenset[Expr]) -> Expr | None:
        """``count_selected(x) op k`` without summing one term per option.

        ``count_selected(x) >= n`` holds when item n of the comma-separated MULTI_TEXT value
        exists: ``d2:split(#{x}, ',', n - 1) != ''`` (``d2:hasValue`` for n = 1).
        """
        op, left, right = node.op, node.left, node.right
        if isinstance(right, Call) and right.function == "count_selected":
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            left, right = right, left
        if not (isinstance(left, Call) and left.function == "count_selected"
                and isinstance(left.args[0], Name) and isinstance(right, Number)
                and isinstance(right.value, int)
                and self.symbols[left.args[0].name].type == "select_multiple"):
            return None
        name, k = left.args[0], right.value

        def at_least(n: int) -> Expr:
            if n <= 0:
                return TRUE
            if n == 1:
                return Call("answered", (name,))
            return _ItemExists(name, n - 1)

        condition = {
            ">=": at_least(k), ">": at_least(k + 1), "<": negate(at_least(k)),
            "<=": negate(at_least(k + 1)), "=": conjunction([at_least(k), negate(at_least(k + 1))]),
            "!=": negate(conjunction([at_least(k), negate(at_least(k + 1))])),
        }[op]
        return condition

    def _fn_answered(self, args: tuple[Expr, ...], depth: int, facts: frozenset[Expr]) -> Rendered:
        (name,) = args
        if not isinstance(name, Name):
            raise Untranslatable("answered() of something other than an element")
        return f"d2:hasValue({_quote(self.variable(name.name), depth)})", _PRIMARY

    def _fn_count_true(self, args: tuple[Expr, ...], depth: int,
                       facts: frozenset[Expr]) -> Rendered:
        return self._count(list(args), depth, facts)

    def _fn_today(self, args: tuple[Expr, ...], depth: int, facts: frozenset[Expr]) -> Rendered:
        return "V{current_date}", _PRIMARY

    def _fn_age_in_years(self, args: tuple[Expr, ...], depth: int,
                         facts: frozenset[Expr]) -> Rendered:
        if kind_of(args[0], self.symbols) == "datetime":
            raise Untranslatable("age_in_years() of a date-time")
        return f"d2:yearsBetween({self.date(args[0], depth, facts)}, V{{current_date}})", _PRIMARY

    def _fn_days_between(self, args: tuple[Expr, ...], depth: int,
                         facts: frozenset[Expr]) -> Rendered:
        if "datetime" in {kind_of(arg, self.symbols) for arg in args}:
            raise Untranslatable(
                "days_between() of a date-time: the d2 date functions only see calendar dates"
            )
        first, second = (self.date(arg, depth, facts) for arg in args)
        return f"d2:daysBetween({first}, {second})", _PRIMARY

    def _fn_int(self, args: tuple[Expr, ...], depth: int, facts: frozenset[Expr]) -> Rendered:
        (value,) = args
        number = self.render(value, depth, facts)[0]
        negative = self._nested(Compare("<", value, Number(0)), depth, facts)
        return f"d2:condition({negative}, d2:ceil({number}), d2:floor({number}))", _PRIMARY

    def _fn_round(self, args: tuple[Expr, ...], depth: int, facts: frozenset[Expr]) -> Rendered:
        value, places = args
        if not (isinstance(places, Number) and isinstance(places.value, int)):
            raise Untranslatable("round() to a negative or computed number of places")
        return f"d2:round({self.render(value, depth, facts)[0]}, {places.value})", _PRIMARY

    def _fn_length(self, args: tuple[Expr, ...], depth: int, facts: frozenset[Expr]) -> Rendered:
        return f"d2:length({self.render(args[0], depth, facts)[0]})", _PRIMARY

    def _fn_regex(self, args: tuple[Expr, ...], depth: int, facts: frozenset[Expr]) -> Rendered:
        text, pattern = args
        if not isinstance(pattern, String):
            raise Untranslatable("regex() with a computed pattern")
        # d2:validatePattern matches the WHOLE text (Kotlin String.matches), as regex() does
        rendered = self.render(text, depth, facts)[0]
        return f"d2:validatePattern({rendered}, {_quote(pattern.value, depth)})", _PRIMARY

    def _fn_if(self, args: tuple[Expr, ...], depth: int, facts: frozenset[Expr]) -> Rendered:
        raise Untranslatable("an if() that could not be lifted out of a value")

    def _fn_coalesce(self, args: tuple[Expr, ...], depth: int, facts: frozenset[Expr]) -> Rendered:
        raise Untranslatable("a coalesce() that could not be rewritten")


@dataclass(frozen=True)
class _ItemExists:
    """Rendering-only node: the MULTI_TEXT value ``name`` has an item at ``index`` (from 0)."""

    name: Name
    index: int


def _quote_raw(expression: str, depth: int) -> str:
    """An already rendered expression (written for ``depth + 1``) as a ``depth`` string literal.

    Its own literals use the other quote character, so only backslashes and this level's
    quote would need escaping, and the nested level never emits this level's quote unescaped.
    """
    if depth >= len(_QUOTES):
        raise Untranslatable("it needs three levels of nested quotes")
    return f"{_QUOTES[depth]}{expression}{_QUOTES[depth]}"


# ---- compiling expressions ----------------------------------------------------------------------


class D2Compiler:
    """Compiles the expressions of one set of elements (normally a codebook's) to d2 syntax.

    ``calculations`` are the calculated elements, inlined wherever they are read.

    Example::

        compiler = D2Compiler({"age": Symbol("age", "integer")})
        compiler.condition("age >= 18", lambda code: code)
        # "d2:hasValue('age') && #{age} >= 18"
    """

    def __init__(self, symbols: Mapping[str, Symbol],
                 calculations: Mapping[str, Calculation] | None = None) -> None:
        self.symbols = dict(symbols)
        calculations = dict(calculations or {})
        for calculation in calculations.values():
            sentinel = empty_name(calculation.symbol).name
            self.symbols[sentinel] = Symbol(sentinel, calculation.symbol.type,
                                            calculation.symbol.options)
        self.inliner = Inliner(calculations, self.symbols)

    @classmethod
    def for_codebook(cls, codebook: Codebook) -> D2Compiler:
        symbols = symbols_of(codebook)
        calculations = {
            element.code: Calculation(
                symbols[element.code],
                _parse(element.calculation),
                _parse(element.relevant) if element.relevant else None,
            )
            for element in codebook.elements.values()
            if element.calculation is not None
        }
        return cls(symbols, calculations)

    def prepare(self, text: str | Expr, element: str | None) -> Expr:
        """Parse, check, inline and lift one expression of ``element`` (what ``.`` means)."""
        expr = _parse(text) if isinstance(text, str) else text
        own = self.symbols.get(element) if element else None
        _, problems = annotate(expr, self.symbols, own)
        if problems:
            raise Untranslatable(f"it does not check: {problems[0].message}")
        if element is not None:
            expr = replace_self(expr, element)
        expr = self.inliner.inline(expr)
        return simplify(lift_ifs(remove_coalesce(expr, self.symbols), self.symbols))

    def condition(self, text: str | Expr, variable: VariableOf, element: str | None = None) -> str:
        """The d2 condition for a codebook condition (relevant, constraint, required)."""
        return D2Renderer(self.symbols, variable).condition(self.prepare(text, element))

    def value(self, text: str | Expr, variable: VariableOf) -> list[tuple[str, str]]:
        """The (condition, expression) pairs computing a calculation; none holding means empty."""
        renderer = D2Renderer(self.symbols, variable)
        value = self.prepare(text, None)
        return [(renderer.condition(condition), renderer.value(leaf, facts_of(condition)))
                for condition, leaf in _value_branches(value, self.symbols)]


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Expr:
    """Parsed once per text: the trees are immutable, and the same expression is read for every
    element that inlines it."""
    try:
        return parse(text)
    except LogicSyntaxError as error:
        raise Untranslatable(f"it does not parse: {error.problem.message}") from None


def compile_condition(text: str, codebook: Codebook, variable: VariableOf,
                      element: str | None = None) -> str:
    """The DHIS2 program-rule condition for the codebook condition ``text``.

    ``element`` is the element the expression belongs to (what ``.`` means); ``variable`` maps
    element codes to rule variable names. Raises :class:`Untranslatable` with the reason.

    Example::

        >>> compile_condition("consent_screening = 'yes'", codebook, lambda code: code)
        "#{consent_screening} == 'yes'"
    """
    return D2Compiler.for_codebook(codebook).condition(text, variable, element)


def compile_value(text: str, codebook: Codebook, variable: VariableOf) -> list[tuple[str, str]]:
    """The (condition, expression) pairs that compute the value of calculation ``text``.

    One pair per branch of the calculation's ``if()`` tree; where no condition holds the value
    is empty. Example: ``if(a > 1, 'x', 'y')`` gives
    ``[("d2:hasValue('a') && #{a} > 1", "'x'"), ("!d2:hasValue('a') || #{a} <= 1", "'y'")]``
    (modulo spelling).
    """
    return D2Compiler.for_codebook(codebook).value(text, variable)


def _value_branches(value: Expr, symbols: Mapping[str, Symbol]) -> list[tuple[Expr, Expr]]:
    if kind_of(value, symbols) == "boolean":
        return [(TRUE, value)]
    result = []
    for path, leaf in branches(value):
        condition = simplify(conjunction([path, defined(leaf, symbols)]))
        if condition != FALSE:
            result.append((condition, leaf))
    return result


# ---- planning the rules of a codebook -----------------------------------------------------------


@dataclass(frozen=True)
class VariableSpec:
    """A program rule variable: which element it reads, and from where."""

    name: str
    element: str
    source: SourceType


@dataclass(frozen=True)
class RuleSpec:
    """One program rule with one action, before ids are given.

    ``key`` is stable across builds (the UID seed); ``stage`` is the level whose events the
    rule is limited to (None: everywhere, as for attribute rules).
    """

    key: str
    element: str
    kind: str
    stage: str | None
    action: ActionType
    condition: str
    data: str | None = None
    content: str | None = None
    description: str = ""


@dataclass(frozen=True)
class SkippedRule:
    """An expression left without a rule because DHIS2 cannot express it faithfully."""

    element: str
    kind: str
    expression: str
    reason: str

    def message(self) -> str:
        return (f"{self.element} {self.kind} `{' '.join(self.expression.split())}`: no program "
                f"rule, because {self.reason}")


@dataclass(frozen=True)
class RulePlan:
    rules: tuple[RuleSpec, ...]
    variables: tuple[VariableSpec, ...]
    skipped: tuple[SkippedRule, ...]
    notes: tuple[str, ...] = ()


@dataclass
class _Planner:
    codebook: Codebook
    places: Mapping[str, str | None]
    excluded: Mapping[str, str]
    compiler: D2Compiler
    variables: dict[str, VariableSpec] = field(default_factory=dict)
    rules: list[RuleSpec] = field(default_factory=list)
    skipped: list[SkippedRule] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def resolver(self, stage: str | None, used: dict[str, VariableSpec]) -> VariableOf:
        def variable(code: str) -> str:
            if code in self.excluded:
                raise Untranslatable(
                    f"it reads '{code}', which this package leaves out ({self.excluded[code]})"
                )
            if code not in self.places:
                raise Untranslatable(f"it reads '{code}', which is not in the package")
            place = self.places[code]
            if place is None:
                spec = VariableSpec(variable_name(code), code, "TEI_ATTRIBUTE")
            elif place == stage:
                spec = VariableSpec(variable_name(code), code, "DATAELEMENT_CURRENT_EVENT")
            else:
                spec = VariableSpec(variable_name(code, newest=True), code,
                                    "DATAELEMENT_NEWEST_EVENT_PROGRAM")
            used[spec.name] = spec
            return spec.name

        return variable

    def element(self, element: Element) -> None:
        code = element.code
        relevant = element.relevant
        if relevant:
            self._attempt(element, "relevant", relevant, lambda r: [
                self._rule(element, "relevant", "HIDEFIELD",
                           r.condition(negate(self.compiler.prepare(relevant, code))))
            ])
        if element.calculation:
            self._attempt(element, "calculation", element.calculation,
                          lambda r: self._calculation(element, r))
        if element.constraint:
            constraint = element.constraint

            def showerror(r: D2Renderer) -> list[RuleSpec]:
                condition = conjunction([
                    self._relevance(element),
                    Call("answered", (Name(code),)),
                    negate(self.compiler.prepare(constraint, code)),
                ])
                message = element.constraint_message or f"The value does not meet `{constraint}`."
                return [self._rule(element, "constraint", "SHOWERROR", r.condition(condition),
                                   content=message)]

            self._attempt(element, "constraint", constraint, showerror)
        required = element.required
        if element.calculation is None and (isinstance(required, str) or (required and relevant)):
            text = required if isinstance(required, str) else "true"

            def mandatory(r: D2Renderer) -> list[RuleSpec]:
                condition = conjunction([self._relevance(element),
                                         self.compiler.prepare(text, code)])
                return [self._rule(element, "required", "SETMANDATORYFIELD", r.condition(condition))]

            self._attempt(element, "required", text, mandatory)

    def _relevance(self, element: Element) -> Expr:
        return self.compiler.prepare(element.relevant, element.code) if element.relevant else TRUE

    def _calculation(self, element: Element, r: D2Renderer) -> list[RuleSpec]:
        value = self.compiler.prepare(element.calculation or "", None)
        relevance = self._relevance(element)
        rules, empty = [], [negate(relevance)]
        for index, (path, leaf) in enumerate(self._leaves(value), 1):
            has_value = defined(leaf, self.compiler.symbols)
            # the paths are exclusive and cover every case, so the value is empty exactly
            # when not relevant or when the leaf of the path taken has no value
            empty.append(conjunction([path, negate(has_value)]))
            condition = simplify(conjunction([relevance, path, has_value]))
            if condition == FALSE:
                continue
            rules.append(self._rule(element, "calculation", "ASSIGN", r.condition(condition),
                                    data=r.value(leaf, facts_of(condition)), index=index))
        clear = simplify(disjunction(empty))
        if clear != FALSE:
            rules.append(self._rule(element, "calculation", "ASSIGN", r.condition(clear),
                                    data="''", index=0))
        nodes = list(walk(value))
        if any(isinstance(node, Call) and node.function in ("today", "age_in_years") for node in nodes):
            self.notes.append(
                f"{element.code} calculation depends on today's date: DHIS2 recomputes it whenever "
                "the rules run, so a synced value from an earlier day can differ and the tracker "
                "importer rejects the ASSIGN (E1307); sync with skipRuleEngine=true or enable "
                "the ruleEngineAssignOverwrite setting"
            )
        if any(isinstance(node, Call) and node.function == "round"
               for node in walk(_parse(element.calculation or ""))):
            self.notes.append(
                f"{element.code} calculation: d2:round rounds the decimal text (1.005 → 1.01), "
                "the codebook the binary value (1.005 → 1); at exact decimal halves the two can "
                "differ in the last place"
            )
        return rules

    def _leaves(self, value: Expr) -> list[tuple[Expr, Expr]]:
        if kind_of(value, self.compiler.symbols) == "boolean":
            return [(TRUE, value)]
        return branches(value)

    def _rule(self, element: Element, kind: str, action: ActionType, condition: str, *,
              data: str | None = None, content: str | None = None,
              index: int | None = None) -> RuleSpec:
        key = f"{element.code}:{kind}" + ("" if index is None else f":{index or 'clear'}")
        text = getattr(element, kind) if kind != "required" else element.required
        return RuleSpec(key, element.code, kind, self.places[element.code], action, condition,
                        data, content, f"{kind} of {element.code}: {' '.join(str(text).split())}")

    def _attempt(self, element: Element, kind: str, text: str,
                 build: Callable[[D2Renderer], list[RuleSpec]]) -> None:
        used: dict[str, VariableSpec] = {}
        renderer = D2Renderer(self.compiler.symbols,
                              self.resolver(self.places[element.code], used))
        try:
            rules = build(renderer)
        except Untranslatable as error:
            self.skipped.append(SkippedRule(element.code, kind, text, error.reason))
            return
        self.rules.extend(rules)
        for name, spec in used.items():
            existing = self.variables.setdefault(name, spec)
            if existing != spec:
                raise ValueError(f"rule variable {name!r} would read both {existing} and {spec}")


def plan_program_rules(codebook: Codebook, places: Mapping[str, str | None],
                       excluded: Mapping[str, str] | None = None) -> RulePlan:
    """Every program rule (and the variables it reads) for the elements in ``places``.

    ``places`` maps each element in the package to its program stage (a level name) or to None
    for a tracked entity attribute; ``excluded`` maps elements left out to the reason. An
    expression that cannot be compiled faithfully gets no rule and one :class:`SkippedRule`.

    Example::

        plan = plan_program_rules(codebook, {"age": "screening", "adult_q": "screening"})
        [rule.action for rule in plan.rules]   # ['HIDEFIELD']
    """
    planner = _Planner(codebook, places, excluded or {}, D2Compiler.for_codebook(codebook))
    for element in codebook.elements.values():
        if element.code in places:
            planner.element(element)
    variables = tuple(sorted(planner.variables.values(), key=lambda spec: spec.name))
    return RulePlan(tuple(planner.rules), variables, tuple(planner.skipped), tuple(planner.notes))
