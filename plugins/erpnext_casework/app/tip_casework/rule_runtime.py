"""Evaluate the codebook's rules inside the bench, without tipdata installed there.

The tipdata build lowers every relevance, required-if, constraint and calculation into a small
JSON tree (`rules.json`, generated: never edit it) in which every type-driven choice is already
made: which comparisons are on dates, which quoted texts are dates, how `round()` scales. This
module only walks that tree, with the value rules of the logic language (those of ODK's
JavaRosa): an unanswered value is `''`, which is NaN as a number, so `<` and `=` with it are
false and `!=` is true; numbers are equal within 1e-12; text becomes a number only if it is
digits, `-` and `.`.

Why vendored rather than `import tipdata`: an app must install on any Frappe bench from its own
folder; tipdata pins its own dependency versions, which need not agree with Frappe's. The
project's tests compare this evaluator with `tipdata.logic.evaluate` on every expression of the
codebook, so the two cannot drift apart unnoticed.

Pure Python (no frappe import), so the project's tests can load it directly.

Example::

    >>> evaluate(["cmp", "=", "value", ["raw", "consent"], ["str", "yes"]], {"consent": "yes"},
    ...          {"consent": "select_one"})
    True
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, Union

Value = Union[str, float, bool, date, datetime]  # noqa: UP007 - runs on Frappe's Python too
Node = Sequence[Any]

EPOCH = date(1970, 1, 1)
_EPOCH_DATETIME = datetime(1970, 1, 1)
_NAN = float("nan")
_INT_MAX = 2**31 - 1
_INT_MIN = -(2**31)
_LONG_MAX = 2**63 - 1
_LONG_MIN = -(2**63)
_WIDE = Context(prec=1200)
_JAVA_WHITESPACE = "".join(chr(code) for code in range(33))


class RuleError(ValueError):
    """A rule tree this evaluator does not understand (a stale or hand-edited rules.json)."""


# ---- values in ------------------------------------------------------------------------------


def to_runtime(value: object, element_type: str | None) -> Value:
    """A canonical Python value (None, str, int, float, Decimal, bool, date, list of codes) as
    the form would hold it."""
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
        return to_number(text)
    if element_type in ("date", "datetime"):
        parsed = parse_date(text)
        if parsed is None:
            return text
        if element_type == "date":
            return to_date(parsed)
        return parsed if isinstance(parsed, datetime) else datetime(parsed.year, parsed.month, parsed.day)
    return text


def to_python(value: Value) -> object:
    """A result as a canonical Python value: whole numbers become int, '' becomes None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if value == "":
        return None
    return value


# ---- conversions -----------------------------------------------------------------------------


def to_number(value: Value) -> float:
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
        return float((_date_part(value) - EPOCH).days)
    raise RuleError(f"not a rule value: {value!r}")


