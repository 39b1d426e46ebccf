"""`tipdata frappe push|pull`: canonical records to and from the casework site.

- `push --records FILE.jsonl` upserts every record (one `CanonicalRecord.to_json` per line).
  Lines that are not records, records that break the codebook and records the site refuses are
  written, whole and with every reason, to `FILE.quarantine.jsonl` (owner-only); the rest are
  saved. `--dry-run` reads the site and says what would change.
- `pull --since TS --out FILE.jsonl` writes every record whose documents changed at or after TS,
  and documents that do not fit the codebook to `FILE.quarantine.jsonl`.

The terminal shows counts, reason codes and record ids, never values. Settings: `--url` /
TIPDATA_FRAPPE_URL, `--api-key` / TIPDATA_FRAPPE_API_KEY, TIPDATA_FRAPPE_API_SECRET or
TIPDATA_FRAPPE_API_SECRET_FILE (the secret is never taken on the command line, where other users
of the machine could read it).

Exit codes: 0 done; 1 something was quarantined or a request failed; 2 unusable arguments or
settings.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Annotated, Any, NoReturn

import typer

from tipdata.codebook import DEFAULT_CODEBOOK_DIR, load_codebook
from tipdata.erpnext_casework.connector import (
    MAX_INSERT_MANY,
    CaseworkSync,
    FrappeClient,
    FrappeError,
)
from tipdata.erpnext_casework.mapping import casework_mapping
from tipdata.model import Codebook
from tipdata.problems import CodebookInvalid, Problem
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord, record_from_json, validate_record

frappe_app = typer.Typer(help="Frappe casework site: push canonical records, pull changes.",
                         no_args_is_help=True)

UrlOpt = Annotated[str | None, typer.Option("--url", help="Site address (else TIPDATA_FRAPPE_URL).",
                                            show_default=False)]
KeyOpt = Annotated[str | None, typer.Option("--api-key", help="API key (else "
                                            "TIPDATA_FRAPPE_API_KEY); the secret comes from "
                                            "TIPDATA_FRAPPE_API_SECRET[_FILE].",
                                            show_default=False)]
CodebookOpt = Annotated[Path, typer.Option("--codebook", help="Codebook folder.",
                                           show_default=False)]
AllowOpt = Annotated[list[str] | None, typer.Option(
    "--allow-restricted", help="A restricted element the sharing policy names (repeatable); "
    "others are withheld.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]


@frappe_app.command("push")
def push_command(
    records: Annotated[Path, typer.Option("--records", metavar="FILE.jsonl", dir_okay=False,
                                          help="Canonical records, one JSON object per line.")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    codebook_dir: CodebookOpt = DEFAULT_CODEBOOK_DIR,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read the site and report what "
                                          "would change; write nothing.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=MAX_INSERT_MANY,
                                            help="Documents per insert_many request.")
                          ] = MAX_INSERT_MANY,
    skip_validation: Annotated[bool, typer.Option(
        "--skip-validation", help="Send records without checking them against the codebook "
        "first (the site's own rules still apply).")] = False,
    allow_restricted: AllowOpt = None,
    quarantine: Annotated[Path | None, typer.Option(
        "--quarantine", metavar="FILE.jsonl", help="Where refused records go (default: "
        "FILE.quarantine.jsonl beside --records).", show_default=False)] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Create or update the casework documents of every record in FILE.jsonl."""
    codebook = _load_codebook(codebook_dir)
    if not records.is_file():
        _usage_error(f"--records {records} is not a file; pass a JSON-lines file of records")
    loaded, kept = _read_records(records, codebook, validate=not skip_validation)
    read = len(loaded) + len(kept)
    sync = CaseworkSync(_connect(url, api_key), casework_mapping(codebook), codebook,
                        allow_restricted=allow_restricted or ())
    try:
        result = sync.upsert(loaded, batch_size=batch_size, dry_run=dry_run)
    except FrappeError as exc:
        _request_failed(exc, debug)
    kept += result.quarantined
    target = quarantine or records.with_name(records.name.removesuffix(".jsonl") + ".quarantine.jsonl")
    if kept:
        _write_lines(target, (q.to_json() for q in kept), append=True)
    summary = {**result.counts(), "read": read, "quarantined": len(kept), "dry_run": dry_run,
               "reasons": dict(sorted(Counter(q.reason for q in kept).items())),
               "withheld": dict(sorted(result.withheld.items())),
               "quarantine_file": str(target) if kept else None}
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True))
    else:
        verb = "Would create" if dry_run else "Created"
        typer.echo(f"{verb} {summary['created']}, updated {summary['updated']}, unchanged "
                   f"{summary['unchanged']}, quarantined {len(kept)} record(s) "
                   f"({result.requests} request(s)).")
        for code, count in summary["withheld"].items():
            typer.echo(f"Withheld {code} from {count} record(s): no policy names it.")
        for item in kept:
            typer.echo(f"QUARANTINED {item.record_id or item.source_id}: {item.reason} "
                       f"{item.reason_name}", err=True)
        if kept:
            typer.echo(f"Reasons and the records themselves are in {target}.", err=True)
    if kept:
        raise typer.Exit(1)


