"""The syntax tree of the logic language: target-neutral, immutable, renderer-agnostic.

Every renderer (XPath today; DHIS2 program rules and Frappe validation later) and the Python
evaluator walk these nodes, so the tree carries meaning only, never target syntax: a function
call stays ``Call("selected", ...)`` and each renderer decides how to spell it.

``column`` (1-based, where the node starts in the source text) is kept for error messages and
excluded from equality, so ``parse("a = 1") == Compare("=", Name("a"), Number(1))``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, TypeAlias

LogicalOp: TypeAlias = Literal["and", "or"]
CompareOp: TypeAlias = Literal["=", "!=", "<", "<=", ">", ">="]
ArithmeticOp: TypeAlias = Literal["+", "-", "*", "/", "mod"]

COMPARE_OPS: tuple[CompareOp, ...] = ("=", "!=", "<", "<=", ">", ">=")
ORDERING_OPS: frozenset[str] = frozenset({"<", "<=", ">", ">="})


@dataclass(frozen=True)
class Name:
    """A reference to a data element by its code, e.g. ``age_at_screening``."""

    name: str
    column: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SelfRef:
    """``.``: the value of the element the expression is attached to (constraints etc.)."""

    column: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Number:
    """A number literal; ``int`` for ``12``, ``Decimal`` for ``1.5`` (exact, as written)."""

    value: int | Decimal
    column: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class String:
    """A quoted literal: text, an option code, or a ``'YYYY-MM-DD'`` date."""

    value: str
    column: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Boolean:
    """``true`` or ``false``."""

    value: bool
    column: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Not:
    """``not x``."""

    operand: Expr
    column: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Negate:
    """Unary minus, ``-x``."""

    operand: Expr
    column: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Logical:
    """``a and b`` / ``a or b``; ``op_column`` points at the keyword."""

    op: LogicalOp
    left: Expr
    right: Expr
    column: int | None = field(default=None, compare=False)
    op_column: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Compare:
    """``a = b``, ``a < b``, ...; comparisons do not chain."""

    op: CompareOp
    left: Expr
    right: Expr
    column: int | None = field(default=None, compare=False)
    op_column: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Arithmetic:
    """``a + b``, ``a - b``, ``a * b``, ``a / b``, ``a mod b``."""

    op: ArithmeticOp
    left: Expr
    right: Expr
    column: int | None = field(default=None, compare=False)
    op_column: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Call:
    """A function call such as ``selected(x, 'a')``; the name is checked, not parsed, so
    adding a function touches the catalogue and the renderers but never the grammar."""

    function: str
    args: tuple[Expr, ...]
    column: int | None = field(default=None, compare=False)


Expr: TypeAlias = (
    Name
    | SelfRef
    | Number
    | String
    | Boolean
    | Not
    | Negate
    | Logical
    | Compare
    | Arithmetic
    | Call
)


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of ``expr``, left to right.

    Example: ``children(parse("a + 1"))`` is ``(Name("a"), Number(1))``.
    """
    match expr:
        case Not(operand) | Negate(operand):
            return (operand,)
        case Logical(_, left, right) | Compare(_, left, right) | Arithmetic(_, left, right):
            return (left, right)
        case Call(_, args):
            return args
        case _:
            return ()


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr``, parents before children, left to right (source order)."""
    yield expr
    for child in children(expr):
        yield from walk(child)


def references(expr: Expr) -> frozenset[str]:
    """The element codes ``expr`` reads, for dependency graphs and cycle detection.

    ``.`` is not a reference: it is the element the expression belongs to.

    Example: ``references(parse("selected(means, 'debt') and age >= 18"))`` is
    ``frozenset({"means", "age"})``.
    """
    return frozenset(node.name for node in walk(expr) if isinstance(node, Name))


def uses_self(expr: Expr) -> bool:
    """True when ``expr`` reads ``.`` anywhere."""
    return any(isinstance(node, SelfRef) for node in walk(expr))
