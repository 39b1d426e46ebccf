"""Problems found in an expression, and the two exceptions that carry them.

The checker collects every problem and reports them at once (house habit 5); only ``parse`` and
the compilers raise, because there is nothing sensible to return from them when input is bad.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

ProblemKind: TypeAlias = Literal[
    "syntax", "unknown_name", "type", "unknown_option", "arity", "context"
]


@dataclass(frozen=True)
class LogicProblem:
    """One thing wrong with an expression, in words a codebook author can act on.

    Example: ``LogicProblem("unknown_option", "'maybe' is not an option of 'consent' ...", 11,
    "consent")``
    """

    kind: ProblemKind
    message: str  # plain words: what is wrong and what was expected
    column: int | None  # 1-based column in the expression text (position, if multi-line)
    name: str | None = None  # the element (or function) the problem is about, if any

    def __str__(self) -> str:
        where = f"column {self.column}: " if self.column is not None else ""
        return f"{where}{self.message}"


class LogicSyntaxError(ValueError):
    """``parse`` could not read the text; ``problem`` says where and what was expected."""

    def __init__(self, problem: LogicProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class LogicCompileError(ValueError):
    """A compiler was handed an expression that does not check; ``problems`` lists why."""

    def __init__(self, problems: tuple[LogicProblem, ...] | list[LogicProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))
