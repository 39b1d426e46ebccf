"""`tipdata demo`: the product's whole path on the embedded default, with no server.

    result = run_demo(DemoOptions(out=Path("tipdata-demo")))
    demo_summary(result)        # counts and paths, what `tipdata demo --json` prints

Steps, each through the product's own code:

1. **Field work**: synthetic screenings and intakes for two agencies (`synthetic`), written as
   each form's real instance XML (`instance_xml`).
2. **Devices encrypt**: a fresh RSA key pair; every submission encrypted as Collect/Enketo do and
   laid out as a Kobo/Briefcase download (`kobo_download.write_download`). The private key lives
   only in memory for this run; the public key is written to `keys/` (it goes in the form).
3. **Sync**: the real `SyncEngine` with a SQLite ledger (`ledger.sqlite`, values encrypted at rest
   with `ledger.key`, read as `TIPDATA_LEDGER_KEY_FILE`) pulls the download
   (`KoboDownloadSource`: decrypt, flatten, map or quarantine) and pushes to two folder targets
   (`tipdata.sync.adapters.folder`) that write what DHIS2 and Frappe would receive to `out/`.
   `tipdata.policy.decide` governs every write, as with real servers.
4. **Link**: each agency encodes its statistics-consented records with the shared secret
   (`linkage.secret`) into `linkage/<agency>.enc.jsonl`; the encodings are matched into persons.
5. **Report**: indicators with the de-duplicated count, written to `report/`.

Secrets (`ledger.key`, `linkage.secret`) are generated on the first run with mode 0600 and reused
after, never printed. Running again on the same folder with the same seed changes nothing: the
ledger finds every record unchanged and no target file is rewritten.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tipdata.codebook import load_codebook
from tipdata.crypto.at_rest import KEY_FILE_ENV_VAR, generate_key_text
from tipdata.crypto.keys import generate_private_key, public_key_pem
from tipdata.demo.instance_xml import InstanceTemplate
from tipdata.demo.kobo_download import (
    DecryptionTally,
    DownloadWritten,
    KoboDownloadSource,
    check_replaceable,
    write_download,
)
from tipdata.demo.synthetic import DEMO_COUNTRY, DEMO_FORMS, DEMO_YEAR, DemoDataset, DemoGenerator
from tipdata.dhis2_app.connector import load_package
from tipdata.dhis2_app.uids import uid_for
from tipdata.kobo_forms.mapping import source_system_for
from tipdata.ledger import QuarantineEntry, open_ledger
from tipdata.linkage import (
    LinkageResult,
    PersonIdentifiers,
    encode_records,
    linkage_secret,
    load_schema,
    match_batches,
)
from tipdata.model import Codebook
from tipdata.policy import load_policy
from tipdata.records import CanonicalRecord
from tipdata.sync.adapters.folder import Dhis2PayloadFolder, FrappeDocumentFolder
from tipdata.sync.apply import ProgressCallback, SyncEngine
from tipdata.sync.plan import SyncPlan

DEFAULT_OUT = Path("tipdata-demo")
DEFAULT_RECORDS = 300
DEFAULT_SEED = 2025
LINKAGE_PURPOSE = "statistics"
OPENED_FROM_SCREENING = "opened_from_screening"
#: source id prefix of the cases the sync engine opens from screenings (`[screening_cases]`)
_SCREENING_CASE = "screening-case/"
_SECRET_MODE = 0o600

StepCallback = Callable[[str], None]


@dataclass(frozen=True)
class DemoOptions:
    """Where and how much; the same options give the same submissions and outputs."""

    out: Path = DEFAULT_OUT
    records: int = DEFAULT_RECORDS
    seed: int = DEFAULT_SEED


@dataclass(frozen=True)
class DemoPaths:
    """Everything the demo writes, under `root`."""

    root: Path

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.sqlite"

    @property
    def ledger_key(self) -> Path:
        return self.root / "ledger.key"

    @property
    def linkage_secret(self) -> Path:
        return self.root / "linkage.secret"

    @property
    def public_key(self) -> Path:
        return self.root / "keys" / "form-public.pem"

    @property
    def download(self) -> Path:
        return self.root / "kobo"

    @property
    def dhis2(self) -> Path:
        return self.root / "out" / "dhis2"

    @property
    def frappe(self) -> Path:
        return self.root / "out" / "frappe"

    @property
    def linkage(self) -> Path:
        return self.root / "linkage"

    @property
    def report(self) -> Path:
        return self.root / "report"


@dataclass
class ReportOutcome:
    """What the report step produced: its files and headline counts, or why there is none.

    A count is None when the report suppressed it (fewer than k) or could not compute it.
    """

    files: list[Path] = field(default_factory=list)
    #: victims identified: records, and persons after de-duplication by the linkage
    records: int | None = None
    persons: int | None = None
    unavailable: str | None = None


@dataclass
class DemoResult:
    """Everything a run did, counts and paths only (see `summary.demo_summary`)."""

    options: DemoOptions
    paths: DemoPaths
    dataset: DemoDataset
    download: DownloadWritten
    decryption: DecryptionTally
    plan: SyncPlan
    ledger_records: int
    #: records in the ledger by form, and `opened_from_screening` for cases a screening opened
    ledger_kinds: dict[str, int]
    quarantine: list[QuarantineEntry]
    #: target → how many records the audit log says were withheld from it, over all runs
    withheld_ever: dict[str, int]
    linkage: LinkageResult
    linkage_files: dict[str, Path]
    report: ReportOutcome
    seconds: float = 0.0


def run_demo(options: DemoOptions, *, on_step: StepCallback | None = None,
             on_progress: ProgressCallback | None = None,
             codebook: Codebook | None = None) -> DemoResult:
    """Run the whole path into `options.out`; see the module docstring.

    `on_step` hears a one-line description as each step starts; `on_progress` is the sync
    engine's progress callback.
    """
    started = time.perf_counter()
    step = on_step or (lambda _text: None)
    paths = DemoPaths(Path(options.out))
    paths.root.mkdir(parents=True, exist_ok=True)
    check_replaceable(paths.download)  # before anything is written
    book = codebook or load_codebook()
    ledger_key = paths.ledger_key
    _private_file(ledger_key, lambda: generate_key_text() + "\n")
    secret_text = _private_file(paths.linkage_secret, lambda: secrets.token_urlsafe(32) + "\n")

    step(f"generating {options.records} screening interviews (seed {options.seed})")
    dataset = DemoGenerator(book).generate(records=options.records, seed=options.seed)
    templates = {form_id: InstanceTemplate.compile(book, form_id) for form_id in DEMO_FORMS}

    step("encrypting each submission as Collect/Enketo do, with a fresh key pair")
    private_key = generate_private_key()
    paths.public_key.parent.mkdir(parents=True, exist_ok=True)
    paths.public_key.write_bytes(public_key_pem(private_key))
    download = write_download(dataset, templates, private_key.public_key(), paths.download)

    step("syncing through the ledger into the DHIS2 and Frappe folders")
    policy = load_policy(codebook=book)
    source = KoboDownloadSource(book, download.assets, private_key)
    dhis2 = Dhis2PayloadFolder(paths.dhis2, book, load_package(),
                               org_unit=uid_for("organisationUnit", "tipdata-demo"))
    frappe = FrappeDocumentFolder(paths.frappe, book,
                                  allow_restricted=policy.target("frappe").restricted)
    ledger = open_ledger(str(paths.ledger), codebook=book,
                         environ={KEY_FILE_ENV_VAR: str(ledger_key)})
    try:
        engine = SyncEngine(ledger, book, policy, sources=[source], targets=[dhis2, frappe],
                            on_progress=on_progress)
        plan = engine.run()
        records = list(ledger.iter_records())
        quarantine = ledger.quarantined()
        withheld_ever = {target: len({rid for entry in ledger.audit_entries(target=target)
                                      if entry.action == "withhold" for rid in entry.record_ids})
                         for target in (dhis2.name, frappe.name)}
    finally:
        ledger.close()

    step("linking the agencies' records from pseudonymous encodings")
    agency_of = {source_system_for(a.asset_uid): a.agency for a in download.assets}
    linkage, linkage_files = link_agencies(records, agency_of, linkage_secret(secret_text.strip()),
                                           paths.linkage)

    step("writing the report")
    report = write_demo_report(records, book, linkage, paths.report)
    return DemoResult(options, paths, dataset, download, source.tally, plan, len(records),
                      record_kinds(records), quarantine, withheld_ever, linkage, linkage_files,
                      report, seconds=time.perf_counter() - started)


# --- secrets ---------------------------------------------------------------------------------

def _private_file(path: Path, make: Callable[[], str]) -> str:
    """The file's text; created owner-only (0600) with `make()` when absent. Never printed."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _SECRET_MODE)
    except FileExistsError:
        return path.read_text(encoding="utf-8")
    text = make()
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return text


