"""`tipdata demo`: the main job end to end, checked against the synthetic data's ground truth."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.demo.conftest import DemoRun
from tipdata.cli import demo_cmd
from tipdata.cli.main import app
from tipdata.crypto.at_rest import KEY_FILE_ENV_VAR
from tipdata.demo.synthetic import CONSENT_VARIANTS, DEFECTS, INTAKE
from tipdata.dhis2_app.connector import load_package
from tipdata.erpnext_casework.mapping import casework_mapping
from tipdata.kobo_forms.mapping import source_system_for
from tipdata.ledger import open_ledger
from tipdata.policy import load_policy

IMMIGRATION = "person_immigration_status"


def strings(node: Any) -> Iterator[str]:
    """Every text value in a JSON document (keys left out: they are field names and UIDs)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def leaks(path: Path, identifiers: frozenset[str]) -> list[str]:
    """Identifiers found in a file: a whole value, or a word of one."""
    found = []
    for text in strings(json.loads(path.read_text(encoding="utf-8"))):
        if text in identifiers or any(word in identifiers for word in text.split()):
            found.append(f"{path.name}: {text!r}")
    return found


def accepted_purposes(run: DemoRun, target: str) -> frozenset[str]:
    """Consent purposes under which the default policy lets the target hold anything."""
    rules = load_policy(codebook=run.codebook).target(target)
    return frozenset().union(*rules.classes.values())


def test_demo__dhis2_payloads_hold_no_direct_identifier_and_no_immigration_status(demo_run: DemoRun):
    """should write DHIS2 payloads without any generated name or phone and without immigration status"""
    identifiers = demo_run.dataset.identifiers
    assert len(identifiers) > 50
    files = sorted((demo_run.out / "out" / "dhis2").glob("*.json"))
    assert files
    assert [hit for f in files for hit in leaks(f, identifiers)] == []
    codebook = demo_run.codebook
    code_of = {obj["id"]: obj.get("code") for kind in ("trackedEntityAttributes", "dataElements")
               for obj in load_package().get(kind, [])}
    sent = {code_of.get(ref) for f in files for ref in _references(json.loads(f.read_text(encoding="utf-8")))}
    assert None not in sent, "every attribute and data element sent is one of the package's"
    assert "person_pseudo_id" in sent and "person_sex" in sent  # the pseudonym travels, not names
    assert not {c for c in sent if codebook.elements[c].sensitivity in ("direct_identifier", "restricted")}
    # the same scan does find names where they may go: the casework app's identity documents
    identity = sorted((demo_run.out / "out" / "frappe" / "tip_identity").glob("*.json"))
    assert sum(bool(leaks(f, identifiers)) for f in identity) > len(identity) // 2


def test_demo__immigration_status_is_collected_but_never_written(demo_run: DemoRun):
    """should hold back every immigration status collected, counting each one for Frappe"""
    frappe = accepted_purposes(demo_run, "frappe")
    with_status = [s for s in demo_run.dataset.valid_intakes()
                   if any(path.endswith(IMMIGRATION) for path in s.answers)]
    assert with_status
    sent_to_frappe = [s for s in with_status if CONSENT_VARIANTS[s.consent or "none"] & frappe]
    assert demo_run.first["targets"]["frappe"]["values_withheld"]["restricted_not_named"] == \
        len(sent_to_frappe)
    mapping = casework_mapping(demo_run.codebook)
    fieldname = mapping.doctypes[mapping.placement[IMMIGRATION]].fields[IMMIGRATION].fieldname
    written = [p for p in (demo_run.out / "out").rglob("*.json")
               if fieldname in p.read_text(encoding="utf-8")]
    assert written == []


def opened_cases(run: DemoRun) -> int:
    """Screenings that open a case under the policy's `[screening_cases]` (0 if it has none)."""
    rules = getattr(load_policy(codebook=run.codebook), "screening_cases", None)
    open_for = rules.open_for if rules is not None else {}

    def answer(submission: Any, code: str) -> str | None:
        return next((v for path, v in submission.answers.items() if path.endswith(code)), None)

    return sum(1 for s in run.dataset.submissions if s.form_id != INTAKE and s.defect is None
               and answer(s, "consent_screening") == "yes"
               and answer(s, "screening_result") in open_for)


def test_demo__withheld_records_follow_the_consent_answers(demo_run: DemoRun):
    """should withhold from each target the screenings, the cases they open, and the intakes
    without a consent the target accepts — and send every other intake"""
    valid = [s for s in demo_run.dataset.submissions if s.defect is None]
    screenings = [s for s in valid if s.form_id != INTAKE]
    intakes = [s for s in valid if s.form_id == INTAKE]
    assert len({s.consent for s in intakes}) >= 4
    policy = load_policy(codebook=demo_run.codebook)
    for target in ("dhis2", "frappe"):
        rules = getattr(policy, "screening_cases", None)
        assert rules is None or not rules.consent.get(target), "screenings carry no sharing consent"
        accepted = accepted_purposes(demo_run, target)
        nothing = [s for s in intakes if not CONSENT_VARIANTS[s.consent or "none"] & accepted]
        assert nothing, f"some intake must have no consent {target} accepts"
        expected = len(screenings) + opened_cases(demo_run) + len(nothing)
        tally = demo_run.first["targets"][target]
        assert tally["withheld"] == expected, target
        assert tally["withheld_reasons"] == {"consent_missing": expected}
        assert tally["new"] == len(intakes) - len(nothing), target


