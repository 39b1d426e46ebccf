"""Rewrites of logic trees that make them expressible as DHIS2 program rules.

DHIS2 rule expressions differ from the logic language in three ways that matter, and each rewrite
here removes one difference before :mod:`program_rules` spells the tree in d2 syntax:

- **No chaining.** A rule that assigns a data element does not update the rule variables other
  rules read in the same run (dhis2-rule-engine 3.x `RuleConditionEvaluator`: a field ASSIGN only
  emits an effect). So a reference to a calculated element is *inlined*: replaced by its own
  calculation, guarded by its relevance, down to the answers that are really stored
  (:func:`inline_calculations`). Every rule then computes from raw answers in one pass, on any
  engine version, with no rule priorities to get wrong.
- **No lazy if.** `d2:condition('c', a, b)` evaluates both `a` and `b`, and its condition is a
  string literal, so nesting costs a level of quoting. :func:`lift_ifs` moves every non-boolean
  `if()` up to the nearest condition and turns it into `(c and ...) or (not c and ...)`; what is
  left at the top of a calculation is split into one rule per branch by :func:`branches`.
- **No empty numbers.** A DHIS2 rule variable without a value reads 0 (numbers), '' (text),
  false (booleans) or null (dates), where the logic language has XPath's NaN and ''.
  :func:`defined` gives the condition under which a value exists, so comparisons can be guarded
  with `d2:hasValue` and keep XPath's answers.

Calculated elements that are not relevant are empty, as in the XLSForm: inlining wraps them as
`if(relevant, calculation, EMPTY)` with a sentinel name standing for the empty value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tipdata.logic import (
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
    Symbol,
    children,
)

TRUE = Boolean(True)
FALSE = Boolean(False)

#: functions whose first argument must stay an element name
NAME_ARGUMENT_FUNCTIONS = frozenset({"selected", "count_selected", "answered"})
_BOOLEAN_FUNCTIONS = frozenset({"selected", "answered", "regex"})
_NUMBER_FUNCTIONS = frozenset(
    {"count_selected", "count_true", "int", "round", "length", "age_in_years", "days_between"}
)
_KIND_OF_TYPE = {
    "text": "text", "integer": "number", "decimal": "number", "date": "date",
    "datetime": "datetime", "select_one": "choice", "select_multiple": "choices",
    "boolean": "boolean", "geopoint": "geopoint",
}
_EMPTY_PREFIX = "~empty~"
#: pseudo-function marking an inlined calculated number or date: XLSForm stores its NaN as ''
STORED = "~stored"


class Untranslatable(Exception):
    """The expression uses a construct with no faithful DHIS2 program-rule spelling."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---- kinds --------------------------------------------------------------------------------------


def empty_name(symbol: Symbol) -> Name:
    """The sentinel standing for the empty value of a calculated element that is not relevant."""
    return Name(f"{_EMPTY_PREFIX}{_KIND_OF_TYPE[symbol.type]}~{symbol.name}")


def empty_kind(node: Expr) -> str | None:
    """The kind of an empty sentinel, or None when ``node`` is not one."""
    if isinstance(node, Name) and node.name.startswith(_EMPTY_PREFIX):
        return node.name[len(_EMPTY_PREFIX):].split("~", 1)[0]
    return None


def kind_of(node: Expr, symbols: Mapping[str, Symbol]) -> str:
    """The value kind of ``node``: number, text, choice, choices, date, datetime, boolean, geopoint.

    Structural, so it also types the nodes the rewrites create. A quoted literal is ``text``; the
    side it is compared with decides whether it is read as a date.
    """
    match node:
        case Name(name):
            kind = empty_kind(node)
            if kind is not None:
                return kind
            symbol = symbols.get(name)
            if symbol is None:
                raise Untranslatable(f"'{name}' is not an element of the codebook")
            return _KIND_OF_TYPE[symbol.type]
        case SelfRef():
            raise Untranslatable("'.' must be replaced by the element before compiling")
        case Number() | Negate() | Arithmetic():
            return "number"
        case String():
            return "text"
        case Boolean() | Not() | Logical() | Compare():
            return "boolean"
        case Call(function, args):
            if function in _BOOLEAN_FUNCTIONS:
                return "boolean"
            if function in _NUMBER_FUNCTIONS:
                return "number"
            if function == "today":
                return "date"
            if function == STORED:
                return kind_of(args[0], symbols)
            if function in ("if", "coalesce"):
                branches_ = args[1:] if function == "if" else args
                kinds = [kind_of(arg, symbols) for arg in branches_ if not isinstance(arg, String)]
                return kinds[0] if kinds else "text"
            raise Untranslatable(f"{function}() has no DHIS2 program-rule equivalent yet")
    raise TypeError(f"not a logic expression node: {node!r}")


