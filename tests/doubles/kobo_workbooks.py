"""Small XLSForm workbooks written inline, so Kobo double tests state their form as a table."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import openpyxl

Rows = Sequence[Sequence[Any]]

SMALL_FORM_SURVEY: Rows = (
    ("type", "name", "label"),
    ("begin_group", "grp_person", "Person"),
    ("integer", "age", "Age"),
    ("select_one sex", "sex", "Sex"),
    ("end_group", "", ""),
    ("begin_repeat", "grp_contacts", "Contacts"),
    ("text", "contact_name", "Name"),
    ("end_repeat", "", ""),
    ("image", "photo", "Photo"),
)
SMALL_FORM_CHOICES: Rows = (
    ("list_name", "name", "label"),
    ("sex", "female", "Female"),
    ("sex", "male", "Male"),
)


def build_xlsform(survey: Rows, choices: Rows | None = None,
                  settings: dict[str, Any] | None = None, *,
                  survey_sheet: str = "survey") -> bytes:
    """Write an XLSForm workbook in memory; the first row of each table holds the column names.

    Example: `build_xlsform([("type", "name", "label"), ("integer", "age", "Age")],
    settings={"form_title": "Mini"})`
    """
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = survey_sheet
    for row in survey:
        sheet.append(list(row))
    if choices:
        choice_sheet = workbook.create_sheet("choices")
        for row in choices:
            choice_sheet.append(list(row))
    if settings:
        settings_sheet = workbook.create_sheet("settings")
        settings_sheet.append(list(settings))
        settings_sheet.append(list(settings.values()))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def small_xlsform(title: str = "TIP screening", **settings: Any) -> bytes:
    """A small form with a group, a repeat, a select and an image question."""
    return build_xlsform(SMALL_FORM_SURVEY, SMALL_FORM_CHOICES,
                         {"form_title": title, **settings})
