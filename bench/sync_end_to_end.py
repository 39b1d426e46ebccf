"""End-to-end sync throughput: N case intakes from Kobo through the ledger to Frappe and DHIS2.

    python bench/sync_end_to_end.py                 # 10,000 records, SQLite ledger
    python bench/sync_end_to_end.py --large         # 100,000 records
    python bench/sync_end_to_end.py --records 2000 --ledger postgresql://postgres@127.0.0.1/test
    python bench/sync_end_to_end.py --records 2000 --frappe-site --server-pids "$(pgrep -d, -f 'frappe serve')"

How it is measured (the bench prints this too, so a number never travels without it):

- The three doubles (Kobo, Frappe casework, DHIS2 with the shipped package installed) run in a
  CHILD PROCESS (forked before the run) and serve over HTTP on 127.0.0.1; the Kobo double
  generates the intakes on demand (five consent variants, so some records are withheld from each
  target). Their CPU is read from `/proc/<child>/stat` (every thread of that process) and is
  never counted as the engine's.
- This process runs the engine exactly as `tipdata sync` does: pull pages into an encrypted
  ledger, push batches. **Engine CPU** is `time.process_time()` of this process over the run:
  the engine, the platform connectors (Kobo mapping and validation, Frappe and DHIS2 payloads),
  the HTTP client (requests), the ledger (SQLite runs in this process; a PostgreSQL server's
  own CPU is read from `/proc/<backend pid>/stat` and shown apart) and encryption. The main
  thread's `time.thread_time()` is printed next to it: the difference is any other thread.
- **CPU share** = engine CPU ÷ wall time of the run. The rest of the wall time is waiting on the
  doubles and the database - and, on a machine shared with other work, waiting for a CPU, which
  makes the share look smaller than it is. So the bench also prints the engine's share of the CPU
  work, engine ÷ (engine + doubles [+ database server]): what an otherwise idle machine would
  show, as the engine and the doubles mostly take turns. `CPU-s per 1k records` moves far less
  with the load than anything measured in wall time.
- The engine CPU is broken down by part (main-thread CPU, each part exclusive of the parts nested
  in it): the bench wraps the source pages, `validate_record`, the ledger steps, `plan_write`,
  the targets' `write` and the HTTP client's `request`.
- Memory: peak RSS of this process, and its RSS sampled at the progress reports (first, middle,
  last of each phase): flat memory shows as RSS that does not grow with the records done.

- `--frappe-site`: the Frappe target and source is a REAL site with the tip_casework app
  (TIPDATA_FRAPPE_URL, TIPDATA_FRAPPE_API_KEY / _SECRET, as for `tipdata sync`) instead of
  the double; Kobo and DHIS2 stay doubles. `--server-pids` (comma-separated: the site's web
  server, its workers, MariaDB) adds those processes' CPU to the servers' side. The site keeps
  what the run wrote (new record ids each run: the Kobo double's asset id is random).

The doubles are in-memory Python servers: their CPU per request is a fraction of a real
platform's (see the `--frappe-site` runs in docs/benchmarks.md), so against the doubles alone
the engine's share of the work is far larger than it is against real servers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CONSENTS = ("full", "full", "no_statistics", "no_law_enforcement", "none")
ORG_UNIT = "ImspTQPwCqd"
APPLICATION_NAME = "tipdata-sync-bench"
_TICKS = os.sysconf("SC_CLK_TCK")


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


# --- measuring -------------------------------------------------------------------------------

def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14, 15)


class PartClock:
    """CPU per part of the engine, each part exclusive of the parts nested in it.

    Every thread keeps its own stack and measures its own `time.thread_time()` (the Kobo
    connector may fetch the next page on a worker thread); parts measured off the main thread
    are reported as such.
    """

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self._local = threading.local()

    def reset(self) -> None:
        self.spent.clear()

    def _stack(self) -> list[list[float]]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def _enter(self) -> None:
        self._stack().append([time.thread_time(), 0.0])  # [started, nested CPU]

    def _leave(self, part: str) -> None:
        stack = self._stack()
        started, nested = stack.pop()
        elapsed = time.thread_time() - started
        if threading.current_thread() is not threading.main_thread():
            part += " [other thread]"
        self.spent[part] += elapsed - nested
        if stack:
            stack[-1][1] += elapsed

    def main_thread_total(self) -> float:
        return sum(v for k, v in self.spent.items() if not k.endswith("[other thread]"))

    def wrap(self, part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._enter()
            try:
                return function(*args, **kwargs)
            finally:
                self._leave(part)
        return timed

    def wrap_iterator(self, part: str, function: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        """Time each step of the iterator `function` returns (a source's pages), not the consumer."""
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = iter(function(*args, **kwargs))
            while True:
                self._enter()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self._leave(part)
                yield item
        return timed


def instrument(clock: PartClock, session: Any) -> None:
    """Wrap the engine's parts for `PartClock` (measurement only; behaviour unchanged)."""
    import tipdata.http as http
    import tipdata.kobo_forms.mapping as mapping
    import tipdata.sync.apply as apply

    if hasattr(mapping, "validate_record"):
        mapping.validate_record = clock.wrap("kobo: validate_record", mapping.validate_record)
    original_request = http.PlatformSession.request
    http.PlatformSession.request = clock.wrap("HTTP client (requests, every platform)",  # type: ignore[method-assign]
                                              original_request)
    import tipdata.dhis2_app.transport as dhis2_transport  # DHIS2 requests go through dhis2.py

    dhis2_transport.Dhis2Api.request = clock.wrap(  # type: ignore[method-assign]
        "HTTP client (requests, every platform)", dhis2_transport.Dhis2Api.request)
    for name in ("pending_for_target", "count_pending", "count_current"):
        if hasattr(apply, name):
            setattr(apply, name, clock.wrap("push: ledger reads (query, decrypt)", getattr(apply, name)))
    if hasattr(apply, "plan_write"):
        apply.plan_write = clock.wrap("push: policy (plan_write, decide)", apply.plan_write)
    engine = session.engine
    engine._store_page = clock.wrap("pull: ledger (merge, hash, encrypt, write)", engine._store_page)
    engine._push_batch = clock.wrap("push: ledger writes (outcomes, links, audit)", engine._push_batch)
    for source in session.sources:
        source.pages = clock.wrap_iterator(f"pull: {source.platform} source (listing, mapping)",
                                           source.pages)
    for target in session.targets:
        target.write = clock.wrap(f"push: {target.name} target (payloads, responses)", target.write)


class PhaseClock:
    """Wall time and RSS samples per pull stream and push target, from the progress reports."""

    def __init__(self) -> None:
        self.started: dict[tuple[str, str], float] = {}
        self.ended: dict[tuple[str, str], float] = {}
        self.done: dict[tuple[str, str], int] = {}
        self.rss: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)

    def __call__(self, event: Any) -> None:
        key = (event.phase, event.system)
        now = time.perf_counter()
        self.started.setdefault(key, now)
        self.ended[key] = now
        self.done[key] = event.done
        self.rss[key].append((event.done, _rss_mib()))


