"""Small valid records and role users for the app's tests (inline, so each test breaks one thing)."""

from __future__ import annotations

import frappe

CASE = "TIP Case"


def case_values(external_id: str, **overrides) -> dict:
    """A TIP Case that satisfies every rule of the codebook."""
    values = {
        "doctype": CASE,
        "external_id": external_id,
        "case_reference": f"REF-{external_id}"[:40],
        "case_opened_date": "2026-01-10",
        "case_status": "active",
        "case_risk_level": "low",
        "consent_screening": "yes",
        "consent_information_given": "yes",
        "consent_data_recording": "yes",
        "consent_service_referral": "yes",
        "consent_law_enforcement": "yes",
        "consent_statistics": "yes",
        "consent_follow_up_contact": "yes",
        "consent_date": "2026-01-10",
        "consent_given_by": "person",
        "expl_palermo_act": [{"option": "recruitment"}],
        "expl_palermo_means": [{"option": "deception"}],
        "expl_palermo_purpose": [{"option": "forced_labour"}],
        "ident_date": "2026-01-09",
        "ident_country": "FR",
        "ident_stage": "initial_screening",
        "ident_trafficking_status": "potential",
        "person_pseudo_id": f"P-{external_id}"[:40],
        "person_sex": "female",
        "person_date_of_birth": "2000-05-01",
    }
    values.update(overrides)
    return values


def make_case(external_id: str, **overrides):
    return frappe.get_doc(case_values(external_id, **overrides)).insert()


def role_user(role: str) -> str:
    """A user holding exactly one role (created once per test database)."""
    email = role.lower().replace(" ", "-") + "@tip-casework.test"
    if not frappe.db.exists("User", email):
        frappe.get_doc({
            "doctype": "User", "email": email, "first_name": role, "send_welcome_email": 0,
            "user_type": "System User", "roles": [{"role": role}],
        }).insert(ignore_permissions=True)
    return email
