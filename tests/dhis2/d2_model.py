"""Our model of DHIS2's program-rule evaluation, for the subset of d2 syntax tipdata emits.

This is NOT DHIS2: it is a small re-implementation written from reading the DHIS2 expression
parser and rule engine (dhis2/expression-parser `Calculator`, `BinaryOperator`, `Typed`,
`ExpressionFunctions`, `Literals`, `Node.groupOperators`; dhis2/dhis2-rule-engine
`RuleConditionEvaluator`, `RuleVariableValue`, `RuleVariable*`). It lets the tests check that
the compiled rules mean what the codebook's expressions mean, under the semantics we believe
DHIS2 has. Modelled on purpose, because they change results:

- operators are grouped one operator at a time in enum order (^, unary, * / % + -, < > <= >=,
  == !=, &&, ||), so ``a - b + c`` is ``a - (b + c)``;
- variables without a value read 0.0 / '' / false / null by type; ``d2:hasValue`` looks at the
  raw value;
- arithmetic goes through 16-digit decimals of the numbers' shortest text (`BigDecimal`);
- ``&&``/``||`` short-circuit, ``d2:condition`` evaluates both branches;
- ``<`` between two strings compares text, otherwise numbers (dates as epoch days);
- string literals decode backslash escapes; ``d2:condition``'s condition is re-parsed raw;
- a failing function (``d2:daysBetween`` of a null date) makes the whole rule an error.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any


class D2Error(Exception):
    """The expression failed to parse or to evaluate (DHIS2 reports the rule as an error)."""


@dataclass(frozen=True)
class VariableValue:
    type: str  # NUMBER | BOOLEAN | DATE | STRING
    value: str | None


# ---- tokens and parsing -------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<item>[#AV]\{[^}]*\})
    | (?P<fn>d2:[A-Za-z]+)\s*\(
    | (?P<str>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")
    | (?P<num>\d+(?:\.\d*)?|\.\d+)
    | (?P<word>true|false|null)\b
    | (?P<op>&&|\|\||==|!=|<=|>=|<|>|\+|-|\*|/|%|!)
    | (?P<open>\()
    | (?P<close>\))
    | (?P<comma>,)
    )""",
    re.VERBOSE,
)
_BINARY_ORDER = ["*", "/", "%", "+", "-", "<", ">", "<=", ">=", "==", "!=", "&&", "||"]


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise D2Error(f"unexpected input at {pos}: {text[pos:pos + 20]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


@dataclass
class Node:
    kind: str  # num, str, bool, null, var, env, fn, unary, binary
    value: Any = None
    args: list[Node] = field(default_factory=list)


def decode_string(raw: str) -> str:
    """The value of a string literal's raw content (Utf8StringNode.decode)."""
    out, i = [], 0
    while i < len(raw):
        char = raw[i]
        if char == "\\":
            i += 1
            code = raw[i]
            if code == "u":
                out.append(chr(int(raw[i + 1:i + 5], 16)))
                i += 4
            elif code.isdigit():
                out.append(chr(int(raw[i:i + 3], 8)))
                i += 2
            else:
                out.append({"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r"}.get(code, code))
        else:
            out.append(char)
        i += 1
    return "".join(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise D2Error("unexpected end of expression")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.expression()
        if self.peek() is not None:
            raise D2Error(f"unexpected {self.peek()}")
        return node

    def expression(self) -> Node:
        items: list[Any] = [self.operand()]
        while (token := self.peek()) is not None and token[0] == "op" and token[1] != "!":
            self.take()
            items.append(("binary", token[1]))
            items.append(self.operand())
        for op in _BINARY_ORDER:  # Node.groupOperators: one operator at a time, left to right
            grouped: list[Any] = [items[0]]
            i = 1
            while i < len(items):
                if items[i] == ("binary", op):
                    left = grouped.pop()
                    grouped.append(Node("binary", op, [left, items[i + 1]]))
                    i += 2
                else:
                    grouped.append(items[i])
                    i += 1
            items = grouped
        assert len(items) == 1
        return items[0]

    def operand(self) -> Node:
        kind, text = self.take()
        if kind == "op" and text in ("!", "-", "+"):
            return Node("unary", text, [self.operand()])
        if kind == "open":
            node = self.expression()
            if self.take()[0] != "close":
                raise D2Error("expected )")
            return node
        if kind == "num":
            return Node("num", float(text))
        if kind == "str":
            return Node("str", text[1:-1])
        if kind == "word":
            return Node("null") if text == "null" else Node("bool", text == "true")
        if kind == "item":
            return Node("env" if text[0] == "V" else "var", text[2:-1])
        if kind == "fn":
            args = []
            if self.peek() and self.peek()[0] == "close":
                self.take()
                return Node("fn", text, args)
            while True:
                args.append(self.expression())
                closing = self.take()
                if closing[0] == "close":
                    return Node("fn", text, args)
                if closing[0] != "comma":
                    raise D2Error("expected , or )")
        raise D2Error(f"unexpected token {text!r}")


@functools.lru_cache(maxsize=4096)
def parse_d2(text: str) -> Node:
    """The tree of a d2 expression (cached: trees are never modified)."""
    return _Parser(text).parse()


# ---- values -------------------------------------------------------------------------------------

_DECIMAL = Context(prec=16, rounding=ROUND_HALF_UP)


def _decimal(number: float) -> Decimal:
    return _DECIMAL.create_decimal(repr(float(number)))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_mixed(value: Any) -> Any:
    if isinstance(value, VariableValue):
        raw = value.value
        if value.type == "NUMBER":
            return to_number(raw if raw is not None else 0.0)
        if value.type == "BOOLEAN":
            return to_boolean(raw if raw is not None else False)
        if value.type == "DATE":
            return to_date(raw)
        return to_string(raw if raw is not None else "")
    return value


def to_number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, VariableValue):
        return to_number(to_mixed(value))
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, dt.date):
        return float((value - dt.date(1970, 1, 1)).days)
    if _is_number(value):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        raise D2Error(f"cannot read {value!r} as a number") from None