def postgres_backend_pids(ledger: Any) -> list[int]:
    from sqlalchemy import text

    with ledger.engine.connect() as conn:
        return [int(pid) for pid in conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": APPLICATION_NAME}).scalars()]


class Measured:
    def __init__(self, plan: Any, wall: float, cpu: float, main_thread: float, doubles: float,
                 database: float | None) -> None:
        self.plan, self.wall, self.cpu, self.main_thread = plan, wall, cpu, main_thread
        self.doubles, self.database = doubles, database


def run_once(engine: Any, doubles_pid: int, database_pids: Callable[[], list[int]] | None) -> Measured:
    before_db = {pid: process_cpu(pid) for pid in database_pids()} if database_pids else {}
    doubles = process_cpu(doubles_pid)
    wall, cpu, thread = time.perf_counter(), time.process_time(), time.thread_time()
    plan = engine.run()
    wall, cpu, thread = time.perf_counter() - wall, time.process_time() - cpu, time.thread_time() - thread
    doubles = process_cpu(doubles_pid) - doubles
    database = None
    if database_pids:
        database = sum(process_cpu(pid) - before_db.get(pid, 0.0) for pid in database_pids())
    return Measured(plan, wall, cpu, thread, doubles, database)


# --- the run ---------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--large", action="store_true", help="100,000 records")
    parser.add_argument("--ledger", help="ledger URL (default: a temporary SQLite file)")
    parser.add_argument("--no-second-run", action="store_true",
                        help="skip the second run (it reads back every Frappe document)")
    parser.add_argument("--frappe-site", action="store_true",
                        help="use the real Frappe site named by TIPDATA_FRAPPE_URL (+ API key/secret)")
    parser.add_argument("--server-pids", default="",
                        help="comma-separated pids of real servers whose CPU counts as the servers'")
    args = parser.parse_args()
    records = 100_000 if args.large else args.records

    from tipdata.codebook import load_codebook
    from tipdata.crypto.at_rest import DataKey, Keyring
    from tipdata.dhis2_app.connector import Dhis2Client, resolve_dhis2_config
    from tipdata.erpnext_casework.connector import FrappeClient, resolve_frappe_config
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
    print(f"doubles ready with {records:,} Kobo submissions in {time.perf_counter() - seeded:.1f} s "
          f"(child process {server.pid})")
    codebook = load_codebook()
    with tempfile.TemporaryDirectory() as folder:
        url = args.ledger or str(Path(folder) / "ledger.sqlite")
        postgres = url.startswith("postgresql")
        schema = f"bench_{int(time.time())}" if postgres else None
        options = {"connect_args": {"application_name": APPLICATION_NAME}} if postgres else {}
        ledger = open_ledger(url, codebook=codebook, keys=Keyring(DataKey.generate()),
                             schema=schema, environ={}, **options)
        if args.frappe_site:  # a real site: its URL and key pair from the environment
            frappe_config = replace(resolve_frappe_config(None, None, None), timeout=300)
        else:
            frappe_config = ServiceConfig(where["frappe"][0], where["frappe"][1], timeout=300)
        config = SyncConfig(
            kobo=KoboSettings(where["kobo"][0], {"tip_case_intake": where["asset"]},
                              Path(folder) / "kobo-state.json", reconcile="never"),
            frappe=FrappeSettings(frappe_config.base_url),
            dhis2=Dhis2Settings(where["dhis2"][0], ORG_UNIT))
        clients = {
            "kobo": KoboClient(ServiceConfig(where["kobo"][0], where["kobo"][1], timeout=300)),
            "frappe": FrappeClient(frappe_config),
            "dhis2": Dhis2Client(resolve_dhis2_config(where["dhis2"][0], where["dhis2"][1], timeout=300)),
        }
        servers = [int(pid) for pid in args.server_pids.split(",") if pid.strip()]
        phases = PhaseClock()
        session = open_session(config, codebook=codebook, ledger=ledger, platforms=clients,
                               on_progress=phases)
        parts = PartClock()
        instrument(parts, session)
        database_pids = (lambda: postgres_backend_pids(ledger)) if postgres else None
        if servers:  # a real site's processes: counted with the database servers' CPU
            database_pids = ((lambda: postgres_backend_pids(ledger) + servers) if postgres
                             else (lambda: servers))
        rss_before = _rss_mib()
        first = run_once(session.engine, server.pid, database_pids)
        peak = _peak_rss_mib()
        print_method(url, frappe_config.base_url if args.frappe_site else None, servers)
        report_run("first run", records, first, parts)
        report_memory(peak, rss_before, phases)
        report_phases(first, phases, ledger.count_records())
        if not args.no_second_run:
            session.engine.on_progress = None
            parts.reset()
            second = run_once(session.engine, server.pid, database_pids)
            changed = sum(t.new + t.updated for t in second.plan.targets.values())
            report_run(f"second run (no new submissions; {changed} written)", records, second, parts)
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


def print_method(url: str, frappe_site: str | None = None, servers: list[int] | None = None) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    backend = "PostgreSQL " + url.split("@")[-1] if url.startswith("postgresql") else "SQLite (in this process)"
    print(f"ledger: {backend}, encrypted at rest; {os.cpu_count()} CPUs, load average {load} "
          "(other processes share the machine: trust CPU-s per 1k records over wall times)")
    if frappe_site:
        print(f"Frappe: the REAL site {frappe_site} (not the double); its server processes "
              f"{servers or 'not given'} are counted with the database servers")
    print("how: the doubles run in a child process, their CPU read from /proc and not counted as "
          "the engine's; engine CPU = process_time of this process (engine, connectors, HTTP "
          "client, ledger, encryption); share = engine CPU / wall time of the run", flush=True)


def report_run(title: str, records: int, run: Measured, parts: PartClock) -> None:
    per_k = 1000 / records
    database = (f", servers (PostgreSQL backends, real site) {run.database:.1f} s"
                if run.database is not None else "")
    print(f"\n{title}: {run.wall:.1f} s wall, {records / run.wall:,.0f} records/s")
    print(f"  engine CPU {run.cpu:.1f} s = {run.cpu / run.wall:.1%} of the wall time "
          f"({run.cpu * per_k:.3f} CPU-s per 1k records; main thread {run.main_thread:.1f} s, "
          f"other threads {run.cpu - run.main_thread:.1f} s)")
    print(f"  doubles CPU {run.doubles:.1f} s ({run.doubles * per_k:.3f} CPU-s per 1k records){database}")
    work = run.cpu + run.doubles + (run.database or 0.0)
    print(f"  engine share of the CPU work (engine / (engine + doubles{' + servers' if run.database is not None else ''})): "
          f"{run.cpu / work if work else 0:.1%}: the share an idle machine would show, since the "
          "engine mostly waits while the doubles work and the other way round")
    measured = parts.main_thread_total()
    print("  engine CPU by part (exclusive of nested parts):")
    for part, seconds in sorted(parts.spent.items(), key=lambda item: -item[1]):
        print(f"    {part:<48} {seconds:>8.2f} s {seconds * per_k:>7.3f} CPU-s/1k "
              f"{seconds / run.cpu if run.cpu else 0:>6.1%}")
    rest = run.main_thread - measured
    print(f"    {'engine loop, progress, logging (the rest)':<48} {rest:>8.2f} s {rest * per_k:>7.3f} CPU-s/1k "
          f"{rest / run.cpu if run.cpu else 0:>6.1%}", flush=True)


def report_memory(peak: float, rss_before: float, phases: PhaseClock) -> None:
    print(f"  peak RSS {peak:.0f} MiB; RSS before the run {rss_before:.0f} MiB")
    for key, samples in phases.rss.items():
        if len(samples) < 2:
            continue
        picks = [samples[0], samples[len(samples) // 2], samples[-1]]
        print(f"    RSS during {key[0]} {key[1]}: " + ", ".join(
            f"{rss:.0f} MiB at {done:,}" for done, rss in picks) +
            f" (max {max(r for _d, r in samples):.0f})")


def report_phases(run: Measured, phases: PhaseClock, stored: int) -> None:
    targets = run.plan.to_json()["targets"]
    print("  phases (wall s): " + ", ".join(
        f"{phase} {system} {phases.ended[key] - phases.started[key]:.1f}"
        for key in phases.started if phases.done.get(key) for phase, system in [key]))
    print(f"  stored {stored:,}; frappe new {targets['frappe']['new']:,}, withheld "
          f"{targets['frappe']['withheld']:,}; dhis2 new {targets['dhis2']['new']:,}, withheld "
          f"{targets['dhis2']['withheld']:,}; errors {len(run.plan.errors)}", flush=True)
    for error in run.plan.errors:
        print(f"  ERROR {error.as_dict()}", flush=True)


if __name__ == "__main__":
    main()
