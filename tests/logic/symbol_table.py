"""The symbol table the logic-language tests share: one element of every type."""

from __future__ import annotations

from tipdata.logic import Symbol

SYMBOLS: dict[str, Symbol] = {
    symbol.name: symbol
    for symbol in (
        Symbol("age", "integer"),
        Symbol("household", "integer"),
        Symbol("weight", "decimal"),
        Symbol("name", "text"),
        Symbol("dob", "date"),
        Symbol("seen_at", "datetime"),
        Symbol("consent", "select_one", frozenset({"yes", "no"})),
        Symbol("means", "select_multiple", frozenset({"debt", "threats", "documents"})),
        Symbol("minor", "boolean"),
        Symbol("location", "geopoint"),
    )
}

# The element codes the function catalogue's examples (and docs/logic-language.md) use.
EXAMPLE_SYMBOLS: dict[str, Symbol] = {
    symbol.name: symbol
    for symbol in (
        Symbol("control_means", "select_multiple", frozenset({"debt_bondage", "threats"})),
        Symbol("means", "select_multiple", frozenset({"debt", "threats"})),
        Symbol("phone_number", "text"),
        Symbol("recruiter", "text"),
        Symbol("age_at_screening", "integer"),
        Symbol("age_reported", "integer"),
        Symbol("age_estimated", "integer"),
        Symbol("household_size", "integer"),
        Symbol("weekly_hours", "decimal"),
        Symbol("debt_amount", "decimal"),
        Symbol("interview_date", "date"),
        Symbol("date_of_birth", "date"),
        Symbol("date_of_exit", "date"),
        Symbol("passport_withheld", "boolean"),
    )
}
