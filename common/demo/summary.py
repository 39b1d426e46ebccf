"""What a demo run did, as one JSON-ready dict: the numbers `tipdata demo` prints.

Counts, reason codes and paths only — never a value from a record (house rule 6). `--json`
prints exactly this; the tables the CLI draws are read from it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tipdata.demo.pipeline import DemoResult, quarantine_reasons
from tipdata.demo.synthetic import DEFECTS, INTAKE
from tipdata.sync.ledger_reads import PUSH_QUARANTINE_PREFIX


def demo_summary(result: DemoResult) -> dict[str, Any]:
    """The run's summary (see the module doc).

    >>> demo_summary(run_demo(DemoOptions(out=tmp)))["linkage"]["persons"]   # doctest: +SKIP
    122
    """
    dataset, paths, plan = result.dataset, result.paths, result.plan
    submissions = dataset.submissions
    pulled = [q for q in result.quarantine if not q.source.startswith(PUSH_QUARANTINE_PREFIX)]
    pushed = [q for q in result.quarantine if q.source.startswith(PUSH_QUARANTINE_PREFIX)]
    plan_json = plan.to_json()
    sources = plan_json["sources"]
    targets = {}
    for name, tally in plan_json["targets"].items():
        folder = paths.dhis2 if name == "dhis2" else paths.frappe
        targets[name] = {**tally, "withheld_all_runs": result.withheld_ever.get(name, 0),
                         "files": _count_files(folder), "folder": str(folder)}
    linkage = result.linkage
    return {
        "out": str(paths.root),
        "seed": result.options.seed,
        "records_requested": result.options.records,
        "seconds": round(result.seconds, 2),
        "submissions": {
            "generated": len(submissions),
            "by_form": dict(sorted(Counter(s.form_id for s in submissions).items())),
            "by_agency": dict(sorted(Counter(s.agency for s in submissions).items())),
            "by_form_and_agency": {form: dict(sorted(Counter(
                s.agency for s in submissions if s.form_id == form).items()))
                for form in sorted({s.form_id for s in submissions})},
            "encrypted": result.download.encrypted,
            "decrypted": result.decryption.decrypted,
            "undecryptable": result.decryption.failed,
            "defects_injected": dict(sorted(Counter(s.defect for s in submissions if s.defect).items())),
            "expected_quarantine_reasons": dict(sorted(Counter(
                DEFECTS[s.defect] for s in submissions if s.defect).items())),
        },
        "sync": {
            "run_id": plan_json["run_id"],
            "status": plan_json["status"],
            "policy_version": plan_json["policy_version"],
            "pulled": {key: sum(s[key] for s in sources.values())
                       for key in ("new", "updated", "unchanged", "quarantined")},
            "streams": sources,
            "errors": plan_json["errors"],
        },
        "ledger": {
            "records": result.ledger_records,
            "records_by_kind": result.ledger_kinds,
            "quarantined": len(pulled),
            "quarantine_reasons": dict(sorted(quarantine_reasons(pulled).items())),
            "refused_by_targets": len(pushed),
        },
        "targets": targets,
        "linkage": {
            "purpose": "statistics",
            "records": sum(linkage.records_per_source.values()),
            "records_per_source": dict(linkage.records_per_source),
            "persons": linkage.persons,
            "persons_per_source": dict(linkage.persons_per_source),
            "overlap": [{"seen_by": label, "persons": count} for label, count in linkage.overlap_rows()],
            "true_persons": dataset.true_persons(),
            "intakes": len([s for s in submissions if s.form_id == INTAKE and not s.defect]),
        },
        "report": {
            "victims_identified_records": result.report.records,
            "victims_identified_persons": result.report.persons,
            "files": [str(p) for p in result.report.files],
            "unavailable": result.report.unavailable,
        },
        "paths": {
            "ledger": str(paths.ledger),
            "ledger_key": str(paths.ledger_key),
            "linkage_secret": str(paths.linkage_secret),
            "form_public_key": str(paths.public_key),
            "kobo_download": str(paths.download),
            "dhis2": str(paths.dhis2),
            "frappe": str(paths.frappe),
            "linkage": {agency: str(path) for agency, path in sorted(result.linkage_files.items())},
            "report": str(paths.report),
        },
    }


def _count_files(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*.json")) if folder.is_dir() else 0
