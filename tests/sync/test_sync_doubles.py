"""End to end over the doubles: Kobo → ledger → Frappe and DHIS2, on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from tests.sync.conftest import (
    IMMIGRATION,
    NAME,
    PHONE,
    Platforms,
    codebook,
    kobo_path,
)
from tipdata.dhis2_app.connector import load_package
from tipdata.ledger import Ledger
from tipdata.policy import DEFAULT_POLICY_PATH
from tipdata.sync.apply import CONFLICT_ACTION
from tipdata.sync.ledger_reads import find_audit
from tipdata.sync.ports import SourcePage

CASE, IDENTITY, RESTRICTED = "TIP Case", "TIP Identity", "TIP Restricted Detail"


@functools.cache
def dhis2_codes() -> dict[str, str]:
    """DHIS2 uid → codebook code, for every attribute and data element of the package."""
    package = load_package()
    return {obj["id"]: obj["code"] for key in ("trackedEntityAttributes", "dataElements")
            for obj in package[key]}


def dhis2_values(platforms: Platforms) -> dict[str, dict[str, str]]:
    """person_pseudo_id → {code: value} of everything DHIS2 stores for that person."""
    store = platforms.dhis2.store
    codes = dhis2_codes()
    by_person: dict[str, dict[str, str]] = {}
    with store.lock:
        for te in store.tracked_entities.values():
            values = {codes[uid]: v for uid, v in te.attributes.items()}
            for enrollment in store.enrollments.values():
                if enrollment.tracked_entity != te.uid:
                    continue
                for event in store.events.values():
                    if event.enrollment == enrollment.uid:
                        values.update({codes[uid]: v for uid, v in event.data_values.items()})
            by_person[values["person_pseudo_id"]] = values
    return by_person


def frappe_writes(platforms: Platforms) -> list[Any]:
    return [r for r in platforms.frappe.requests
            if r.method in ("POST", "PUT", "DELETE") and r.listed is None]  # lists are POSTs too


def consent_variants(platforms: Platforms) -> None:
    for n, consent in enumerate(("full", "no_law_enforcement", "no_statistics", "none"), 1):
        platforms.add_intake(n, consent)


# --- moving records -----------------------------------------------------------------------------

def test_sync__moves_records_from_kobo_to_frappe_and_dhis2_by_consent(platforms, session_for, ledger: Ledger):
    """should store every intake in the ledger and send each to the targets its consent allows"""
    consent_variants(platforms)
    plan = session_for().engine.run()
    assert plan.errors == []
    assert plan.sources[f"kobo:{platforms.asset_uid}"].new == 4
    assert ledger.count_records() == 4
    frappe, dhis2 = plan.targets["frappe"], plan.targets["dhis2"]
    assert (frappe.new, sum(frappe.withheld.values())) == (3, 1)
    assert (dhis2.new, sum(dhis2.withheld.values())) == (3, 1)
    assert set(frappe.withheld) == {"consent_missing"} and set(dhis2.withheld) == {"consent_missing"}
    cases = {doc["external_id"] for doc in platforms.frappe.docs(CASE)}
    assert cases == {platforms.record_id(n) for n in (1, 2, 3)}
    assert set(dhis2_values(platforms)) == {"P-00001", "P-00002", "P-00003"}
    for n in (1, 2, 3):
        links = ledger.links(platforms.record_id(n))
        assert links["frappe"].platform_id == f"{CASE}/{platforms.record_id(n)}"
        assert links["dhis2"].synced_hash == ledger.content_hash(platforms.record_id(n))
    assert ledger.links(platforms.record_id(4))["frappe"].platform_id.startswith("withheld/")
    assert ledger.runs(1)[0].status == "succeeded"


def test_sync__names_and_immigration_status_never_reach_dhis2(platforms, session_for):
    """should store no direct identifier, no restricted value, and no sensitive value without statistics consent, in DHIS2"""
    consent_variants(platforms)
    assert session_for().engine.run().errors == []
    stored = dhis2_values(platforms)
    elements = codebook().elements
    for person, values in stored.items():
        classes = {elements[code].sensitivity for code in values}
        assert not classes & {"direct_identifier", "restricted"}, person
        assert not {NAME, PHONE, IMMIGRATION} & set(values.values()), person
        assert "person_date_of_birth" not in values  # excluded by the policy
    assert "sensitive" in {elements[c].sensitivity for c in stored["P-00001"]}
    assert "sensitive" not in {elements[c].sensitivity for c in stored["P-00003"]}  # no statistics
    sent = b"".join(r.body for r in platforms.dhis2.requests if r.method == "POST")
    assert NAME.encode() not in sent and PHONE.encode() not in sent


def test_sync__immigration_status_never_reaches_frappe_by_default(platforms, session_for):
    """should keep immigration status out of the casework site unless the policy names it"""
    consent_variants(platforms)
    assert session_for().engine.run().errors == []
    assert platforms.frappe.count(RESTRICTED) == 0
    assert all(doc.get("person_immigration_status") in (None, "")
               for doctype in (CASE, IDENTITY) for doc in platforms.frappe.docs(doctype))
    identities = {doc["name"]: doc for doc in platforms.frappe.docs(IDENTITY)}
    assert identities[platforms.record_id(1)]["person_given_names"] == NAME  # casework may hold names


def test_sync__second_run_changes_nothing_anywhere(platforms, session_for, ledger: Ledger):
    """should find everything unchanged on a second run and write nothing to the doubles"""
    consent_variants(platforms)
    session = session_for()
    assert session.engine.run().errors == []
    frappe_before = len(frappe_writes(platforms))
    dhis2_before = len(platforms.dhis2.requests_to("/api/tracker", "POST"))
    counts = (platforms.frappe.count(CASE), platforms.frappe.count(IDENTITY), platforms.dhis2.counts())
    second = session.engine.run()
    assert second.errors == []
    for tally in second.sources.values():
        assert (tally.new, tally.updated) == (0, 0)
    for name, tally in second.targets.items():
        assert (tally.new, tally.updated, tally.unchanged) == (0, 0, 3), name
    assert len(frappe_writes(platforms)) == frappe_before
    assert len(platforms.dhis2.requests_to("/api/tracker", "POST")) == dhis2_before
    assert (platforms.frappe.count(CASE), platforms.frappe.count(IDENTITY), platforms.dhis2.counts()) == counts
    assert second.sources[f"frappe:{_host(platforms)}/tip_case"].unchanged == 3  # read back, no echo


def _host(platforms: Platforms) -> str:
    return platforms.frappe.base_url.split("//", 1)[1]


# --- edits and conflicts --------------------------------------------------------------------------

def test_sync__caseworker_edit_in_frappe_reaches_ledger_and_dhis2(platforms, session_for, ledger: Ledger):
    """should take the owner's (Frappe's) edit into the ledger and DHIS2 without writing it back"""
    platforms.add_intake(1)
    session = session_for()
    session.engine.run()
    record_id = platforms.record_id(1)
    platforms.frappe.edit(CASE, record_id, case_status="closed")
    writes_before = len(frappe_writes(platforms))
    plan = session.engine.run()
    assert plan.errors == []
    assert ledger.get_record(record_id).values["case_status"] == "closed"
    assert dhis2_values(platforms)["P-00001"]["case_status"] == "closed"
    assert plan.targets["dhis2"].updated == 1 and plan.targets["frappe"].updated == 0
    assert len(frappe_writes(platforms)) == writes_before


def test_sync__kobo_edit_reaches_targets_when_kobo_owns_the_case(platforms, session_for, ledger: Ledger, tmp_path: Path):
    """should send a Kobo edit on to Frappe and DHIS2 when the policy makes Kobo the case's owner"""
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
                      .replace('case = "frappe"', 'case = "kobo"'), encoding="utf-8")
    submission = platforms.add_intake(1)
    session = session_for(policy_file=policy)
    session.engine.run()
    platforms.kobo.edit_submission(platforms.asset_uid, submission, {kobo_path("case_status"): "follow_up"})
    plan = session.engine.run()
    assert plan.errors == []
    record_id = platforms.record_id(1)
    assert plan.sources[f"kobo:{platforms.asset_uid}"].updated == 1
    assert ledger.get_record(record_id).values["case_status"] == "follow_up"
    assert platforms.frappe.doc(CASE, record_id)["case_status"] == "follow_up"
    assert dhis2_values(platforms)["P-00001"]["case_status"] == "follow_up"


