"""Say a logic expression in plain words, for the messages a refused save shows.

A caseworker whose save is refused should read "Closure date is required when Case status is
'Closed'", not an expression. The words are built at build time from the codebook's labels and
option labels, and shipped in the app's rules file beside each rule.

Example::

    >>> explain(parse("case_status = 'closed'"), codebook)
    "Case status is 'Closed'"
"""

from __future__ import annotations

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
)
from tipdata.model import Codebook

_ORDER_WORDS = {"<": "is less than", "<=": "is at most", ">": "is more than", ">=": "is at least"}
_DATE_ORDER_WORDS = {"<": "is before", "<=": "is on or before", ">": "is after", ">=": "is on or after"}
_ARITHMETIC = {"+": "+", "-": "-", "*": "×", "/": "÷", "mod": "mod"}


def explain(expr: Expr, codebook: Codebook, self_code: str | None = None) -> str:
    """Plain English for `expr`; `self_code` names the element `.` stands for."""
    return _Words(codebook, self_code).say(expr)


class _Words:
    def __init__(self, codebook: Codebook, self_code: str | None) -> None:
        self.codebook = codebook
        self.self_code = self_code

    def label(self, code: str) -> str:
        element = self.codebook.elements.get(code)
        return element.label if element is not None else code

    def element_of(self, node: Expr) -> str | None:
        if isinstance(node, Name):
            return node.name
        if isinstance(node, SelfRef):
            return self.self_code
        return None

    def option_label(self, code: str | None, value: str) -> str:
        element = self.codebook.elements.get(code or "")
        if element is not None and element.options:
            return f"'{self.codebook.option_text('en', element.options, value)}'"
        return f"'{value}'"

    def is_date(self, node: Expr) -> bool:
        code = self.element_of(node)
        element = self.codebook.elements.get(code or "")
        return (element is not None and element.type in ("date", "datetime")) or (
            isinstance(node, Call) and node.function == "today"
        )

    def say(self, node: Expr) -> str:  # noqa: C901 - one branch per node kind
        match node:
            case Name(name):
                return self.label(name)
            case SelfRef():
                return f"the value of {self.label(self.self_code)}" if self.self_code else "the value"
            case Number(value):
                return str(value)
            case String(value):
                return f"'{value}'"
            case Boolean(value):
                return "true" if value else "false"
            case Not(Call("answered", (target,))):
                return f"{self.say(target)} is not answered"
            case Not(operand):
                return f"not ({self.say(operand)})"
            case Negate(operand):
                return f"-{self.say(operand)}"
            case Logical(op, left, right):
                return f"{self.grouped(left, op)} {op} {self.grouped(right, op)}"
            case Arithmetic(op, left, right):
                return f"{self.say(left)} {_ARITHMETIC[op]} {self.say(right)}"
            case Compare(op, left, right):
                return self.compare(op, left, right)
            case Call(function, args):
                return self.call(function, args)
        return str(node)

    def grouped(self, node: Expr, parent_op: str) -> str:
        text = self.say(node)
        if isinstance(node, Logical) and node.op != parent_op:
            return f"({text})"
        return text

    def compare(self, op: str, left: Expr, right: Expr) -> str:
        code = self.element_of(left)
        if isinstance(right, String) and op in ("=", "!="):
            value = self.option_label(code, right.value)
            return f"{self.say(left)} {'is' if op == '=' else 'is not'} {value}"
        if op in ("=", "!="):
            return f"{self.say(left)} {'is' if op == '=' else 'is not'} {self.say(right)}"
        words = _DATE_ORDER_WORDS if self.is_date(left) or self.is_date(right) else _ORDER_WORDS
        return f"{self.say(left)} {words[op]} {self.say(right)}"

    def call(self, function: str, args: tuple[Expr, ...]) -> str:  # noqa: C901
        if function == "selected":
            code = self.element_of(args[0])
            value = self.option_label(code, args[1].value) if isinstance(args[1], String) else self.say(args[1])
            return f"{self.say(args[0])} includes {value}"
        if function == "count_selected":
            return f"the number of answers ticked in {self.say(args[0])}"
        if function == "answered":
            return f"{self.say(args[0])} is answered"
        if function == "if":
            return f"{self.say(args[1])} if {self.say(args[0])}, otherwise {self.say(args[2])}"
        if function == "today":
            return "today"
        if function == "age_in_years":
            return f"the age in years from {self.say(args[0])}"
        if function == "days_between":
            return f"the days from {self.say(args[0])} to {self.say(args[1])}"
        if function == "count_true":
            return "the number of these that hold: " + "; ".join(self.say(a) for a in args)
        if function == "coalesce":
            return f"{self.say(args[0])}, or else {self.say(args[1])}"
        if function == "int":
            return f"the whole part of {self.say(args[0])}"
        if function == "round":
            return f"{self.say(args[0])} rounded to {self.say(args[1])} decimal places"
        if function == "length":
            return f"the length of {self.say(args[0])}"
        if function == "regex":
            return f"{self.say(args[0])} matches the pattern {self.say(args[1])}"
        return f"{function}({', '.join(self.say(a) for a in args)})"
