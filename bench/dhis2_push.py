"""DHIS2 push throughput: canonical → tracker payload mapping, then a push against the double.

    python bench/dhis2_push.py                        # 100,000 records, DHIS2 2.42 double
    python bench/dhis2_push.py -n 20000 --version 2.40
    python bench/dhis2_push.py --mapping-only

Records follow a realistic mix: per case one complete intake record (every element of
tip_case_intake answered) and three complete referrals. The package is the builder's
(`tipdata.dhis2_app.metadata.build_metadata`), assigned to the double's org unit.

1. Push: `Dhis2Connector.push` of N records generated lazily (never all in memory) against the
   contract double running in its own process; records/s end to end and the client's RSS at
   every tenth of the run plus its peak, to show memory stays flat. The double (Python,
   validating every object) is the bottleneck here, not the connector.
2. Mapping: `PayloadBuilder.build` over pre-built records in batches of the push size, without
   and with the routing policy's `decide` (the connector applies it per record). Reported as
   records per second of CPU time on one core (wall clock too: on a busy machine it is lower).
   Target ≥ 20,000 records/s.
Prints numbers only; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import resource
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ORG_UNIT = "ImspTQPwCqd"
KEYS = ("person_pseudo_id", "case_reference", "svc_case_reference")


def rss_mib() -> float:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def sample_value(codebook: Any, element: Any) -> Any:
    """A value valid for the element's type (the first option codes for selects)."""
    options = codebook.options_for(element)
    if element.type == "select_one":
        return options.codes()[0]
    if element.type == "select_multiple":
        return tuple(sorted(options.codes()[:2]))
    return {
        "date": dt.date(2026, 2, 1),
        "datetime": dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC),
        "integer": 3,
        "decimal": Decimal("2.5"),
        "boolean": True,
        "geopoint": (8.48, -13.23),
        "text": "answer",
    }[element.type]


def form_values(codebook: Any, form_id: str) -> dict[str, Any]:
    """Every element of a form answered with a value valid for its type (keys left out)."""
    values: dict[str, Any] = {}
    for code in codebook.forms[form_id].element_codes():
        if code in KEYS:
            continue
        element = codebook.elements[code]
        values[code] = sample_value(codebook, element)
    return values


def generate(codebook: Any, count: int) -> Iterator[Any]:
    """Per case: one intake record, then three referrals (lazily, one at a time)."""
    from tipdata.records import CanonicalRecord, Envelope, record_id_for

    intake = form_values(codebook, "tip_case_intake")
    referral = form_values(codebook, "tip_referral")
    purposes = frozenset(codebook.consent_purposes)
    moment = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
    for index in range(count):
        case = index // 4
        if index % 4 == 0:
            form_id, values = (
                "tip_case_intake",
                {
                    **intake,
                    "person_pseudo_id": f"P-{case:07d}",
                    "case_reference": f"TIP-{case:07d}",
                },
            )
        else:
            form_id, values = "tip_referral", {**referral, "svc_case_reference": f"TIP-{case:07d}"}
        source_id = f"uuid:bench-{index:09d}"
        envelope = Envelope(
            record_id=record_id_for("kobo:bench", source_id),
            source_system="kobo:bench",
            source_id=source_id,
            form_id=form_id,
            collected_at=moment,
            updated_at=moment,
            consent_purposes=purposes,
        )
        yield CanonicalRecord(envelope=envelope, values=values)


