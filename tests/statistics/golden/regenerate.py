"""Rewrite the golden CSV files from the golden data set: run after an intended change.

    python -m tests.statistics.golden.regenerate

The files are what `tipdata report` writes as CSV for the synthetic data set of `dataset.py`
(2025, NG, k = 11, ground-truth linkage). Review the diff before committing: `test_report.py`
also holds the headline numbers against counts made from the data set with plain Python, so a
regenerated golden that moved them fails there.
"""

from __future__ import annotations

from pathlib import Path

from tests.statistics.golden.dataset import golden_report
from tipdata.statistics.report_tidy import report_csv_files

GOLDEN_DIR = Path(__file__).with_name("report_2025_NG")


def main() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for old in GOLDEN_DIR.glob("*.csv"):
        old.unlink()
    files = report_csv_files(golden_report())
    for name, text in files.items():
        (GOLDEN_DIR / name).write_text(text, encoding="utf-8", newline="")
    print(f"wrote {len(files)} golden CSV file(s) to {GOLDEN_DIR}")


if __name__ == "__main__":
    main()
