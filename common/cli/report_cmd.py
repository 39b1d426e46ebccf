"""`tipdata report`: the published indicator report (HTML, XLSX, CSV) from the ledger.

Reads every record of the ledger (from tipdata.toml, or `--ledger URL`; the ledger key from
TIPDATA_LEDGER_KEY / TIPDATA_LEDGER_KEY_FILE as for every command), computes the indicators for
the period and area, protects every table (k, secondary suppression, linked tables) and writes
the files. With `--linkage` (the JSON `tipdata link match --out` wrote) victims are counted as
persons and the agency overlap is added. Prints paths and counts, never case contents.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tipdata.cli.sync_options import (
    ConfigOpt,
    DebugOpt,
    JsonOpt,
    console,
    fail,
    open_config_ledger,
    reporting_errors,
    shipped_codebook,
)
from tipdata.ledger import open_ledger
from tipdata.statistics.disclosure import DEFAULT_K
from tipdata.statistics.report import FORMATS, ReportOptions, build_report, write_report
from tipdata.statistics.report_words import report_languages


def report_command(
    period: Annotated[str, typer.Option("--period", help="2025, 2025-Q2, 2025-03 or 2025-01-01/2025-06-30.",
                                        show_default=False)],
    area: Annotated[str | None, typer.Option("--area", help="Country (ISO alpha-2) whose cases are counted; default all.")] = None,
    linkage: Annotated[Path | None, typer.Option(
        "--linkage", help="Result of `tipdata link match --out`: count persons, add the agency overlap.",
        exists=True, dir_okay=False)] = None,
    k: Annotated[int, typer.Option("--k", min=2, help="Smallest count published (primary suppression below it).")] = DEFAULT_K,
    rounding: Annotated[str | None, typer.Option(
        "--rounding", help="Round published counts: floor (down to a multiple of k) or random.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the report into.")] = Path("report"),
    formats: Annotated[list[str] | None, typer.Option(
        "--format", help="html, xlsx or csv; repeat for several (default all three).")] = None,
    title: Annotated[str | None, typer.Option("--title", help="Title of the report.")] = None,
    language: Annotated[str | None, typer.Option(
        "--lang", "--language", help="Language of the whole report: en, fr or es (default en).")] = None,
    trend: Annotated[str, typer.Option("--trend", help="Trend buckets: auto, month, quarter or none.")] = "auto",
    config: ConfigOpt = None,
    ledger_url: Annotated[str | None, typer.Option(
        "--ledger", help="Ledger URL (instead of the one tipdata.toml names).", show_default=False)] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write the indicator report (HTML with charts, XLSX, CSV); every table protected with k."""
    chosen = tuple(dict.fromkeys(formats or FORMATS))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        fail(f"--format {', '.join(unknown)}: choose among {', '.join(FORMATS)}", 2)
    if rounding not in (None, "floor", "random"):
        fail(f"--rounding {rounding}: choose floor or random", 2)
    if trend not in ("auto", "month", "quarter", "none"):
        fail(f"--trend {trend}: choose auto, month, quarter or none", 2)
    if language is not None and language not in report_languages():
        fail(f"--lang {language}: choose {', '.join(report_languages())}", 2)
    with reporting_errors(debug):
        options = ReportOptions(period=period, area=area, k=k, rounding=rounding, linkage=linkage,
                                title=title, language=language, trend=trend)
        codebook = shipped_codebook()
        if ledger_url:
            ledger = open_ledger(ledger_url, codebook=codebook)
        else:
            _settings, codebook, ledger = open_config_ledger(config)
        try:
            records = ledger.count_records()
            report = build_report(ledger.iter_records(), codebook, options)
        finally:
            ledger.close()
        paths = write_report(report, out, chosen)
    cells = sum(len(t.data) for t in report.tables.values())
    if as_json:
        console.print_json(json.dumps({
            "files": [str(p) for p in paths], "period": report.period_text, "area": report.area.label(),
            "k": report.k, "deduplicated": report.deduplicated, "records_read": records,
            "tables": {code: {"cells": len(t.data), "suppressed": t.suppressed_cells}
                       for code, t in report.tables.items()},
        }))
        return
    for path in paths if len(paths) <= 8 else [p for p in paths if p.suffix != ".csv"]:
        console.print(f"wrote {path}")
    csvs = [p for p in paths if p.suffix == ".csv"]
    if len(paths) > 8 and csvs:
        console.print(f"wrote {len(csvs)} CSV file(s) in {csvs[0].parent}")
    console.print(f"{records:,} record(s) read; {len(report.tables)} table(s), {cells:,} cell(s), "
                  f"{report.suppressed_cells:,} suppressed (k = {report.k}); "
                  + ("persons de-duplicated by record linkage" if report.deduplicated
                     else "counted per record (no --linkage)"))
