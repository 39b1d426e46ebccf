"""`tipdata sync [--dry-run]`: pull every source into the ledger, push what each target lacks.

`--dry-run` reads the sources and the ledger, writes nothing anywhere, and prints the plan: per
source new, updated, unchanged, quarantined and conflicts; per target new, updated, unchanged,
withheld by policy and quarantined, each with its reasons. Without it the same run is applied,
with a progress bar per source stream and target. `--json` prints the plan (or the result) as
`SyncPlan.to_json()`. Exit codes: 0 done; 1 records were quarantined or a platform failed (the
next run resumes where this one stopped), the configuration is invalid, or another run held
the ledger for longer than `--wait` seconds (the message names it: pid, host, start time).
"""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tipdata.cli.sync_options import (
    ConfigOpt,
    DebugOpt,
    JsonOpt,
    console,
    err_console,
    read_config,
    reporting_errors,
    shipped_codebook,
)
from tipdata.problems import CATALOGUE
from tipdata.sync.apply import Progress as SyncProgress
from tipdata.sync.plan import SyncPlan
from tipdata.sync.session import open_session


def _reasons(counts: dict[str, int]) -> str:
    """`FR405 (frappe-case-not-found): 3, consent_missing: 2`."""
    return ", ".join(f"{r} ({CATALOGUE[r][0]}): {n}" if r in CATALOGUE else f"{r}: {n}"
                     for r, n in sorted(counts.items()))


def render_plan(plan: SyncPlan) -> None:
    """The plan (or result) as two tables; quiet streams (nothing read) are left out."""
    data = plan.to_json()
    title = "Plan (dry run: nothing was written)" if plan.dry_run else f"Sync run {plan.run_id}"
    sources = Table(title=f"{title} — sources", title_justify="left")
    for column in ("stream", "new", "updated", "unchanged", "quarantined", "conflicts", "deleted"):
        sources.add_column(column, justify="left" if column == "stream" else "right")
    for name, s in data["sources"].items():
        if not any((s["new"], s["updated"], s["unchanged"], s["quarantined"], s["deleted"])):
            continue
        quarantined = str(s["quarantined"])
        if s["quarantine_reasons"]:
            quarantined += f" ({_reasons(s['quarantine_reasons'])})"
        sources.add_row(name, str(s["new"]), str(s["updated"]), str(s["unchanged"]), quarantined,
                        str(s["conflicts"]), str(s["deleted"]))
    console.print(sources)
    targets = Table(title=f"{title} — targets", title_justify="left")
    for column in ("target", "new", "updated", "unchanged", "withheld by policy", "quarantined",
                   "retracted", "values withheld"):
        targets.add_column(column, justify="left" if column == "target" else "right")
    for name, t in data["targets"].items():
        withheld = str(t["withheld"]) + (f" ({_reasons(t['withheld_reasons'])})" if t["withheld"] else "")
        quarantined = str(t["quarantined"]) + (
            f" ({_reasons(t['quarantine_reasons'])})" if t["quarantined"] else "")
        retracted = str(t["retracted"]) + (
            f" ({_reasons(t['retracted_reasons'])})" if t["retracted"] else "")
        targets.add_row(name, str(t["new"]), str(t["updated"]), str(t["unchanged"]), withheld,
                        quarantined, retracted, _reasons(t["values_withheld"]) or "-")
    console.print(targets)
    for name, t in data["targets"].items():
        if t["to_delete"]:
            verb = "would hold" if plan.dry_run else "holds"
            err_console.print(
                f"[yellow]{name} {verb} {len(t['to_delete'])} record(s) whose consent now lets "
                f"nothing remain there; tipdata cannot delete them: delete them on {name} "
                f"(`tipdata sync --json` lists their ids under targets.{name}.to_delete; "
                f"`tipdata audit --action retract --target {name}` shows the record ids)[/]",
                soft_wrap=True)
    for error in plan.errors:
        status = f" (HTTP {error.status})" if error.status else ""
        err_console.print(f"[red]{error.system} stopped: {error.code}{status}; the next run resumes "
                          "there (details in the log)[/]")


class _Bars:
    """Draws the engine's progress reports as rich progress bars, one per stream or target."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[tuple[str, str], TaskID] = {}

    def __call__(self, event: SyncProgress) -> None:
        key = (event.phase, event.system)
        task = self.tasks.get(key)
        if task is None:
            if event.done == 0 and not event.total:
                return  # nothing read yet (or a quiet stream): no bar until there is work
            task = self.tasks[key] = self.progress.add_task(f"{event.phase} {event.system}",
                                                            total=event.total)
        total = event.total if event.total is not None and event.total >= event.done else None
        self.progress.update(task, completed=event.done, total=total or None)


def sync_command(
    config: ConfigOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; write nothing.")] = False,
    wait: Annotated[float | None, typer.Option(
        "--wait", min=0, help="Seconds to wait for another run on the same ledger to finish "
        "(default: TIPDATA_SYNC_LOCK_TIMEOUT, else 60).", show_default=False)] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Sync: pull sources into the ledger, then push to the targets what they lack."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    with reporting_errors(debug):
        codebook = shipped_codebook()
        settings = read_config(config, codebook)
        show_bars = not as_json and err_console.is_terminal
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=err_console, transient=True,
                            disable=not show_bars)
        with progress, open_session(settings, codebook=codebook,
                                    on_progress=_Bars(progress)) as session:
            if wait is not None:
                session.engine.lock_timeout = wait
            plan = session.engine.run(dry_run=dry_run)
    if as_json:
        console.print_json(json.dumps(plan.to_json()))
    else:
        render_plan(plan)
    quarantined = sum(sum(s.quarantined.values()) for s in plan.sources.values()) + \
        sum(sum(t.quarantined.values()) for t in plan.targets.values())
    if plan.errors or (quarantined and not dry_run):
        raise typer.Exit(1)
