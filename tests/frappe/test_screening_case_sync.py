"""End to end: a Kobo screening opens one TIP Case on the casework site, awaiting its intake.

Over the three doubles and a real ledger (the sync tests' fixtures), with a policy that lets the
screening consent count as `service_referral` on Frappe only (`[screening_cases.consent]`, a
deployment's data-protection decision; the default policy keeps it empty).
"""

from __future__ import annotations

from pathlib import Path

from tests.ledger.conftest import database, key, postgres_available  # noqa: F401 - pytest fixtures
from tests.sync.conftest import Platforms, ledger, platforms, session_for  # noqa: F401 - pytest fixtures
from tests.sync.test_screening_cases import Screenings, session_with
from tipdata.erpnext_casework.doctypes import CASE, INTAKE_PENDING, SCREENING
from tipdata.policy import DEFAULT_POLICY_PATH
from tipdata.records import record_id_for

#: the screening consent stands for casework on Frappe, and nowhere else
FRAPPE_ONLY = '[screening_cases.consent]\nfrappe = ["service_referral"]\n'


def frappe_only_policy() -> str:
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    commented = '[screening_cases.consent]\n# frappe = ["service_referral"]\n'
    assert commented in text  # the shipped default stays empty: consent is not ours to widen
    return text.replace(commented, FRAPPE_ONLY)


def case_id(screenings: Screenings, result: str) -> str:
    return record_id_for(screenings.stream, f"screening-case/{screenings.record_id(result)}")


def test_sync__possible_screening_opens_one_potential_case_awaiting_intake(
        platforms: Platforms, session_for, tmp_path: Path):  # noqa: F811 - pytest fixtures
    """should create exactly one TIP Case (potential, awaiting intake) and its TIP Screening, and nothing more on a re-run"""
    screenings = Screenings(platforms)
    screenings.add("possible")
    screenings.add("unlikely")
    session = session_with(session_for, platforms, screenings, tmp_path, frappe_only_policy())
    plan = session.engine.run()
    assert plan.errors == [] and plan.targets["frappe"].quarantined == {}
    # the case, new; the screening, which also writes its case-level answer onto the case
    assert (plan.targets["frappe"].new, plan.targets["frappe"].updated) == (1, 1)
    [case] = platforms.frappe.docs(CASE)
    assert case["name"] == case_id(screenings, "possible")
    assert case["ident_trafficking_status"] == "potential" and case[INTAKE_PENDING] == 1
    assert case["case_risk_level"] is None and case["consent_data_recording"] is None
    [screening] = platforms.frappe.docs(SCREENING)
    assert screening["name"] == screenings.record_id("possible") and screening["tip_case"] == case["name"]
    assert plan.targets["dhis2"].withheld == {"consent_missing": 3}  # Frappe only, as the policy says

    again = session.engine.run()
    assert again.errors == [] and (again.targets["frappe"].new, again.targets["frappe"].updated) == (0, 0)
    # read back from the site, the screening still carries its consent (kept on the case): nothing retracted
    assert not again.targets["frappe"].retracted and not again.targets["frappe"].to_delete
    assert platforms.frappe.count(CASE) == 1 and platforms.frappe.count(SCREENING) == 1
    assert platforms.frappe.doc(CASE, case["name"])["modified"] == case["modified"]
