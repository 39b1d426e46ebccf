# Copyright (c) 2026, tipdata. License: MIT
"""TIP Case: the codebook's rules on save, status decisions, consent coverage, naming."""

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.record_access import has_record_permission, query_conditions
from tip_casework.tests.factories import case_values, make_case, role_user

test_ignore = ["User"]


class TestTIPCase(FrappeTestCase):
    def test_insert__derives_status_age_band_and_consent(self):
        """should compute the calculations, the status and the consent coverage on insert."""
        doc = make_case("tc-derive", ident_trafficking_status="presumed", consent_statistics="no")
        self.assertEqual(doc.tip_status, "presumed")
        self.assertEqual(doc.person_age_band, "age_24_26")
        self.assertEqual(doc.consent_covers_law_enforcement, 1)
        self.assertEqual(doc.consent_covers_statistics, 0)
        self.assertEqual(doc.status_decided_by_user, frappe.session.user)

    def test_insert__missing_required_if_names_the_rule(self):
        """should refuse a closed case without a closure date, saying the rule in words."""
        with self.assertRaises(frappe.MandatoryError) as raised:
            make_case("tc-closed", case_status="closed", case_closure_reason="goals_met")
        self.assertIn("case_closed_date", str(raised.exception))
        self.assertIn("is required when Case status is 'Closed'", str(raised.exception))

    def test_insert__failed_constraint_gives_its_message(self):
        """should refuse a case reference that breaks its pattern."""
        with self.assertRaises(frappe.ValidationError) as raised:
            make_case("tc-ref", case_reference="!")
        self.assertIn("case_reference", str(raised.exception))

    def test_insert__clears_a_value_that_does_not_apply(self):
        """should drop the referring organisation when the case was not referred in."""
        doc = make_case("tc-clear", case_referred_in="no", case_referring_org_name="Some NGO")
        self.assertFalse(doc.case_referring_org_name)

    def test_insert__duplicate_external_id_is_a_duplicate_entry(self):
        """should refuse a second case with the same external id (409 over REST)."""
        make_case("tc-dup")
        with self.assertRaises(frappe.DuplicateEntryError):
            make_case("tc-dup")

    def test_status__case_worker_cannot_confirm_supervisor_can(self):
        """should leave confirming to supervisors."""
        doc = make_case("tc-status")
        frappe.set_user(role_user("TIP Case Worker"))
        try:
            doc.reload()
            doc.ident_trafficking_status = "presumed"
            doc.save()
            doc.ident_trafficking_status = "confirmed"
            self.assertRaises(frappe.PermissionError, doc.save)
        finally:
            frappe.set_user("Administrator")
        frappe.set_user(role_user("TIP Supervisor"))
        try:
            doc.reload()
            doc.ident_trafficking_status = "confirmed"
            doc.save()
            self.assertEqual(doc.tip_status, "confirmed")
        finally:
            frappe.set_user("Administrator")

    def test_access__law_enforcement_only_with_consent(self):
        """should hide a case from the liaison unless consent covers law enforcement."""
        with_consent = make_case("tc-le-yes")
        without = make_case("tc-le-no", consent_law_enforcement="no")
        liaison = role_user("TIP Law Enforcement Liaison")
        self.assertIsNot(has_record_permission(with_consent, "read", liaison), False)
        self.assertIs(has_record_permission(without, "read", liaison), False)
        self.assertIn("consent_covers_law_enforcement", query_conditions(liaison, "TIP Case"))
        frappe.set_user(liaison)
        try:
            names = frappe.get_list("TIP Case", pluck="name", filters={"name": ["like", "tc-le-%"]})
        finally:
            frappe.set_user("Administrator")
        self.assertEqual(names, ["tc-le-yes"])

    def test_access__withdrawal_ends_law_enforcement_access(self):
        """should drop coverage when the person withdraws consent for law enforcement."""
        doc = make_case("tc-withdraw")
        doc.update({"consent_withdrawn": "yes", "consent_withdrawn_date": "2026-01-20",
                    "consent_withdrawn_purposes": [{"option": "law_enforcement"}]})
        doc.save()
        self.assertEqual(doc.consent_covers_law_enforcement, 0)
        self.assertEqual(doc.consent_covers_statistics, 1)

    def test_values__factory_case_is_valid(self):
        """should accept the factory's case as it is (the base every other test breaks)."""
        self.assertEqual(frappe.get_doc(case_values("tc-valid")).insert().name, "tc-valid")

    def test_intake_stage__screening_case_accepted_until_the_intake_is_recorded(self):
        """should accept a case with only what a screening states while it awaits its intake, then require the intake."""
        screening_only = {"doctype": "TIP Case", "external_id": "tc-screening", "intake_pending": 1,
                          "case_reference": "SCR-TC", "person_pseudo_id": "SCRP-TC",
                          "case_opened_date": "2026-02-03", "case_status": "active", "consent_screening": "yes",
                          "ident_date": "2026-02-03", "ident_stage": "initial_screening",
                          "ident_trafficking_status": "potential"}
        doc = frappe.get_doc(screening_only).insert()
        self.assertEqual(doc.tip_status, "potential")
        doc.intake_pending = 0
        with self.assertRaises(frappe.MandatoryError) as raised:
            doc.save()
        self.assertIn("(case_risk_level) is required once the case's intake is recorded", str(raised.exception))

    def test_intake_stage__recorded_intake_cannot_await_it_again(self):
        """should refuse ticking 'Awaiting intake' on a case whose intake is recorded."""
        doc = make_case("tc-intake-done")
        doc.intake_pending = 1
        self.assertRaises(frappe.ValidationError, doc.save)
