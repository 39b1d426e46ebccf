"""Consent taken back without a recorded withdrawal: an answer flipped from yes to no at the
source, and a case's withdrawal reaching the records of the case. Same path as a recorded
withdrawal (values emptied, or the record retracted whole; audited as `retract`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from tests.sync.conftest import Platforms, codebook, kobo_path
from tests.sync.test_consent_withdrawal import (
    record,
    sensitive_codes,
    two_intakes_synced,
    withdraw,
)
from tests.sync.test_sync_doubles import dhis2_values
from tipdata.ledger import Ledger
from tipdata.policy import decide, load_policy
from tipdata.records import CanonicalRecord, Envelope, record_id_for
from tipdata.sync.apply import RETRACT_ACTION
from tipdata.sync.conflicts import withdraws_consent
from tipdata.sync.consent_withdrawal import (
    RETRACTED_ID_PREFIX,
    narrowed_dependent,
    retraction_codes,
    withdrawn_from_cases,
)
from tipdata.sync.ledger_reads import find_audit

CASE, REFERRAL = "TIP Case", "TIP Referral"
PURPOSES = ("service_referral", "law_enforcement", "statistics", "follow_up_contact")


def keep_consent_coverage(doc: dict[str, Any]) -> None:
    """What the casework app's controller does: consent_covers_<purpose> from the answers."""
    for purpose in PURPOSES:
        doc[f"consent_covers_{purpose}"] = int(doc.get(f"consent_{purpose}") == "yes")


def retract_entries(ledger: Ledger, record_id: str) -> list[Any]:
    with ledger.reading() as tx:
        return [r.entry for r in find_audit(tx, record_id=record_id, action=RETRACT_ACTION)]


# --- pure rules ---------------------------------------------------------------------------------


def test_withdraws_consent__only_a_yes_turned_no_on_a_consent_answer():
    """should see yes → no on a purpose or on data recording, and nothing else, as a withdrawal"""
    cb = codebook()
    assert withdraws_consent("consent_statistics", "yes", "no", cb)
    assert withdraws_consent("consent_data_recording", "yes", "no", cb)
    assert not withdraws_consent("consent_statistics", "no", "yes", cb)
    assert not withdraws_consent("consent_statistics", None, "no", cb)
    assert not withdraws_consent("consent_date", "yes", "no", cb)
    assert not withdraws_consent("case_status", "yes", "no", cb)


def test_retraction_codes__purposes_the_copy_was_written_under_count_as_granted():
    """should empty on DHIS2 the sensitive values of a record whose statistics answer is now no"""
    policy = load_policy(codebook=codebook())
    values = {
        "consent_statistics": "no",
        "consent_service_referral": "yes",
        "case_status": "active",
        "expl_palermo_act": ("recruitment",),
    }
    flipped = record(values, {"service_referral"})
    decision = decide(flipped, "dhis2", policy, codebook())
    assert (
        retraction_codes(flipped, decision, policy, codebook()) == ()
    )  # the record alone: no trace
    assert retraction_codes(
        flipped, decision, policy, codebook(), held={"statistics", "service_referral"}
    ) == ("expl_palermo_act",)
    assert retraction_codes(flipped, decision, policy, codebook(), held={"service_referral"}) == ()


def _case(consent: set[str], reference: str = "TIP-2026-0001") -> CanonicalRecord:
    return record({"case_reference": reference, "case_status": "active"}, consent)


def _referral(consent: set[str], reference: str = "TIP-2026-0001") -> CanonicalRecord:
    when = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    return CanonicalRecord(
        envelope=Envelope(
            record_id=record_id_for("frappe:site", "TIP Referral/r1"),
            source_system="frappe:site",
            source_id="TIP Referral/r1",
            form_id="tip_referral",
            collected_at=when,
            updated_at=when,
            consent_purposes=frozenset(consent),
        ),
        values={"svc_case_reference": reference, "ref_status": "made"},
    )