# ---- tree helpers -------------------------------------------------------------------------------


def with_children(node: Expr, new: tuple[Expr, ...]) -> Expr:
    """``node`` with its direct sub-expressions replaced (same order as ``children``)."""
    match node:
        case Not():
            return Not(new[0])
        case Negate():
            return Negate(new[0])
        case Logical(op):
            return Logical(op, new[0], new[1])
        case Compare(op):
            return Compare(op, new[0], new[1])
        case Arithmetic(op):
            return Arithmetic(op, new[0], new[1])
        case Call(function):
            return Call(function, tuple(new))
    return node


def replace_self(node: Expr, code: str) -> Expr:
    """``node`` with ``.`` replaced by the element ``code`` it belongs to."""
    if isinstance(node, SelfRef):
        return Name(code)
    kids = children(node)
    return with_children(node, tuple(replace_self(kid, code) for kid in kids)) if kids else node


def conjunction(parts: Iterable[Expr]) -> Expr:
    return _chain("and", list(parts), TRUE)


def disjunction(parts: Iterable[Expr]) -> Expr:
    return _chain("or", list(parts), FALSE)


def _chain(op: str, parts: list[Expr], unit: Expr) -> Expr:
    if not parts:
        return unit
    result = parts[0]
    for part in parts[1:]:
        result = Logical(op, result, part)  # type: ignore[arg-type]
    return result


def flatten(node: Expr, op: str) -> list[Expr]:
    """The operands of a chain of ``op`` (``a and b and c`` → [a, b, c])."""
    if isinstance(node, Logical) and node.op == op:
        return flatten(node.left, op) + flatten(node.right, op)
    return [node]


def negate(node: Expr) -> Expr:
    return node.operand if isinstance(node, Not) else Not(node)


# ---- simplification -----------------------------------------------------------------------------


def simplify(node: Expr, facts: frozenset[Expr] = frozenset()) -> Expr:
    """Fold constants, flatten and/or chains, drop repeats, and use ``facts`` known to hold.

    Only for readability and for dropping guards a rule condition already gives; the result
    means the same as ``node`` whenever every fact holds.
    """
    if node in facts:
        return TRUE
    if negate(node) in facts or (isinstance(node, Not) and node.operand in facts):
        return FALSE
    match node:
        case Name() if empty_kind(node) == "boolean":
            return FALSE
        case Not(operand):
            inner = simplify(operand, facts)
            if isinstance(inner, Boolean):
                return Boolean(not inner.value)
            return negate(inner)
        case Logical(op):
            unit, zero = (TRUE, FALSE) if op == "and" else (FALSE, TRUE)
            kept: list[Expr] = []
            for part in flatten(node, op):
                for piece in flatten(simplify(part, facts), op):
                    if piece == zero:
                        return zero
                    if piece != unit and piece not in kept:
                        kept.append(piece)
            if any(negate(piece) in kept for piece in kept):
                return zero  # a and not a / a or not a
            kept = _absorb(kept, op)
            return _chain(op, kept, unit)
        case Compare(op, left, right):
            left, right = simplify(left, facts), simplify(right, facts)
            folded = _fold_compare(op, left, right)
            return folded if folded is not None else Compare(op, left, right)
        case Call(function, args) if function != "answered":
            return Call(function, tuple(simplify(arg, facts) for arg in args))
        case Arithmetic(op, left, right):
            return Arithmetic(op, simplify(left, facts), simplify(right, facts))
        case Negate(operand):
            return Negate(simplify(operand, facts))
    return node


def _absorb(parts: list[Expr], op: str) -> list[Expr]:
    """``a or (not a and b)`` → ``a or b``; ``a and (not a or b)`` → ``a and b``."""
    inner = "and" if op == "or" else "or"
    result = []
    for index, part in enumerate(parts):
        others = [negate(other) for i, other in enumerate(parts) if i != index]
        pieces = flatten(part, inner)
        if len(pieces) > 1 and any(piece in others for piece in pieces):
            pieces = [piece for piece in pieces if piece not in others]
            part = _chain(inner, pieces, TRUE if inner == "and" else FALSE)
        result.append(part)
    return result


