"""The `tipdata` command: thin wrappers that call the library and report.

Commands print counts and paths, never case contents. Exit codes: 0 success, 1 invalid input or
stale artifacts, 2 usage errors (Typer's own).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tipdata.build import (
    BuildError,
    BuildOptions,
    build_artifacts,
    compare_artifacts,
    write_artifacts,
)
from tipdata.cli.audit_cmd import audit_command
from tipdata.cli.demo_cmd import demo_command
from tipdata.cli.export_cmd import export_app
from tipdata.cli.init_cmd import init_command
from tipdata.cli.keys_cmd import keys_app
from tipdata.cli.link_cmd import link_app
from tipdata.cli.quarantine_cmd import quarantine_app
from tipdata.cli.report_cmd import report_command
from tipdata.cli.serve_cmd import serve_command
from tipdata.cli.status_cmd import status_command
from tipdata.cli.sync_cmd import sync_command
from tipdata.codebook import DEFAULT_CODEBOOK_DIR, check_codebook, load_codebook
from tipdata.dhis2_app.cli import dhis2_app
from tipdata.erpnext_casework.cli import frappe_app
from tipdata.kobo_forms.cli import kobo_app
from tipdata.problems import CodebookInvalid, Problem
from tipdata.validation import translation_coverage

app = typer.Typer(help="tipdata: one trafficking-in-persons codebook for Kobo, DHIS2 and Frappe.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
codebook_app = typer.Typer(help="Validate and document the codebook.", no_args_is_help=True)
app.add_typer(codebook_app, name="codebook")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

CodebookOpt = Annotated[Path, typer.Option("--codebook", help="Codebook folder.",
                                           show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _print_problems(problems: list[Problem], *, warnings: bool = True) -> None:
    for p in problems:
        if p.severity == "warning" and not warnings:
            continue
        style = "red" if p.severity == "error" else "yellow"
        err_console.print(f"[{style}]{p.render()}[/]", soft_wrap=True)


def _load(codebook_dir: Path | None):
    try:
        return load_codebook(codebook_dir)
    except CodebookInvalid as exc:
        _print_problems(list(exc.problems), warnings=False)
        errors = sum(1 for p in exc.problems if p.severity == "error")
        err_console.print(f"[red]The codebook has {errors} error(s); nothing was built.[/]")
        raise typer.Exit(1) from None


@app.command()
def build(
    check: Annotated[bool, typer.Option("--check", help="Exit 1 and list artifacts that are stale.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Project root to write artifacts under.")] = Path("."),
    codebook_dir: CodebookOpt = DEFAULT_CODEBOOK_DIR,
    encrypt_with: Annotated[Path | None, typer.Option(
        "--encrypt-with", help="Public key PEM: forms encrypt every submission on the device.")] = None,
    submission_url: Annotated[str | None, typer.Option(
        "--submission-url", help="Where encrypted forms submit (required with --encrypt-with).")] = None,
    target: Annotated[list[str] | None, typer.Option(
        "--target", help="Build only these targets (xlsforms, dhis2, frappe); default all.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build every artifact (XLSForms, DHIS2 metadata, Frappe DocTypes) from the codebook, or check that they are current."""
    started = time.perf_counter()
    options = BuildOptions()
    if encrypt_with is not None:
        if not submission_url:
            err_console.print("[red]--encrypt-with needs --submission-url (the server's submission "
                              "endpoint for this form).[/]")
            raise typer.Exit(2)
        from tipdata.crypto.keys import public_key_base64

        options = BuildOptions(public_key=public_key_base64(encrypt_with.read_bytes()),
                               submission_url=submission_url)
    codebook = _load(codebook_dir)
    try:
        artifacts = build_artifacts(codebook, options, target)
    except BuildError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    root = out.resolve()
    if check:
        differences = compare_artifacts(artifacts, root, target)
        if as_json:
            console.print_json(json.dumps({"stale": [d.__dict__ for d in differences]}))
        for d in differences:
            err_console.print(f"[red]stale[/] {d.path}: {d.state}")
        if differences:
            err_console.print(f"{len(differences)} artifact(s) are stale; run `tipdata build`.")
            raise typer.Exit(1)
        if not as_json:
            console.print(f"All {len(artifacts)} artifacts are current.")
        return
    report = write_artifacts(artifacts, root, target)
    elapsed = time.perf_counter() - started
    if as_json:
        console.print_json(json.dumps({**report.__dict__, "seconds": round(elapsed, 3)}))
        return
    for path in report.written:
        console.print(f"wrote   {path}")
    for path in report.removed:
        console.print(f"removed {path}")
    console.print(f"{len(artifacts)} artifacts ({len(report.written)} written, "
                  f"{len(report.unchanged)} unchanged, {len(report.removed)} removed) in {elapsed:.2f} s")


@codebook_app.command("validate")
def codebook_validate(codebook_dir: CodebookOpt = DEFAULT_CODEBOOK_DIR, as_json: JsonOpt = False) -> None:
    """Check the codebook; report every problem at once and translation coverage per language."""
    codebook, problems = check_codebook(codebook_dir)
    errors = [p for p in problems if p.severity == "error"]
    coverage = translation_coverage(codebook) if codebook is not None else {}
    if as_json:
        console.print_json(json.dumps({
            "valid": not errors,
            "problems": [p.as_dict() for p in problems],
            "coverage": {lang: {"translated": c.translated, "total": c.total,
                                "percent": round(c.percent, 1)} for lang, c in coverage.items()},
        }))
    else:
        _print_problems(problems)
        if codebook is not None:
            table = Table(title="Translation coverage")
            for column in ("language", "translated", "total", "coverage"):
                table.add_column(column, justify="right" if column != "language" else "left")
            for lang, c in coverage.items():
                table.add_row(f"{lang} ({codebook.language_name(lang)})", str(c.translated),
                              str(c.total), f"{c.percent:.1f}%")
            console.print(table)
            console.print(f"{len(codebook.elements)} elements, {len(codebook.option_lists)} option "
                          f"lists, {len(codebook.forms)} forms, {len(codebook.languages)} languages.")
        console.print(f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s).")
    if errors:
        raise typer.Exit(1)


@codebook_app.command("docs")
def codebook_docs(
    out: Annotated[Path, typer.Option("--out", help="Folder for the data dictionary.")] = Path("docs/codebook"),
    codebook_dir: CodebookOpt = DEFAULT_CODEBOOK_DIR,
) -> None:
    """Write a printable HTML data dictionary and an XLSX codebook."""
    from tipdata.dictionary import write_dictionary

    codebook = _load(codebook_dir)
    paths = write_dictionary(codebook, out)
    for path in paths:
        console.print(f"wrote {path}")


app.add_typer(keys_app, name="keys", help="Key pairs for encrypted forms.")
app.add_typer(kobo_app, name="kobo", help="KoboToolbox and ODK: deploy, pull, hooks, decrypt.")
app.add_typer(dhis2_app, name="dhis2", help="DHIS2: install the tracker program, push and pull cases.")
app.add_typer(frappe_app, name="frappe", help="Frappe casework: push and pull cases.")
app.add_typer(link_app, name="link", help="Count unique victims across agencies without sharing names.")
app.add_typer(export_app, name="export", help="Export k-anonymised microdata (CTDC gen-1 / gen-2).")
app.command("sync")(sync_command)
app.command("serve")(serve_command)
app.command("status")(status_command)
app.command("audit")(audit_command)
app.command("init")(init_command)
app.command("demo")(demo_command)
app.command("report")(report_command)
app.add_typer(quarantine_app, name="quarantine")

if __name__ == "__main__":
    app()