def test_sync__conflicting_edits_keep_the_owners_value_and_are_audited(platforms, session_for, ledger: Ledger):
    """should keep Frappe's value (owner of the case) when Kobo and Frappe both changed it, and audit the conflict"""
    submission = platforms.add_intake(1)
    session = session_for()
    session.engine.run()
    record_id = platforms.record_id(1)
    platforms.frappe.edit(CASE, record_id, case_risk_level="high")
    platforms.kobo.edit_submission(platforms.asset_uid, submission, {kobo_path("case_risk_level"): "low"})
    plan = session.engine.run()
    assert plan.errors == []
    stream = f"kobo:{platforms.asset_uid}"
    assert plan.sources[stream].conflicts == 1
    assert ledger.get_record(record_id).values["case_risk_level"] == "high"
    assert platforms.frappe.doc(CASE, record_id)["case_risk_level"] == "high"
    with ledger.reading() as tx:
        [row] = find_audit(tx, record_id=record_id, action=CONFLICT_ACTION, target="frappe")
    assert (row.entry.source, row.entry.withheld_count) == (stream, 1)


def test_sync__non_owner_edit_on_a_copy_is_reverted_and_audited(platforms, session_for, ledger: Ledger, tmp_path: Path):
    """should keep the owner's (Kobo's) value when only Frappe changed it, audit the conflict, and put the owner's value back on Frappe once"""
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
                      .replace('case = "frappe"', 'case = "kobo"'), encoding="utf-8")
    platforms.add_intake(1)
    session = session_for(policy_file=policy)
    session.engine.run()
    record_id = platforms.record_id(1)
    platforms.frappe.edit(CASE, record_id, case_status="closed")
    dry = session.engine.run(dry_run=True)
    assert (dry.targets["frappe"].updated, dry.targets["dhis2"].updated) == (1, 0)
    plan = session.engine.run()
    stream = f"frappe:{_host(platforms)}/tip_case"
    assert plan.errors == [] and plan.sources[stream].conflicts == 1
    assert ledger.get_record(record_id).values["case_status"] == "active"
    assert platforms.frappe.doc(CASE, record_id)["case_status"] == "active"
    assert dhis2_values(platforms)["P-00001"]["case_status"] == "active"
    assert (plan.targets["frappe"].updated, plan.targets["dhis2"].updated) == (1, 0)
    with ledger.reading() as tx:
        [row] = find_audit(tx, record_id=record_id, action=CONFLICT_ACTION)  # once, whichever streams read it
    assert (row.entry.source, row.entry.target, row.entry.withheld_count) == (stream, "kobo", 1)
    writes = len(frappe_writes(platforms))
    again = session.engine.run()
    assert again.sources[stream].conflicts == 0 and len(frappe_writes(platforms)) == writes


