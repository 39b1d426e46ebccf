"""Type-driven choices that the XPath compiler and the Python evaluator must make identically.

Each function here answers one question from the checker's types; the compiler turns the answer
into XPath text and the evaluator into a computation. Deciding in one place is what keeps the
two from drifting apart.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal, TypeAlias

from .exprtypes import ExprType
from .nodes import Boolean, Call, Expr, Negate, Number, String

ComparisonMode: TypeAlias = Literal["datetime", "date", "value"]

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def is_iso_date(text: str) -> bool:
    """True for a real calendar date written ``YYYY-MM-DD`` (``2024-02-30`` is not one)."""
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def comparison_mode(
    left: ExprType,
    right: ExprType,
    left_node: Expr | None = None,
    right_node: Expr | None = None,
) -> ComparisonMode:
    """How a comparison is computed.

    ``datetime``: both sides go through ``decimal-date-time()`` because JavaRosa would otherwise
    compare date-times by calendar day only. ``date``: a quoted side becomes ``date('...')``
    because JavaRosa reads ``'2024-01-31'`` as NaN when comparing. ``value``: as written.

    A side of unknown type (``.`` compiled without its element) compared with a quoted
    ``YYYY-MM-DD`` is taken to be a date: as plain text the comparison could never be true.
    """
    kinds = {left.kind, right.kind}
    if "datetime" in kinds:
        return "datetime"
    if "date" in kinds:
        return "date"
    if "unknown" in kinds and any(
        isinstance(node, String) and is_iso_date(node.value) for node in (left_node, right_node)
    ):
        return "date"
    return "value"


def is_date_valued(expr_type: ExprType) -> bool:
    """True when quoted branches of if()/coalesce() must become ``date('...')``."""
    return expr_type.kind in ("date", "datetime")


def days_between_rounds(first: ExprType, second: ExprType) -> bool:
    """True when days_between() rounds rather than truncates.

    Two calendar dates are local midnights; across a daylight-saving change they are 23 or 25
    hours apart, so truncating ``decimal-date-time`` differences would lose a day. Rounding is
    exact for dates; with a date-time involved, whole elapsed days (truncation) are meant.
    """
    return first.kind != "datetime" and second.kind != "datetime"


def anchored_pattern(pattern: str) -> str:
    """The regex() pattern as compiled: anchored, so every engine tests the WHOLE text.

    JavaRosa matches the whole text (``Pattern.matches``) while ODK Web Forms and Enketo search
    for the pattern anywhere (``RegExp.test``); ``^(?:...)$`` gives both the same answer.
    """
    return f"^(?:{pattern})$"


MAX_ROUND_PLACES = 15  # 10**15 is exact in a double, so scaling adds no error of its own


def round_places(node: Expr) -> int | None:
    """The decimal places of ``round(x, n)`` when ``n`` is a whole-number literal, else None.

    round() is compiled by scaling with an exact power of ten (see :func:`round_scale`), which
    needs ``n`` at compile time.
    """
    sign = 1
    if isinstance(node, Negate):
        sign, node = -1, node.operand
    if isinstance(node, Number) and isinstance(node.value, int):
        places = sign * node.value
        return places if abs(places) <= MAX_ROUND_PLACES else None
    return None


def round_scale(places: int) -> tuple[Literal["*", "/", ""], int]:
    """How round(x, places) scales x before rounding to a whole number: ``(op, 10**|places|)``.

    JavaRosa rounds the decimal text of a double (1.005 → 1.01) while ODK Web Forms rounds the
    binary value (1.005 → 1.0), and they treat negative halves differently. Compiling
    ``round(x, 2)`` as ``round(|x| * 100) div 100`` with the sign put back gives every engine
    the same answer: halves away from zero, on the binary value, as IEEE doubles compute it.
    """
    if places > 0:
        return "*", 10**places
    if places < 0:
        return "/", 10**-places
    return "", 1


def may_be_empty(node: Expr) -> bool:
    """False for values that are never empty (literals, ``today()``); True otherwise."""
    if isinstance(node, (Number, String, Boolean)):
        return False
    return not (isinstance(node, Call) and node.function == "today")


def guards_empty_equality(op: str, mode: ComparisonMode, left: Expr, right: Expr) -> bool:
    """True when a date-time ``=``/``!=`` must spell out what two empty sides mean.

    ``decimal-date-time('')`` is ``''`` in JavaRosa but NaN in ODK Web Forms, so two unanswered
    date-times would be equal in one and not the other. The compiled form tests emptiness first:
    both answered → compare the instants; otherwise equal only if both are empty (as ``'' = ''``
    for every other type).
    """
    return op in ("=", "!=") and mode == "datetime" and may_be_empty(left) and may_be_empty(right)
