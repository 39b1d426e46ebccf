"""Records a case worker creates in the Frappe desk travel on to DHIS2 under their case."""

from __future__ import annotations

from tests.sync.conftest import Platforms
from tests.sync.test_consent_flips import keep_consent_coverage
from tests.sync.test_sync_doubles import dhis2_values
from tipdata.ledger import Ledger

REFERRAL = "TIP Referral"
#: the id the case worker gives the referral (the sync only accepts UUIDs as record ids)
DESK_ID = "0f6c1f7e-2b4d-4c47-9d0e-5a1f3b2c7d90"


def desk_referral(platforms: Platforms, case_name: str, external_id: str = DESK_ID) -> dict:
    """A referral a case worker saves in the desk: the id is typed, not given by the sync."""
    return platforms.frappe.seed(
        REFERRAL,
        {
            "external_id": external_id,
            "tip_case": case_name,
            "ref_date": "2026-02-12",
            "ref_consent_share": "yes",
            "ref_service_type": [{"option": "safe_accommodation"}],
            "ref_org_type": "ngo",
            "ref_org_name": "Safe House",
            "ref_reason": "additional_services",
            "ref_urgency": "urgent",
            "ref_status": "made",
            "ref_status_date": "2026-02-12",
        },
    )


def test_sync__referral_created_in_frappe_reaches_the_case_enrollment(
    platforms, session_for, ledger: Ledger
):
    """should push a referral recorded in the Frappe desk under a Kobo case onto that case's DHIS2 enrollment"""
    platforms.frappe.add_hook("TIP Case", keep_consent_coverage)
    platforms.add_intake(1)
    session = session_for()
    assert session.engine.run().errors == []
    case_id = platforms.record_id(1)
    desk_referral(platforms, case_id)
    plan = session.engine.run()
    assert plan.errors == []
    record = ledger.get_record(DESK_ID)
    assert record is not None and record.envelope.form_id == "tip_referral"
    assert plan.targets["dhis2"].new == 1
    values = dhis2_values(platforms)["P-00001"]
    assert values["ref_org_type"] == "ngo" and values["ref_status"] == "made"
    store = platforms.dhis2.store
    with store.lock:
        assert len(store.enrollments) == 1 and len(store.tracked_entities) == 1


def test_sync__desk_document_whose_id_is_no_record_id_is_quarantined(
    platforms, session_for, ledger: Ledger
):
    """should quarantine (FR404) a desk referral whose external_id is not a UUID, and sync the rest"""
    platforms.frappe.add_hook("TIP Case", keep_consent_coverage)
    platforms.add_intake(1)
    session = session_for()
    assert session.engine.run().errors == []
    desk_referral(platforms, platforms.record_id(1), external_id="REF-DESK-1")
    platforms.add_intake(2)
    plan = session.engine.run()
    assert plan.errors == []
    stream = next(s for s in plan.sources if s.endswith("/tip_referral"))
    assert plan.sources[stream].quarantined == {"FR404": 1}
    [entry] = ledger.quarantined(source=stream.rsplit("/", 1)[0])
    assert entry.source_id == "TIP Referral/REF-DESK-1"
    assert plan.targets["dhis2"].new == 1  # the second intake