def to_boolean(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, VariableValue):
        return to_boolean(to_mixed(value))
    if isinstance(value, bool):
        return value
    if _is_number(value):
        if float(value) % 1 != 0:
            raise D2Error(f"cannot read {value!r} as a boolean")
        return int(value) != 0
    return str(value).lower() == "true"


def to_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, VariableValue):
        return to_date(to_mixed(value))
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise D2Error(f"cannot read {value!r} as a date") from None
    raise D2Error(f"cannot read {value!r} as a date")


def to_string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, VariableValue):
        return to_string(to_mixed(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        number = float(value)
        if math.isfinite(number) and number % 1 == 0:
            return str(int(number))
        return repr(number)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _arithmetic(op: str, left: float | None, right: float | None) -> float:
    """BinaryOperator.add/subtract/multiply/divide: 16-digit decimals, plain doubles for the
    special values and for division by zero (Kotlin: x / 0.0 is ±Infinity or NaN)."""
    if left is None or right is None:
        raise D2Error(f"null operand of {op}")
    if op == "%":
        raise D2Error("% is not part of the emitted subset")
    if not (math.isfinite(left) and math.isfinite(right)) or (op == "/" and right == 0):
        if op == "/":
            if right != 0:
                return left / right
            if left == 0 or math.isnan(left):
                return math.nan
            return math.copysign(math.inf, left) * math.copysign(1.0, right)
        return {"+": left + right, "-": left - right, "*": left * right}[op]
    operation = {"+": _DECIMAL.add, "-": _DECIMAL.subtract, "*": _DECIMAL.multiply,
                 "/": _DECIMAL.divide}[op]
    try:
        return float(operation(_decimal(left), _decimal(right)))
    except InvalidOperation as error:
        raise D2Error(str(error)) from None


def _equal(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is None and right is None
    if _is_number(left) or _is_number(right):
        try:
            a, b = to_number(left), to_number(right)
        except D2Error:
            return False
        return a == b
    if isinstance(left, bool) or isinstance(right, bool):
        return to_boolean(left) == to_boolean(right)
    return left == right


def _order(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        a, b = left, right
    else:
        a, b = to_number(left), to_number(right)
        if a is None or b is None:
            raise D2Error("null operand of a comparison")
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def _months_until(start: dt.date, end: dt.date) -> int:
    """java.time LocalDate.until(end, MONTHS): truncated towards zero."""
    packed1 = (start.year * 12 + start.month - 1) * 32 + start.day
    packed2 = (end.year * 12 + end.month - 1) * 32 + end.day
    return int((packed2 - packed1) / 32)


# ---- evaluation ---------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """Evaluates d2 expressions against the rule variables of one event or enrollment."""

    variables: Mapping[str, VariableValue]
    today: dt.date

    def evaluate(self, text: str) -> Any:
        return self.eval(parse_d2(text))

    def variable(self, name: str) -> VariableValue | None:
        return self.variables.get(name)

    def eval(self, node: Node) -> Any:
        match node.kind:
            case "num" | "bool":
                return node.value
            case "null":
                return None
            case "str":
                return decode_string(node.value)
            case "var":
                value = self.variable(node.value)
                if value is None:
                    raise D2Error(f"unknown variable {node.value!r}")
                return value
            case "env":
                if node.value != "current_date":
                    raise D2Error(f"V{{{node.value}}} is not modelled")
                return VariableValue("DATE", self.today.isoformat())
            case "unary":
                if node.value == "!":
                    value = to_boolean(self.eval(node.args[0]))
                    if value is None:
                        raise D2Error("! of null")
                    return not value
                number = to_number(self.eval(node.args[0]))
                if number is None:
                    raise D2Error("unary minus of null")
                return -number if node.value == "-" else number
            case "binary":
                return self.binary(node)
            case "fn":
                return self.function(node.value, node.args)
        raise D2Error(f"unknown node {node.kind}")

    def binary(self, node: Node) -> Any:
        op, (left_node, right_node) = node.value, node.args
        if op in ("&&", "||"):
            left = to_boolean(self.eval(left_node))
            if left is not None and left == (op == "||"):
                return left
            right = to_boolean(self.eval(right_node))
            if op == "&&":
                return None if left is None or right is None else left and right
            if left is None:
                return True if right else None
            if right is None:
                return True if left else None
            return left or right
        left, right = to_mixed(self.eval(left_node)), to_mixed(self.eval(right_node))
        if op == "==":
            return _equal(left, right)
        if op == "!=":
            return not _equal(left, right)
        if op in ("<", ">", "<=", ">="):
            return _order(op, left, right)
        return _arithmetic(op, to_number(left), to_number(right))

    def function(self, name: str, args: list[Node]) -> Any:
        if name == "d2:hasValue":
            (arg,) = args
            value = self.variable(decode_string(arg.value)) if arg.kind == "str" else self.eval(arg)
            return isinstance(value, VariableValue) and value.value is not None
        if name == "d2:condition":
            condition, then, otherwise = args
            if condition.kind != "str":
                raise D2Error("d2:condition needs a quoted condition")
            test = to_boolean(Evaluation(self.variables, self.today).eval(parse_d2(condition.value)))
            first, second = to_mixed(self.eval(then)), to_mixed(self.eval(otherwise))
            return first if test is True else second
        values = [self.eval(arg) for arg in args]
        if name == "d2:containsItems":
            pattern = to_string(values[0])
            if pattern is None:
                raise D2Error("containsItems of null")
            items = pattern.split(",")
            return all(to_string(item) in items for item in values[1:])
        if name == "d2:split":
            text, delimiter, index = to_string(values[0]), to_string(values[1]), to_number(values[2])
            if text is None or delimiter is None:
                return ""
            parts = text.split(delimiter)
            while parts and parts[-1] == "":
                parts.pop()
            position = int(index) if index is not None else -1
            return parts[position] if 0 <= position < len(parts) else ""
        if name in ("d2:daysBetween", "d2:yearsBetween"):
            start, end = to_date(values[0]), to_date(values[1])
            if start is None or end is None:
                raise D2Error(f"{name} of a null date")
            if name == "d2:daysBetween":
                return float((end - start).days)
            return float(int(_months_until(start, end) / 12))
        if name == "d2:round":
            number = to_number(values[0])
            places = int(to_number(values[1]) or 0) if len(values) > 1 else 0
            if number is None or not math.isfinite(number):
                return math.nan
            return float(Decimal(repr(number)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))
        if name in ("d2:floor", "d2:ceil"):
            number = to_number(values[0])
            if number is None:
                return 0.0
            return float(math.floor(number) if name == "d2:floor" else math.ceil(number))
        if name == "d2:length":
            text = to_string(values[0])
            return float(len(text.encode("utf-16-le")) // 2) if text is not None else 0.0
        if name == "d2:validatePattern":
            text, pattern = to_string(values[0]), to_string(values[1])
            return text is not None and pattern is not None and re.fullmatch(pattern, text) is not None
        raise D2Error(f"{name} is not modelled")


def assigned_text(result: Any) -> str | None:
    """What an ASSIGN action stores: `convertInteger(result)?.toString()`, '' meaning no value."""
    result = to_mixed(result)
    if result is None:
        return None
    text = to_string(result)
    return text or None


# ---- running the rules of a package -------------------------------------------------------------

_RULE_TYPES = {
    "NUMBER": "NUMBER", "INTEGER": "NUMBER", "INTEGER_POSITIVE": "NUMBER",
    "INTEGER_ZERO_OR_POSITIVE": "NUMBER", "INTEGER_NEGATIVE": "NUMBER", "PERCENTAGE": "NUMBER",
    "UNIT_INTERVAL": "NUMBER", "BOOLEAN": "BOOLEAN", "TRUE_ONLY": "BOOLEAN", "DATE": "DATE",
    "AGE": "DATE",
}


@dataclass(frozen=True)
class Effect:
    rule: str
    action: str
    target: str  # data element or attribute UID
    data: str | None = None
    content: str | None = None


@dataclass
class RuleRun:
    effects: list[Effect]
    errors: list[str]


def run_rules(package: Mapping[str, Any], attributes: Mapping[str, str],
              events: Mapping[str, Mapping[str, str]], today: dt.date) -> RuleRun:
    """Evaluate every rule of ``package`` once, in its own context.

    ``attributes``: attribute UID → stored value; ``events``: stage UID → (data element UID →
    stored value), one event per stage. A rule limited to a stage runs on that stage's event;
    the others run on the enrollment (no current event).
    """
    actions = {action["id"]: action for action in package["programRuleActions"]}
    effects, errors = [], []
    newest: dict[str, str] = {}
    for values in events.values():
        newest.update(values)
    contexts: dict[str | None, Evaluation] = {}

    def context(stage: str | None) -> Evaluation:
        if stage in contexts:
            return contexts[stage]
        current = events.get(stage, {}) if stage else {}
        variables = {}
        for variable in package["programRuleVariables"]:
            source = variable["programRuleVariableSourceType"]
            kind = _RULE_TYPES.get(variable["valueType"], "STRING")
            if source == "TEI_ATTRIBUTE":
                raw = attributes.get(variable["trackedEntityAttribute"]["id"])
            elif source == "DATAELEMENT_CURRENT_EVENT":
                raw = current.get(variable["dataElement"]["id"])
            elif source == "DATAELEMENT_NEWEST_EVENT_PROGRAM":
                raw = newest.get(variable["dataElement"]["id"])
            else:
                raise D2Error(f"source type {source} is not modelled")
            variables[variable["name"]] = VariableValue(kind, raw)
        contexts[stage] = Evaluation(variables, today)
        return contexts[stage]

    for rule in package["programRules"]:
        evaluation = context(rule.get("programStage", {}).get("id"))
        try:
            if not to_boolean(to_mixed(evaluation.evaluate(rule["condition"]))):
                continue
            for ref in rule["programRuleActions"]:
                action = actions[ref["id"]]
                target = (action.get("dataElement") or action.get("trackedEntityAttribute"))["id"]
                data = action.get("data")
                value = assigned_text(evaluation.evaluate(data)) if data else None
                effects.append(Effect(rule["id"], action["programRuleActionType"], target, value,
                                      action.get("content")))
        except D2Error as error:
            errors.append(f"{rule['name']}: {error}")
    return RuleRun(effects, errors)