# --- linkage ---------------------------------------------------------------------------------

def identifiers_of(record: CanonicalRecord) -> PersonIdentifiers:
    """The linkage identifiers a record holds (an estimated birth date counts by its year)."""
    values = record.values
    return PersonIdentifiers(
        record_id=record.record_id,
        given_names=values.get("person_given_names"),
        family_names=values.get("person_family_names"),
        date_of_birth=values.get("person_date_of_birth"),
        sex=values.get("person_sex"),
        citizenship=values.get("person_citizenship"),
        dob_estimated=values.get("person_dob_estimated") == "yes",
    )


def linkable(record: CanonicalRecord, purpose: str = LINKAGE_PURPOSE) -> bool:
    """Names to link on, and consent to use the record for `purpose` (statistics)."""
    values = record.values
    return purpose in record.envelope.consent_purposes and bool(
        values.get("person_given_names") or values.get("person_family_names"))


def link_agencies(records: Iterable[CanonicalRecord], agency_of: dict[str, str], secret: bytes,
                  folder: Path) -> tuple[LinkageResult, dict[str, Path]]:
    """Each agency encodes its linkable records (files in `folder`); the encodings are matched.

    `agency_of` maps a record's source system to its agency, the batch's source name.
    """
    people: dict[str, list[PersonIdentifiers]] = {agency: [] for agency in sorted(set(agency_of.values()))}
    for record in records:
        agency = agency_of.get(record.envelope.source_system)
        if agency is not None and linkable(record):
            people[agency].append(identifiers_of(record))
    schema = load_schema()
    folder.mkdir(parents=True, exist_ok=True)
    batches, files = [], {}
    for agency, identifiers in people.items():
        batch = encode_records(identifiers, secret, schema, source=agency)
        files[agency] = folder / f"{agency}.enc.jsonl"
        batch.write(files[agency])
        batches.append(batch)
    return match_batches(batches), files


