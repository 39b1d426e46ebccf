"""`tipdata audit`: what moved where, when, under which consent and policy version.

Filters combine: `--record ID` (entries whose records include it), `--target`, `--source`,
`--action` (one of `AUDIT_ACTIONS`: pull, push, withhold, quarantine, resolve, conflict, retract,
rotate_key), `--since` / `--until` (dates or ISO date-times; UTC unless a zone is given). The
audit log holds record ids and counts only, never contents.

Two actions need reading: a `conflict` entry's source is the stream whose values were overridden,
its target the owner whose values stood, and its `withheld` column the number of element values
overridden; a `retract` entry's target is the platform values were taken back from (`withheld`:
values blanked there) — with no consent purpose left, the record could not be blanked and must be
deleted on the platform by hand (`tipdata sync` prints how many).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from tipdata.cli.sync_options import (
    ConfigOpt,
    DebugOpt,
    JsonOpt,
    console,
    fail,
    open_config_ledger,
    parse_moment,
    reporting_errors,
)
from tipdata.ledger.entries import AUDIT_ACTIONS
from tipdata.sync.ledger_reads import AuditRow, find_audit


def audit_json(row: AuditRow) -> dict[str, object]:
    e = row.entry
    return {"id": row.id, "at": e.at.isoformat() if e.at else None, "run_id": e.run_id,
            "action": e.action, "source": e.source, "target": e.target,
            "consent_purposes": list(e.consent_purposes), "record_count": e.record_count,
            "record_ids": list(e.record_ids), "withheld_count": e.withheld_count,
            "policy_version": e.policy_version}


def audit_command(
    config: ConfigOpt = None,
    record: Annotated[str | None, typer.Option("--record", help="Entries covering this record id.")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Only this target (frappe, dhis2, …).")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this source stream.")] = None,
    action: Annotated[str | None, typer.Option(
        "--action", help="pull, push, withhold, quarantine, resolve, conflict, retract, rotate_key.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this date or date-time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this date or date-time.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (the latest).", min=1)] = 200,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show audit log entries, filtered by record, target, source, action and date."""
    start, end = parse_moment(since, "--since"), parse_moment(until, "--until")
    if action is not None and action not in AUDIT_ACTIONS:
        fail(f"--action {action!r} is not one of {', '.join(sorted(AUDIT_ACTIONS))}", 2)
    with reporting_errors(debug):
        _settings, _codebook, ledger = open_config_ledger(config)
        try:
            with ledger.reading() as tx:
                rows = find_audit(tx, record_id=record, target=target, source=source,
                                  action=action, since=start, until=end, limit=limit)
        finally:
            ledger.close()
    if as_json:
        console.print_json(json.dumps([audit_json(r) for r in rows]))
        return
    table = Table(title=f"Audit log ({len(rows)} entries)", title_justify="left")
    for column in ("at", "run", "action", "source", "target", "records", "consent", "withheld",
                   "policy"):
        table.add_column(column)
    for row in rows:
        e = row.entry
        table.add_row(e.at.isoformat(timespec="seconds") if e.at else "-", str(e.run_id or "-"),
                      e.action, e.source or "-", e.target or "-", str(e.record_count),
                      ", ".join(e.consent_purposes) or "-", str(e.withheld_count),
                      e.policy_version or "-")
    console.print(table)
