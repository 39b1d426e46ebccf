"""Folder targets: DHIS2 payloads and Frappe documents written as files, idempotently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tipdata.codebook import load_codebook
from tipdata.demo.synthetic import INTAKE, DemoGenerator, DemoSubmission
from tipdata.dhis2_app.connector import load_package
from tipdata.kobo_forms.mapping import FormLayout, map_submission
from tipdata.model import Codebook
from tipdata.policy import Decision, load_policy
from tipdata.records import CanonicalRecord
from tipdata.sync.adapters.dhis2 import LINK_WITHHELD
from tipdata.sync.adapters.folder import (
    Dhis2PayloadFolder,
    FrappeDocumentFolder,
    write_json_if_changed,
)
from tipdata.sync.plan import plan_write
from tipdata.sync.ports import Outbound

ORG_UNIT = "DiszpKrYNg8"


@pytest.fixture(scope="module")
def codebook() -> Codebook:
    return load_codebook()


@pytest.fixture(scope="module")
def intakes(codebook: Codebook) -> list[tuple[DemoSubmission, CanonicalRecord]]:
    """Valid intakes of a small demo data set, mapped by the Kobo mapping (answers kept as text)."""
    dataset = DemoGenerator(codebook).generate(records=40, seed=3)
    layout = FormLayout.of(codebook, INTAKE)
    found = []
    for submission in dataset.valid_intakes():
        row = {"_id": submission.submission_id, "start": submission.started.isoformat(),
               "_submission_time": submission.submitted.strftime("%Y-%m-%dT%H:%M:%S"),
               **submission.answers}
        record = map_submission(codebook, layout, submission.asset_uid, row).outcome
        assert isinstance(record, CanonicalRecord)
        found.append((submission, record))
    return found


def outbound(record: CanonicalRecord, target: str, codebook: Codebook) -> Outbound:
    step = plan_write(record, "hash", None, target, load_policy(codebook=codebook), codebook)
    assert step.kind == "new"
    return step.outbound


def with_all_consent(intakes: list[tuple[DemoSubmission, CanonicalRecord]]) -> CanonicalRecord:
    return next(r for s, r in intakes if s.consent == "all")


def test_write_json_if_changed__created_unchanged_updated(tmp_path: Path):
    """should report created, then unchanged for the same content, then updated, leaving no partial file"""
    path = tmp_path / "a" / "b.json"
    assert write_json_if_changed(path, {"x": 1, "y": [1, 2]}) == "created"
    assert write_json_if_changed(path, {"y": [1, 2], "x": 1}) == "unchanged"
    assert write_json_if_changed(path, {"x": 2}) == "updated"
    assert json.loads(path.read_text()) == {"x": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.json"]


def test_dhis2_payload_folder__writes_the_tracker_payload_once(tmp_path: Path, codebook, intakes):
    """should write one tracker payload per record, unchanged when written again, updated on change"""
    record = with_all_consent(intakes)
    target = Dhis2PayloadFolder(tmp_path, codebook, load_package(), org_unit=ORG_UNIT)
    sent = outbound(record, "dhis2", codebook)
    [first] = target.write([sent])
    assert (first.status, first.platform_id) == ("created", record.record_id)
    body = json.loads(target.path_of(record.record_id).read_text())
    [entity] = body["trackedEntities"]
    assert entity["orgUnit"] == ORG_UNIT and entity["enrollments"][0]["events"]
    assert [o.status for o in target.write([sent])] == ["unchanged"]
    changed = record.model_copy(update={"values": {**record.values, "case_status": "closed"}})
    assert [o.status for o in target.write([outbound(changed, "dhis2", codebook)])] == ["updated"]
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_dhis2_payload_folder__withheld_when_no_reference_may_travel(tmp_path: Path, codebook, intakes):
    """should withhold a record whose person and case references the policy kept back"""
    record = with_all_consent(intakes)
    decision = plan_write(record, "hash", None, "dhis2", load_policy(codebook=codebook),
                          codebook).outbound.decision
    keys = ("person_pseudo_id", "case_reference")
    reduced = record.model_copy(update={"values": {c: v for c, v in decision.allowed_values.items()
                                                   if c not in keys}})
    blocked = Decision(decision.target, decision.policy_version, dict(reduced.values),
                                 [*decision.withheld, *((k, "consent_missing") for k in keys)])
    target = Dhis2PayloadFolder(tmp_path, codebook, load_package(), org_unit=ORG_UNIT)
    checked = target.precheck(Outbound(reduced, blocked, "hash"))
    assert checked is not None and (checked.status, checked.reason) == ("withheld", LINK_WITHHELD)
    assert list(tmp_path.iterdir()) == []


def test_frappe_document_folder__case_and_identity_documents(tmp_path: Path, codebook, intakes):
    """should write the case and its identity document named by the record id, then find it unchanged"""
    record = with_all_consent(intakes)
    target = FrappeDocumentFolder(tmp_path, codebook)
    sent = outbound(record, "frappe", codebook)
    [first] = target.write([sent])
    assert first.status == "created" and first.platform_id == f"TIP Case/{record.record_id}"
    case = json.loads(target.path_of("TIP Case", record.record_id).read_text())
    identity = json.loads(target.path_of("TIP Identity", record.record_id).read_text())
    assert case["external_id"] == record.record_id and case["doctype"] == "TIP Case"
    assert identity["person_family_names"] == record.values["person_family_names"]
    assert [o.status for o in FrappeDocumentFolder(tmp_path, codebook).write([sent])] == ["unchanged"]


def test_frappe_document_folder__never_writes_an_unnamed_restricted_element(tmp_path: Path, codebook,
                                                                           intakes):
    """should leave immigration status out even when a record hands it over unfiltered"""
    record = next(r for _s, r in intakes if r.values.get("person_immigration_status"))
    decision = plan_write(record, "hash", None, "frappe", load_policy(codebook=codebook),
                          codebook).outbound.decision
    [outcome] = FrappeDocumentFolder(tmp_path, codebook).write([Outbound(record, decision, "hash")])
    assert outcome.status == "created"
    written = " ".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert "person_immigration_status" not in written
    assert record.values["person_family_names"] in written
