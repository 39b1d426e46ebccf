# Copyright (c) 2026, tipdata. License: MIT
"""TIP Service Provider: vetting is stamped with who and when."""

import frappe
from frappe.tests.utils import FrappeTestCase

test_ignore = ["User"]


class TestTIPServiceProvider(FrappeTestCase):
    def test_vetting__stamped_and_cleared(self):
        """should record who vetted a provider and when, and clear both when unvetted."""
        doc = frappe.get_doc({"doctype": "TIP Service Provider", "external_id": "sp-1", "provider_name": "Shelter",
                              "services_offered": [{"option": "safe_accommodation"}], "vetted": 1}).insert()
        self.assertEqual(doc.vetted_by, frappe.session.user)
        self.assertTrue(doc.vetted_on)
        doc.vetted = 0
        doc.save()
        self.assertFalse(doc.vetted_by)
