"""XPath values as JavaRosa (the engine in ODK Collect) converts and compares them.

The Python evaluator must give the answers the compiled form gives, or a server-side check
would disagree with the form the interviewer just filled. So this module copies JavaRosa's
rules (``XPathFuncExpr.toNumeric/toString/toBoolean``, ``XPathEqExpr``, ``XPathCmpExpr``,
``XPathArithExpr``, ``round``) rather than Python's or the XPath 1.0 spec's, where they differ:

- an unanswered field is ``''``; ``''`` becomes NaN as a number, so ``<`` and ``=`` with it are
  false and ``!=`` is true; numbers are equal when they differ by less than 1e-12;
- text becomes a number only if it is digits, ``-`` and ``.`` (``,`` counts as ``.``);
- a date is a number of days since 1970-01-01 and the text ``YYYY-MM-DD``;
- ``round`` rounds half away from zero for positive numbers and half towards zero for negative.

Runtime values are ``str`` (with ``''`` for empty), ``float``, ``bool``, ``date`` and
``datetime`` (naive, device-local time).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import TypeAlias

XPathValue: TypeAlias = str | float | bool | date | datetime

EPOCH = date(1970, 1, 1)
_EPOCH_DATETIME = datetime(1970, 1, 1)
_NAN = float("nan")
_INT_MAX = 2**31 - 1
_INT_MIN = -(2**31)
_LONG_MAX = 2**63 - 1
_LONG_MIN = -(2**63)
_WIDE = Context(prec=1200)  # enough digits to quantize any double to 30 places exactly
_JAVA_WHITESPACE = "".join(chr(code) for code in range(33))  # what String.trim() removes


# ---- conversions ---------------------------------------------------------------------------


def to_number(value: XPathValue) -> float:
    """XPath ``number()`` as JavaRosa computes it.

    Example: ``to_number('')`` is NaN, ``to_number('1,5')`` is 1.5, ``to_number(date(1970, 1,
    3))`` is 2.0.
    """
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        text = value.replace(",", ".").strip(_JAVA_WHITESPACE)
        if not text or any(char not in "-.0123456789" for char in text):
            return _NAN
        try:
            return float(text)
        except ValueError:
            return _NAN
    if isinstance(value, (date, datetime)):
        return float(days_since_epoch(value))
    raise TypeError(f"not an XPath value: {value!r}")


def to_boolean(value: XPathValue) -> bool:
    """XPath ``boolean()``: non-empty text, a non-zero number, any date are true."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return abs(value) > 1.0e-12 and not math.isnan(value)
    if isinstance(value, str):
        return len(value) > 0
    if isinstance(value, (date, datetime)):
        return True
    raise TypeError(f"not an XPath value: {value!r}")


def to_string(value: XPathValue) -> str:
    """XPath ``string()`` as JavaRosa writes it: ``2.0`` → ``'2'``, a date → ``'YYYY-MM-DD'``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if abs(value) < 1.0e-12:
            return "0"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        truncated = java_int_cast(value)
        if abs(value - truncated) < 1.0e-12:
            return str(truncated)
        return java_double_to_string(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (date, datetime)):
        return _date_part(value).isoformat()
    raise TypeError(f"not an XPath value: {value!r}")


def is_empty(value: XPathValue) -> bool:
    """JavaRosa's ``isNull``: the empty string or NaN (what ``coalesce`` skips)."""
    return (isinstance(value, str) and value == "") or (
        isinstance(value, float) and math.isnan(value)
    )


