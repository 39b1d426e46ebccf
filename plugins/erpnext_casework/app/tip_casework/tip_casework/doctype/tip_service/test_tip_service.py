# Copyright (c) 2026, tipdata. License: MIT
"""TIP Service: follow-up questions apply only to follow-up records."""

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.tests.factories import make_case

test_ignore = ["User"]


class TestTIPService(FrappeTestCase):
    def test_insert__follow_up_needs_consent_confirmation(self):
        """should require the follow-up consent confirmation on a follow-up record."""
        make_case("sv-case")
        doc = {"doctype": "TIP Service", "external_id": "sv-1", "tip_case": "sv-case", "svc_case_reference": "REF-sv-case",
               "svc_date": "2026-01-20", "svc_record_kind": "follow_up", "svc_plan_recorded": "no"}
        with self.assertRaises(frappe.MandatoryError) as raised:
            frappe.get_doc(doc).insert()
        self.assertIn("fu_consent_confirmed", str(raised.exception))
        doc.update({"fu_consent_confirmed": "yes", "fu_contact_mode": "phone", "fu_contact_made": "yes",
                    "svc_received": [{"option": "medical_care"}]})
        saved = frappe.get_doc(doc).insert()
        self.assertEqual(saved.svc_received, [])  # services apply to service records only