@frappe_app.command("pull")
def pull_command(
    since: Annotated[str, typer.Option("--since", metavar="TS", help="ISO 8601 time with a zone, "
                                       "e.g. 2026-02-01T00:00:00Z; 'all' for everything.")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE.jsonl", dir_okay=False,
                                      help="Where the records go (replaced).")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    codebook_dir: CodebookOpt = DEFAULT_CODEBOOK_DIR,
    doctypes: Annotated[list[str] | None, typer.Option(
        "--doctype", help="Only this DocType (repeatable; default: every record DocType).",
        show_default=False)] = None,
    allow_restricted: AllowOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write every record whose casework documents changed at or after TS to FILE.jsonl."""
    instant = _parse_since(since)
    codebook = _load_codebook(codebook_dir)
    sync = CaseworkSync(_connect(url, api_key), casework_mapping(codebook), codebook,
                        allow_restricted=allow_restricted or ())
    unknown = sorted(set(doctypes or ()) - set(sync.mapping.record_doctypes))
    if unknown:
        _usage_error(f"--doctype {', '.join(unknown)}: not a record DocType; use one of "
                     f"{', '.join(sync.mapping.record_doctypes)}")
    quarantine = out.with_name(out.name.removesuffix(".jsonl") + ".quarantine.jsonl")
    pulled: list[CanonicalRecord] = []
    kept: list[QuarantinedRecord] = []
    try:
        for item in sync.pull(instant, doctypes=doctypes or None):
            (pulled if isinstance(item, CanonicalRecord) else kept).append(item)
    except FrappeError as exc:
        _request_failed(exc, debug)
    _write_lines(out, (r.to_json() for r in pulled), append=False)
    if kept:
        _write_lines(quarantine, (q.to_json() for q in kept), append=True)
    summary = {"records": len(pulled), "quarantined": len(kept), "out": str(out),
               "reasons": dict(sorted(Counter(q.reason for q in kept).items())),
               "quarantine_file": str(quarantine) if kept else None}
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True))
    else:
        typer.echo(f"Pulled {len(pulled)} record(s) into {out}; {len(kept)} quarantined.")
        for item in kept:
            typer.echo(f"QUARANTINED {item.source_id}: {item.reason} {item.reason_name}", err=True)
    if kept:
        raise typer.Exit(1)


# --- helpers ------------------------------------------------------------------------------------

def _usage_error(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(2)


def _request_failed(exc: FrappeError, debug: bool) -> NoReturn:
    if debug:
        raise exc
    typer.echo(f"Error: {exc}", err=True)
    typer.echo("Nothing is lost: records already written stay written, and running the same "
               "command again continues (every write is an idempotent upsert).", err=True)
    raise typer.Exit(1)


def _load_codebook(folder: Path) -> Codebook:
    try:
        return load_codebook(folder)
    except CodebookInvalid as exc:
        for problem in exc.problems:
            if problem.severity == "error":
                typer.echo(problem.render(), err=True)
        raise typer.Exit(1) from None


def _connect(url: str | None, api_key: str | None) -> FrappeClient:
    try:
        return FrappeClient.from_environment(url, api_key)
    except ValueError as exc:
        _usage_error(str(exc))


def _parse_since(text: str) -> dt.datetime | None:
    if text.strip().lower() == "all":
        return None
    try:
        instant = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        _usage_error(f"--since {text!r} is not an ISO 8601 time (e.g. 2026-02-01T00:00:00Z)")
    if instant.tzinfo is None:
        _usage_error(f"--since {text!r} has no time zone; add Z or +HH:MM")
    return instant


def _read_records(path: Path, codebook: Codebook, *, validate: bool,
                  ) -> tuple[list[CanonicalRecord], list[QuarantinedRecord]]:
    """Records of a JSON-lines file; a line that is not a valid record is quarantined whole."""
    records: list[CanonicalRecord] = []
    kept: list[QuarantinedRecord] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                data = json.loads(line)
                record = record_from_json(codebook, data)
            except (ValueError, KeyError, TypeError) as exc:
                reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
                kept.append(QuarantinedRecord.from_problems(
                    f"file:{path.name}", f"line {number}",
                    [Problem("RC206", f"not a canonical record: {reason}", where)],
                    payload={"line": number, "text": line.rstrip("\n")}))
                continue
            problems = [p for p in validate_record(codebook, record, source=where)
                        if p.severity == "error"] if validate else []
            if problems:
                kept.append(QuarantinedRecord.from_problems(
                    record.envelope.source_system, record.envelope.source_id, problems,
                    payload=record.to_json(), record_id=record.record_id,
                    form_id=record.envelope.form_id))
            else:
                records.append(record)
    return records, kept


def _write_lines(path: Path, rows: Iterable[dict[str, Any]], *, append: bool) -> None:
    """JSON lines, owner-only (the files hold case data); replaced atomically unless appending."""
    if append:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            _dump(handle, rows)
        return
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            _dump(handle, rows)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _dump(handle: IO[str], rows: Iterator[dict[str, Any]] | Iterable[dict[str, Any]]) -> None:
    for row in rows:
        handle.write(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str) + "\n")
