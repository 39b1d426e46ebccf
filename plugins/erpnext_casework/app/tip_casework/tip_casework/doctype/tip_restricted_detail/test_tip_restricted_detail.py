# Copyright (c) 2026, tipdata. License: MIT
"""TIP Restricted Detail: immigration status is readable by casework roles only."""

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.tests.factories import make_case, role_user

test_ignore = ["User"]


class TestTIPRestrictedDetail(FrappeTestCase):
    def test_permissions__never_for_analyst_or_law_enforcement(self):
        """should deny read to the Data Analyst and the Law Enforcement Liaison, allow case workers."""
        make_case("tr-case")
        doc = frappe.get_doc({"doctype": "TIP Restricted Detail", "external_id": "tr-case", "tip_case": "tr-case",
                              "person_immigration_status": "irregular"}).insert()
        for role in ("TIP Data Analyst", "TIP Law Enforcement Liaison"):
            self.assertFalse(frappe.has_permission("TIP Restricted Detail", "read", doc, user=role_user(role)), role)
        self.assertTrue(frappe.has_permission("TIP Restricted Detail", "read", doc, user=role_user("TIP Case Worker")))
