"""`tipdata status`: where each source stands, the last runs, what waits in quarantine.

Reads only the ledger (no platform is contacted): watermarks per source stream, the latest runs
with their status and counts, open quarantine entries by source and reason, and per configured
target how many records wait to be sent. Counts, names and codes only.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from tipdata.cli.sync_options import (
    ConfigOpt,
    DebugOpt,
    JsonOpt,
    console,
    open_config_ledger,
    reporting_errors,
)
from tipdata.ledger import Ledger, Watermark
from tipdata.problems import CATALOGUE
from tipdata.sync.config import SyncConfig
from tipdata.sync.ledger_reads import (
    all_watermarks,
    count_current,
    count_pending,
    quarantine_counts,
)


def describe_watermark(mark: Watermark) -> str:
    parts = [mark.at.isoformat()] if mark.at else []
    if mark.number is not None:
        parts.append(f"#{mark.number}")
    if mark.cursor:
        parts.append(mark.cursor)
    return " ".join(parts)


def configured_targets(config: SyncConfig) -> list[str]:
    targets = []
    if config.frappe is not None and config.frappe.push:
        targets.append("frappe")
    if config.dhis2 is not None and config.dhis2.push:
        targets.append("dhis2")
    return targets


def collect_status(ledger: Ledger, targets: list[str], runs: int = 5) -> dict[str, Any]:
    """What `tipdata status --json` prints."""
    with ledger.reading() as tx:
        marks = all_watermarks(tx)
        quarantine = quarantine_counts(tx)
        pending = {t: {"pending": count_pending(tx, t), "current": count_current(tx, t)}
                   for t in targets}
    return {
        "ledger": ledger.where,
        "records": ledger.count_records(),
        "watermarks": [{"source": m.source, "position": describe_watermark(m.mark),
                        "updated_at": m.updated_at.isoformat(), "run_id": m.run_id} for m in marks],
        "runs": [{"run_id": r.run_id, "started_at": r.started_at.isoformat(),
                  "ended_at": r.ended_at.isoformat() if r.ended_at else None, "status": r.status,
                  "counts": r.counts, "errors": [e.as_dict() for e in r.errors]}
                 for r in ledger.runs(runs)],
        "quarantine": [{"source": source, "reason": reason,
                        "name": CATALOGUE[reason][0] if reason in CATALOGUE else None, "count": n}
                       for (source, reason), n in sorted(quarantine.items())],
        "targets": pending,
    }


def _total(counts: dict[str, dict[str, int]], key: str) -> int:
    return sum(per.get(key, 0) for per in counts.values())


def status_command(
    config: ConfigOpt = None,
    runs: Annotated[int, typer.Option("--runs", help="How many recent runs to show.", min=1)] = 5,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show watermarks, the last runs and quarantine counts by reason."""
    with reporting_errors(debug):
        settings, _codebook, ledger = open_config_ledger(config)
        try:
            status = collect_status(ledger, configured_targets(settings), runs)
        finally:
            ledger.close()
    if as_json:
        console.print_json(json.dumps(status))
        return
    console.print(f"Ledger {status['ledger']}: {status['records']} record(s)")
    marks = Table(title="Watermarks", title_justify="left")
    for column in ("source", "position", "updated at", "run"):
        marks.add_column(column)
    for m in status["watermarks"]:
        marks.add_row(m["source"], m["position"], m["updated_at"], str(m["run_id"] or "-"))
    console.print(marks)
    table = Table(title="Last runs", title_justify="left")
    for column in ("run", "started", "ended", "status", "new", "updated", "quarantined", "errors"):
        table.add_column(column)
    for r in status["runs"]:
        table.add_row(str(r["run_id"]), r["started_at"], r["ended_at"] or "-", r["status"],
                      str(_total(r["counts"], "new")), str(_total(r["counts"], "updated")),
                      str(_total(r["counts"], "quarantined")),
                      ", ".join(f"{e['system']}: {e['code']}" for e in r["errors"]) or "-")
    console.print(table)
    quarantine = Table(title="Quarantine (open entries)", title_justify="left")
    for column in ("source", "reason", "count"):
        quarantine.add_column(column)
    for q in status["quarantine"]:
        reason = f"{q['reason']} ({q['name']})" if q["name"] else q["reason"]
        quarantine.add_row(q["source"], reason, str(q["count"]))
    console.print(quarantine)
    for target, numbers in status["targets"].items():
        console.print(f"{target}: {numbers['current']} record(s) current, "
                      f"{numbers['pending']} waiting to be sent")