def bench_mapping(codebook: Any, package: dict[str, Any], count: int, batch: int) -> None:
    from tipdata.dhis2_app.tracker import PayloadBuilder, mapping_from_package
    from tipdata.policy import decide, load_policy

    mapping = mapping_from_package(package, codebook, org_unit=ORG_UNIT)
    records = list(generate(codebook, count))
    values = sum(len(r.values) for r in records) / len(records)
    print(
        f"mapping: {count:,} records, {values:.1f} values per record on average, batches of {batch}"
    )
    policy = load_policy(codebook=codebook)
    runs = {
        "canonical → tracker payload": lambda r: r.values,
        "with the routing policy (decide per record)": lambda r: (
            decide(r, "dhis2", policy, codebook).allowed_values
        ),
    }
    for label, allowed in runs.items():
        builder = PayloadBuilder(mapping)  # cold caches for each run
        objects = 0
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, count, batch):
            payload = builder.build((r, allowed(r)) for r in records[start : start + batch])
            objects += payload.object_count
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"  {label}: {count / cpu:,.0f} records/s of CPU time on one core "
            f"({cpu / count * 1e6:.1f} µs/record; wall clock {count / wall:,.0f}/s; "
            f"{objects:,} tracker objects)"
        )


def serve_double(version: str, connection: Any) -> None:
    """Child process: run the double until the parent says stop."""
    from tests.doubles.dhis2 import Dhis2Double

    with Dhis2Double(version, log_bodies=False, max_page_size=10_000) as double:
        connection.send((double.base_url, double.token))
        connection.recv()


def bench_push(
    codebook: Any, package: dict[str, Any], count: int, batch: int, version: str
) -> None:
    from tests.dhis2.connector_support import connect

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=serve_double, args=(version, child), daemon=True)
    process.start()
    base_url, token = parent.recv()

    class Remote:  # what `connect` reads from a double
        pass

    remote = Remote()
    remote.base_url, remote.token = base_url, token  # type: ignore[attr-defined]
    try:
        connector = connect(
            remote, codebook, package, org_unit=ORG_UNIT, timeout=300, batch_size=batch
        )
        installed = connector.install(assign_to=[ORG_UNIT])
        if not installed.ok:
            print("  install failed:", [p.render() for p in installed.problems[:3]])
            return
        checkpoints: list[tuple[int, float]] = []
        step = max(count // 10, batch)

        def progress(result: Any) -> None:
            if result.records // step > len(checkpoints) - 1 or result.records == count:
                checkpoints.append((result.records, rss_mib()))

        checkpoints.append((0, rss_mib()))
        started, cpu_started = time.perf_counter(), time.process_time()
        result = connector.push(generate(codebook, count), progress=progress)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"push against the DHIS2 {version} double: {count:,} records in {elapsed:.1f} s = "
            f"{count / elapsed:,.0f} records/s ({result.batches} imports of {batch}; "
            f"pushed {result.pushed:,}, quarantined {len(result.quarantined)})"
        )
        print(
            "  client RSS (MiB) by records pushed: "
            + ", ".join(f"{n:,}: {mib:.0f}" for n, mib in checkpoints)
        )
        print(f"  client peak RSS {peak:.0f} MiB")
        print(
            f"  client CPU {cpu:.1f} s = {cpu / count * 1e6:.0f} µs/record (generate records, "
            f"map, JSON, dhis2.py/requests) → {count / cpu:,.0f} records/s of client CPU"
        )
    finally:
        parent.send("stop")
        process.join(timeout=30)
    double_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"  double process CPU {double_cpu.ru_utime + double_cpu.ru_stime:.1f} s (install and push, "
        "validating every object)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=100_000, help="records to push (100000)")
    parser.add_argument("--mapping-count", type=int, default=40_000, help="records to map (40000)")
    parser.add_argument("--batch", type=int, default=250, help="records per tracker import (250)")
    parser.add_argument("--version", default="2.42", choices=("2.40", "2.41", "2.42", "2.43"))
    parser.add_argument(
        "--mapping-only", action="store_true", help="skip the push against the double"
    )
    args = parser.parse_args()

    from tipdata.codebook import load_codebook
    from tipdata.dhis2_app.metadata import build_metadata

    codebook = load_codebook()
    package = build_metadata(codebook).json
    if not args.mapping_only:  # first, so the peak RSS it reports is the push's own
        bench_push(codebook, package, args.count, args.batch, args.version)
    bench_mapping(codebook, package, args.mapping_count, args.batch)


if __name__ == "__main__":
    main()
