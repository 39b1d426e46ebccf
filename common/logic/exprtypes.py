"""The types the checker gives expressions, and how element types map onto them.

Element types are what the codebook declares (integer, select_one, ...); expression types are
what the language reasons with (number, choice, ...). Keeping them apart lets integer and decimal
share arithmetic while the calculation check still knows which one a result is stored in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from .symbols import ElementType, Symbol

TypeKind: TypeAlias = Literal[
    "number",
    "text",
    "date",
    "datetime",
    "boolean",
    "choice",  # a select_one answer: one option code
    "choices",  # a select_multiple answer: a set of option codes
    "geopoint",
    "unknown",  # after an error, or a name the caller gave no symbol for; matches anything
]


@dataclass(frozen=True)
class ExprType:
    """The type of an expression; ``options`` and ``literals`` sharpen the option-code checks.

    ``options``: the option codes a choice/choices value can take (None when not known).
    ``literals``: for text, the quoted values it can only be (``if(c, 'a', 'b')`` → a, b).

    Example: ``check(parse("if(minor, 'child', 'adult')"), ...)`` gives
    ``ExprType("text", literals=frozenset({"child", "adult"}))``.
    """

    kind: TypeKind
    options: frozenset[str] | None = None
    literals: frozenset[str] | None = None


NUMBER = ExprType("number")
TEXT = ExprType("text")
DATE = ExprType("date")
DATETIME = ExprType("datetime")
BOOLEAN = ExprType("boolean")
GEOPOINT = ExprType("geopoint")
UNKNOWN = ExprType("unknown")

_KIND_OF_ELEMENT: dict[ElementType, TypeKind] = {
    "text": "text",
    "integer": "number",
    "decimal": "number",
    "date": "date",
    "datetime": "datetime",
    "select_one": "choice",
    "select_multiple": "choices",
    "boolean": "boolean",
    "geopoint": "geopoint",
}

_DESCRIPTIONS: dict[TypeKind, str] = {
    "number": "a number",
    "text": "text",
    "date": "a date",
    "datetime": "a date and time",
    "boolean": "a condition (true or false)",
    "choice": "a select_one answer",
    "choices": "a select_multiple answer",
    "geopoint": "a geopoint",
    "unknown": "of unknown type",
}


def type_of_symbol(symbol: Symbol) -> ExprType:
    """The expression type of a reference to ``symbol``.

    Example: ``type_of_symbol(Symbol("age", "integer"))`` is ``NUMBER``.
    """
    kind = _KIND_OF_ELEMENT[symbol.type]
    if kind in ("choice", "choices"):
        return ExprType(kind, options=symbol.options)
    return ExprType(kind)


def describe(expr_type: ExprType) -> str:
    """Plain words for a type, as used in problem messages: ``a number``, ``text``, ..."""
    return _DESCRIPTIONS[expr_type.kind]
