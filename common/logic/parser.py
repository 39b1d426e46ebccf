"""Text to syntax tree: the grammar of the logic language and its error messages.

The grammar is an inline string (not a ``.lark`` file) so the installed package needs no
package-data entry. It is LALR(1): fast, and every syntax error has one position to point at.
Functions are parsed generically as ``name(args)``; which names exist and how many arguments
they take is the checker's business, so adding a function never touches this file.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

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
from .problems import LogicProblem, LogicSyntaxError

GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr
        | or_expr OR and_expr                  -> logical
?and_expr: not_expr
         | and_expr AND not_expr               -> logical
?not_expr: comparison
         | NOT not_expr                        -> not_
?comparison: sum
           | sum COMPARE_OP sum                -> compare
?sum: product
    | sum PLUS product                         -> arithmetic
    | sum MINUS product                        -> arithmetic
?product: unary
        | product MUL_OP unary                 -> arithmetic
        | product MOD unary                    -> arithmetic
?unary: atom
      | MINUS unary                            -> negate
?atom: INT                                     -> integer
     | DECIMAL                                 -> decimal
     | STRING                                  -> string
     | TRUE                                    -> true
     | FALSE                                   -> false
     | DOT                                     -> self_ref
     | NAME                                    -> name
     | NAME LPAR [or_expr (COMMA or_expr)*] RPAR  -> call
     | LPAR or_expr RPAR                       -> parenthesized

OR: "or"
AND: "and"
NOT: "not"
TRUE: "true"
FALSE: "false"
MOD: "mod"
MUL_OP: "*" | "/"
PLUS: "+"
MINUS: "-"
COMPARE_OP: "!=" | "<=" | ">=" | "=" | "<" | ">"
LPAR: "("
RPAR: ")"
COMMA: ","
DOT: "."
NAME: /[a-z][a-z0-9_]*/
DECIMAL: /[0-9]+\.[0-9]+/
INT: /[0-9]+/
STRING: /'[^']*'/ | /"[^"]*"/

%ignore /[ \t\r\n]+/
"""

# How expected tokens are described to codebook authors.
_VALUE_TOKENS = frozenset(
    {"NAME", "INT", "DECIMAL", "STRING", "TRUE", "FALSE", "DOT", "LPAR", "MINUS", "NOT"}
)
_OPERATOR_TOKENS = frozenset({"OR", "AND", "COMPARE_OP", "PLUS", "MUL_OP", "MOD", "MINUS"})
_KEYWORD_AND_OPERATOR_TOKENS = _OPERATOR_TOKENS | {"NOT", "TRUE", "FALSE"}


def _position(token: Token) -> int:
    """1-based position of ``token`` in the whole text: its column when the text is one line,
    and still unambiguous when a YAML block spreads an expression over several."""
    return (token.start_pos or 0) + 1


@v_args(inline=True)
class _ToNodes(Transformer):
    """Turns lark's parse tree into :mod:`nodes`, keeping 1-based start columns."""

    def integer(self, token: Token) -> Number:
        return Number(int(token), column=_position(token))

    def decimal(self, token: Token) -> Number:
        return Number(Decimal(str(token)), column=_position(token))

    def string(self, token: Token) -> String:
        return String(str(token)[1:-1], column=_position(token))

    def true(self, token: Token) -> Boolean:
        return Boolean(True, column=_position(token))

    def false(self, token: Token) -> Boolean:
        return Boolean(False, column=_position(token))

    def self_ref(self, token: Token) -> SelfRef:
        return SelfRef(column=_position(token))

    def name(self, token: Token) -> Name:
        return Name(str(token), column=_position(token))

    def call(self, name: Token, _lpar: Token, *rest: Expr | Token | None) -> Call:
        args = tuple(item for item in rest if item is not None and not isinstance(item, Token))
        return Call(str(name), args, column=_position(name))

    def parenthesized(self, _lpar: Token, inner: Expr, _rpar: Token) -> Expr:
        return inner

    def not_(self, keyword: Token, operand: Expr) -> Not:
        return Not(operand, column=_position(keyword))

    def negate(self, minus: Token, operand: Expr) -> Negate:
        return Negate(operand, column=_position(minus))

    def logical(self, left: Expr, op: Token, right: Expr) -> Logical:
        return Logical(str(op), left, right, column=left.column, op_column=_position(op))  # type: ignore[arg-type]

    def compare(self, left: Expr, op: Token, right: Expr) -> Compare:
        return Compare(str(op), left, right, column=left.column, op_column=_position(op))  # type: ignore[arg-type]

    def arithmetic(self, left: Expr, op: Token, right: Expr) -> Arithmetic:
        return Arithmetic(str(op), left, right, column=left.column, op_column=_position(op))  # type: ignore[arg-type]


@functools.cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=True)


def parse(text: str) -> Expr:
    """Read one expression; raise :class:`LogicSyntaxError` pointing at the first bad column.

    Why LALR + a tree transformer: the codebook holds hundreds of expressions, and authors need
    one precise column per mistake rather than a guess.

    Example::

        >>> parse("age >= 18 and selected(means, 'debt')")
        Logical(op='and', left=Compare(op='>=', left=Name(name='age'), right=Number(value=18)), ...
    """
    if not text.strip():
        raise LogicSyntaxError(
            LogicProblem("syntax", "the expression is empty; write a condition or a value", 1)
        )
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as error:
        raise LogicSyntaxError(_describe_syntax_error(text, error)) from None
    return _ToNodes().transform(tree)


