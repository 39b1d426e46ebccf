"""Ledger upsert throughput: records per second on SQLite and PostgreSQL, sealed and plain.

For each backend, size and encryption mode, builds N realistic intake records (identifiers,
immigration status, sensitive answers, quasi-identifiers, operational fields; ~8 of ~20 values
sealed when encrypted) outside the timer, then times:
  - insert:    N new records, upserted in batches of --batch, one transaction per batch with its
               watermark (the engine's real write pattern, `Ledger.ingest_page`);
  - unchanged: the same N records again (hash comparison, nothing rewritten);
  - update:    N records with one value changed (re-sealed and rewritten).
Prints numbers only; asserts nothing. Uses a temporary SQLite file and a throwaway PostgreSQL
schema (dropped afterwards).

Besides records/s (wall time: on a shared machine it moves with the load), each pass prints the
CPU seconds per 1,000 records of this process (`time.process_time`: building rows, hashing,
sealing, SQLAlchemy, and SQLite itself, which runs in this process) and, on PostgreSQL, of the
server backends serving this bench (read from /proc; the server runs on this machine).

    python bench/ledger_write.py                              # 10k and 100k, both backends
    python bench/ledger_write.py --sizes 10000 --backends sqlite --batch 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tipdata.codebook import load_codebook
from tipdata.crypto.at_rest import DataKey, Keyring
from tipdata.ledger import Ledger, Watermark, open_ledger
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord, Envelope, record_id_for

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SOURCE = "kobo:aJ7sd2kqWcH5YbVfXe8mLp"
T0 = dt.datetime(2026, 1, 31, 10, 0, tzinfo=dt.UTC)
CONSENTS = (frozenset({"service_referral", "statistics"}), frozenset({"statistics"}),
            frozenset({"service_referral", "follow_up_contact", "statistics"}))


def make_records(count: int, *, generation: int = 0) -> list[CanonicalRecord]:
    records = []
    for n in range(count):
        source_id = f"uuid:{uuid.UUID(int=n + 1)}"
        envelope = Envelope(
            record_id=record_id_for(SOURCE, source_id), source_system=SOURCE, source_id=source_id,
            form_id="tip_case_intake", form_version="3", collected_at=T0,
            updated_at=T0 + dt.timedelta(seconds=n, days=generation), consent_purposes=CONSENTS[n % 3])
        values = {
            "person_given_names": f"Given{n}", "person_family_names": f"Family{n}",
            "person_phone": f"+234 803 {n:07d}", "person_immigration_status": "irregular",
            "person_age": 14 + n % 50 + generation, "person_sex": ("female", "male")[n % 2],
            "person_citizenship": ("NG",), "person_age_band": "18_24",
            "scr_means_force": "yes", "scr_means_deceived": "no", "scr_purpose_forced_work": "yes",
            "expl_palermo_means": ("deception", "threat"), "expl_labour_sector": ("agriculture",),
            "case_status": "active", "case_opened_date": dt.date(2026, 1, 30),
            "case_reference": f"TIP-2026-{n:06d}", "screening_date": dt.date(2026, 1, 29),
            "ident_country": "NG", "ident_date": dt.date(2026, 1, 28), "person_pseudo_id": f"P{n:08d}",
        }
        records.append(CanonicalRecord(envelope=envelope, values=values))
    return records


def batches(items: list[CanonicalRecord], size: int) -> Iterator[list[CanonicalRecord]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


APPLICATION_NAME = "tipdata-ledger-bench"
_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (0 when it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def backend_cpu(ledger: Ledger) -> float:
    """CPU seconds so far of the PostgreSQL backends serving this bench (0 on SQLite)."""
    if ledger.engine.dialect.name != "postgresql":
        return 0.0
    with ledger.engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                            {"name": APPLICATION_NAME}).scalars().all()
    return sum(process_cpu(int(pid)) for pid in pids)


def timed_pass(ledger: Ledger, records: list[CanonicalRecord], batch: int,
               pass_name: str) -> tuple[float, float, float, dict[str, int]]:
    """Each pass re-reads the source from the start, so it keeps its own watermark.

    Returns wall seconds, CPU seconds of this process, CPU seconds of the database server, counts.
    """
    totals = {"inserted": 0, "updated": 0, "unchanged": 0, "stale": 0}
    server = backend_cpu(ledger)
    started, cpu = time.perf_counter(), time.process_time()
    for page in batches(records, batch):
        outcome = ledger.ingest_page(f"{SOURCE}/{pass_name}", page, Watermark(page[-1].envelope.updated_at, cursor=page[-1].envelope.source_id))
        for key, value in outcome.counts().items():
            totals[key] += value
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall, cpu, backend_cpu(ledger) - server, totals


def run_one(backend: str, url: str, schema: str | None, codebook: Codebook, count: int, batch: int,
            encrypted: bool) -> None:
    fresh = make_records(count)
    changed = make_records(count, generation=1)
    keys = Keyring(DataKey.generate()) if encrypted else None
    options = {"connect_args": {"application_name": APPLICATION_NAME}} if backend == "postgresql" else {}
    ledger = open_ledger(url, codebook=codebook, keys=keys, encrypt=encrypted, schema=schema,
                         environ={}, **options)
    try:
        label = f"{backend:<10} {count:>7,} {'sealed' if encrypted else 'plain':<6}"
        for name, records in (("insert", fresh), ("unchanged", fresh), ("update", changed)):
            seconds, cpu, server, totals = timed_pass(ledger, records, batch, name)
            done = totals["inserted"] + totals["updated"] + totals["unchanged"]
            server_text = f"{1000 * server / count:>9.3f}" if backend == "postgresql" else f"{'-':>9}"
            print(f"{label} {name:<9} {count / seconds:>10,.0f} {seconds:>7.2f} "
                  f"{1000 * cpu / count:>9.3f} {server_text}  ({done:,} accounted)", flush=True)
    finally:
        ledger.close()


def postgres_schema(url: str) -> Iterator[str | None]:
    """A throwaway schema, or None when the server is unreachable."""
    schema = f"ledger_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError:
        engine.dispose()
        yield None
        return
    try:
        yield schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--batch", type=int, default=1000, help="records per transaction (1000)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    codebook = load_codebook()
    print(f"batch {args.batch} records per transaction; ~20 values per record, 8 sealed when encrypted")
    print("records/s and wall s move with the machine's load; CPU-s per 1k records (this process; "
          "PostgreSQL: its server backends apart) much less")
    print(f"{'backend':<10} {'records':>7} {'mode':<6} {'pass':<9} {'records/s':>10} {'wall s':>7} "
          f"{'CPU-s/1k':>9} {'server/1k':>9}")
    for backend in args.backends:
        for count in args.sizes:
            for encrypted in (False, True):
                if backend == "sqlite":
                    with tempfile.TemporaryDirectory(prefix="tipdata-ledger-bench-") as folder:
                        run_one(backend, str(Path(folder) / "ledger.sqlite"), None, codebook, count, args.batch, encrypted)
                    continue
                generator = postgres_schema(args.postgres_url)
                schema = next(generator)
                if schema is None:
                    print(f"postgresql unreachable at {args.postgres_url}; skipped")
                    break
                try:
                    run_one(backend, args.postgres_url, schema, codebook, count, args.batch, encrypted)
                finally:
                    generator.close()


if __name__ == "__main__":
    main()
