# Copyright (c) 2026, tipdata. License: MIT
"""TIP Investigation: the liaison works only on cases consenting to law enforcement."""

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.tests.factories import make_case, role_user

test_ignore = ["User"]


def investigation(name: str, case: str) -> dict:
    return {"doctype": "TIP Investigation", "external_id": name, "tip_case": case, "inv_opened_date": "2026-01-12",
            "inv_agency_type": "police", "inv_suspect_count": 0, "inv_offences": [{"option": "tip_forced_labour"}],
            "inv_status": "open", "inv_status_date": "2026-01-12"}


class TestTIPInvestigation(FrappeTestCase):
    def test_insert__liaison_only_on_consenting_cases(self):
        """should let the liaison record an investigation only where consent covers law enforcement."""
        make_case("iv-yes")
        make_case("iv-no", consent_law_enforcement="no")
        frappe.set_user(role_user("TIP Law Enforcement Liaison"))
        try:
            frappe.get_doc(investigation("iv-1", "iv-yes")).insert()
            self.assertRaises(frappe.PermissionError, frappe.get_doc(investigation("iv-2", "iv-no")).insert)
        finally:
            frappe.set_user("Administrator")

    def test_insert__status_date_not_before_opening(self):
        """should refuse a status date before the investigation opened."""
        make_case("iv-date")
        doc = investigation("iv-3", "iv-date")
        doc["inv_status_date"] = "2026-01-01"
        self.assertRaises(frappe.ValidationError, frappe.get_doc(doc).insert)
