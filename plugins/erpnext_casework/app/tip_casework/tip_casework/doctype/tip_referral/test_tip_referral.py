# Copyright (c) 2026, tipdata. License: MIT
"""TIP Referral: days to service computed; first service date required once in progress."""

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.tests.factories import make_case

test_ignore = ["User"]


def referral(name: str, **values) -> dict:
    doc = {"doctype": "TIP Referral", "external_id": name, "tip_case": "rf-case", "ref_date": "2026-01-11",
           "ref_consent_share": "yes", "ref_service_type": [{"option": "medical_care"}], "ref_org_type": "ngo",
           "ref_org_name": "Clinic", "ref_reason": "additional_services", "ref_urgency": "routine",
           "ref_status": "made", "ref_status_date": "2026-01-11"}
    doc.update(values)
    return doc


class TestTIPReferral(FrappeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        make_case("rf-case")

    def test_insert__computes_days_to_service(self):
        """should compute the days from the referral to the first service."""
        doc = frappe.get_doc(referral("rf-1", ref_status="in_progress", ref_first_service_date="2026-01-15")).insert()
        self.assertEqual(doc.ref_days_to_service, "4")

    def test_insert__in_progress_needs_the_first_service_date(self):
        """should refuse a referral in progress without the date of its first service."""
        with self.assertRaises(frappe.MandatoryError) as raised:
            frappe.get_doc(referral("rf-2", ref_status="in_progress")).insert()
        self.assertIn("ref_first_service_date", str(raised.exception))

    def test_insert__unknown_option_code_is_refused(self):
        """should refuse a service type that is not a code of its list."""
        with self.assertRaises(frappe.ValidationError):
            frappe.get_doc(referral("rf-3", ref_service_type=[{"option": "bogus"}])).insert()
