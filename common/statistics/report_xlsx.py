"""The report as a workbook: a README sheet, a Contents sheet, one sheet per published table.

Each table sheet is tidy (header row, one row per cell, as the CSV files) so it can be filtered
and pivoted; suppressed values show `[c]`, explained on the README sheet (the ONS convention for
published spreadsheets). Every text cell goes through `formula_safe` and is written as a string
cell, so a hostile category label or agency name cannot run as a formula. The bytes are
reproducible: fixed workbook properties and zip timestamps, as `tipdata.spreadsheet` does for
the data dictionary.

In the report's language: the README and Contents sheets' names and headings, every name,
definition and label. Table sheets keep the indicator code as their name and the tidy column
names (`sex`, `sex_label`, `value`, `suppressed`) as their header, as the CSV files do, so that
scripts and cross-references work whatever the language; their labels are translated.
"""

from __future__ import annotations

import io
import re

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from tipdata.spreadsheet import _FIXED_TIME, _normalise_zip
from tipdata.statistics.report import SUPPRESSED_MARK, PublishedTable, Report, readme_rows
from tipdata.statistics.report_tidy import Value, formula_safe, tidy_header, tidy_rows

MAX_SHEET_NAME = 31
#: names Excel keeps for itself (compared case-insensitively)
RESERVED_SHEET_NAMES = frozenset({"history"})
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f]")


def sheet_names(
    codes: list[str], taken: tuple[str, ...] = ("README", "Contents")
) -> dict[str, str]:
    """A valid, unique sheet name per code: forbidden characters replaced, at most 31
    characters, unique ignoring case (as Excel compares them), a number appended on clashes.

    >>> sheet_names(["VIC_IDENT", "x/y", "readme", "A" * 40, "A" * 41])
    {'VIC_IDENT': 'VIC_IDENT', 'x/y': 'x_y', 'readme': 'readme~2', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA': 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA': 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAA~2'}
    """
    used = {name.casefold() for name in taken} | RESERVED_SHEET_NAMES
    out: dict[str, str] = {}
    for code in codes:
        base = _SHEET_FORBIDDEN.sub("_", code).strip("'") or "table"
        name = base[:MAX_SHEET_NAME]
        number = 1
        while name.casefold() in used:
            number += 1
            suffix = f"~{number}"
            name = base[: MAX_SHEET_NAME - len(suffix)] + suffix
        used.add(name.casefold())
        out[code] = name
    return out


def workbook_sheet_names(report: Report) -> dict[str, str]:
    """Sheet name per sheet: `README` and `Contents` (in the report's language) first, then one
    per table code; every name valid and unique (see `sheet_names`).

    >>> list(workbook_sheet_names(report).values())[:3]   # doctest: +SKIP
    ['LISEZ-MOI', 'Sommaire', 'VIC_IDENT']
    """
    words = report.words
    fixed = sheet_names([words("sheet.readme"), words("sheet.contents")], taken=())
    own = {"README": fixed[words("sheet.readme")], "Contents": fixed[words("sheet.contents")]}
    return {**own, **sheet_names(list(report.tables), taken=tuple(own.values()))}


def report_workbook(report: Report) -> bytes:
    """The workbook's bytes: equal reports give equal bytes."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    workbook.properties.creator = "tipdata"
    workbook.properties.title = formula_safe(report.title)
    workbook.properties.language = report.language
    workbook.properties.created = workbook.properties.modified = _FIXED_TIME
    names = workbook_sheet_names(report)
    _readme(workbook.create_sheet(names["README"]), report)
    _contents(workbook.create_sheet(names["Contents"]), report, names)
    for code, table in report.tables.items():
        _table_sheet(workbook.create_sheet(names[code]), table, SUPPRESSED_MARK)
    raw = io.BytesIO()
    workbook.save(raw)
    return _normalise_zip(raw.getvalue())


def _readme(sheet, report: Report) -> None:
    sheet.append([report.words("readme.item"), report.words("readme.value")])
    for key, value in readme_rows(report):
        sheet.append([formula_safe(key), formula_safe(value)])
    _header(sheet)
    sheet.column_dimensions["A"].width = 20
    sheet.column_dimensions["B"].width = 120
    for row in sheet.iter_rows(min_row=2, min_col=2, max_col=2):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")


def _contents(sheet, report: Report, names: dict[str, str]) -> None:
    words = report.words
    sheet.append(
        [
            words(f"contents.{column}")
            for column in (
                "sheet",
                "indicator",
                "name",
                "unit",
                "statistic",
                "cells",
                "suppressed",
                "definition",
            )
        ]
    )
    for code, table in report.tables.items():
        sheet.append(
            [
                formula_safe(names[code]),
                formula_safe(code),
                formula_safe(table.name),
                formula_safe(table.unit),
                words(f"statistic.{table.statistic}"),
                len(table.data),
                table.suppressed_cells,
                formula_safe(table.definition),
            ]
        )
    _header(sheet)
    for letter, width in zip("ABCDEFGH", (22, 22, 60, 20, 10, 8, 10, 100), strict=True):
        sheet.column_dimensions[letter].width = width


def _table_sheet(sheet, table: PublishedTable, mark: str) -> None:
    header = tidy_header(table)
    sheet.append([formula_safe(c) for c in header])
    values = set(table.value_columns)
    for row in tidy_rows(table):
        suppressed = bool(row[-1])
        cells: list[Value] = []
        for name, value in zip(header, row, strict=True):
            if name in values and suppressed:
                cells.append(mark)
            elif isinstance(value, str):
                cells.append(formula_safe(value))
            else:
                cells.append(value)
        sheet.append(cells)
    _header(sheet)
    for index, name in enumerate(header, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = 34 if name.endswith("_label") else 16
        if name in values:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                if isinstance(cell.value, int):
                    cell.number_format = "#,##0"
                elif isinstance(cell.value, float):
                    cell.number_format = "0.00"
                else:
                    cell.alignment = Alignment(horizontal="right")
    if sheet.max_row > 1:
        sheet.auto_filter.ref = sheet.dimensions


def _header(sheet) -> None:
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.data_type = "s"
    sheet.freeze_panes = "A2"
