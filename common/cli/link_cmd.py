"""`tipdata link …`: count unique victims across agencies without sharing names.

Two commands for two places:
  - `encode` runs at each agency, on its own canonical records — read from its ledger (`--ledger
    URL`, else the one tipdata.toml names) or from a JSON-lines file (`--records`) — and writes
    encodings (exact keys and Bloom filters, no plaintext) to send to the linking party. Each
    source system is an agency: `--system` picks systems, `--per-system` writes one file per
    system, `--source` names one batch. Only records whose person consented to `--purpose` and
    that hold an identifier (a name, date of birth, document or phone) are encoded;
  - `match` runs at the linking party, on the encodings of every agency, and prints how many
    unique persons each agency saw and how many they share.

The shared secret comes from TIPDATA_LINKAGE_SECRET or the file named by
TIPDATA_LINKAGE_SECRET_FILE, never from an option (options land in shell history and process
lists). The linking party must not hold it. Commands print counts and paths, never identifiers.
Exit codes: 0 success, 1 invalid input, 2 usage errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from tipdata.cli.sync_options import (
    ConfigOpt,
    fail,
    open_config_ledger,
    reporting_errors,
    shipped_codebook,
)
from tipdata.ledger import open_ledger
from tipdata.linkage.encoding import (
    EncodedBatch,
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
from tipdata.linkage.schema import load_schema
from tipdata.records import Envelope

link_app = typer.Typer(help="Count unique persons across agencies from encodings, without sharing names.",
                       no_args_is_help=True)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DEFAULT_PURPOSE = "statistics"


class RecordFileError(ValueError):
    """A canonical-records file that cannot be read; names the file and line, never values."""


def identifiers_from_values(record_id: str, values: Mapping[str, Any]) -> PersonIdentifiers:
    """The linkage identifiers among one record's element values.

    The estimated-date flag (`person_dob_estimated` = yes) makes the date count by its year only.
    """
    return PersonIdentifiers(
        record_id=record_id,
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


def identifiers_from_record(data: dict[str, Any]) -> tuple[Envelope, PersonIdentifiers]:
    """The envelope and linkage identifiers of one canonical record (`CanonicalRecord.to_json`)."""
    envelope = Envelope.model_validate(data["envelope"])
    return envelope, identifiers_from_values(envelope.record_id, data.get("values") or {})


def identifies_a_person(person: PersonIdentifiers) -> bool:
    """Whether a record holds anything that tells who the person is. Referrals, services and
    court records hold none: encoded, each would count as a person seen by no other agency."""
    return any(value not in (None, "") for value in (
        person.given_names, person.family_names, person.date_of_birth, person.id_document_number,
        person.phone))


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


def ledger_people(ledger_url: str | None, config: Path | None) -> Iterator[tuple[Envelope, PersonIdentifiers]]:
    """Envelopes and identifiers of every record of the ledger (`--ledger`, else tipdata.toml's),
    decrypted on this machine; the ledger is closed when the iteration ends."""
    if ledger_url:
        if "://" not in ledger_url and not Path(ledger_url).expanduser().exists():
            raise ValueError(f"no ledger at {ledger_url}. Fix: give the path of an existing ledger "
                             "(or a postgresql:// URL), or leave --ledger out to use tipdata.toml's.")
        ledger = open_ledger(ledger_url, codebook=shipped_codebook())
    else:
        _config, _codebook, ledger = open_config_ledger(config)
    try:
        for record in ledger.iter_records():
            yield record.envelope, identifiers_from_values(record.envelope.record_id, record.values)
    finally:
        ledger.close()


@dataclass
class Selection:
    """The records chosen for encoding, per source system, and how many were left out and why."""

    by_system: dict[str, list[PersonIdentifiers]] = field(default_factory=dict)
    without_consent: int = 0
    without_identifiers: int = 0
    other_systems: int = 0

    def skipped_lines(self, purpose: str) -> list[str]:
        lines = []
        if self.without_consent:
            lines.append(f"skipped {self.without_consent:,} record(s) without consent to {purpose!r}")
        if self.without_identifiers:
            lines.append(f"skipped {self.without_identifiers:,} record(s) holding no identifier "
                         "(referrals, services, court records, ...)")
        if self.other_systems:
            lines.append(f"skipped {self.other_systems:,} record(s) of source systems not chosen with --system")
        return lines


def select_people(items: Iterable[tuple[Envelope, PersonIdentifiers]], purpose: str,
                  systems: Iterable[str] = ()) -> Selection:
    """Records of the chosen systems (all when none are given) whose person consented to
    `purpose` and that identify a person, grouped by source system.

    >>> select_people([], "statistics").by_system
    {}
    """
    chosen = set(systems)
    selection = Selection()
    for envelope, person in items:
        if chosen and envelope.source_system not in chosen:
            selection.other_systems += 1
        elif purpose not in envelope.consent_purposes:
            selection.without_consent += 1
        elif not identifies_a_person(person):
            selection.without_identifiers += 1
        else:
            selection.by_system.setdefault(envelope.source_system, []).append(person)
    return selection


def file_name_for(system: str) -> str:
    """A file name for one source system's encodings ("kobo:aB1" → "kobo_aB1.enc.jsonl")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", system).strip("._") + ".enc.jsonl"


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
    out: Annotated[Path, typer.Option("--out", help="Where to write the encodings (JSON lines); a folder "
                                      "with --per-system.", show_default=False)],
    records: Annotated[Path | None, typer.Option(
        "--records", help="Canonical records, one JSON object per line, instead of the ledger.",
        exists=True, dir_okay=False, show_default=False)] = None,
    ledger_url: Annotated[str | None, typer.Option(
        "--ledger", metavar="URL", help="Ledger to read (SQLite path or PostgreSQL URL) instead of the one "
        "tipdata.toml names; its key comes from TIPDATA_LEDGER_KEY or TIPDATA_LEDGER_KEY_FILE.",
        show_default=False)] = None,
    config: ConfigOpt = None,
    systems: Annotated[list[str] | None, typer.Option(
        "--system", metavar="SYSTEM", help="Encode only records of this source system (repeat for several).",
        show_default=False)] = None,
    per_system: Annotated[bool, typer.Option(
        "--per-system", help="Write one file per source system into the --out folder, each system "
                             "being one agency.")] = False,
    source: Annotated[str | None, typer.Option(
        "--source", help="Name of this agency in the overlap table (default: the records' source system).")] = None,
    schema_path: Annotated[Path | None, typer.Option(
        "--schema", help="Linkage schema (clkhash v3 JSON) agreed by all agencies; default: tipdata's.",
        exists=True, dir_okay=False)] = None,
    purpose: Annotated[str, typer.Option(
        "--purpose", help="Encode only records whose person consented to this purpose.")] = DEFAULT_PURPOSE,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts and files as JSON.")] = False,
) -> None:
    """Encode this agency's records for linkage: exact keys and Bloom filters, no plaintext.

    Records come from the ledger (`--ledger`, else tipdata.toml's) unless `--records` names a
    file. The secret is read from TIPDATA_LINKAGE_SECRET or TIPDATA_LINKAGE_SECRET_FILE.
    """
    if records is not None and (ledger_url or config):
        fail("--records reads a file; --ledger and --config read a ledger: give one of them", 2)
    if per_system and source:
        fail("--per-system names each file after its source system; leave out --source", 2)
    with reporting_errors():
        secret = linkage_secret()
        schema = load_schema(schema_path)
        items = read_records(records) if records is not None else ledger_people(ledger_url, config)
        selection = select_people(items, purpose, systems or ())
        targets = plan_batches(selection, out, source=source, per_system=per_system,
                               fallback=records.stem if records is not None else "ledger")
        batches = [(encode_records(people, secret, schema, source=name), path) for name, people, path in targets]
        if per_system:
            out.mkdir(parents=True, exist_ok=True)
        for batch, path in batches:
            batch.write(path)
    report_encoded(batches, selection, purpose, as_json)


