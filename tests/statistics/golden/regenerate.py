"""Rewrite the golden CSV files from the golden data set: run after an intended change.

    python -m tests.statistics.golden.regenerate

The files are what `tipdata report` writes as CSV for the synthetic data set of `dataset.py`
(2025, NG, k = 11, ground-truth linkage): every table in English (`report_2025_NG/`), and a few
tables plus the workbook's README and Contents sheets in French (`report_2025_NG_fr/`). Review
the diff before committing: `test_report.py` also holds the headline numbers against counts made
from the data set with plain Python, so a regenerated golden that moved them fails there.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.statistics.golden.dataset import golden_report
from tipdata.statistics.report import Report, readme_rows
from tipdata.statistics.report_tidy import formula_safe, report_csv_files

GOLDEN_DIR = Path(__file__).with_name("report_2025_NG")
FRENCH_DIR = Path(__file__).with_name("report_2025_NG_fr")
#: the tables of the French golden: categories from option lists, from the report's own words,
#: agency overlap, multi-response and means
FRENCH_TABLES: tuple[str, ...] = (
    "VIC_IDENT_PERSONS",
    "VIC_PERSONS_OVERLAP",
    "JUS_SENTENCES",
    "OUT_DOMAIN_CHANGE",
)


def french_files(report: Report) -> dict[str, str]:
    """File name → text of the French golden: the chosen tables' CSV files and `README.csv`
    (the README sheet's rows) and `Contents.csv` (name, unit, definition of every table)."""
    files = {
        name: text
        for name, text in report_csv_files(report).items()
        if name.removesuffix(".csv") in FRENCH_TABLES
    }
    files["README.csv"] = _csv([(formula_safe(k), formula_safe(v)) for k, v in readme_rows(report)])
    files["Contents.csv"] = _csv(
        [
            (
                code,
                t.name,
                t.unit,
                t.definition,
                t.numerator or "",
                t.denominator or "",
                "; ".join(t.standards),
            )
            for code, t in report.tables.items()
        ]
    )
    return files


def _csv(rows: list[tuple[str, ...]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", newline="")
    print(f"wrote {len(files)} golden CSV file(s) to {folder}")


def main() -> None:
    _write(GOLDEN_DIR, report_csv_files(golden_report()))
    _write(FRENCH_DIR, french_files(golden_report("fr")))


if __name__ == "__main__":
    main()