def to_boolean(value: Value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return abs(value) > 1.0e-12 and not math.isnan(value)
    if isinstance(value, str):
        return len(value) > 0
    return True  # a date


def to_string(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if abs(value) < 1.0e-12:
            return "0"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        truncated = _int_cast(value)
        if abs(value - truncated) < 1.0e-12:
            return str(truncated)
        return _java_double_text(value)
    if isinstance(value, str):
        return value
    return _date_part(value).isoformat()


def _is_empty(value: Value) -> bool:
    return (isinstance(value, str) and value == "") or (isinstance(value, float) and math.isnan(value))


def _string_length(value: Value) -> float:
    return float(len(to_string(value).encode("utf-16-le")) // 2)


def _int_cast(number: float) -> int:
    if math.isnan(number):
        return 0
    if number >= _INT_MAX:
        return _INT_MAX
    if number <= _INT_MIN:
        return _INT_MIN
    return int(number)


def _long_cast(number: float) -> int:
    if math.isnan(number):
        return 0
    if number >= _LONG_MAX:
        return _LONG_MAX
    if number <= _LONG_MIN:
        return _LONG_MIN
    return int(number)


def _java_double_text(number: float) -> str:
    """Java's Double.toString, as the form engines print a fractional number."""
    sign = "-" if number < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(number))).as_tuple()
    digits = "".join(str(digit) for digit in digit_tuple)
    stripped = digits.rstrip("0") or "0"
    exponent += len(digits) - len(stripped)  # type: ignore[operator]
    digits = stripped
    point = len(digits) + exponent
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


# ---- operators -------------------------------------------------------------------------------


def _equals(left: Value, right: Value) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return to_boolean(left) == to_boolean(right)
    if isinstance(left, float) or isinstance(right, float):
        return abs(to_number(left) - to_number(right)) < 1.0e-12
    return to_string(left) == to_string(right)


def _compare(op: str, left: Value, right: Value) -> bool:
    if op == "=":
        return _equals(left, right)
    if op == "!=":
        return not _equals(left, right)
    a, b = to_number(left), to_number(right)
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    raise RuleError(f"unknown comparison {op!r}")


def _arithmetic(op: str, left: Value, right: Value) -> float:
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
        except ValueError:
            return _NAN
    raise RuleError(f"unknown arithmetic operator {op!r}")


def _to_int(value: Value) -> float:
    number = to_number(value)
    if math.isnan(number) or math.isinf(number) or number >= _LONG_MAX or number <= _LONG_MIN:
        return number
    truncated = float(int(number))
    if truncated == 0.0 and (number < 0.0 or math.copysign(1.0, number) < 0):
        return -0.0
    return truncated


def _round_whole(value: Value) -> float:
    """round(x, 0) of the form engines: half up for positives, half down for negatives."""
    number = to_number(value)
    if math.isnan(number) or math.isinf(number):
        return number
    method = ROUND_HALF_DOWN if number < 0 else ROUND_HALF_UP
    try:
        return float(Decimal(repr(number)).quantize(Decimal(1), rounding=method, context=_WIDE))
    except InvalidOperation:  # pragma: no cover - _WIDE has room for every double
        return _NAN


# ---- dates -----------------------------------------------------------------------------------


def _date_part(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def parse_date(text: str) -> date | datetime | None:
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=None)


def to_date(value: Value) -> Value:
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
        return EPOCH + timedelta(days=_int_cast(_to_int(value)))
    return value


def _decimal_date_time(value: Value) -> Value:
    if isinstance(value, datetime):
        return (value - _EPOCH_DATETIME).total_seconds() / 86400.0
    if isinstance(value, date):
        return float((value - EPOCH).days)
    if isinstance(value, str):
        if value == "":
            return value
        parsed = parse_date(value)
        return _decimal_date_time(parsed) if parsed is not None else _NAN
    if isinstance(value, float):
        return value
    return _NAN


def _format_date(value: Value, pattern: str) -> str:
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


# ---- the tree walker -------------------------------------------------------------------------


def evaluate(
    node: Node,
    values: Mapping[str, object],
    types: Mapping[str, str],
    self_value: object = None,
    self_type: str | None = None,
    today: date | None = None,
) -> object:
    """The value of a lowered rule for one document, as a canonical Python value.

    `values`: element code -> canonical value (None for unanswered; a list of codes for a
    select_multiple). `types`: element code -> element type, so a stored text is read as a
    number or a date where the element is one.
    """
    walker = _Walker(values, types, self_value, self_type, today or date.today())
    return to_python(walker.eval(node))


def holds(
    node: Node,
    values: Mapping[str, object],
    types: Mapping[str, str],
    self_value: object = None,
    self_type: str | None = None,
    today: date | None = None,
) -> bool:
    """True when a condition (relevant, required-if, constraint) holds."""
    walker = _Walker(values, types, self_value, self_type, today or date.today())
    return to_boolean(walker.eval(node))


class _Walker:
    def __init__(
        self,
        values: Mapping[str, object],
        types: Mapping[str, str],
        self_value: object,
        self_type: str | None,
        today: date,
    ) -> None:
        self.values = values
        self.types = types
        self.self_value = self_value
        self.self_type = self_type
        self.today = today

    def raw(self, code: str) -> Value:
        if code == ".":
            return to_runtime(self.self_value, self.self_type)
        return to_runtime(self.values.get(code), self.types.get(code))

    def eval(self, node: Node) -> Value:  # noqa: C901 - one branch per node kind
        kind = node[0]
        if kind == "raw":
            return self.raw(node[1])
        if kind == "bool_ref":
            return _equals(self.raw(node[1]), "true")
        if kind == "num":
            return float(node[1])
        if kind == "str":
            return node[1]
        if kind == "date":
            return to_date(node[1])
        if kind == "bool":
            return bool(node[1])
        if kind == "not":
            return not to_boolean(self.eval(node[1]))
        if kind == "neg":
            return -to_number(self.eval(node[1]))
        if kind == "and":
            return to_boolean(self.eval(node[1])) and to_boolean(self.eval(node[2]))
        if kind == "or":
            return to_boolean(self.eval(node[1])) or to_boolean(self.eval(node[2]))
        if kind == "arith":
            return _arithmetic(node[1], self.eval(node[2]), self.eval(node[3]))
        if kind == "cmp":
            _, op, mode, left, right = node
            a, b = self.eval(left), self.eval(right)
            if mode == "datetime":
                a, b = _decimal_date_time(a), _decimal_date_time(b)
            return _compare(op, a, b)
        if kind == "selected":
            code = to_string(self.eval(node[2])).strip(_JAVA_WHITESPACE)
            return f" {code} " in f" {to_string(self.eval(node[1]))} "
        if kind == "count_selected":
            return float(len([part for part in to_string(self.eval(node[1])).split(" ") if part]))
        if kind == "answered":
            return _string_length(self.eval(node[1])) > 0
        if kind == "if":
            return self.eval(node[2] if to_boolean(self.eval(node[1])) else node[3])
        if kind == "today":
            return self.today
        if kind == "age_in_years":
            born = self.eval(node[1])
            years = _arithmetic("-", _format_date(self.today, "%Y"), _format_date(born, "%Y"))
            before = _compare("<", _format_date(self.today, "%m%d"), _format_date(born, "%m%d"))
            return _arithmetic("-", years, 1.0 if before else 0.0)
        if kind == "days_between":
            _, rounds, first, second = node
            difference = _arithmetic(
                "-", _decimal_date_time(self.eval(second)), _decimal_date_time(self.eval(first))
            )
            return _round_whole(difference) if rounds else _to_int(difference)
        if kind == "count_true":
            return float(sum(1 for arg in node[1] if to_boolean(self.eval(arg))))
        if kind == "coalesce":
            first = self.eval(node[1])
            return first if not _is_empty(first) else self.eval(node[2])
        if kind == "int":
            return _to_int(self.eval(node[1]))
        if kind == "round":
            return self._round(node[1], int(node[2]), self.eval(node[3]))
        if kind == "length":
            return _string_length(self.eval(node[1]))
        if kind == "regex":
            pattern = f"^(?:{to_string(self.eval(node[2]))})$"
            return re.fullmatch(pattern, to_string(self.eval(node[1]))) is not None
        raise RuleError(f"unknown rule node {kind!r}; rebuild rules.json with `tipdata build`")

    @staticmethod
    def _round(op: str, factor: int, value: Value) -> float:
        """round(x, n) as compiled for the forms: scale |x| by 10**n, round half up, restore."""

        def rounded(magnitude: Value) -> float:
            if op == "":
                return _round_whole(magnitude)
            scaled = _arithmetic("*" if op == "*" else "/", magnitude, float(factor))
            return _arithmetic("/" if op == "*" else "*", _round_whole(scaled), float(factor))

        if _compare("<", value, 0.0):
            return -rounded(-to_number(value))
        return rounded(value)