def _literal_text(node: Expr) -> str | None:
    if isinstance(node, String):
        return node.value
    if empty_kind(node) in ("text", "choice"):
        return ""
    return None


def _fold_compare(op: str, left: Expr, right: Expr) -> Expr | None:
    if op not in ("=", "!="):
        return None
    a, b = _literal_text(left), _literal_text(right)
    if a is None or b is None:
        return None
    return Boolean((a == b) == (op == "="))


# ---- inlining calculated elements ---------------------------------------------------------------


@dataclass(frozen=True)
class Calculation:
    """A calculated element as rules see it: its value when relevant, empty otherwise."""

    symbol: Symbol
    expr: Expr
    relevant: Expr | None


class Inliner:
    """Replaces references to calculated elements by their calculations, recursively."""

    def __init__(self, calculations: Mapping[str, Calculation], symbols: Mapping[str, Symbol]):
        self.calculations = calculations
        self.symbols = symbols

    def inline(self, node: Expr, stack: tuple[str, ...] = ()) -> Expr:
        match node:
            case Name(name) if name in self.calculations:
                return self._value(name, stack)
            case Call("answered", (Name(name),)) if name in self.calculations:
                value = self._value(name, stack)
                if self.calculations[name].symbol.type in ("text", "select_one"):
                    return nonempty(value, self.symbols)
                return defined(value, self.symbols)
            case Call("selected", (Name(name), code)) if name in self.calculations:
                if self.calculations[name].symbol.type != "select_one":
                    raise Untranslatable(
                        f"selected() on the calculated select_multiple '{name}'"
                    )
                return Compare("=", self._value(name, stack), code)
            case Call("count_selected", (Name(name),)) if name in self.calculations:
                raise Untranslatable(f"count_selected() on the calculated '{name}'")
        kids = children(node)
        if not kids:
            return node
        return with_children(node, tuple(self.inline(kid, stack) for kid in kids))

    def _value(self, name: str, stack: tuple[str, ...]) -> Expr:
        if name in stack:
            raise Untranslatable(f"the calculation of '{name}' depends on itself")
        calculation = self.calculations[name]
        inner = (*stack, name)
        value = self.inline(calculation.expr, inner)
        if calculation.relevant is not None:
            relevant = self.inline(replace_self(calculation.relevant, name), inner)
            value = Call("if", (relevant, value, empty_name(calculation.symbol)))
        if calculation.symbol.type in ("integer", "decimal", "date", "datetime"):
            value = Call(STORED, (value,))
        return value


# ---- emptiness ----------------------------------------------------------------------------------


def defined(node: Expr, symbols: Mapping[str, Symbol]) -> Expr:
    """The condition under which ``node`` has a value (not empty, not XPath's NaN of an empty).

    Conditions always have one (false is a value); a stored element has one when answered.
    """
    kind = empty_kind(node)
    if kind is not None:
        return FALSE
    match node:
        case Name():
            return Call("answered", (node,))
        case Number() | String() | Boolean() | Not() | Logical() | Compare():
            return TRUE
        case Negate(operand):
            return defined(operand, symbols)
        case Arithmetic(_, left, right):
            return conjunction([defined(left, symbols), defined(right, symbols)])
        case Call("if", (condition, then, otherwise)):
            return disjunction([
                conjunction([condition, defined(then, symbols)]),
                conjunction([negate(condition), defined(otherwise, symbols)]),
            ])
        case Call("coalesce", (first, second)):
            return disjunction([defined(first, symbols), defined(second, symbols)])
        case Call("int" | "round" | "age_in_years", args):
            return defined(args[0], symbols)
        case Call(function, (inner,)) if function == STORED:
            return defined(inner, symbols)
        case Call("days_between", (first, second)):
            return conjunction([defined(first, symbols), defined(second, symbols)])
        case Call():
            return TRUE  # today(), counts, length(), conditions
    raise TypeError(f"not a logic expression node: {node!r}")


