"""`tipdata dhis2 ...`: install the metadata package, push records, pull records, push aggregates.

The server comes from `--server` or `TIPDATA_DHIS2_URL`; the personal access token only from
`TIPDATA_DHIS2_TOKEN` or the file named by `TIPDATA_DHIS2_TOKEN_FILE` (an option would land in
shell history). Output shows counts, codes and record ids, never values.
Exit codes: 0 done; 1 DHIS2 refused something (validation errors, quarantined records) or a
request failed; 2 unusable arguments or settings.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from tipdata.cli.export_cmd import KOpt, LedgerOpt, open_records_ledger
from tipdata.cli.sync_options import ConfigOpt, reporting_errors
from tipdata.codebook import DEFAULT_CODEBOOK_DIR, load_codebook
from tipdata.http import PlatformError
from tipdata.model import Codebook
from tipdata.policy import PolicyInvalid, load_policy
from tipdata.problems import CodebookInvalid
from tipdata.records import CanonicalRecord, record_from_json
from tipdata.statistics.disclosure import DEFAULT_K
from tipdata.statistics.scope import Area

from .aggregate_push import (
    AggregatePushResult,
    PeriodTypeMismatch,
    check_period,
    data_set_state,
    fetch_data_set,
    grouped_conflicts,
    push_aggregates,
)
from .aggregates import LayoutError, ReportingPeriod, layout_from_package
from .connector import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_PACKAGE_PATH,
    DEFAULT_PAGE_SIZE,
    ORG_UNIT_ENV,
    Dhis2Connector,
)
from .tracker import PackageError

dhis2_app = typer.Typer(help="DHIS2: install the tracker metadata, push and pull records, push aggregates.",
                        no_args_is_help=True)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

ServerOpt = Annotated[str | None, typer.Option(
    "--server", metavar="URL", help="DHIS2 server root (default TIPDATA_DHIS2_URL); the token comes "
    "from TIPDATA_DHIS2_TOKEN or TIPDATA_DHIS2_TOKEN_FILE.")]
MetadataOpt = Annotated[Path, typer.Option(
    "--metadata", metavar="PATH", dir_okay=False, help="The DHIS2 metadata package (built by "
    "`tipdata build`).")]
CodebookOpt = Annotated[Path, typer.Option("--codebook", help="Codebook folder.", file_okay=False,
                                           show_default=False)]
OrgUnitOpt = Annotated[str | None, typer.Option(
    "--org-unit", metavar="UID", help="Org unit records are filed under (default "
    "TIPDATA_DHIS2_ORG_UNIT, else the program's first).")]
ProgramOpt = Annotated[str | None, typer.Option(
    "--program", metavar="CODE", help="Tracker program (code or uid) when the package has several.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _usage_error(message: str) -> NoReturn:
    err_console.print(f"[red]Error:[/] {message}", soft_wrap=True)
    raise typer.Exit(2)


def _codebook(path: Path) -> Codebook:
    try:
        return load_codebook(path)
    except CodebookInvalid as exc:
        _usage_error(f"the codebook has {len(exc.problems)} problem(s); run `tipdata codebook validate`")


def _connector(codebook: Codebook, *, server: str | None, metadata: Path, org_unit: str | None = None,
               program: str | None = None, policy: Path | None = None,
               batch_size: int = DEFAULT_BATCH_SIZE) -> Dhis2Connector:
    try:
        routing = load_policy(policy, codebook=codebook)
    except PolicyInvalid as exc:
        _usage_error(str(exc))
    try:
        return Dhis2Connector.from_environment(codebook, url=server, package_path=metadata,
                                               policy=routing, org_unit=org_unit, program=program,
                                               batch_size=batch_size)
    except ValueError as exc:
        _usage_error(str(exc))


def _open_private(path: Path, mode: str) -> IO[str]:
    """Files holding case data are created readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, 0o600), mode, encoding="utf-8")


def _fail(exc: Exception) -> NoReturn:
    err_console.print(f"[red]Failed:[/] {exc}", soft_wrap=True)
    raise typer.Exit(1)