def test_narrowed_dependent__takes_the_cases_lost_purposes_and_adds_none():
    """should remove from a record of the case the purposes the case lost, and leave other records alone"""
    lost = withdrawn_from_cases(
        [(_case({"statistics", "service_referral"}), _case({"service_referral"}))], codebook()
    )
    assert lost == {"TIP-2026-0001": frozenset({"statistics"})}
    narrowed = narrowed_dependent(_referral({"statistics", "follow_up_contact"}), lost)
    assert narrowed is not None and narrowed.envelope.consent_purposes == {"follow_up_contact"}
    assert narrowed.values == _referral(set()).values
    assert narrowed_dependent(_referral({"follow_up_contact"}), lost) is None  # nothing to take
    assert (
        narrowed_dependent(_referral({"statistics"}, "TIP-2026-0002"), lost) is None
    )  # another case
    assert (
        withdrawn_from_cases(
            [(_case({"statistics"}), _case({"statistics", "law_enforcement"}))], codebook()
        )
        == {}
    )  # a purpose given is not a withdrawal
    assert withdrawn_from_cases([(None, _case(set()))], codebook()) == {}


# --- end to end over the doubles ------------------------------------------------------------------


def test_sync__kobo_edit_flipping_statistics_to_no_empties_dhis2_values(
    platforms: Platforms, session_for, ledger: Ledger
):
    """should take a Kobo edit from yes to no as a withdrawal: DHIS2 values emptied, Frappe told, audited"""
    session, before, other = two_intakes_synced(platforms, session_for)
    assert sensitive_codes(before)
    record_id = platforms.record_id(1)
    platforms.kobo.edit_submission(
        platforms.asset_uid, platforms.submissions[1], {kobo_path("consent_statistics"): "no"}
    )
    dry = session.engine.run(dry_run=True)  # the plan shows what the run then does
    assert dry.sources[f"kobo:{platforms.asset_uid}"].updated == 1
    assert dry.targets["dhis2"].retracted == {"values_blanked": 1}
    plan = session.engine.run()
    assert plan.errors == [] and plan.sources[f"kobo:{platforms.asset_uid}"].updated == 1
    assert all(s.conflicts == 0 for s in plan.sources.values())  # a no is not overridden
    assert plan.targets["dhis2"].retracted == {"values_blanked": 1}
    after = dhis2_values(platforms)
    assert sensitive_codes(after["P-00001"]) == set()
    assert after["P-00001"]["case_status"] == before["case_status"]
    assert after["P-00002"] == other
    assert ledger.get_record(record_id).envelope.consent_purposes == {
        "service_referral",
        "law_enforcement",
        "follow_up_contact",
    }
    assert (
        platforms.frappe.doc(CASE, record_id)["consent_statistics"] == "no"
    )  # the owner's copy follows
    [entry] = [e for e in retract_entries(ledger, record_id) if e.target == "dhis2"]
    assert entry.withheld_count == len(sensitive_codes(before))
    again = session.engine.run()
    assert all(t.retracted == {} for t in again.targets.values())


def test_sync__frappe_case_flipping_statistics_to_no_empties_dhis2_values(
    platforms: Platforms, session_for, ledger: Ledger
):
    """should take a caseworker's yes → no on the case in Frappe as a withdrawal on DHIS2"""
    platforms.frappe.add_hook(CASE, keep_consent_coverage)
    platforms.add_intake(1)
    session = session_for()
    assert session.engine.run().errors == []
    record_id = platforms.record_id(1)
    before = dhis2_values(platforms)["P-00001"]
    assert sensitive_codes(before)
    platforms.frappe.edit(CASE, record_id, consent_statistics="no")
    plan = session.engine.run()
    assert plan.errors == [] and plan.targets["dhis2"].retracted == {"values_blanked": 1}
    after = dhis2_values(platforms)["P-00001"]
    assert sensitive_codes(after) == set() and after["case_status"] == before["case_status"]
    assert [e.target for e in retract_entries(ledger, record_id)] == ["dhis2"]
    again = session.engine.run()
    assert all(t.retracted == {} for t in again.targets.values())