def nonempty(node: Expr, symbols: Mapping[str, Symbol]) -> Expr:
    """The condition under which ``node`` is not empty, as the form engines' coalesce() tests.

    JavaRosa's coalesce treats a NaN number as empty (XPathFuncExpr.isNull), and so does
    `tipdata.logic.evaluate`; so for computed numbers this is the same as :func:`defined`.
    """
    if empty_kind(node) is not None:
        return FALSE
    match node:
        case Name():
            return Call("answered", (node,))
        case String(value):
            return Boolean(value != "")
        case Call("if", (condition, then, otherwise)):
            return disjunction([
                conjunction([condition, nonempty(then, symbols)]),
                conjunction([negate(condition), nonempty(otherwise, symbols)]),
            ])
        case Call("coalesce", (first, second)):
            return disjunction([nonempty(first, symbols), nonempty(second, symbols)])
        case Call(function, (inner,)) if function == STORED:
            return defined(inner, symbols)
    return defined(node, symbols)


def reads_empty(node: Expr, symbols: Mapping[str, Symbol]) -> Expr:
    """The condition under which ``node`` is the empty string when XPath compares it with ``=``.

    XPath compares two strings as strings, so two unanswered elements are equal (``'' = ''``),
    while a computed number of an empty input is NaN and equals nothing. A stored calculation
    that came out NaN reads as '' again.
    """
    if empty_kind(node) is not None:
        return TRUE
    match node:
        case Name():
            return negate(Call("answered", (node,)))
        case String(value):
            return Boolean(value == "")
        case Call(function, (inner,)) if function == STORED:
            return negate(defined(inner, symbols))
        case Call("if", (condition, then, otherwise)):
            return disjunction([
                conjunction([condition, reads_empty(then, symbols)]),
                conjunction([negate(condition), reads_empty(otherwise, symbols)]),
            ])
        case Call("coalesce", (first, second)):
            return conjunction([reads_empty(first, symbols), reads_empty(second, symbols)])
    return FALSE


# ---- lifting if() -------------------------------------------------------------------------------


def remove_coalesce(node: Expr, symbols: Mapping[str, Symbol]) -> Expr:
    """``coalesce(a, b)`` → ``if(<a is not empty>, a, b)``, so that lifting can handle it."""
    kids = children(node)
    if kids:
        node = with_children(node, tuple(remove_coalesce(kid, symbols) for kid in kids))
    if isinstance(node, Call) and node.function == "coalesce":
        first, second = node.args
        return Call("if", (nonempty(first, symbols), first, second))
    return node


def lift_ifs(node: Expr, symbols: Mapping[str, Symbol]) -> Expr:
    """Move non-boolean ``if()`` up to the nearest condition and spell boolean ones with and/or.

    ``if(c, a, b) < 5`` becomes ``(c and a < 5) or (not c and b < 5)``: exact, because ``c`` is a
    condition without side effects and exactly one branch applies. Afterwards an ``if()`` can
    only remain at the top of a value (a calculation), where :func:`branches` splits it.
    """
    kids = children(node)
    if kids:
        node = with_children(node, tuple(lift_ifs(kid, symbols) for kid in kids))
    if isinstance(node, Call) and node.function == "if":
        if kind_of(node, symbols) == "boolean":
            condition, then, otherwise = node.args
            return Logical(
                "or", Logical("and", condition, then), Logical("and", negate(condition), otherwise)
            )
        return node
    if isinstance(node, Call) and node.function in (NAME_ARGUMENT_FUNCTIONS | {"count_true"}):
        return node
    if isinstance(node, Compare | Arithmetic | Negate | Call):
        kids = children(node)
        for index, kid in enumerate(kids):
            if isinstance(kid, Call) and kid.function == "if":
                condition, then, otherwise = kid.args
                first = with_children(node, kids[:index] + (then,) + kids[index + 1:])
                second = with_children(node, kids[:index] + (otherwise,) + kids[index + 1:])
                return lift_ifs(Call("if", (condition, first, second)), symbols)
    return node


def branches(node: Expr) -> list[tuple[Expr, Expr]]:
    """The (condition, value) pairs of a lifted value: one per leaf of its ``if()`` tree.

    The conditions are mutually exclusive and together always true.
    """
    if isinstance(node, Call) and node.function == "if":
        condition, then, otherwise = node.args
        return [(conjunction([condition, c]), v) for c, v in branches(then)] + [
            (conjunction([negate(condition), c]), v) for c, v in branches(otherwise)
        ]
    return [(TRUE, node)]


def facts_of(condition: Expr) -> frozenset[Expr]:
    """The conjuncts of ``condition``: each holds wherever the condition does."""
    facts = set(flatten(condition, "and"))
    return frozenset(fact for fact in facts if not isinstance(fact, Boolean))
