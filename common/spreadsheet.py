"""Writing and reading spreadsheets as plain rows, byte-for-byte reproducibly.

openpyxl stamps the current time into the file properties and into every zip entry, so the same
content would give a different file on every build and `tipdata build --check` could not compare
bytes. Here the workbook properties and zip timestamps are fixed, so equal rows give equal bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Mapping, Sequence

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font

Cell = str | int | float | None
Sheets = Mapping[str, Sequence[Sequence[Cell]]]

_FIXED_TIME = dt.datetime(2000, 1, 1)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
#: characters that make a spreadsheet treat a text cell as a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: Cell, *, allow_formula: bool = False) -> Cell:
    """Text that a spreadsheet program will not execute as a formula."""
    if allow_formula or not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    return "'" + value


def write_xlsx(sheets: Sheets, *, bold_header: bool = True, column_widths: Mapping[str, int] | None = None,
               escape_formulas: bool = True) -> bytes:
    """Rows per sheet → deterministic .xlsx bytes (first row of each sheet is its header)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    workbook.properties.creator = "tipdata"
    workbook.properties.created = _FIXED_TIME
    workbook.properties.modified = _FIXED_TIME
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append([safe_text(v, allow_formula=not escape_formulas) for v in row])
        if bold_header and rows:
            for cell in sheet[1]:
                cell.font = Font(bold=True)
            sheet.freeze_panes = "A2"
        for letter, width in (column_widths or {}).items():
            sheet.column_dimensions[letter].width = width
    raw = io.BytesIO()
    workbook.save(raw)
    return _normalise_zip(raw.getvalue())


def _normalise_zip(data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps "modified" at save time, whatever the properties say
                content = _MODIFIED.sub(rb"\g<1>2000-01-01T00:00:00Z\g<2>", content)
            target.writestr(fixed, content)
    return out.getvalue()


def read_xlsx(data: bytes) -> dict[str, list[list[Cell]]]:
    """Sheet name → rows of cell values (trailing empty cells kept as None)."""
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        return {
            sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)]
            for sheet in workbook.worksheets
        }
    finally:
        workbook.close()
