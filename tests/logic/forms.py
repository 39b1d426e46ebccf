"""Small XLSForms for engine tests: one question per symbol, plus calculates under test.

The forms are built as pyxform workbook dicts (no spreadsheet files) and carry an English label
column so they have translations: the JavaRosa test harness needs a localizer to report the
form's language.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from pyxform.xls2xform import convert

from tipdata.logic import Symbol

LABEL = "label::English (en)"

_QUESTION_TYPES = {
    "text": "text",
    "integer": "integer",
    "decimal": "decimal",
    "date": "date",
    "datetime": "dateTime",
    "geopoint": "geopoint",
    "boolean": "select_one boolean",  # XLSForm stores a boolean as the text 'true'/'false'
}


def question_rows(symbols: Mapping[str, Symbol], constraints: Mapping[str, str] | None = None):
    """Survey rows asking for every symbol, with optional constraint XPath per question."""
    rows = []
    for symbol in symbols.values():
        kind = _QUESTION_TYPES.get(symbol.type) or f"{symbol.type} list_{symbol.name}"
        row = {"type": kind, "name": symbol.name, LABEL: symbol.name}
        if constraints and symbol.name in constraints:
            row["constraint"] = constraints[symbol.name]
        rows.append(row)
    return rows


def choice_rows(symbols: Mapping[str, Symbol]) -> list[dict[str, str]]:
    rows = [{"list_name": "boolean", "name": code, LABEL: code} for code in ("true", "false")]
    for symbol in symbols.values():
        for code in sorted(symbol.options or ()):
            rows.append({"list_name": f"list_{symbol.name}", "name": code, LABEL: code})
    return rows


def build_xform(
    survey: list[dict[str, str]], choices: list[dict[str, str]], *, validate: bool
) -> str:
    """Convert a workbook dict to an XForm; with ``validate`` ODK Validate (JavaRosa) checks it."""
    workbook = {"survey": survey, "choices": choices, "settings": [{"form_id": "logic_test"}]}
    return convert(workbook, validate=validate).xform


def answers_for(values: Mapping[str, object], symbols: Mapping[str, Symbol]):
    """The answers an enumerator would enter for canonical Python ``values`` (None: skipped)."""
    answers = []
    for name, value in values.items():
        if value is None or (isinstance(value, (list, tuple, frozenset)) and not value):
            continue
        if isinstance(value, bool):
            answers.append((name, "true" if value else "false"))
        elif isinstance(value, datetime):
            answers.append((name, value.isoformat(timespec="seconds")))
        elif isinstance(value, date):
            answers.append((name, value.isoformat()))
        elif isinstance(value, (list, tuple, frozenset)):
            answers.append((name, sorted(value)))
        elif isinstance(value, (float, Decimal)):
            answers.append((name, repr(float(value))))
        else:
            answers.append((name, value))
    return answers


def engine_text_matches(expected: object, text: str) -> bool:
    """Does the engine's ``string(...)`` of a value equal the evaluator's result?

    Numbers are compared as numbers (engines print them differently: 1.0E10 and 1e+21);
    NaN may print as 'NaN' (JavaRosa) or '' (ODK Web Forms); dates as their YYYY-MM-DD start.
    """
    if expected is None:
        return text == ""
    if isinstance(expected, bool):
        return text == ("true" if expected else "false")
    if isinstance(expected, (int, float)):
        if isinstance(expected, float) and math.isnan(expected):
            return text in ("NaN", "")
        try:
            return float(text.replace("Infinity", "inf")) == expected
        except ValueError:
            return False
    if isinstance(expected, (date, datetime)):
        return text[:10] == expected.isoformat()[:10]
    return text == expected
