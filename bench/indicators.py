"""Indicator throughput: every indicator of the catalogue over N synthetic records (target: 1M < 10 s).

Builds N synthetic records outside the timer - 60% case intakes, then referrals, service records,
outcome assessments, investigations and prosecutions citing those cases - with realistic option
codes and dates over three years, then times:
  - frame:    `records_frame` (columns read straight from the records, typed once: categoricals,
              datetime64, option sets)
  - compute:  `compute_indicators` for one year and one country, with and without a person map
  - protect:  `protect_table` (k = 11, LP audit on) over every table produced
from CanonicalRecord objects as the ledger yields them (`--source records`, default) or from a
DataFrame of element columns (`--source frame`). Each step prints wall and CPU seconds: on a
shared machine the CPU seconds are the steadier number. Prints numbers only.

    python bench/indicators.py                     # 1,000,000 records as record objects
    python bench/indicators.py --size 200000 --source frame
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from tipdata.codebook import load_codebook
from tipdata.records import CanonicalRecord, Envelope
from tipdata.statistics import compute_indicators, protect_table, records_frame

SHARES = {"case": 0.60, "referral": 0.15, "service": 0.10, "outcome": 0.05, "investigation": 0.05,
          "prosecution": 0.05}
COUNTRIES = ["NG", "GH", "BJ", "TG"]
START = np.datetime64("2023-01-01")


def synthetic_columns(size: int, seed: int = 1) -> pd.DataFrame:
    """N records as element columns (None where a record's form does not ask the element)."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(list(SHARES), p=list(SHARES.values()), size=size)
    cases = np.flatnonzero(kinds == "case")
    refs = np.array([f"TIP-{i:07d}" for i in range(len(cases))], dtype=object)

    def pick(options: list, rows: np.ndarray, p: list[float] | None = None) -> np.ndarray:
        choices = np.empty(len(options), dtype=object)
        for i, option in enumerate(options):  # elementwise: tuples stay whole
            choices[i] = option
        return choices[rng.choice(len(options), size=len(rows), p=p)]

    def dates(rows: np.ndarray) -> np.ndarray:
        return START + rng.integers(0, 3 * 365, size=len(rows)).astype("timedelta64[D]")

    columns: dict[str, np.ndarray] = {}

    def put(code: str, rows: np.ndarray, values: np.ndarray) -> None:
        column = columns.setdefault(code, np.full(size, None, dtype=object))
        column[rows] = values

    put("case_reference", cases, refs)
    put("ident_date", cases, dates(cases))
    put("ident_country", cases, pick(COUNTRIES, cases, [0.7, 0.1, 0.1, 0.1]))
    put("ident_trafficking_status", cases, pick(["potential", "presumed", "confirmed", "not_victim", None], cases,
                                                [0.3, 0.3, 0.25, 0.1, 0.05]))
    put("ident_org_type", cases, pick(["ngo", "law_enforcement", "immigration_service", "health_service", None], cases))
    put("person_sex", cases, pick(["female", "male", "intersex", "declined", None], cases, [0.5, 0.4, 0.01, 0.04, 0.05]))
    ages = rng.integers(5, 70, size=len(cases)).astype(object)
    ages[rng.random(len(cases)) < 0.1] = None
    put("person_age", cases, ages)
    put("person_citizenship", cases, pick([("NG",), ("GH",), ("NG", "GH"), ("BJ",), None], cases))
    put("person_stateless", cases, pick(["no", "yes", None], cases, [0.8, 0.02, 0.18]))
    put("expl_palermo_purpose", cases, pick([("sexual_exploitation",), ("forced_labour",), ("forced_begging",),
                                             ("forced_labour", "sexual_exploitation"), ("unknown",), None], cases))
    for kind, date_code in (("referral", "ref_date"), ("service", "svc_date"), ("outcome", "out_assessment_date"),
                            ("investigation", "inv_opened_date"), ("prosecution", "pros_filed_date")):
        rows = np.flatnonzero(kinds == kind)
        put("svc_case_reference", rows, refs[rng.integers(0, len(refs), size=len(rows))])
        put(date_code, rows, dates(rows))
    rows = np.flatnonzero(kinds == "referral")
    put("ref_status", rows, pick(["made", "accepted", "in_progress", "completed", "declined_by_person"], rows))
    put("ref_org_type", rows, pick(["ngo", "health_service", "legal_service", "local_government"], rows))
    put("ref_service_type", rows, pick([("medical_care",), ("safe_accommodation", "medical_care"), ("legal_assistance",)], rows))
    put("ref_first_service_date", rows, columns["ref_date"][rows].astype("datetime64[D]")
        + rng.integers(0, 30, size=len(rows)).astype("timedelta64[D]"))
    rows = np.flatnonzero(kinds == "service")
    put("svc_record_kind", rows, pick(["service", "follow_up", "both"], rows))
    put("svc_received", rows, pick([("medical_care",), ("safe_accommodation",), ("education", "employment")], rows))
    put("svc_provider_org_type", rows, pick(["ngo", "health_service", "local_government"], rows))
    rows = np.flatnonzero(kinds == "outcome")
    for domain in ("out_safety", "out_housing", "out_mental_wellbeing", "out_income_employment"):
        put(domain, rows, pick(["1", "2", "3", "4", "5", "declined"], rows))
    rows = np.flatnonzero(kinds == "investigation")
    put("inv_offences", rows, pick([("tip_sexual_exploitation",), ("tip_forced_labour",), ("kidnapping",)], rows))
    put("inv_agency_type", rows, pick(["police", "anti_trafficking_unit", "labour_inspectorate"], rows))
    put("inv_suspect_sex", rows, pick(["female", "male", "unknown"], rows))
    rows = np.flatnonzero(kinds == "prosecution")
    put("pros_charges", rows, pick([("tip_sexual_exploitation",), ("tip_forced_labour",), ("tip_purpose_unspecified",)], rows))
    outcome = pick(["convicted_trafficking", "acquitted", "ongoing"], rows)
    put("pros_outcome", rows, outcome)
    put("pros_verdict_date", rows, columns["pros_filed_date"][rows].astype("datetime64[D]")
        + rng.integers(30, 400, size=len(rows)).astype("timedelta64[D]"))
    put("pros_sentence_type", rows, np.where(outcome == "convicted_trafficking",
                                             pick([("imprisonment",), ("imprisonment", "fine"), ("suspended",)], rows), None))
    put("pros_sentence_months", rows, rng.integers(6, 240, size=len(rows)).astype(object))
    frame = pd.DataFrame(columns)
    frame.insert(0, "record_id", [f"rec-{i:08d}" for i in range(size)])
    frame["kind"] = kinds
    frame["consented"] = rng.random(size) < 0.95
    return frame


def as_records(columns: pd.DataFrame) -> list[CanonicalRecord]:
    """The same rows as CanonicalRecord objects (constructed without validation, as read back):
    dates as `datetime.date`, whole numbers as `int`, empty values left out of the dict."""
    forms = {"case": "tip_case_intake", "referral": "tip_referral", "service": "tip_service_followup",
             "outcome": "tip_outcome_assessment", "investigation": "tip_investigation", "prosecution": "tip_prosecution"}
    stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    element_columns = [c for c in columns.columns if c not in ("record_id", "kind", "consented")]
    kinds = columns["kind"].to_numpy(object)
    record_ids = columns["record_id"].to_numpy(object)
    consented = columns["consented"].to_numpy(bool)
    with_consent, without = frozenset({"statistics"}), frozenset()
    records: list[CanonicalRecord | None] = [None] * len(columns)
    for kind, form in forms.items():
        rows = np.flatnonzero(kinds == kind)
        codes = [c for c in element_columns if pd.notna(columns[c].to_numpy(object)[rows]).any()]
        lists = [_python_values(columns[c].to_numpy(object)[rows], c) for c in codes]
        for row, found in zip(rows.tolist(), zip(*lists, strict=True), strict=True):
            values = {code: value for code, value in zip(codes, found, strict=True) if value is not None}
            envelope = Envelope.model_construct(
                record_id=record_ids[row], source_system="bench", source_id=record_ids[row], form_id=form,
                form_version=None, collected_at=stamp, updated_at=stamp,
                consent_purposes=with_consent if consented[row] else without, location=None)
            records[row] = CanonicalRecord.model_construct(envelope=envelope, values=values)
    return records  # type: ignore[return-value]


def _python_values(values: np.ndarray, code: str) -> list:
    """One column's values as a platform adapter delivers them (None when empty)."""
    present = pd.notna(values)
    out = [None] * len(values)
    if isinstance(next((v for v in values[present][:1]), None), np.datetime64):
        dates = values[present].astype("datetime64[D]").tolist()
    elif code in ("person_age", "pros_sentence_months"):
        dates = [int(v) for v in values[present]]
    else:
        dates = values[present].tolist()
    for position, value in zip(np.flatnonzero(present).tolist(), dates, strict=True):
        out[position] = value
    return out


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:6.2f} s wall {self.cpu:6.2f} s CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--source", choices=["records", "frame"], default="records")
    args = parser.parse_args()
    codebook = load_codebook()
    started = time.perf_counter()
    columns = synthetic_columns(args.size)
    source = as_records(columns) if args.source == "records" else columns
    del columns
    print(f"built {args.size:,} synthetic {args.source} in {time.perf_counter() - started:.1f} s (not timed)")

    with Clock() as frame_clock:
        frame = records_frame(source, codebook)
    print(f"records_frame:                 {frame_clock}")

    with Clock() as compute_clock:
        tables = compute_indicators(frame, "2025", "NG", codebook=codebook)
    print(f"compute_indicators ({len(tables)}):       {compute_clock}")

    cases = frame[frame["kind"] == "case"]["record_id"].to_numpy()
    person_of = {record_id: f"P{i // 2}" for i, record_id in enumerate(cases)}  # every two records one person
    with Clock() as dedup_clock:
        compute_indicators(frame, "2025", "NG", person_of, codebook=codebook, codes=["VIC_IDENT_PERSONS", "SDG_16_2_2"])
    print(f"  de-duplicated (2, map of {len(person_of):,}): {dedup_clock}")

    with Clock() as protect_clock:
        suppressed = sum(int(protect_table(table, k=11).suppressed_mask.sum()) for table in tables.values())
    print(f"protect_table ({len(tables)} tables):     {protect_clock}   ({suppressed} cells suppressed)")
    wall = frame_clock.wall + compute_clock.wall + protect_clock.wall
    cpu = frame_clock.cpu + compute_clock.cpu + protect_clock.cpu
    print(f"frame + compute + protect:     {wall:6.2f} s wall {cpu:6.2f} s CPU  (target < 10 s)")
    victims = tables["VIC_IDENT"]
    total = victims[(victims[victims.attrs["dimensions"]] == "_T").all(axis=1)]["value"].iloc[0]
    print(f"victims identified in 2025, NG: {total:,}")


if __name__ == "__main__":
    main()
