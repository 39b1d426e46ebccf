"""Tree back to logic-language text, with only the parentheses the grammar needs.

Used in problem messages (so an error can quote the part it is about) and by tests that check
``parse(to_text(tree)) == tree``. Future renderers can use it to show the source of a rule.
"""

from __future__ import annotations

from decimal import Decimal

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

# Binding strength in the grammar, weakest first.
_OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _UNARY, _ATOM = range(1, 9)


def quote(value: str) -> str:
    """Quote ``value`` as a literal: single quotes unless it contains one.

    Neither the language nor XPath 1.0 has escapes, so a value with both quote characters
    cannot be written; that raises ``ValueError``.
    """
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"text containing both ' and \" cannot be quoted: {value!r}")


def format_number(value: int | Decimal | float) -> str:
    """A number as plain digits: never exponent notation, which XPath cannot read."""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def to_text(expr: Expr) -> str:
    """The logic-language text of ``expr``.

    Example: ``to_text(parse("(a + 1) * 2 > b"))`` is ``"(a + 1) * 2 > b"``.
    """
    return _text(expr)[0]


def shorten(text: str, limit: int = 48) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, for error messages."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wrap(part: tuple[str, int], minimum: int) -> str:
    text, strength = part
    return f"({text})" if strength < minimum else text


def _text(expr: Expr) -> tuple[str, int]:
    match expr:
        case Name(name):
            return name, _ATOM
        case SelfRef():
            return ".", _ATOM
        case Number(value):
            return format_number(value), _ATOM
        case String(value):
            return quote(value), _ATOM
        case Boolean(value):
            return ("true" if value else "false"), _ATOM
        case Call(function, args):
            return f"{function}({', '.join(to_text(arg) for arg in args)})", _ATOM
        case Not(operand):
            return f"not {_wrap(_text(operand), _NOT)}", _NOT
        case Negate(operand):
            return f"-{_wrap(_text(operand), _UNARY)}", _UNARY
        case Logical(op, left, right):
            strength = _OR if op == "or" else _AND
            return (
                f"{_wrap(_text(left), strength)} {op} {_wrap(_text(right), strength + 1)}",
                strength,
            )
        case Compare(op, left, right):
            return f"{_wrap(_text(left), _SUM)} {op} {_wrap(_text(right), _SUM)}", _COMPARE
        case Arithmetic(op, left, right):
            strength = _SUM if op in ("+", "-") else _PRODUCT
            return (
                f"{_wrap(_text(left), strength)} {op} {_wrap(_text(right), strength + 1)}",
                strength,
            )
    raise TypeError(f"not a logic expression node: {expr!r}")
