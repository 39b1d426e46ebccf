"""End-to-end sync throughput: N case intakes from Kobo through the ledger to Frappe and DHIS2.

    python bench/sync_end_to_end.py                 # 10,000 records, SQLite ledger
    python bench/sync_end_to_end.py --large         # 100,000 records
    python bench/sync_end_to_end.py --records 2000 --ledger postgresql://postgres@127.0.0.1/test

The three doubles (Kobo, Frappe casework, DHIS2 with the shipped package installed) run in a
child process and serve over HTTP on 127.0.0.1; the Kobo double generates the intakes on demand
(five consent variants, so some records are withheld from each target). This process runs the
engine exactly as `tipdata sync` does — pull pages into an encrypted ledger, push batches — and
prints:

- records/s end to end (records ÷ wall time of the run);
- the engine's CPU time (`time.process_time` of this process: engine, HTTP clients, ledger,
  encryption) against the run's wall time, and its share: the rest is waiting on the doubles'
  process and the database;
- peak RSS of this process, and its growth over the RSS before the run;
- the time of each phase (pull per stream, push per target), and of a second run that finds
  nothing to do.

The doubles are in-memory Python servers, slower per request than the real platforms and with
list filters that scan every document (the Frappe double's `name in [...]` reads are O(documents)
each, so `--large` spends most of its time, over an hour on a 2-CPU machine, inside the doubles);
the CPU share says how much of the wall time is ours.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CONSENTS = ("full", "full", "no_statistics", "no_law_enforcement", "none")
ORG_UNIT = "ImspTQPwCqd"


def make_answers(index: int) -> dict[str, Any]:
    """Intake `index` as Kobo answers (deterministic; the consent varies with the index)."""
    from tests.sync.conftest import intake_values, kobo_answers

    return kobo_answers(_ASSET[0], intake_values(index + 1, CONSENTS[index % len(CONSENTS)]))


_ASSET: list[str] = [""]


def serve_doubles(records: int, conn: Any) -> None:
    """Child process: the three doubles, seeded, served until told to stop."""
    from tests.sync.conftest import FRAPPE_KEY, FRAPPE_SECRET, start_platforms

    platforms = start_platforms()
    _ASSET[0] = platforms.asset_uid
    platforms.kobo.add_generated_submissions(platforms.asset_uid, records, make_answers,
                                             first_time=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    conn.send({"kobo": (platforms.kobo.base_url, platforms.kobo.token), "asset": platforms.asset_uid,
               "frappe": (platforms.frappe.base_url, f"{FRAPPE_KEY}:{FRAPPE_SECRET}"),
               "dhis2": (platforms.dhis2.base_url, platforms.dhis2.token)})
    while True:
        command = conn.recv()
        if command == "counts":
            conn.send({"frappe_cases": platforms.frappe.count("TIP Case"),
                       "frappe_identities": platforms.frappe.count("TIP Identity"),
                       **platforms.dhis2.counts()})
        else:
            break
    platforms.kobo.stop()
    platforms.frappe.stop()
    platforms.dhis2.stop()


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


class PhaseClock:
    """Wall time per pull stream and push target, from the engine's progress reports."""

    def __init__(self) -> None:
        self.started: dict[tuple[str, str], float] = {}
        self.ended: dict[tuple[str, str], float] = {}
        self.done: dict[tuple[str, str], int] = {}

    def __call__(self, event: Any) -> None:
        key = (event.phase, event.system)
        now = time.perf_counter()
        self.started.setdefault(key, now)
        self.ended[key] = now
        self.done[key] = event.done


def time_validation() -> list[float]:
    """Attribute the wall time spent in `validate_record` (Kobo mapping checks every record)."""
    import tipdata.kobo_forms.mapping as mapping

    spent = [0.0]
    original = mapping.validate_record

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    mapping.validate_record = timed
    return spent