def plan_batches(selection: Selection, out: Path, *, source: str | None, per_system: bool, fallback: str
                 ) -> list[tuple[str, list[PersonIdentifiers], Path]]:
    """(batch name, records, file) for each batch to write; ValueError when the choice is ambiguous."""
    systems = selection.by_system
    if per_system:
        if not systems:
            raise ValueError("no record to encode (see the counts of skipped records): no file written")
        names = {system: file_name_for(system) for system in systems}
        if len(set(names.values())) < len(names):
            raise ValueError("two source systems give the same file name; encode them one at a time "
                             "with --system and --out")
        return [(system, people, out / names[system]) for system, people in sorted(systems.items())]
    if source is None and len(systems) > 1:
        counts = ", ".join(f"{system} {len(people):,}" for system, people in sorted(systems.items()))
        raise ValueError(f"the records come from {len(systems)} source systems ({counts}). Fix: choose one "
                         "with --system, write one file per system with --per-system, or name them as "
                         "one agency with --source.")
    name = source or next(iter(systems), fallback)
    return [(name, [person for people in systems.values() for person in people], out)]


def report_encoded(batches: list[tuple[EncodedBatch, Path]], selection: Selection, purpose: str,
                   as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps({
            "files": [{"path": str(path), "source": batch.source, "records": len(batch.records),
                       "schema": batch.schema_fingerprint, "secret_check": batch.secret_check}
                      for batch, path in batches],
            "skipped": {"without_consent": selection.without_consent,
                        "without_identifiers": selection.without_identifiers,
                        "other_systems": selection.other_systems}}))
        return
    for batch, path in batches:
        console.print(f"encoded {len(batch.records):,} record(s) as source {batch.source!r} → {path}")
    for line in selection.skipped_lines(purpose):
        console.print(line)
    if batches:
        batch = batches[0][0]
        console.print(f"schema {batch.schema_fingerprint[:12]}…, secret check {batch.secret_check}: "
                      "every agency's file must show the same two values.")


@link_app.command("match")
def match_command(
    encodings: Annotated[list[Path], typer.Argument(help="Encodings files, one per agency.",
                                                    exists=True, dir_okay=False, show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Where to write the result (JSON).", dir_okay=False,
                                      show_default=False)],
    threshold: Annotated[float, typer.Option(
        "--threshold", min=0.5, max=1.0, help="Dice threshold for a link between agencies at the reference size "
                 "(5,000 records each); it rises for larger data (the run prints the one in force).")] = DEFAULT_THRESHOLD,
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
    console.print(f"thresholds in force: {s.threshold_across:.3f} between agencies "
                  f"({s.supported_threshold_across:.3f} with a supporting key), "
                  f"{s.threshold_within:.3f} within one agency")