# ---- error messages ------------------------------------------------------------------------


def _describe_syntax_error(text: str, error: UnexpectedInput) -> LogicProblem:
    if isinstance(error, UnexpectedCharacters):
        return _unexpected_character(text, error.pos_in_stream + 1, error.char)
    if isinstance(error, UnexpectedToken):
        return _unexpected_token(text, error.token, _acceptable(error))
    if isinstance(error, UnexpectedEOF):
        return _unexpected_end(text, set(error.expected))
    column = getattr(error, "column", None)
    return LogicProblem("syntax", "this expression cannot be read", column)


def _unexpected_character(text: str, column: int, char: str) -> LogicProblem:
    rest = text[column - 1 :]
    if char in "'\"":
        message = f"the text starting with {char} has no closing {char}"
    elif rest.startswith("&&"):
        message = "use 'and' instead of '&&'"
    elif rest.startswith("||"):
        message = "use 'or' instead of '||'"
    elif char == "!":
        message = "use 'not x' to negate, or '!=' for 'is not equal to'"
    elif rest.startswith("${"):
        message = "write element codes without ${...}: age, not ${age}"
    elif char.isalpha() and not char.islower():
        message = (
            "names, functions and keywords are lowercase (and, or, not, true, false); "
            f"found {char!r}"
        )
    elif char == "\\":
        message = "quoted text has no escapes; to include ' use double quotes, and vice versa"
    else:
        message = f"{char!r} is not part of the logic language"
    return LogicProblem("syntax", message, column)


def _unexpected_token(text: str, token: Token, expected: set[str]) -> LogicProblem:
    if token.type == "$END":
        return _unexpected_end(text, expected)
    shown = str(token)
    previous = text[: _position(token) - 1].rstrip()
    if token.type == "COMPARE_OP" and shown == "=" and previous.endswith(("=", "<", ">", "!")):
        message = "use a single '=' to compare ('==' is not an operator here)"
    elif token.type == "COMPARE_OP" and shown == ">" and previous.endswith("<"):
        message = "use '!=' for 'is not equal to' ('<>' is not an operator here)"
    elif token.type == "COMPARE_OP" and "COMPARE_OP" not in expected and "AND" in expected:
        message = (
            f"comparisons cannot be chained; join them with 'and', e.g. a < b and b < c "
            f"(found {shown!r})"
        )
    elif token.type == "LPAR" and "LPAR" not in expected:
        before = previous.split()[-1] if previous.split() else ""
        if before[-1:].isdigit():
            message = "unexpected '(': put an operator between a number and '('"
        else:
            message = f"unexpected '(': only functions can be called, and {before!r} is not one"
    elif token.type in {"INT", "DECIMAL"} and previous.endswith("."):
        message = "write decimals with digits on both sides of the point, e.g. 0.5"
    else:
        message = f"unexpected {_describe_token(token)}; expected {_describe_expected(expected)}"
    return LogicProblem("syntax", message, _position(token))


def _acceptable(error: UnexpectedToken) -> set[str]:
    """The tokens that could really come next (LALR's own list over-approximates)."""
    interactive = getattr(error, "interactive_parser", None)
    if interactive is not None:
        try:
            return set(interactive.accepts())
        except Exception:  # noqa: BLE001 - fall back to lark's approximation
            pass
    return set(error.expected)


def _unexpected_end(text: str, expected: set[str]) -> LogicProblem:
    column = len(text.rstrip()) + 1
    if expected == {"RPAR"} or ("RPAR" in expected and not expected & _VALUE_TOKENS):
        message = "the expression ends before a ')' closes an open '('"
    else:
        message = f"the expression ends too early; expected {_describe_expected(expected)}"
    return LogicProblem("syntax", message, column)


def _describe_token(token: Token) -> str:
    if token.type in _KEYWORD_AND_OPERATOR_TOKENS:
        return f"{str(token)!r}"
    if token.type == "NAME":
        return f"name {str(token)!r}"
    if token.type in {"INT", "DECIMAL"}:
        return f"number {str(token)}"
    if token.type == "STRING":
        return f"text {str(token)}"
    return f"{str(token)!r}"


def _describe_expected(expected: set[str]) -> str:
    parts: list[str] = []
    if expected & _VALUE_TOKENS - {"LPAR", "MINUS", "NOT"}:
        parts.append("a value (a name, number, quoted text, true, false, '.' or '(')")
    elif "LPAR" in expected and "RPAR" not in expected:
        parts.append("'('")
    if expected & (_OPERATOR_TOKENS - {"MINUS"}):
        parts.append("an operator (and, or, =, <, +, ...)")
    if "COMMA" in expected:
        parts.append("','")
    if "RPAR" in expected:
        parts.append("')'")
    if "$END" in expected:
        parts.append("the end of the expression")
    if not parts:
        return "something else"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