def run_once(engine: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    plan = engine.run()
    return plan, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--large", action="store_true", help="100,000 records")
    parser.add_argument("--ledger", help="ledger URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    records = 100_000 if args.large else args.records
    validation = time_validation()

    from tipdata.codebook import load_codebook
    from tipdata.crypto.at_rest import DataKey, Keyring
    from tipdata.dhis2_app.connector import Dhis2Client, resolve_dhis2_config
    from tipdata.erpnext_casework.connector import FrappeClient
    from tipdata.http import ServiceConfig
    from tipdata.kobo_forms.connector import KoboClient
    from tipdata.ledger import open_ledger
    from tipdata.sync.config import Dhis2Settings, FrappeSettings, KoboSettings, SyncConfig
    from tipdata.sync.session import open_session

    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    server = context.Process(target=serve_doubles, args=(records, child), daemon=True)
    seeded = time.perf_counter()
    server.start()
    where = parent.recv()
    print(f"doubles ready with {records:,} Kobo submissions in {time.perf_counter() - seeded:.1f} s")
    codebook = load_codebook()
    with tempfile.TemporaryDirectory() as folder:
        url = args.ledger or str(Path(folder) / "ledger.sqlite")
        schema = f"bench_{int(time.time())}" if url.startswith("postgresql") else None
        ledger = open_ledger(url, codebook=codebook, keys=Keyring(DataKey.generate()),
                             schema=schema, environ={})
        config = SyncConfig(
            kobo=KoboSettings(where["kobo"][0], {"tip_case_intake": where["asset"]},
                              Path(folder) / "kobo-state.json", reconcile="never"),
            frappe=FrappeSettings(where["frappe"][0]),
            dhis2=Dhis2Settings(where["dhis2"][0], ORG_UNIT))
        clients = {
            "kobo": KoboClient(ServiceConfig(where["kobo"][0], where["kobo"][1], timeout=300)),
            "frappe": FrappeClient(ServiceConfig(where["frappe"][0], where["frappe"][1], timeout=300)),
            "dhis2": Dhis2Client(resolve_dhis2_config(where["dhis2"][0], where["dhis2"][1], timeout=300)),
        }
        phases = PhaseClock()
        session = open_session(config, codebook=codebook, ledger=ledger, platforms=clients,
                               on_progress=phases)
        rss_before = _rss_mib()
        plan, wall, cpu = run_once(session.engine)
        peak = _peak_rss_mib()
        report_first_run(args, records, plan, wall, cpu, peak, rss_before, validation[0], phases,
                         ledger.count_records())
        session.engine.on_progress = None
        second, wall2, cpu2 = run_once(session.engine)
        changed = sum(t.new + t.updated for t in second.targets.values())
        print(f"second run (nothing to do): {wall2:.1f} s wall, {cpu2:.1f} s CPU, {changed} written",
              flush=True)
        parent.send("counts")
        print(f"doubles hold: {parent.recv()}", flush=True)
        session.close()
        ledger.close()
        if schema:
            from sqlalchemy import create_engine, text

            engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()
    parent.send("stop")
    server.join(timeout=30)


def report_first_run(args: Any, records: int, plan: Any, wall: float, cpu: float, peak: float,
                     rss_before: float, validated: float, phases: PhaseClock, stored: int) -> None:
    targets = plan.to_json()["targets"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"ledger: {'SQLite' if not args.ledger else args.ledger.split('@')[-1]}, encrypted at rest; "
          f"{os.cpu_count()} CPUs, load average {load} (other processes share the machine)")
    print(f"{'records':>9} {'wall s':>8} {'records/s':>10} {'engine CPU s':>13} {'CPU share':>10} "
          f"{'peak RSS MiB':>13} {'RSS growth':>11}")
    print(f"{records:>9,} {wall:>8.1f} {records / wall:>10,.0f} {cpu:>13.1f} {cpu / wall:>10.0%} "
          f"{peak:>13.0f} {peak - rss_before:>11.0f}")
    print(f"of which validating submissions in the Kobo mapping (validate_record): {validated:.1f} s "
          f"({validated / wall:.0%} of the wall time)")
    print("phases (wall s): " + ", ".join(
        f"{phase} {system} {phases.ended[key] - phases.started[key]:.1f}"
        for key in phases.started if phases.done.get(key) for phase, system in [key]))
    print(f"stored {stored:,}; frappe new {targets['frappe']['new']:,}, withheld "
          f"{targets['frappe']['withheld']:,}; dhis2 new {targets['dhis2']['new']:,}, withheld "
          f"{targets['dhis2']['withheld']:,}; errors {len(plan.errors)}", flush=True)


if __name__ == "__main__":
    main()
