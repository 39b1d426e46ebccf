"""A published table as tidy rows, and as CSV text, safe to open in a spreadsheet program.

One row per cell: for each dimension its code and its label, then the value column(s) (empty
where suppressed) and `suppressed` (true/false). Whether a suppressed cell was small or hidden
to protect a small one is not said: that would narrow what an attacker can infer.

Formula injection: a spreadsheet program runs a text cell that starts with `=`, `+`, `-` or `@`
(or a tab or carriage return before one, or the full-width forms `＝ ＋ － ＠`) as a formula,
and labels come from codebooks and agency names that someone else wrote. Every text cell that
starts so gets a leading apostrophe (`formula_safe`), the OWASP advice; numbers are written by
this module and stay numbers.
"""

from __future__ import annotations

import csv
import io
import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tipdata.statistics.report import PublishedTable, Report

#: first characters that make a spreadsheet treat text as a formula (ASCII and full-width)
FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
#: characters XML 1.0 (and so XLSX) cannot hold
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
Value = str | int | float | bool | None


def formula_safe(text: str) -> str:
    """Text no spreadsheet program will run as a formula; characters XML cannot hold removed.

    >>> formula_safe("=HYPERLINK(\\"http://x\\")"), formula_safe("＋1"), formula_safe("ngo")
    ('\\'=HYPERLINK("http://x")', "'＋1", 'ngo')
    """
    text = _ILLEGAL_XML.sub("", text)
    return "'" + text if text.startswith(FORMULA_START) else text


def safe_value(value: Value) -> Value:
    """Numbers and booleans as they are, text made formula-safe."""
    return formula_safe(value) if isinstance(value, str) else value


def tidy_header(table: PublishedTable) -> list[str]:
    columns: list[str] = []
    for dim in table.dimensions:
        columns += [dim, f"{dim}_label"]
    return [*columns, *table.value_columns, "suppressed"]


def tidy_rows(table: PublishedTable) -> list[list[Value]]:
    """The table's cells, one row each (values None where suppressed), header not included.

    >>> tidy_rows(report.tables["VIC_IDENT_TREND"])[0]   # doctest: +SKIP
    ['_T', 'Total', 612, False]
    """
    rows = []
    for record in table.data.to_dict("records"):
        row: list[Value] = []
        for dim in table.dimensions:
            code = str(record[dim])
            row += [code, table.labels[dim].get(code, code)]
        suppressed = bool(record["suppressed"])
        row += [None if suppressed else _number(record[c]) for c in table.value_columns]
        rows.append([*row, suppressed])
    return rows


def table_csv(table: PublishedTable) -> str:
    """The tidy table as CSV text (RFC 4180, `\\r\\n` line ends), every text cell formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([formula_safe(c) for c in tidy_header(table)])
    for row in tidy_rows(table):
        writer.writerow([_csv_text(v) for v in row])
    return out.getvalue()


def report_csv_files(report: Report) -> dict[str, str]:
    """File name → CSV text, one file per published table."""
    return {f"{code}.csv": table_csv(table) for code, table in report.tables.items()}


def _number(value: object) -> int | float | None:
    if value is None:
        return None
    try:
        if value != value:  # NaN, pd.NA raise or compare unequal
            return None
    except TypeError:
        return None
    if isinstance(value, bool):
        return int(value)
    number = float(value)  # numpy and pandas scalars
    if math.isinf(number):
        return None
    return int(number) if number.is_integer() and not isinstance(value, float) else round(number, 6)


def _csv_text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return formula_safe(value)
