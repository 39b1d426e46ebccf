"""The catalogue of functions: names, argument counts, and the words the docs and errors use.

The checker reads arity and signatures from here; each renderer maps the same names to its
target (XPath now, DHIS2 and Frappe later). A function added here but not to a renderer fails
that renderer's tests loudly, which is the point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class FunctionSpec:
    """One function of the language.

    Example: ``FUNCTIONS["selected"].signature`` is ``"selected(name, 'code')"``.
    """

    name: str
    min_args: int
    max_args: int | None  # None: any number from min_args up
    signature: str
    summary: str
    example: str

    def accepts(self, count: int) -> bool:
        """True when ``count`` arguments is a valid call."""
        return count >= self.min_args and (self.max_args is None or count <= self.max_args)

    def expected_count(self) -> str:
        """``'2 arguments'``, ``'no arguments'``, ``'1 or more arguments'``."""
        if self.max_args is None:
            return f"{self.min_args} or more arguments"
        if self.min_args == self.max_args:
            count = self.min_args
            return "no arguments" if count == 0 else f"{count} argument{'s' if count != 1 else ''}"
        return f"{self.min_args} to {self.max_args} arguments"


_SPECS = (
    FunctionSpec(
        "selected",
        2,
        2,
        "selected(name, 'code')",
        "true when the select_one or select_multiple answer includes the option code",
        "selected(control_means, 'debt_bondage')",
    ),
    FunctionSpec(
        "count_selected",
        1,
        1,
        "count_selected(name)",
        "how many options of a select_multiple are ticked (0 when unanswered)",
        "count_selected(control_means) >= 2",
    ),
    FunctionSpec(
        "answered",
        1,
        1,
        "answered(name)",
        "true when the element has a non-empty value; answered(.) tests the element itself",
        "answered(phone_number)",
    ),
    FunctionSpec(
        "if",
        3,
        3,
        "if(condition, a, b)",
        "a when the condition is true, otherwise b; only the chosen branch is evaluated",
        "if(age_at_screening < 18, 'child', 'adult')",
    ),
    FunctionSpec(
        "today",
        0,
        0,
        "today()",
        "the current date on the device or server evaluating the expression",
        "interview_date <= today()",
    ),
    FunctionSpec(
        "age_in_years",
        1,
        1,
        "age_in_years(date)",
        "whole years from the date to today, counting a birthday only once it is reached",
        "age_in_years(date_of_birth) < 18",
    ),
    FunctionSpec(
        "days_between",
        2,
        2,
        "days_between(d1, d2)",
        "d2 minus d1 in whole days (negative when d2 is earlier)",
        "days_between(date_of_exit, interview_date) <= 90",
    ),
    FunctionSpec(
        "count_true",
        1,
        None,
        "count_true(c1, c2, ...)",
        "how many of the conditions are true",
        "count_true(selected(means, 'debt'), passport_withheld, answered(recruiter)) >= 2",
    ),
    FunctionSpec(
        "coalesce",
        2,
        2,
        "coalesce(a, b)",
        "a when it has a value, otherwise b",
        "coalesce(age_reported, age_estimated)",
    ),
    FunctionSpec(
        "int",
        1,
        1,
        "int(x)",
        "x with its fractional part dropped (towards zero)",
        "int(weekly_hours / 7)",
    ),
    FunctionSpec(
        "round",
        2,
        2,
        "round(x, n)",
        "x rounded to n decimal places, halves away from zero (2.5 → 3, -2.5 → -3)",
        "round(debt_amount / household_size, 2)",
    ),
    FunctionSpec(
        "length",
        1,
        1,
        "length(text)",
        "the number of characters in the text (0 when unanswered)",
        "length(phone_number) >= 7",
    ),
    FunctionSpec(
        "regex",
        2,
        2,
        "regex(text, 'pattern')",
        "true when the WHOLE text matches the regular expression",
        "regex(., '[0-9]{7,15}')",
    ),
)

FUNCTIONS: Mapping[str, FunctionSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