# --- quarantine --------------------------------------------------------------------------------

def test_sync__refused_record_is_quarantined_kept_aside_and_retried(platforms, session_for, ledger: Ledger):
    """should quarantine a record Frappe refuses, not resend it every run, and send it on retry"""
    refusing = {"on": True}
    platforms.frappe.add_rule(CASE, lambda doc: "Risk level needs a supervisor" if refusing["on"] else None)
    platforms.add_intake(1)
    session = session_for()
    first = session.engine.run()
    assert first.targets["frappe"].quarantined == {"FR400": 1}
    assert first.targets["dhis2"].new == 1  # one target's refusal does not hold back the others
    [entry] = ledger.quarantined(source="push:frappe")
    assert entry.source_id == platforms.record_id(1)
    writes = len(frappe_writes(platforms))
    assert session.engine.run().targets["frappe"].quarantined == {}
    assert len(frappe_writes(platforms)) == writes  # kept aside until retried or changed
    refusing["on"] = False
    report = session.engine.retry([entry.id])
    assert report.released == [entry.id] and report.plan.targets["frappe"].new == 1
    assert platforms.frappe.doc(CASE, platforms.record_id(1)) is not None
    assert ledger.quarantined(source="push:frappe") == []
    with ledger.reading() as tx:
        assert find_audit(tx, record_id=platforms.record_id(1), action="resolve")


