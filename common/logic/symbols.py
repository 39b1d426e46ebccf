"""What the logic language knows about the elements an expression may name.

The codebook loader builds one :class:`Symbol` per data element; the checker, the compilers and
the evaluator never read the codebook themselves, so the language stays usable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

ElementType: TypeAlias = Literal[
    "text",
    "integer",
    "decimal",
    "date",
    "datetime",
    "select_one",
    "select_multiple",
    "boolean",
    "geopoint",
]
ELEMENT_TYPES: tuple[ElementType, ...] = (
    "text",
    "integer",
    "decimal",
    "date",
    "datetime",
    "select_one",
    "select_multiple",
    "boolean",
    "geopoint",
)

Context: TypeAlias = Literal["relevant", "constraint", "required", "calculation"]
CONTEXTS: tuple[Context, ...] = ("relevant", "constraint", "required", "calculation")


@dataclass(frozen=True)
class Symbol:
    """One data element as the checker sees it: code, type and, for selects, option codes.

    Example: ``Symbol("person_sex", "select_one", frozenset({"female", "male"}))``
    """

    name: str
    type: ElementType
    options: frozenset[str] | None = None  # option codes for select_one/select_multiple
