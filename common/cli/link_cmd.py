"""`tipdata link …`: count unique victims across agencies without sharing names.

Two commands for two places:
  - `encode` runs at each agency, on its own canonical records, and writes encodings (exact keys
    and Bloom filters, no plaintext) to send to the linking party;
  - `match` runs at the linking party, on the encodings of every agency, and prints how many
    unique persons each agency saw and how many they share.

The shared secret comes from TIPDATA_LINKAGE_SECRET or the file named by
TIPDATA_LINKAGE_SECRET_FILE, never from an option (options land in shell history and process
lists). The linking party must not hold it. Commands print counts and paths, never identifiers.
Exit codes: 0 success, 1 invalid input, 2 usage errors.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from tipdata.linkage.encoding import (
    EncodingFileError,
    PersonIdentifiers,
    encode_records,
    load_batch,
)
from tipdata.linkage.keys import linkage_secret
from tipdata.linkage.matching import (
    DEFAULT_MAX_CLUSTER_SIZE,
    DEFAULT_THRESHOLD,
    IncompatibleBatches,
    LinkageResult,
    MatchSettings,
    match_batches,
)
from tipdata.linkage.schema import SchemaInvalid, load_schema
from tipdata.records import Envelope

link_app = typer.Typer(help="Count unique persons across agencies from encodings, without sharing names.",
                       no_args_is_help=True)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DEFAULT_PURPOSE = "statistics"


class RecordFileError(ValueError):
    """A canonical-records file that cannot be read; names the file and line, never values."""


def identifiers_from_record(data: dict[str, Any]) -> tuple[Envelope, PersonIdentifiers]:
    """The envelope and linkage identifiers of one canonical record (`CanonicalRecord.to_json`).

    The estimated-date flag (`person_dob_estimated` = yes) makes the date count by its year only.
    """
    envelope = Envelope.model_validate(data["envelope"])
    values = data.get("values") or {}
    return envelope, PersonIdentifiers(
        record_id=envelope.record_id,
        given_names=values.get("person_given_names"),
        family_names=values.get("person_family_names"),
        date_of_birth=values.get("person_date_of_birth"),
        sex=values.get("person_sex"),
        citizenship=values.get("person_citizenship"),
        dob_estimated=str(values.get("person_dob_estimated", "")).lower() in ("yes", "true"),
        id_document_number=values.get("person_id_document_number"),
        phone=values.get("person_phone"),
        address_street=values.get("person_address_street"),
        address_locality=values.get("person_address_locality"),
        address_admin_area=values.get("person_address_admin_area"),
        country_of_birth=values.get("person_country_of_birth"),
    )


def read_records(path: Path) -> Iterator[tuple[Envelope, PersonIdentifiers]]:
    """Canonical records from a JSON-lines file; errors name the file and line only."""
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                yield identifiers_from_record(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, ValidationError):
                raise RecordFileError(
                    f"{path}, line {number}: not a canonical record ({{\"envelope\": …, \"values\": …}}). "
                    "Fix: export records with tipdata (one CanonicalRecord.to_json per line).") from None


def overlap_table(result: LinkageResult) -> Table:
    table = Table(title="Unique persons by source")
    table.add_column("seen by")
    table.add_column("persons", justify="right")
    for label, count in result.overlap_rows():
        table.add_row(label, f"{count:,}")
    table.add_row("[bold]all sources[/]", f"[bold]{result.persons:,}[/]")
    return table


@link_app.command("encode")
def encode_command(
    records: Annotated[Path, typer.Option("--records", help="Canonical records, one JSON object per line.",
                                          exists=True, dir_okay=False, show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Where to write the encodings (JSON lines).",
                                      dir_okay=False, show_default=False)],
    source: Annotated[str | None, typer.Option(
        "--source", help="Name of this agency in the overlap table (default: the records' source system).")] = None,
    schema_path: Annotated[Path | None, typer.Option(
        "--schema", help="Linkage schema (clkhash v3 JSON) agreed by all agencies; default: tipdata's.",
        exists=True, dir_okay=False)] = None,
    purpose: Annotated[str, typer.Option(
        "--purpose", help="Encode only records whose person consented to this purpose.")] = DEFAULT_PURPOSE,
) -> None:
    """Encode this agency's records for linkage: exact keys and Bloom filters, no plaintext.

    The secret is read from TIPDATA_LINKAGE_SECRET or TIPDATA_LINKAGE_SECRET_FILE.
    """
    try:
        secret = linkage_secret()
        schema = load_schema(schema_path)
    except (ValueError, SchemaInvalid) as exc:
        err_console.print(f"[red]{exc}[/]", soft_wrap=True)
        raise typer.Exit(1) from None
    chosen: list[PersonIdentifiers] = []
    systems: Counter[str] = Counter()
    skipped = 0
    try:
        for envelope, person in read_records(records):
            if purpose not in envelope.consent_purposes:
                skipped += 1
                continue
            systems[envelope.source_system] += 1
            chosen.append(person)
    except RecordFileError as exc:
        err_console.print(f"[red]{exc}[/]", soft_wrap=True)
        raise typer.Exit(1) from None
    if source is None:
        if len(systems) > 1:
            err_console.print(f"[red]The records come from {len(systems)} source systems; name this "
                              "agency with --source.[/]")
            raise typer.Exit(1)
        source = next(iter(systems), records.stem)
    try:
        batch = encode_records(chosen, secret, schema, source=source)
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/]", soft_wrap=True)
        raise typer.Exit(1) from None
    batch.write(out)
    console.print(f"encoded {len(batch.records):,} record(s) as source {source!r} → {out}")
    if skipped:
        console.print(f"skipped {skipped:,} record(s) without consent to {purpose!r}")
    console.print(f"schema {batch.schema_fingerprint[:12]}…, secret check {batch.secret_check}: "
                  "every agency's file must show the same two values.")


@link_app.command("match")
def match_command(
    encodings: Annotated[list[Path], typer.Argument(help="Encodings files, one per agency.",
                                                    exists=True, dir_okay=False, show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Where to write the result (JSON).", dir_okay=False,
                                      show_default=False)],
    threshold: Annotated[float, typer.Option(
        "--threshold", min=0.5, max=1.0, help="Dice threshold for a link between agencies.")] = DEFAULT_THRESHOLD,
    max_cluster_size: Annotated[int, typer.Option(
        "--max-cluster-size", min=2, help="Largest number of records one person may have.")] = DEFAULT_MAX_CLUSTER_SIZE,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Link the agencies' encodings into persons and print the overlap table.

    Needs no secret: the linking party should not hold it.
    """
    try:
        batches = [load_batch(path) for path in encodings]
        defaults = MatchSettings()
        settings = MatchSettings(threshold=threshold, max_cluster_size=max_cluster_size,
                                 within_source_threshold=max(threshold, defaults.within_source_threshold),
                                 supported_threshold=min(threshold, defaults.supported_threshold))
        result = match_batches(batches, settings)
    except (EncodingFileError, IncompatibleBatches, ValueError) as exc:
        err_console.print(f"[red]{exc}[/]", soft_wrap=True)
        raise typer.Exit(1) from None
    document = result.to_json()
    out.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if as_json:
        console.print_json(json.dumps({k: document[k] for k in
                                       ("sources", "records_per_source", "persons", "persons_per_source", "overlap")}))
        return
    console.print(overlap_table(result))
    records = ", ".join(f"{name} {count:,}" for name, count in result.records_per_source.items())
    persons = ", ".join(f"{name} {count:,}" for name, count in result.persons_per_source.items())
    console.print(f"records: {records}; unique persons: {persons}")
    s = result.stats
    console.print(f"{s.candidate_pairs:,} candidate pairs, {s.links_kept_after_best_match:,} links, "
                  f"{s.refused_merges:,} merge(s) refused by the cluster-size guard → {out}")