def test_demo__quarantine_holds_exactly_the_broken_submissions(demo_run: DemoRun):
    """should quarantine each broken submission with its reason and store every other one once"""
    broken = [s for s in demo_run.dataset.submissions if s.defect]
    assert {s.defect for s in broken} == set(DEFECTS)
    first = demo_run.first
    assert first["ledger"]["quarantined"] == len(broken)
    assert first["ledger"]["quarantine_reasons"] == dict(Counter(DEFECTS[s.defect] for s in broken))
    assert first["submissions"]["undecryptable"] == sum(s.defect == "undecryptable" for s in broken)
    with open_ledger(str(demo_run.out / "ledger.sqlite"), codebook=demo_run.codebook,
                     environ={KEY_FILE_ENV_VAR: str(demo_run.out / "ledger.key")}) as ledger:
        entries = {(e.source, e.source_id, e.reason_code) for e in ledger.quarantined()}
        assert ledger.count_records() == first["ledger"]["records"]
    assert entries == {(source_system_for(s.asset_uid), str(s.submission_id), DEFECTS[s.defect])
                       for s in broken}
    valid = [s for s in demo_run.dataset.submissions if s.defect is None]
    kinds = first["ledger"]["records_by_kind"]
    assert first["ledger"]["records"] == len(valid) + opened_cases(demo_run)
    assert kinds.get("opened_from_screening", 0) == opened_cases(demo_run)
    assert kinds[INTAKE] == sum(s.form_id == INTAKE for s in valid)


def test_demo__second_run_changes_nothing(demo_run: DemoRun):
    """should find everything unchanged on a second run into the same folder and rewrite no file"""
    first, second = demo_run.first, demo_run.second
    assert first["sync"]["pulled"]["new"] == first["ledger"]["records"] > 0
    assert second["sync"]["pulled"] == {"new": 0, "updated": 0,
                                        "unchanged": first["ledger"]["records"],
                                        "quarantined": first["ledger"]["quarantined"]}
    assert second["ledger"] == first["ledger"]
    for target in ("dhis2", "frappe"):
        before, after = first["targets"][target], second["targets"][target]
        assert (after["new"], after["updated"], after["withheld"]) == (0, 0, 0)
        assert after["unchanged"] == before["new"] > 0
        assert after["withheld_all_runs"] == before["withheld"]
        assert after["files"] == before["files"]
    assert demo_run.files_after_second == demo_run.files_after_first
    assert second["linkage"]["persons"] == first["linkage"]["persons"]


def test_demo__report_counts_the_persons_the_linkage_found(demo_run: DemoRun):
    """should write the report with the de-duplicated count equal to the linkage's persons"""
    report = demo_run.out / "report"
    assert (report / "report.html").is_file() and (report / "report.xlsx").is_file()
    assert (report / "csv" / "VIC_IDENT_PERSONS.csv").is_file()
    first = demo_run.first
    linkage = first["linkage"]
    assert first["report"]["unavailable"] is None
    assert first["report"]["victims_identified_persons"] == linkage["persons"]
    assert first["report"]["victims_identified_records"] == linkage["records"]
    assert linkage["persons"] < linkage["records"], "the agencies share people: some must link"
    truth = demo_run.dataset.true_persons()
    assert abs(linkage["persons"] - truth) <= max(2, truth // 10)
    assert sum(row["persons"] for row in linkage["overlap"]) == linkage["persons"]


def test_demo__secrets_are_private_and_never_printed(demo_run: DemoRun):
    """should keep the ledger key and linkage secret owner-only and out of the output and encodings"""
    printed = json.dumps([demo_run.first, demo_run.second])
    for name in ("ledger.key", "linkage.secret"):
        path = demo_run.out / name
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.read_text().strip() not in printed
    identifiers = demo_run.dataset.identifiers
    encodings = sorted((demo_run.out / "linkage").glob("*.enc.jsonl"))
    assert len(encodings) == 2
    for path in encodings:
        values = [v for line in path.read_text(encoding="utf-8").splitlines()
                  for v in strings(json.loads(line))]
        assert len(values) > 10
        assert not [v for v in values if v in identifiers or set(v.split()) & identifiers]


def test_demo_summary__tables_show_counts_and_no_case_contents(demo_run: DemoRun):
    """should print the persons table and reasons, and no generated identifier"""
    with demo_cmd.console.capture() as captured:
        demo_cmd.render_summary(demo_run.first)
    text = captured.get()
    assert "ngo + police" in text and "RC202" in text and "consent_missing" in text
    assert str(demo_run.first["linkage"]["persons"]) in text
    assert not [i for i in demo_run.dataset.identifiers if len(i) > 3 and i in text]


def _references(node: Any) -> Iterator[str]:
    """Attribute and data element UIDs a tracker payload sets."""
    if isinstance(node, dict):
        for key in ("attribute", "dataElement"):
            if isinstance(node.get(key), str):
                yield node[key]
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def test_demo__refuses_a_download_folder_it_did_not_write(tmp_path: Path):
    """should exit 1 and write nothing when DIR/kobo holds files the demo did not write"""
    theirs = tmp_path / "kobo" / "notes.txt"
    theirs.parent.mkdir()
    theirs.write_text("keep me")
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--records", "10"])
    assert result.exit_code == 1
    assert "was not written by `tipdata demo`" in result.output
    assert theirs.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kobo"]
