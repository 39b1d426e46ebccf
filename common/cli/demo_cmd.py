"""`tipdata demo [--out DIR] [--records N] [--seed S] [--json]`: the whole path, no server needed.

Synthetic screenings from two agencies are encrypted as Collect/Enketo encrypt them, decrypted and
mapped by the Kobo plugin, synced through a SQLite ledger under the routing policy into folders
holding what DHIS2 and Frappe would receive, linked across agencies from pseudonymous encodings,
and reported with the de-duplicated count (`tipdata.demo.pipeline`). Prints counts, reasons and
paths, never case contents; `--json` prints `tipdata.demo.summary.demo_summary`. Running it again
on the same folder changes nothing. Exit codes: 0 done (the quarantined submissions are part of
the demo); 1 the folder cannot be used or a step failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tipdata.problems import CATALOGUE

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def _reasons(counts: dict[str, int]) -> str:
    """`RC202 (unknown-option): 2, consent_missing: 5`."""
    return ", ".join(f"{r} ({CATALOGUE[r][0]}): {n}" if r in CATALOGUE else f"{r}: {n}"
                     for r, n in sorted(counts.items())) or "-"


def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for everything the demo writes.",
                                      file_okay=False)] = Path("tipdata-demo"),
    records: Annotated[int, typer.Option("--records", min=10, max=20_000,
                                         help="Screening interviews to simulate.")] = 300,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same submissions.")] = 2025,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run the main job end to end on the embedded default: Kobo → ledger → DHIS2 and Frappe folders → linkage → report."""
    from tipdata.crypto.at_rest import AtRestError
    from tipdata.demo.pipeline import DemoOptions, run_demo
    from tipdata.demo.summary import demo_summary
    from tipdata.ledger import LedgerError

    def step(text: str) -> None:
        if not as_json:
            err_console.print(f"[dim]… {text}[/]")

    try:
        result = run_demo(DemoOptions(out=out, records=records, seed=seed), on_step=step)
    except (ValueError, LedgerError, AtRestError, OSError) as exc:  # a folder or key it cannot use
        err_console.print(f"[red]tipdata demo: {exc}[/]")
        raise typer.Exit(1) from None
    summary = demo_summary(result)
    if as_json:
        console.print_json(json.dumps(summary))
    else:
        render_summary(summary)
    if summary["sync"]["errors"]:
        raise typer.Exit(1)


def render_summary(summary: dict[str, Any]) -> None:
    """The summary as tables: what came in, what moved where and what was held back, persons."""
    sub, ledger, sync = summary["submissions"], summary["ledger"], summary["sync"]
    agencies = list(sub["by_agency"])
    table = Table(title="Submissions: synthetic, encrypted as on the device, read by the Kobo plugin",
                  title_justify="left")
    table.add_column("form")
    for column in (*agencies, "total"):
        table.add_column(column, justify="right")
    for form, by_agency in sub["by_form_and_agency"].items():
        table.add_row(form, *(str(by_agency.get(a, 0)) for a in agencies), str(sum(by_agency.values())))
    table.add_row("[bold]all[/]", *(str(sub["by_agency"][a]) for a in agencies),
                  f"[bold]{sub['generated']}[/]")
    console.print(table)
    console.print(f"encrypted {sub['encrypted']} · decrypted and verified {sub['decrypted']} · "
                  f"undecryptable {sub['undecryptable']}")

    pulled = sync["pulled"]
    table = Table(title=f"Ledger: sync run {sync['run_id']} ({sync['status']}), policy "
                        f"{sync['policy_version']}", title_justify="left")
    for column in ("records held", "read: new", "updated", "unchanged", "quarantined"):
        table.add_column(column, justify="right")
    table.add_row(str(ledger["records"]), str(pulled["new"]), str(pulled["updated"]),
                  str(pulled["unchanged"]), str(ledger["quarantined"]))
    console.print(table)
    expected = sub["expected_quarantine_reasons"]
    table = Table(title="Quarantined (kept whole, encrypted, with the reason)", title_justify="left")
    for column in ("reason", "", "quarantined", "broken on purpose"):
        table.add_column(column, justify="right" if column in ("quarantined", "broken on purpose") else "left")
    for reason in sorted(set(ledger["quarantine_reasons"]) | set(expected)):
        table.add_row(reason, CATALOGUE[reason][0] if reason in CATALOGUE else "",
                      str(ledger["quarantine_reasons"].get(reason, 0)), str(expected.get(reason, 0)))
    console.print(table)

    table = Table(title="Targets: what DHIS2 and Frappe would receive, written to folders",
                  title_justify="left")
    for column in ("target", "created", "updated", "unchanged", "withheld", "files"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for name, t in summary["targets"].items():
        withheld = str(t["withheld"])
        if not t["withheld"] and t["withheld_all_runs"]:
            withheld = f"0 ({t['withheld_all_runs']} earlier)"
        table.add_row(name, str(t["new"]), str(t["updated"]), str(t["unchanged"]), withheld,
                      str(t["files"]))
    console.print(table)
    for name, t in summary["targets"].items():
        if t["withheld"]:
            console.print(f"{name}, records of which nothing may travel: {_reasons(t['withheld_reasons'])}")
        if t["values_withheld"]:
            console.print(f"{name}, values left out of the records sent: "
                          f"{_reasons(t['values_withheld'])}")
    opened = ledger["records_by_kind"].get("opened_from_screening", 0)
    console.print(f"[dim]Screenings ask consent to the interview only, not to share: they stay in "
                  f"the ledger, as do the {opened} cases they opened, until consent per purpose is "
                  "recorded. Immigration status never leaves (restricted_not_named).[/]")

    link, report = summary["linkage"], summary["report"]
    table = Table(title="Unique persons: records consented for statistics, linked without names",
                  title_justify="left")
    table.add_column("seen by")
    table.add_column("persons", justify="right")
    for row in link["overlap"]:
        table.add_row(row["seen_by"], str(row["persons"]))
    table.add_row("[bold]records (raw)[/]", f"[bold]{link['records']}[/]")
    table.add_row("[bold]persons (de-duplicated)[/]", f"[bold]{link['persons']}[/]")
    table.add_row("[dim]persons in the synthetic truth[/]", f"[dim]{link['true_persons']}[/]")
    console.print(table)
    if report["unavailable"]:
        console.print(f"report: not written: {report['unavailable']}")
    else:
        console.print(f"report: victims identified {_count(report['victims_identified_records'])} "
                      f"(records), {_count(report['victims_identified_persons'])} (persons, "
                      "de-duplicated)")

    paths = summary["paths"]
    table = Table(title="Where to look", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("path", overflow="fold")
    for label, key in (("ledger (SQLite, encrypted at rest)", "ledger"),
                       ("ledger key (0600, never printed)", "ledger_key"),
                       ("Kobo download (encrypted)", "kobo_download"),
                       ("form public key", "form_public_key"),
                       ("DHIS2 tracker payloads", "dhis2"), ("Frappe documents", "frappe"),
                       ("report (HTML, XLSX, CSV)", "report")):
        table.add_row(label, paths[key])
    for agency, path in paths["linkage"].items():
        table.add_row(f"encodings {agency} shares", path)
    console.print(table)
    console.print(f"Done in {summary['seconds']:.1f} s. Run it again on the same folder: "
                  "nothing changes.")


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items())


def _count(value: int | None) -> str:
    return "[c]" if value is None else str(value)