def test_sync__invalid_submission_is_quarantined_with_every_problem(platforms, session_for, ledger: Ledger):
    """should quarantine a submission that does not fit the codebook, store nothing of it, and keep it on retry"""
    platforms.add_intake(1, case_status="not_a_status", person_age_reported="many")
    session = session_for()
    plan = session.engine.run()
    stream = f"kobo:{platforms.asset_uid}"
    assert sum(plan.sources[stream].quarantined.values()) == 1
    assert ledger.count_records() == 0 and platforms.frappe.count(CASE) == 0
    [entry] = ledger.quarantined(source=stream)
    message = ledger.quarantined_contents(entry.id).message
    assert "case_status" in message and "person_age_reported" in message
    report = session.engine.retry([entry.id])
    assert report.still_quarantined == [entry.id]
    assert ledger.quarantined(source=stream)[0].retried_count == 1


# --- dry run -----------------------------------------------------------------------------------

def test_sync__dry_run_prints_the_plan_and_writes_nothing(platforms, session_for, ledger: Ledger, tmp_path: Path):
    """should plan new records per source and target with reasons, and write nothing anywhere"""
    consent_variants(platforms)
    session = session_for()
    plan = session.engine.run(dry_run=True)
    assert plan.dry_run and plan.run_id is None
    assert plan.sources[f"kobo:{platforms.asset_uid}"].new == 4
    assert (plan.targets["frappe"].new, plan.targets["dhis2"].new) == (3, 3)
    assert plan.targets["frappe"].withheld == {"consent_missing": 1}
    assert plan.targets["frappe"].values_withheld["restricted_not_named"] == 3
    assert plan.targets["dhis2"].values_withheld["direct_identifier_not_allowed"] > 0
    assert ledger.count_records() == 0 and ledger.runs() == []
    assert ledger.watermark(f"kobo:{platforms.asset_uid}") is None
    assert frappe_writes(platforms) == [] and platforms.dhis2.counts()["trackedEntities"] == 0
    assert not (tmp_path / "kobo-state.json").exists()
    applied = session.engine.run()
    assert applied.to_json()["targets"] == {**plan.to_json()["targets"]}


def test_sync__dry_run_counts_a_kobo_edit_the_run_applies(platforms, session_for, ledger: Ledger):
    """should plan an edited Kobo submission as updated for its source and the targets, as the run applies it"""
    submission = platforms.add_intake(1)
    session = session_for()
    assert session.engine.run().errors == []
    platforms.kobo.edit_submission(platforms.asset_uid, submission, {kobo_path("consent_statistics"): "no"})
    stream = f"kobo:{platforms.asset_uid}"
    dry = session.engine.run(dry_run=True)
    assert dry.errors == [] and dry.sources[stream].updated == 1
    assert (dry.targets["frappe"].updated, dry.targets["dhis2"].updated) == (1, 1)
    assert ledger.get_record(platforms.record_id(1)).values["consent_statistics"] == "yes"
    applied = session.engine.run()
    assert applied.sources[stream].updated == 1
    assert applied.to_json()["targets"] == dry.to_json()["targets"]


def test_engine__ingest_then_push_serves_a_hook_receiver(platforms, session_for, ledger: Ledger):
    """should store a page delivered by a hook and push it, without moving any watermark"""
    platforms.add_intake(1)
    session = session_for()
    kobo = next(s for s in session.sources if s.platform == "kobo")
    stream = f"kobo:{platforms.asset_uid}"
    [page] = [p for p in kobo.pages(stream, None, dry_run=True) if p.records]
    delivered = SourcePage(records=page.records)  # what a receiver maps from one hook call
    tally = session.engine.ingest(kobo, stream, delivered)
    assert (tally.new, ledger.count_records(), ledger.watermark(stream)) == (1, 1, None)
    pushed = session.engine.push()
    assert (pushed.targets["frappe"].new, pushed.targets["dhis2"].new) == (1, 1)
    assert platforms.frappe.doc(CASE, platforms.record_id(1)) is not None