def referral_line(n: int, consent: set[str]) -> str:
    """A referral of case `n` as another casework system exports it: carrying the case's consent."""
    when = dt.datetime(2026, 2, 5, 12, 0, tzinfo=dt.UTC)
    referral = CanonicalRecord(
        envelope=Envelope(
            record_id=record_id_for("casework:partner", f"referral-{n}"),
            source_system="casework:partner",
            source_id=f"referral-{n}",
            form_id="tip_referral",
            collected_at=when,
            updated_at=when,
            consent_purposes=frozenset(consent),
        ),
        values={
            "svc_case_reference": f"TIP-2026-{n:04d}",
            "ref_date": dt.date(2026, 2, 5),
            "ref_consent_share": "yes",
            "ref_service_type": ("legal_assistance",),
            "ref_org_type": "ngo",
            "ref_org_name": "Safe House Lyon",
            "ref_reason": "additional_services",
            "ref_urgency": "routine",
            "ref_status": "made",
            "ref_status_date": dt.date(2026, 2, 5),
        },
    )
    return json.dumps(referral.to_json()) + "\n"


def test_sync__case_withdrawal_retracts_its_referral_in_the_same_run(
    platforms: Platforms, session_for, ledger: Ledger, tmp_path: Path
):
    """should narrow the consent of a case's referral when the case withdraws, and retract it from DHIS2 in that run"""
    platforms.add_intake(1)
    platforms.add_intake(2)
    referrals_file = tmp_path / "referrals.jsonl"
    consent = {"service_referral", "statistics"}
    referrals_file.write_text(
        referral_line(1, consent) + referral_line(2, consent), encoding="utf-8"
    )
    session = session_for(files=(referrals_file,))
    assert session.engine.run().errors == []
    referrals = {n: record_id_for("casework:partner", f"referral-{n}") for n in (1, 2)}
    for n in (1, 2):
        assert not ledger.links(referrals[n])["dhis2"].platform_id.startswith("withheld/")
    withdraw(platforms, platforms.record_id(1), "statistics", "service_referral")
    dry = session.engine.run(dry_run=True)
    assert dry.targets["dhis2"].retracted == {"delete_on_platform": 2}  # the case and its referral
    assert dry.targets["frappe"].to_delete == [f"TIP Referral/{referrals[1]}"]
    plan = session.engine.run()
    assert plan.errors == []
    assert plan.targets["dhis2"].retracted == {"delete_on_platform": 2}
    assert plan.targets["frappe"].to_delete == [f"TIP Referral/{referrals[1]}"]
    assert ledger.get_record(referrals[1]).envelope.consent_purposes == frozenset()
    for target in ("dhis2", "frappe"):
        assert ledger.links(referrals[1])[target].platform_id.startswith(RETRACTED_ID_PREFIX)
    assert sorted(e.target for e in retract_entries(ledger, referrals[1])) == ["dhis2", "frappe"]
    # the other case's referral is untouched
    assert ledger.get_record(referrals[2]).envelope.consent_purposes == consent
    assert not ledger.links(referrals[2])["dhis2"].platform_id.startswith("withheld/")
    again = session.engine.run()
    assert all(t.retracted == {} for t in again.targets.values())


def test_sync__flip_on_a_link_whose_held_purposes_are_unknown_still_empties_dhis2(
    platforms: Platforms, session_for, ledger: Ledger
):
    """should take a yes → no as a withdrawal for a copy written before the ledger kept held
    purposes (NULL after migration 4 when the record had changed since), then know them again"""
    from sqlalchemy import update

    from tipdata.ledger import schema as ledger_schema

    session, before, other = two_intakes_synced(platforms, session_for)
    record_id = platforms.record_id(1)
    m = ledger_schema.id_map.c
    with ledger.transaction() as tx:  # as a link from before migration 3 reads
        tx.conn.execute(update(ledger_schema.id_map).where(m.record_id == record_id)
                        .values(held_purposes=None))
    assert ledger.links(record_id)["dhis2"].held_purposes is None
    platforms.kobo.edit_submission(
        platforms.asset_uid, platforms.submissions[1], {kobo_path("consent_statistics"): "no"}
    )
    plan = session.engine.run()
    assert plan.errors == [] and plan.targets["dhis2"].retracted == {"values_blanked": 1}
    after = dhis2_values(platforms)
    assert sensitive_codes(before) and sensitive_codes(after["P-00001"]) == set()
    assert after["P-00002"] == other
    assert ledger.links(record_id)["dhis2"].held_purposes is not None
    assert "statistics" not in ledger.links(record_id)["dhis2"].held_purposes