def string_length(value: XPathValue) -> float:
    """``string-length()``: counted in UTF-16 code units, as Java and JavaScript count."""
    return float(len(to_string(value).encode("utf-16-le")) // 2)


# ---- operators -----------------------------------------------------------------------------


def equals(left: XPathValue, right: XPathValue) -> bool:
    """``=`` (``XPathEqExpr``): booleans win, then numbers (within 1e-12), else text."""
    if isinstance(left, bool) or isinstance(right, bool):
        return to_boolean(left) == to_boolean(right)
    if isinstance(left, float) or isinstance(right, float):
        return abs(to_number(left) - to_number(right)) < 1.0e-12
    return to_string(left) == to_string(right)


def order(op: str, left: XPathValue, right: XPathValue) -> bool:
    """``<``, ``<=``, ``>``, ``>=`` (``XPathCmpExpr``): always on numbers; NaN is never ordered."""
    a, b = to_number(left), to_number(right)
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    raise ValueError(f"not an ordering operator: {op}")


def compare(op: str, left: XPathValue, right: XPathValue) -> bool:
    """Any comparison operator of the language, with XPath semantics."""
    if op == "=":
        return equals(left, right)
    if op == "!=":
        return not equals(left, right)
    return order(op, left, right)


def arithmetic(op: str, left: XPathValue, right: XPathValue) -> float:
    """``+ - * div mod`` on doubles, as Java computes them (no exceptions: NaN and Infinity)."""
    a, b = to_number(left), to_number(right)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0.0:
            if a == 0.0 or math.isnan(a):
                return _NAN
            return math.copysign(math.inf, a) * math.copysign(1.0, b)
        return a / b
    if op == "mod":
        try:
            return math.fmod(a, b)
        except ValueError:  # x mod 0, Infinity mod x
            return _NAN
    raise ValueError(f"not an arithmetic operator: {op}")


# ---- functions -----------------------------------------------------------------------------


def java_int_cast(number: float) -> int:
    """Java's ``(int) d``: truncate, saturate at the int range, NaN → 0."""
    if math.isnan(number):
        return 0
    if number >= _INT_MAX:
        return _INT_MAX
    if number <= _INT_MIN:
        return _INT_MIN
    return int(number)


def _java_long_cast(number: float) -> int:
    if math.isnan(number):
        return 0
    if number >= _LONG_MAX:
        return _LONG_MAX
    if number <= _LONG_MIN:
        return _LONG_MIN
    return int(number)


def to_int(value: XPathValue) -> float:
    """XPath ``int()`` (JavaRosa ``toInt``): truncate towards zero; NaN and ±Infinity unchanged."""
    number = to_number(value)
    if math.isnan(number) or math.isinf(number):
        return number
    if number >= _LONG_MAX or number <= _LONG_MIN:
        return number
    truncated = float(int(number))
    if truncated == 0.0 and (number < 0.0 or math.copysign(1.0, number) < 0):
        return -0.0
    return truncated


def round_half(value: XPathValue, places: XPathValue = 0.0) -> float:
    """XPath ``round(x, n)`` as JavaRosa computes it.

    For n >= 0 it rounds the decimal text of x (``Double.toString``), half up for positives and
    half down for negatives, so ``round(2.5, 0)`` is 3, ``round(-2.5, 0)`` is -2 and
    ``round(1.005, 2)`` is 1.01. For n < 0 it rounds to tens, hundreds, ...
    """
    number = to_number(value)
    digits = java_int_cast(to_number(places))
    if math.isnan(number) or math.isinf(number):
        return number
    if digits > 30 or digits < -30:
        return _NAN
    if digits >= 0:
        method = ROUND_HALF_DOWN if number < 0 else ROUND_HALF_UP
        try:
            exact = Decimal(repr(number))
            return float(exact.quantize(Decimal(1).scaleb(-digits), rounding=method, context=_WIDE))
        except InvalidOperation:  # pragma: no cover - _WIDE has room for every double
            return _NAN
    scaled = float(Decimal(repr(number)).scaleb(digits, context=_WIDE))
    rounded = float(_java_long_cast(scaled + 0.5))
    return float(Decimal(repr(rounded)).scaleb(-digits, context=_WIDE))


def selected(value: XPathValue, code: XPathValue) -> bool:
    """``selected(x, 'code')``: the code is one of the space-separated codes of x."""
    return f" {to_string(code).strip(_JAVA_WHITESPACE)} " in f" {to_string(value)} "


def count_selected(value: XPathValue) -> float:
    """``count-selected(x)``: how many space-separated codes x holds ('' → 0)."""
    return float(len([part for part in to_string(value).split(" ") if part]))


# ---- dates ---------------------------------------------------------------------------------


def _date_part(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def days_since_epoch(value: date | datetime) -> int:
    """Whole days from 1970-01-01 to the calendar date of ``value`` (time of day ignored)."""
    return (_date_part(value) - EPOCH).days


def parse_date(text: str) -> date | datetime | None:
    """``YYYY-MM-DD`` → date, ISO date-time → naive datetime, anything else → None."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=None)


def to_date(value: XPathValue) -> XPathValue:
    """XPath ``date()``: text or a day number to a date; '' and NaN pass through unchanged."""
    if isinstance(value, (date, datetime)) and not isinstance(value, bool):
        return _date_part(value)
    if isinstance(value, str):
        if value == "":
            return value
        parsed = parse_date(value)
        return _date_part(parsed) if parsed is not None else value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return value
        return EPOCH + timedelta(days=java_int_cast(to_int(value)))
    return value


def decimal_date_time(value: XPathValue) -> XPathValue:
    """XPath ``decimal-date-time()``: days (with the time as a fraction) since 1970-01-01."""
    if isinstance(value, datetime):
        return (value - _EPOCH_DATETIME).total_seconds() / 86400.0
    if isinstance(value, date):
        return float((value - EPOCH).days)
    if isinstance(value, str):
        if value == "":
            return value
        parsed = parse_date(value)
        return decimal_date_time(parsed) if parsed is not None else _NAN
    if isinstance(value, float):
        return value
    return _NAN


def format_date(value: XPathValue, pattern: str) -> str:
    """XPath ``format-date()`` for the ``%Y``, ``%m`` and ``%d`` fields; '' for no date."""
    if isinstance(value, str):
        if value == "":
            return ""
        parsed = parse_date(value)
        if parsed is None:
            return ""
        value = parsed
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ""
        value = _EPOCH_DATETIME + timedelta(days=value)
    if not isinstance(value, (date, datetime)) or isinstance(value, bool):
        return ""
    return (
        pattern.replace("%Y", f"{value.year:04d}")
        .replace("%m", f"{value.month:02d}")
        .replace("%d", f"{value.day:02d}")
    )


# ---- Java number text ----------------------------------------------------------------------


def java_double_to_string(number: float) -> str:
    """Java's ``Double.toString``: ``1.5``, ``100.0``, ``1.0E7``, ``1.5E-4``."""
    if number == 0.0:
        return "-0.0" if math.copysign(1.0, number) < 0 else "0.0"
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    sign = "-" if number < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(number))).as_tuple()
    digits = "".join(str(digit) for digit in digit_tuple)
    stripped = digits.rstrip("0") or "0"
    exponent += len(digits) - len(stripped)  # type: ignore[operator]
    digits = stripped
    point = len(digits) + exponent  # value = 0.<digits> * 10**point
    if 1e-3 <= abs(number) < 1e7:
        if point <= 0:
            body = "0." + "0" * -point + digits
        elif point >= len(digits):
            body = digits + "0" * (point - len(digits)) + ".0"
        else:
            body = digits[:point] + "." + digits[point:]
        return sign + body
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{sign}{mantissa}E{point - 1}"