@dhis2_app.command("install")
def install_command(
    metadata: MetadataOpt = DEFAULT_PACKAGE_PATH,
    assign_org_unit: Annotated[list[str] | None, typer.Option(
        "--assign-org-unit", metavar="UID", help="Also assign the program and the aggregate data set "
        "to this org unit (repeatable); DHIS2 refuses enrollments elsewhere. Assignments already on "
        "the server are kept.")] = None,
    validate_only: Annotated[bool, typer.Option(
        "--validate-only", help="Ask DHIS2 to validate the package (importMode=VALIDATE) and stop.")] = False,
    server: ServerOpt = None,
    codebook_dir: CodebookOpt = DEFAULT_CODEBOOK_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Validate the metadata package on DHIS2, then import it (nothing is imported on errors).

    After the import DHIS2 is asked to generate the category option combos of the aggregate data
    set (needs F_PERFORM_MAINTENANCE; without it a warning names the manual step).
    """
    codebook = _codebook(codebook_dir)
    connector = _connector(codebook, server=server, metadata=metadata)
    try:
        result = connector.install(validate_only=validate_only, assign_to=assign_org_unit or ())
    except (PlatformError, PackageError) as exc:
        _fail(exc)
    if as_json:
        console.print_json(json.dumps(result.to_json()))
    else:
        for warning in result.warnings:
            err_console.print(f"[yellow]Warning:[/] {warning}", soft_wrap=True)
        if result.problems:
            table = Table("Object", "Name", "UID", "Property", "Code", "Message", title="DHIS2 refused")
            for p in result.problems:
                table.add_row(p.object_type, p.name or "", p.uid or "", p.property or "", p.code, p.message)
            err_console.print(table)
        verb = {"refused": "refused before sending", "validate": "validated", "commit": "imported"}[result.phase]
        status = "[green]OK[/]" if result.ok else "[red]failed[/]"
        console.print(f"DHIS2 {result.version}: package {verb}: {status} {result.stats}", soft_wrap=True)
        combos = result.option_combos
        if combos is not None:
            state = "not generated (see the warning)" if combos["denied"] else (
                f"{combos['created']} created, {combos['updated']} renamed, {combos['deleted']} pruned "
                f"for {len(combos['combos'])} category combo(s)")
            console.print(f"category option combos: {state}", soft_wrap=True)
    if not result.ok:
        raise typer.Exit(1)


def _read_records(path: Path, codebook: Codebook, bad_lines: list[int]) -> Iterator[CanonicalRecord]:
    """Records from a JSON-lines file, one at a time; unreadable lines are noted by number only."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield record_from_json(codebook, json.loads(line))
            except (ValueError, KeyError, TypeError):
                bad_lines.append(number)


@dhis2_app.command("push")
def push_command(
    records: Annotated[Path, typer.Option("--records", metavar="FILE.jsonl", dir_okay=False,
                                          exists=True, help="Canonical records, one JSON per line.")],
    quarantine: Annotated[Path | None, typer.Option(
        "--quarantine", metavar="FILE.jsonl", dir_okay=False, help="Where rejected records go "
        "(appended; default <records>.dhis2-quarantine.jsonl).")] = None,
    policy: Annotated[Path | None, typer.Option(
        "--policy", metavar="FILE", dir_okay=False, help="Routing policy (default: the shipped "
        "policy_default.toml).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=5000,
                                            help="Records per tracker import.")] = DEFAULT_BATCH_SIZE,
    metadata: MetadataOpt = DEFAULT_PACKAGE_PATH,
    org_unit: OrgUnitOpt = None,
    program: ProgramOpt = None,
    server: ServerOpt = None,
    codebook_dir: CodebookOpt = DEFAULT_CODEBOOK_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Push canonical records to the DHIS2 tracker; rejected records go to a quarantine file."""
    codebook = _codebook(codebook_dir)
    connector = _connector(codebook, server=server, metadata=metadata, org_unit=org_unit,
                           program=program, policy=policy, batch_size=batch_size)
    target = quarantine or records.with_name(records.name.removesuffix(".jsonl") + ".dhis2-quarantine.jsonl")
    bad_lines: list[int] = []

    def progress(result: Any) -> None:
        if not as_json:
            err_console.print(f"batch {result.batches}: {result.records} records, "
                              f"{len(result.quarantined)} quarantined", soft_wrap=True)

    try:
        result = connector.push(_read_records(records, codebook, bad_lines), progress=progress)
    except (PlatformError, PackageError) as exc:
        _fail(exc)
    if result.quarantined:
        with _open_private(target, "a") as handle:
            for item in result.quarantined:
                handle.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
    summary = {**result.to_json(), "unreadable_lines": bad_lines,
               "quarantine_file": str(target) if result.quarantined else None}
    if as_json:
        console.print_json(json.dumps(summary))
    else:
        console.print(f"DHIS2 {result.version}: {result.pushed} of {result.records} records pushed "
                      f"in {result.batches} batch(es); {len(result.quarantined)} quarantined"
                      + (f" → {target}" if result.quarantined else ""), soft_wrap=True)
        for item in result.quarantined[:20]:
            codes = ", ".join(dict.fromkeys(p.message.split(":", 1)[0] for p in item.problems))
            err_console.print(f"  {item.record_id}: {item.reason} {codes}", soft_wrap=True)
        if bad_lines:
            err_console.print(f"[red]{len(bad_lines)} unreadable line(s):[/] {bad_lines[:20]}")
        if result.withheld:
            withheld = ", ".join(f"{code} ({n})" for code, n in sorted(result.withheld.items()))
            console.print(f"withheld (not in the package or not allowed): {withheld}", soft_wrap=True)
    if result.quarantined or bad_lines:
        raise typer.Exit(1)


def _since(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        _usage_error(f"--since {text!r} is not an ISO date-time (e.g. 2026-03-01T00:00:00Z)")
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dhis2_app.command("pull")
def pull_command(
    out: Annotated[Path, typer.Option("--out", metavar="FILE.jsonl", dir_okay=False,
                                      help="Canonical records are appended here, one per line.")],
    since: Annotated[str | None, typer.Option(
        "--since", metavar="TS", help="Only what changed at or after this time (ISO 8601; "
        "without a zone: UTC). Default: everything.")] = None,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=1000)] = DEFAULT_PAGE_SIZE,
    metadata: MetadataOpt = DEFAULT_PACKAGE_PATH,
    program: ProgramOpt = None,
    server: ServerOpt = None,
    codebook_dir: CodebookOpt = DEFAULT_CODEBOOK_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Pull tracked entities updated since a time as canonical records (one per event)."""
    codebook = _codebook(codebook_dir)
    moment = _since(since)
    connector = _connector(codebook, server=server, metadata=metadata, program=program)
    try:
        with _open_private(out, "a") as handle:
            result = connector.pull(moment, page_size=page_size, sink=lambda record: handle.write(
                json.dumps(record.to_json(), ensure_ascii=False) + "\n"))
    except (PlatformError, PackageError) as exc:
        _fail(exc)
    if as_json:
        console.print_json(json.dumps(result.to_json()))
    else:
        watermark = result.watermark.isoformat() if result.watermark else "none"
        console.print(f"DHIS2 {result.version}: {result.count} records from "
                      f"{result.tracked_entities} tracked entities in {result.pages} page(s) → {out}; "
                      f"next --since {watermark}", soft_wrap=True)
        if result.unreadable:
            err_console.print(f"[yellow]values left out (unreadable):[/] {dict(result.unreadable)}")


MAX_CONFLICT_LINES = 50


def _print_aggregates(result: AggregatePushResult) -> None:
    plan = result.plan
    table = Table("Count", "Cells", "Sent", "Suppressed", "No category option", "No combo",
                  title=f"Data set {plan.payload['dataSet']}, period {result.period}, org unit {result.org_unit}")
    for count, summary in plan.counts.items():
        table.add_row(count, str(summary.cells), str(summary.sent), str(summary.suppressed),
                      str(sum(summary.unrepresentable.values())), str(summary.no_combo))
    console.print(table)
    for warning in [*plan.warnings, *result.warnings]:
        err_console.print(f"[yellow]Warning:[/] {warning}", soft_wrap=True)
    for summary in (result.dry_run, result.commit):
        if summary is None:
            continue
        counts = ", ".join(f"{k} {v}" for k, v in summary.import_count.items())
        phase = "dry run" if summary.dry_run else "import"
        console.print(f"DHIS2 {result.version} {phase}: {summary.status} ({counts}); "
                      f"{len(summary.conflicts)} conflict(s)", soft_wrap=True)
        groups = grouped_conflicts(summary.conflicts)
        if groups:
            conflicts = Table("Object", "Property", "Code", "Message", "Data values", title=f"DHIS2 conflicts ({phase})")
            for c in groups[:MAX_CONFLICT_LINES]:
                shown = ",".join(map(str, c.indexes[:10])) + (f" … ({len(c.indexes)})" if len(c.indexes) > 10 else "")
                conflicts.add_row(c.object or "", c.property or "", c.error_code or "", c.message, shown)
            err_console.print(conflicts)
            if len(groups) > MAX_CONFLICT_LINES:
                err_console.print(f"… and {len(groups) - MAX_CONFLICT_LINES} more kinds of conflict (--json lists all)")
    if result.dry_run is not None and result.commit is None:
        verdict = "nothing committed (--dry-run)" if result.dry_run.ok else "nothing committed: fix the conflicts"
        console.print(verdict)


@dhis2_app.command("push-aggregates")
def push_aggregates_command(
    period: Annotated[str, typer.Option("--period", metavar="PERIOD", help="Reporting period: a year "
                                        "(2025), a quarter (2025Q1) or a month (202503).")],
    org_unit: Annotated[str | None, typer.Option(
        "--org-unit", metavar="UID", help="Org unit the values are for (default TIPDATA_DHIS2_ORG_UNIT, "
        "else the data set's first).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only ask DHIS2 to check the values "
                                          "(dataValueSets dryRun=true); commit nothing.")] = False,
    k: KOpt = DEFAULT_K,
    country: Annotated[str | None, typer.Option(
        "--country", metavar="ISO2", help="Count only cases identified in this country (ident_country).")] = None,
    generate_combos: Annotated[bool, typer.Option(
        "--generate-combos", help="Ask DHIS2 to generate missing category option combos first "
        "(install does it; needed after an import by hand; F_PERFORM_MAINTENANCE authority).")] = False,
    config: ConfigOpt = None,
    ledger_url: LedgerOpt = None,
    metadata: MetadataOpt = DEFAULT_PACKAGE_PATH,
    server: ServerOpt = None,
    codebook_dir: CodebookOpt = DEFAULT_CODEBOOK_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Send the period's protected counts (k-anonymity threshold k) to the aggregate data set.

    Cells suppressed by disclosure control are not sent; DHIS2 checks the values first (dry run)
    and nothing is committed when it reports a conflict.
    """
    try:
        reporting = ReportingPeriod.parse(period)
    except ValueError as exc:
        _usage_error(str(exc))
    codebook = _codebook(codebook_dir)
    connector = _connector(codebook, server=server, metadata=metadata)
    try:
        layout = layout_from_package(connector.package, codebook)
    except LayoutError as exc:
        _fail(exc)
    try:  # before reading the ledger: a period of another type than the data set's is refused
        check_period(data_set_state(layout, fetch_data_set(connector.client, layout.data_set)),
                     reporting, layout.data_set)
    except PeriodTypeMismatch as exc:
        _usage_error(str(exc))
    except PlatformError as exc:
        _fail(exc)
    target = org_unit or os.environ.get(ORG_UNIT_ENV) or next(iter(layout.org_units), None)
    if not target:
        _usage_error("no org unit: pass --org-unit UID or set TIPDATA_DHIS2_ORG_UNIT (the data set "
                     "is assigned to none)")
    with reporting_errors():
        _book, ledger = open_records_ledger(config, ledger_url)
        try:
            result = push_aggregates(connector.client, ledger.iter_records(), codebook, connector.package,
                                     period=reporting, org_unit=target, k=k,
                                     area=Area(country=country.upper()) if country else None,
                                     dry_run=dry_run, generate_combos=generate_combos)
        except PeriodTypeMismatch as exc:
            _usage_error(str(exc))
        except (PlatformError, LayoutError) as exc:
            _fail(exc)
        finally:
            ledger.close()
    if as_json:
        console.print_json(json.dumps(result.to_json()))
    else:
        _print_aggregates(result)
    if not result.ok:
        raise typer.Exit(1)
