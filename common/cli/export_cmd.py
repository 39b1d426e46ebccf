"""`tipdata export …`: microdata in a published format, k-anonymised before it is written.

    tipdata export ctdc --generation 1 --out ctdc-gen1.csv --xlsx

Records come from the ledger: `--ledger URL` (a SQLite path or a PostgreSQL URL; the key from
TIPDATA_LEDGER_KEY / TIPDATA_LEDGER_KEY_FILE), else the one tipdata.toml names (`--config`, else
TIPDATA_CONFIG, else ./tipdata.toml). Output shows counts and paths, never values. Files are
created readable by their owner only. Exit codes: 0 written; 1 invalid input or a failed run.
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
    err_console,
    open_config_ledger,
    reporting_errors,
    shipped_codebook,
)
from tipdata.ledger import Ledger, open_ledger
from tipdata.model import Codebook
from tipdata.statistics.ctdc_export import ctdc_export, write_ctdc_csv, write_ctdc_xlsx
from tipdata.statistics.disclosure import DEFAULT_K

export_app = typer.Typer(help="Export k-anonymised microdata (CTDC gen-1 / gen-2).", no_args_is_help=True)

LedgerOpt = Annotated[str | None, typer.Option(
    "--ledger", metavar="URL", help="Ledger to read (SQLite path or PostgreSQL URL) instead of the one "
    "tipdata.toml names; its key comes from TIPDATA_LEDGER_KEY or TIPDATA_LEDGER_KEY_FILE.")]
KOpt = Annotated[int, typer.Option("--k", min=2, help="Smallest group of records sharing their "
                                   "quasi-identifiers that may be published (CTDC uses 11).")]


def open_records_ledger(config: Path | None, ledger_url: str | None) -> tuple[Codebook, Ledger]:
    """The ledger to read records from: `--ledger` when given, else tipdata.toml's.

    A plain path that does not exist is refused rather than created empty.
    """
    if ledger_url:
        codebook = shipped_codebook()
        if "://" not in ledger_url and not Path(ledger_url).expanduser().exists():
            raise ValueError(f"no ledger at {ledger_url}; give the path of an existing ledger "
                             "(or a postgresql:// URL)")
        return codebook, open_ledger(ledger_url, codebook=codebook)
    _config, codebook, ledger = open_config_ledger(config)
    return codebook, ledger


@export_app.command("ctdc")
def ctdc_command(
    generation: Annotated[int, typer.Option("--generation", min=1, max=2, help="1: the 63-column "
                                            "k-anonymised dataset; 2: the 27-column synthetic-data schema.")],
    k: KOpt = DEFAULT_K,
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE.csv", dir_okay=False,
                                             help="Where to write the CSV (default ctdc-gen<N>.csv).")] = None,
    xlsx: Annotated[bool, typer.Option("--xlsx", help="Also write an .xlsx next to the CSV.")] = False,
    config: ConfigOpt = None,
    ledger_url: LedgerOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Victim case records consented to statistics, in CTDC columns, k-anonymised."""
    target = out or Path(f"ctdc-gen{generation}.csv")
    with reporting_errors(debug):
        codebook, ledger = open_records_ledger(config, ledger_url)
        try:
            export = ctdc_export(ledger.iter_records(), codebook, generation, k=k)  # type: ignore[arg-type]
        finally:
            ledger.close()
        paths = [write_ctdc_csv(export, target)]
        if xlsx:
            paths.append(write_ctdc_xlsx(export, target.with_suffix(".xlsx")))
    summary = {**export.to_json(), "files": [str(p) for p in paths]}
    if as_json:
        console.print_json(json.dumps(summary))
        return
    excluded = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(export.excluded.items()))
    console.print(f"CTDC gen-{generation}: {export.records_read} record(s) read"
                  + (f" ({excluded})" if excluded else "")
                  + f"; {export.records_eligible} victim case record(s), {export.records_suppressed} "
                  f"suppressed by k={export.k} over {', '.join(export.quasi_identifiers)}; "
                  f"{len(export.data)} published", soft_wrap=True)
    for path in paths:
        console.print(f"wrote {path}")
    if export.gaps:
        err_console.print(f"[yellow]columns no codebook element feeds (left empty):[/] {', '.join(export.gaps)}",
                          soft_wrap=True)
    if not len(export.data) and export.records_eligible:
        err_console.print("[yellow]every record was in a group smaller than k: the file has a header only[/]")
