"""Upsert throughput to the Frappe casework DocTypes: insert_many batches vs one record per request.

Against the contract double (always), and against a real site with the tip_casework app when
TIPDATA_FRAPPE_URL, TIPDATA_FRAPPE_API_KEY and TIPDATA_FRAPPE_API_SECRET[_FILE] are set. Each
record is a complete case intake (a TIP Case and a TIP Identity document). Phases: create
(batched, then single on a fresh site), update (one changed field per record), unchanged re-push.
On a real site the benchmark's own documents are deleted afterwards unless --keep.

Prints numbers; asserts nothing.
Usage: python bench/frappe_upsert.py [--records N] [--latency SECONDS] [--real-records N] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.doubles.frappe import FrappeDouble  # noqa: E402
from tests.frappe.conftest import (  # noqa: E402
    KEY,
    SECRET,
    casework_defs,
    client_for,
    codebook,
    intake_record,
    make_record,
    mapping,
)
from tipdata.erpnext_casework.connector import (  # noqa: E402
    CaseworkSync,
    FrappeClient,
    FrappeError,
    UpsertResult,
)
from tipdata.records import CanonicalRecord  # noqa: E402


def records_for(count: int, run: str, **overrides: object) -> list[CanonicalRecord]:
    """`count` intake records whose ids and case references are unique to this run."""
    out = []
    for n in range(count):
        base = intake_record(n, case_reference=f"B{run}-{n:05d}", **overrides)
        out.append(make_record("tip_case_intake", f"bench-{run}-{n}", dict(base.values)))
    return out


def timed(sync: CaseworkSync, records: list[CanonicalRecord], batch_size: int,
          ) -> tuple[float, UpsertResult]:
    started = time.perf_counter()
    result = sync.upsert(records, batch_size=batch_size)
    return time.perf_counter() - started, result


def report(label: str, seconds: float, result: UpsertResult, count: int) -> None:
    done = result.counts()
    print(f"{label:>28}: {count / seconds:8.1f} records/s  {seconds:7.2f} s  "
          f"{done['requests']:5d} requests  created {done['created']}, updated {done['updated']}, "
          f"unchanged {done['unchanged']}, quarantined {done['quarantined']}")


def double_site(latency: float) -> FrappeDouble:
    site = FrappeDouble(casework_defs(), api_key=KEY, api_secret=SECRET).start()
    if latency:
        site.delay_next(10**7, latency)
    return site


def bench_double(count: int, latency: float) -> None:
    print(f"contract double: {count} intake records (2 documents each), added latency "
          f"{latency * 1000:.0f} ms per request")
    run = secrets.token_hex(3)
    records = records_for(count, run)
    for label, batch_size in (("create, insert_many x200", 200), ("create, one per request", 1)):
        site = double_site(latency)
        try:
            sync = CaseworkSync(client_for(site), mapping(), codebook())
            sync.client.site_time_zone()
            seconds, result = timed(sync, records, batch_size)
            report(label, seconds, result, count)
            if batch_size == 200:
                changed = records_for(count, run, case_risk_level="high")
                seconds, result = timed(sync, changed, batch_size)
                report("update one field", seconds, result, count)
                seconds, result = timed(sync, changed, batch_size)
                report("re-push, unchanged", seconds, result, count)
        finally:
            site.stop()


def bench_real(count: int, keep: bool) -> None:
    client = FrappeClient.from_environment()
    print(f"real site {client.config.base_url}: {count} intake records per phase "
          f"(time zone {client.site_time_zone()})")
    sync = CaseworkSync(client, mapping(), codebook())
    created: list[str] = []
    try:
        for label, batch_size in (("create, insert_many x200", 200), ("create, one per request", 1)):
            records = records_for(count, secrets.token_hex(3))
            seconds, result = timed(sync, records, batch_size)
            report(label, seconds, result, count)
            created += result.created
            for kept in result.quarantined[:3]:
                print(f"    quarantined {kept.record_id}: {kept.reason} {kept.message[:200]}")
            if batch_size == 200:
                changed = [make_record("tip_case_intake", r.envelope.source_id,
                                       {**r.values, "case_risk_level": "high"}) for r in records]
                seconds, result = timed(sync, changed, batch_size)
                report("update one field", seconds, result, count)
    finally:
        if not keep:
            started = time.perf_counter()
            for name in created:
                for doctype in ("TIP Identity", "TIP Case"):
                    try:
                        client.delete(doctype, name)
                    except FrappeError:
                        pass
            print(f"deleted the benchmark's {len(created)} case(s) in "
                  f"{time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds the double waits before each answer (a network round trip)")
    parser.add_argument("--real-records", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the documents on a real site")
    args = parser.parse_args()
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}")
    bench_double(args.records, args.latency)
    if os.environ.get("TIPDATA_FRAPPE_URL"):
        bench_real(args.real_records, args.keep)
    else:
        print("real site: skipped (set TIPDATA_FRAPPE_URL, TIPDATA_FRAPPE_API_KEY and "
              "TIPDATA_FRAPPE_API_SECRET to measure one)")


if __name__ == "__main__":
    main()