# --- report ----------------------------------------------------------------------------------

def write_demo_report(records: list[CanonicalRecord], codebook: Codebook, linkage: LinkageResult,
                      folder: Path) -> ReportOutcome:
    """The statistics report for the demo year and country, de-duplicated by `linkage`."""
    try:
        from tipdata.statistics.report import ReportOptions, build_report, write_report
    except ImportError as exc:  # a partial install: everything else still ran
        return ReportOutcome(unavailable=f"the report module is not available ({exc.name})")
    report = build_report(records, codebook,
                          ReportOptions(period=str(DEMO_YEAR), area=DEMO_COUNTRY, linkage=linkage))
    files = write_report(report, folder)
    return ReportOutcome(files=list(files), records=_total(report.tables.get("VIC_IDENT")),
                         persons=_total(report.tables.get("VIC_IDENT_PERSONS")))


def _total(table: Any) -> int | None:
    """A published table's grand total (None when suppressed or absent)."""
    if table is None:
        return None
    cell = table.cell()
    return None if cell.suppressed or cell.value is None else int(cell.value)


def record_kinds(records: Iterable[CanonicalRecord]) -> dict[str, int]:
    """Records by form id; cases the sync engine opened from screenings counted apart."""
    kinds = Counter(OPENED_FROM_SCREENING if r.envelope.source_id.startswith(_SCREENING_CASE)
                    else r.envelope.form_id or "no form" for r in records)
    return dict(sorted(kinds.items()))


def quarantine_reasons(entries: Iterable[QuarantineEntry]) -> Counter[str]:
    """Open quarantine entries by reason code."""
    return Counter(e.reason_code for e in entries)
