"""`tipdata quarantine list | show | retry`: records that could not be stored or sent.

- `list` shows entries (id, source, source id, reason, when, retries): no contents.
- `show ID` prints the entry and its message, which names the problem and quotes the offending
  values; `--payload` also prints the raw record as received. Both are case contents: use them
  to fix a record, on a screen others cannot see, and never paste them into a ticket.
- `retry ID… | --all | --reason CODE` maps quarantined source records again (after the codebook,
  a key or the record was fixed), releases records a target refused, and pushes: exit 1 when any
  is still quarantined.

A source record lands in quarantine with its source's name (`kobo:<asset uid>`); a record a
target refused with `push:<target>` (`push:frappe`) and the record id.
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
    err_console,
    fail,
    open_config_ledger,
    read_config,
    reporting_errors,
    shipped_codebook,
)
from tipdata.ledger import LedgerError, QuarantineEntry
from tipdata.problems import CATALOGUE
from tipdata.sync.session import open_session

quarantine_app = typer.Typer(help="Records that could not be stored or sent: list, show, retry.",
                             no_args_is_help=True)


def entry_json(entry: QuarantineEntry) -> dict[str, object]:
    return {"id": entry.id, "source": entry.source, "source_id": entry.source_id,
            "reason": entry.reason_code,
            "reason_name": CATALOGUE[entry.reason_code][0] if entry.reason_code in CATALOGUE else None,
            "created_at": entry.created_at.isoformat(), "updated_at": entry.updated_at.isoformat(),
            "retried_count": entry.retried_count,
            "resolved_at": entry.resolved_at.isoformat() if entry.resolved_at else None,
            "resolution": entry.resolution}


@quarantine_app.command("list")
def list_command(
    config: ConfigOpt = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this source (e.g. push:frappe).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Only this reason code (e.g. FR405).")] = None,
    include_resolved: Annotated[bool, typer.Option("--all", help="Include resolved entries.")] = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List quarantine entries (no contents)."""
    with reporting_errors(debug):
        _settings, _codebook, ledger = open_config_ledger(config)
        try:
            entries = [e for e in ledger.quarantined(include_resolved=include_resolved, source=source)
                       if reason is None or e.reason_code == reason]
        finally:
            ledger.close()
    if as_json:
        console.print_json(json.dumps([entry_json(e) for e in entries]))
        return
    table = Table(title=f"Quarantine ({len(entries)} entries)", title_justify="left")
    for column in ("id", "source", "source id", "reason", "since", "retries", "resolved"):
        table.add_column(column)
    for e in entries:
        name = CATALOGUE[e.reason_code][0] if e.reason_code in CATALOGUE else ""
        table.add_row(str(e.id), e.source, e.source_id, f"{e.reason_code} {name}".strip(),
                      e.created_at.isoformat(timespec="seconds"), str(e.retried_count),
                      e.resolution or "-")
    console.print(table)


@quarantine_app.command("show")
def show_command(
    entry_id: Annotated[int, typer.Argument(help="Quarantine entry id (from `list`).")],
    config: ConfigOpt = None,
    payload: Annotated[bool, typer.Option("--payload", help="Also print the raw record (case contents).")] = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show one entry and why it is quarantined (the message quotes values: case contents)."""
    with reporting_errors(debug):
        _settings, _codebook, ledger = open_config_ledger(config)
        try:
            found = [e for e in ledger.quarantined(include_resolved=True) if e.id == entry_id]
            if not found:
                fail(f"no quarantine entry {entry_id}; `tipdata quarantine list --all` lists them")
            contents = ledger.quarantined_contents(entry_id)
        finally:
            ledger.close()
    data = entry_json(found[0])
    data["message"] = contents.message
    if payload:
        data["payload"] = contents.raw_payload.decode("utf-8", "replace")
    if as_json:
        console.print_json(json.dumps(data))
        return
    for key, value in data.items():
        if key not in ("message", "payload"):
            console.print(f"{key}: {value}")
    fix = CATALOGUE[found[0].reason_code][1] if found[0].reason_code in CATALOGUE else ""
    console.print(f"problem: {contents.message}", soft_wrap=True)
    if fix:
        console.print(f"fix: {fix}", soft_wrap=True)
    if payload:
        console.print(data["payload"], soft_wrap=True, markup=False)


@quarantine_app.command("retry")
def retry_command(
    entry_ids: Annotated[list[int] | None, typer.Argument(help="Entry ids to retry.")] = None,
    config: ConfigOpt = None,
    retry_all: Annotated[bool, typer.Option("--all", help="Retry every open entry.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Retry the open entries with this reason code.")] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Map quarantined records again or send them again, then push to the targets."""
    if not entry_ids and not retry_all and reason is None:
        fail("name entry ids, or --all, or --reason CODE", 2)
    with reporting_errors(debug):
        codebook = shipped_codebook()
        settings = read_config(config, codebook)
        with open_session(settings, codebook=codebook) as session:
            wanted = set(entry_ids or ())
            if retry_all or reason is not None:
                wanted |= {e.id for e in session.ledger.quarantined()
                           if retry_all or e.reason_code == reason}
            try:
                report = session.engine.retry(sorted(wanted))
            except LedgerError:
                raise
    if as_json:
        console.print_json(json.dumps(report.to_json()))
    else:
        console.print(f"{len(report.ingested)} stored, {len(report.released)} released to be sent "
                      f"again, {len(report.still_quarantined)} still quarantined, "
                      f"{len(report.not_retryable)} not retryable")
        if report.plan is not None:
            for name, tally in sorted(report.plan.targets.items()):
                console.print(f"{name}: {tally.new} new, {tally.updated} updated, "
                              f"{sum(tally.quarantined.values())} quarantined")
        for entry in report.not_retryable:
            err_console.print(f"entry {entry}: no source can map it again (resolved already, or "
                              "its source is not configured)")
    still = len(report.still_quarantined) + (
        sum(sum(t.quarantined.values()) for t in report.plan.targets.values()) if report.plan else 0)
    if still or (report.plan is not None and report.plan.errors):
        raise typer.Exit(1)
